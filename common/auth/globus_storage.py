"""The globus-sdk token storage files ALCF's login tools write, and where they are."""

from __future__ import annotations

import pathlib
import uuid
from typing import TYPE_CHECKING

from .files import check_secret_file

if TYPE_CHECKING:
    from globus_sdk.token_storage import TokenStorage, TokenStorageData

__all__ = [
    "ALCF_FACILITY_API_CLIENT_ID",
    "ALCF_IRI_RESOURCE_SERVER",
    "ALCF_TOKENS_CLIENT_ID",
    "DEFAULT_STORAGE_PATHS",
    "StorageFile",
    "client_id_from_path",
    "default_storage_path",
]

#: Globus native-app client of ALCF's ``alcf_facility_api_globus_token.py`` script.
ALCF_FACILITY_API_CLIENT_ID = "8b84fc2d-49e9-49ea-b54d-b3a29a70cf31"
#: Globus native-app client of the ``alcf-tokens`` tool (PyPI ``alcf-tokens``).
ALCF_TOKENS_CLIENT_ID = "7f3e61f5-e0de-4e8f-9150-0a62c65dda63"
#: Globus resource server of the ALCF IRI (Facility) API; its scope ends in ``/filesystem``.
ALCF_IRI_RESOURCE_SERVER = "6be511f6-a071-471f-9bc0-02a0d0836723"
#: Where the two ALCF tools keep their tokens: globus-sdk's ``GlobusApp`` default location
#: ``~/.globus/app/<client id>/<app name>/tokens.json`` (a ``JSONTokenStorage`` file).
DEFAULT_STORAGE_PATHS: tuple[str, ...] = (
    f"~/.globus/app/{ALCF_FACILITY_API_CLIENT_ID}/alcf_facility_api_app/tokens.json",
    f"~/.globus/app/{ALCF_TOKENS_CLIENT_ID}/alcf_tokens/tokens.json",
)


def default_storage_path() -> pathlib.Path | None:
    """The first existing token storage of ALCF's tools (see :data:`DEFAULT_STORAGE_PATHS`)."""
    for candidate in DEFAULT_STORAGE_PATHS:
        path = pathlib.Path(candidate).expanduser()
        if path.is_file():
            return path
    return None


def _is_sqlite(path: pathlib.Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def client_id_from_path(path: pathlib.Path) -> str | None:
    """GlobusApp storages live at ``.../app/<client id>/<app name>/tokens.json``."""
    try:
        return str(uuid.UUID(path.parent.parent.name))
    except ValueError:
        return None


class StorageFile:
    """One globus-sdk token storage file (JSON or SQLite), opened per use in the calling thread.

    SQLite connections may not cross threads and worker threads differ between calls, so nothing
    is kept open between operations.
    """

    def __init__(
        self, path: pathlib.Path, namespace: str, *, facility: str | None = None, allow_readable: bool = False
    ) -> None:
        self.path = path
        self.namespace = namespace
        self.facility = facility
        self.allow_readable = allow_readable
        self.kind = "sqlite" if _is_sqlite(path) else "json"

    def check(self) -> None:
        """Refuse the file if other users can read it (it holds a refresh token)."""
        check_secret_file(
            self.path, field="storage_path", facility=self.facility, allow_readable=self.allow_readable
        )

    def _open(self) -> TokenStorage:
        from globus_sdk.token_storage import JSONTokenStorage, SQLiteTokenStorage

        if self.kind == "sqlite":
            return SQLiteTokenStorage(self.path, namespace=self.namespace)
        return JSONTokenStorage(self.path, namespace=self.namespace)

    def read_all(self) -> dict[str, TokenStorageData]:
        self.check()
        storage = self._open()
        try:
            return storage.get_token_data_by_resource_server()
        finally:
            storage.close()

    def write(self, data: TokenStorageData) -> None:
        storage = self._open()
        try:
            storage.store_token_data_by_resource_server({data.resource_server: data})
        finally:
            storage.close()
