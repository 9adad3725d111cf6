"""File operators: list, mkdir, upload, download, copy, move, remove and chmod on a facility.

Each is one client call on ``resource`` (a storage or compute resource whose filesystem the API
serves). Upload and download stream through the client and log their progress in the task log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from facility_common import FacilityClient

from ..hooks.facility import FacilityHook

__all__ = [
    "FacilityChmodOperator",
    "FacilityCopyOperator",
    "FacilityDownloadOperator",
    "FacilityListOperator",
    "FacilityMkdirOperator",
    "FacilityMoveOperator",
    "FacilityRemoveOperator",
    "FacilityUploadOperator",
]


class _FacilityFileOperator(BaseOperator):
    """Shared arguments: the connection and the resource whose filesystem is used."""

    ui_color = "#e8f4d9"

    def __init__(self, *, facility_conn_id: str, resource: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.resource = resource

    def execute(self, context: Context) -> Any:
        hook = FacilityHook(facility_conn_id=self.facility_conn_id)
        try:
            return self.apply(hook.get_conn())
        finally:
            hook.close()

    def apply(self, client: FacilityClient) -> Any:
        """Do the operation with ``client``; the return value goes to XCom."""
        raise NotImplementedError


class _ProgressLog:
    """A transfer progress callback that logs at most every ``every`` seconds, and at the end."""

    def __init__(self, operator: BaseOperator, verb: str, every: float = 2.0) -> None:
        self.operator = operator
        self.verb = verb
        self.every = every
        self._last = float("-inf")

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last < self.every:
            return
        self._last = now
        if total:
            self.operator.log.info("%s %d of %d bytes (%.0f%%)", self.verb, done, total, 100 * done / total)
        else:
            self.operator.log.info("%s %d bytes", self.verb, done)


class FacilityListOperator(_FacilityFileOperator):
    """List a remote directory; returns its entries as dicts (``name``, ``type``, ``size``...)."""

    template_fields: Sequence[str] = ("resource", "path")

    def __init__(self, *, path: str, show_hidden: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.show_hidden = show_hidden

    def apply(self, client: FacilityClient) -> list[dict[str, Any]]:
        entries = client.ls(self.resource, self.path, show_hidden=self.show_hidden)
        for entry in entries:
            self.log.info(
                "%-9s %10s  %s", entry.type, entry.size if entry.size is not None else "", entry.name
            )
        return [entry.to_dict() for entry in entries]


class FacilityMkdirOperator(_FacilityFileOperator):
    """Create a remote directory (with its parents by default)."""

    template_fields: Sequence[str] = ("resource", "path")

    def __init__(self, *, path: str, parents: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.parents = parents

    def apply(self, client: FacilityClient) -> str:
        client.mkdir(self.resource, self.path, parents=self.parents)
        self.log.info("created %s on %s", self.path, self.resource)
        return self.path


class FacilityUploadOperator(_FacilityFileOperator):
    """Upload a local file to ``remote_path``, logging progress."""

    template_fields: Sequence[str] = ("resource", "local_path", "remote_path")

    def __init__(self, *, local_path: str, remote_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.local_path = local_path
        self.remote_path = remote_path

    def apply(self, client: FacilityClient) -> str:
        size = os.path.getsize(self.local_path)
        self.log.info(
            "uploading %s (%d bytes) to %s:%s", self.local_path, size, self.resource, self.remote_path
        )
        client.upload(self.resource, self.local_path, self.remote_path, _ProgressLog(self, "uploaded"))
        return self.remote_path


class FacilityDownloadOperator(_FacilityFileOperator):
    """Download ``remote_path`` to a local file (written whole or not at all), logging progress."""

    template_fields: Sequence[str] = ("resource", "remote_path", "local_path")

    def __init__(self, *, remote_path: str, local_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.remote_path = remote_path
        self.local_path = local_path

    def apply(self, client: FacilityClient) -> str:
        self.log.info("downloading %s:%s to %s", self.resource, self.remote_path, self.local_path)
        client.download(self.resource, self.remote_path, self.local_path, _ProgressLog(self, "downloaded"))
        self.log.info("downloaded %d bytes", os.path.getsize(self.local_path))
        return self.local_path


class FacilityCopyOperator(_FacilityFileOperator):
    """Copy a remote path to another remote path."""

    template_fields: Sequence[str] = ("resource", "source", "target")

    def __init__(self, *, source: str, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.target = target

    def apply(self, client: FacilityClient) -> str:
        client.cp(self.resource, self.source, self.target)
        self.log.info("copied %s to %s on %s", self.source, self.target, self.resource)
        return self.target


class FacilityMoveOperator(_FacilityFileOperator):
    """Move or rename a remote path."""

    template_fields: Sequence[str] = ("resource", "source", "target")

    def __init__(self, *, source: str, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.target = target

    def apply(self, client: FacilityClient) -> str:
        client.mv(self.resource, self.source, self.target)
        self.log.info("moved %s to %s on %s", self.source, self.target, self.resource)
        return self.target


class FacilityRemoveOperator(_FacilityFileOperator):
    """Remove a remote file or directory tree."""

    template_fields: Sequence[str] = ("resource", "path")

    def __init__(self, *, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path

    def apply(self, client: FacilityClient) -> None:
        client.rm(self.resource, self.path)
        self.log.info("removed %s on %s", self.path, self.resource)


class FacilityChmodOperator(_FacilityFileOperator):
    """Change a remote path's mode (octal text such as ``"750"``, or an int)."""

    template_fields: Sequence[str] = ("resource", "path", "mode")

    def __init__(self, *, path: str, mode: str | int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.mode = mode

    def apply(self, client: FacilityClient) -> None:
        client.chmod(self.resource, self.path, self.mode)
        self.log.info("set mode %s on %s", self.mode, self.path)
