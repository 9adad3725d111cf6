"""A Globus refresh token exchanged for access tokens (IRI at ALCF), explicit or read from the
token storage ALCF's login tools write, with refreshed tokens written back to it."""

from __future__ import annotations

import logging
import os
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AuthenticationError, ConfigurationError
from ..tls import VerifySetting
from .globus import GLOBUS_AUTH_RESOURCE_SERVER, GlobusSource
from .globus_storage import (
    ALCF_IRI_RESOURCE_SERVER,
    DEFAULT_STORAGE_PATHS,
    StorageFile,
    client_id_from_path,
    default_storage_path,
)
from .secret import Secret
from .source import DEFAULT_MAX_REFRESH_LEAD, DEFAULT_REFRESH_FRACTION, Fetched

if TYPE_CHECKING:
    import globus_sdk
    from globus_sdk.token_storage import TokenStorageData

__all__ = ["GlobusRefreshToken"]

logger = logging.getLogger("facility_common.auth")


class GlobusRefreshToken(GlobusSource):
    """A Globus refresh token exchanged for access tokens, as a native app (or confidential client).

    Build it from an explicit ``client_id`` and ``refresh_token``, or with :meth:`from_storage`
    from the globus-sdk token storage that ALCF's login tools write. With a storage, each refresh
    first re-reads the file (another process may have refreshed already), reuses a stored access
    token that is still valid for ``min_stored_validity`` seconds and was not refused, and
    otherwise refreshes and writes the new access token (and a rotated refresh token) back, as
    globus-sdk's ``RefreshTokenAuthorizer(on_refresh=...)`` would. ``on_refresh`` receives each
    refresh response, for callers keeping explicit tokens elsewhere. A rotated refresh token is
    always kept in memory.
    """

    def __init__(
        self,
        client_id: str,
        refresh_token: str | Secret | None = None,
        resource_server: str | None = None,
        auth_base_url: str | None = None,
        *,
        client_secret: str | Secret | None = None,
        on_refresh: Callable[[Mapping[str, Any]], None] | None = None,
        environment: str | None = None,
        allow_insecure_http: bool = False,
        verify: VerifySetting = True,
        scheme: str = "Bearer",
        facility: str | None = None,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        min_stored_validity: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        _storage: StorageFile | None = None,
    ) -> None:
        super().__init__(
            auth_base_url=auth_base_url,
            environment=environment,
            allow_insecure_http=allow_insecure_http,
            verify=verify,
            scheme=scheme,
            facility=facility,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            clock=clock,
        )
        if not client_id:
            raise ConfigurationError("client_id: a client id is required", facility=facility)
        if refresh_token is None and _storage is None:
            raise ConfigurationError(
                "refresh_token: a refresh token (or a token storage file) is required", facility=facility
            )
        self.client_id = client_id
        self._refresh_token: Secret | None = (
            None
            if refresh_token is None
            else refresh_token
            if isinstance(refresh_token, Secret)
            else Secret(refresh_token)
        )
        self._client_secret = (
            None
            if client_secret is None
            else client_secret
            if isinstance(client_secret, Secret)
            else Secret(client_secret)
        )
        self.resource_server = resource_server
        self.on_refresh = on_refresh
        self.min_stored_validity = min_stored_validity
        self._storage = _storage
        self._rejected: Secret | None = None

    @classmethod
    def from_storage(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        client_id: str | None = None,
        resource_server: str | None = None,
        namespace: str = "DEFAULT",
        auth_base_url: str | None = None,
        client_secret: str | Secret | None = None,
        environment: str | None = None,
        allow_insecure_http: bool = False,
        verify: VerifySetting = True,
        allow_readable_secret_files: bool = False,
        scheme: str = "Bearer",
        facility: str | None = None,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        min_stored_validity: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> GlobusRefreshToken:
        """Use the tokens of a globus-sdk token storage file (JSON or SQLite).

        ``path`` defaults to the storage of ALCF's ``alcf_facility_api_globus_token.py`` script or,
        failing that, of ``alcf-tokens`` (:data:`DEFAULT_STORAGE_PATHS`). ``client_id`` defaults to
        the one in the GlobusApp path (``~/.globus/app/<client id>/<app>/tokens.json``). Without
        ``resource_server``, the ALCF IRI resource server is used if present, else the only
        non-Auth entry. The file is read here to report problems early; tokens are read again at
        each refresh. The file must be private to its owner (globus-sdk writes it so) unless
        ``allow_readable_secret_files``.
        """
        if path is None:
            found = default_storage_path()
            if found is None:
                raise ConfigurationError(
                    "storage_path: no token storage found at "
                    + " or ".join(DEFAULT_STORAGE_PATHS)
                    + "; run ALCF's token script (authenticate) or pass the path",
                    facility=facility,
                )
            file_path = found
        else:
            file_path = pathlib.Path(path).expanduser()
        if not file_path.is_file():
            raise ConfigurationError(f"storage_path: {file_path} does not exist", facility=facility)
        client_id = client_id or client_id_from_path(file_path)
        if not client_id:
            raise ConfigurationError(
                f"client_id: required, since {file_path} is not under ~/.globus/app/<client id>/",
                facility=facility,
            )
        storage = StorageFile(
            file_path, namespace, facility=facility, allow_readable=allow_readable_secret_files
        )
        storage.check()
        try:
            records = storage.read_all()
        except Exception as exc:
            raise ConfigurationError(
                f"storage_path: {file_path} is not a globus-sdk token storage: {type(exc).__name__}",
                facility=facility,
            ) from None
        if resource_server is None:
            candidates = [rs for rs in records if rs != GLOBUS_AUTH_RESOURCE_SERVER]
            if ALCF_IRI_RESOURCE_SERVER in records:
                resource_server = ALCF_IRI_RESOURCE_SERVER
            elif len(candidates) == 1:
                resource_server = candidates[0]
            else:
                raise ConfigurationError(
                    f"resource_server: {file_path} holds tokens for {sorted(records)}; say which one to use",
                    facility=facility,
                )
        record = records.get(resource_server)
        if record is None:
            raise ConfigurationError(
                f"resource_server: {file_path} has no tokens for {resource_server!r} "
                f"(namespace {namespace!r}); it holds {sorted(records)}",
                facility=facility,
            )
        if not record.refresh_token:
            raise ConfigurationError(
                f"storage_path: {file_path} has no refresh token for {resource_server!r}; "
                "log in again requesting refresh tokens",
                facility=facility,
            )
        return cls(
            client_id,
            None,
            resource_server,
            auth_base_url,
            client_secret=client_secret,
            environment=environment,
            allow_insecure_http=allow_insecure_http,
            verify=verify,
            scheme=scheme,
            facility=facility,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            min_stored_validity=min_stored_validity,
            clock=clock,
            _storage=storage,
        )

    @property
    def storage_path(self) -> pathlib.Path | None:
        """The token storage file in use, if any."""
        return self._storage.path if self._storage is not None else None

    def invalidate(self, token: str) -> None:
        cached = self._cached
        if cached is not None and cached.value.matches(token):
            # Remember the refusal so a storage still holding this token is not trusted again.
            self._rejected = cached.value
        super().invalidate(token)

    def _auth_client(self) -> globus_sdk.AuthLoginClient:
        import globus_sdk

        if self._client is None:
            client: globus_sdk.AuthLoginClient
            if self._client_secret is not None:
                client = globus_sdk.ConfidentialAppAuthClient(
                    self.client_id, self._client_secret.get_secret_value(), **self._client_options()
                )
            else:
                client = globus_sdk.NativeAppAuthClient(self.client_id, **self._client_options())
            self._client = client
        return self._client

    def _blocking_fetch(self) -> tuple[Secret, float | None]:
        record: TokenStorageData | None = None
        if self._storage is not None:
            assert self.resource_server is not None
            record = self._storage.read_all().get(self.resource_server)
            if record is None or not record.refresh_token:
                raise AuthenticationError(
                    f"token storage {self._storage.path} no longer holds a refresh token for "
                    f"{self.resource_server!r}; log in again",
                    facility=self.facility,
                )
            remaining = record.expires_at_seconds - time.time()
            stored = Secret(record.access_token)
            if remaining > self.min_stored_validity and not (self._rejected and self._rejected == stored):
                logger.debug(
                    "using stored Globus token for %s from %s, expires in %.0f s",
                    self.resource_server,
                    self._storage.path,
                    remaining,
                )
                return stored, remaining
            refresh_token = Secret(record.refresh_token)
        else:
            assert self._refresh_token is not None
            refresh_token = self._refresh_token

        response = self._auth_client().oauth2_refresh_token(refresh_token.get_secret_value())
        data: dict[str, Any] = dict(response.data)
        entry, lifetime = self._pick(data, self.resource_server)
        access = Secret(entry["access_token"])
        rotated = entry.get("refresh_token")
        if isinstance(rotated, str) and rotated and not refresh_token.matches(rotated):
            logger.debug("Globus rotated the refresh token for %s", entry["resource_server"])
        new_refresh = Secret(rotated) if isinstance(rotated, str) and rotated else refresh_token
        if self._storage is None:
            self._refresh_token = new_refresh
        logger.debug(
            "refreshed Globus token for %s at %s, expires in %s s",
            entry["resource_server"],
            self.host,
            "?" if lifetime is None else f"{lifetime:.0f}",
        )
        if record is not None and self._storage is not None:
            self._write_back(record, entry, access, new_refresh, lifetime)
        if self.on_refresh is not None:
            self.on_refresh(data)
        return access, lifetime

    def _write_back(
        self,
        record: TokenStorageData,
        entry: Mapping[str, Any],
        access: Secret,
        refresh: Secret,
        lifetime: float | None,
    ) -> None:
        """Store the refreshed tokens where the login tool will find them next time."""
        from globus_sdk.token_storage import TokenStorageData

        assert self._storage is not None
        expires_at = int(time.time() + lifetime) if lifetime is not None else record.expires_at_seconds
        scope = entry.get("scope")
        token_type = entry.get("token_type")
        updated = TokenStorageData(
            resource_server=record.resource_server,
            identity_id=record.identity_id,
            scope=scope if isinstance(scope, str) and scope else record.scope,
            access_token=access.get_secret_value(),
            refresh_token=refresh.get_secret_value(),
            expires_at_seconds=expires_at,
            token_type=token_type if isinstance(token_type, str) else record.token_type,
            extra=record.extra,
        )
        try:
            self._storage.write(updated)
        except Exception as exc:
            # The token is good; failing to persist it only costs a refresh next time.
            logger.warning(
                "could not write refreshed Globus token to %s: %s", self._storage.path, type(exc).__name__
            )

    async def _fetch(self) -> Fetched:
        value, lifetime = await self._in_thread(self._blocking_fetch)
        return Fetched(value, lifetime)

    def _refusal_hint(self) -> str:
        return (
            "; the refresh token may have expired or been revoked (ALCF refresh tokens last 7 days): "
            "log in again"
        )

    def _describe(self) -> str:
        where = f", storage_path={str(self._storage.path)!r}" if self._storage is not None else ""
        return (
            f"client_id={self.client_id!r}, resource_server={self.resource_server!r}, "
            f"host={self.host!r}{where}"
        )
