"""What a slurmrestd serves, learnt once per daemon and kept for the process.

slurmrestd loads one plugin per data-parser version (``-s openapi/v0.0.38,openapi/dbv0.0.38``)
and describes every route it serves in its OpenAPI document, ``GET /openapi/v3`` (also
``/openapi`` and ``/openapi.json``; a 404 of slurmrestd itself says "Please view /openapi/v3").
One request there tells the newest data-parser version served *and* whether the accounting
(``slurmdb``) routes are: cheaper than probing ``ping`` from v0.0.44 down (six 404s on Debian's
22.05). The answer is kept per daemon (base URL and UNIX socket) for the life of the process, so
every client of the same daemon shares it; a daemon that serves no document is probed by ping.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping
from typing import Any

from .versions import SUPPORTED_VERSIONS

__all__ = ["ServedApi", "forget_served", "remember_served", "served_api", "served_in_document"]

_SLURM_PATH = re.compile(r"^/slurm/(v\d+\.\d+\.\d+)/")
_SLURMDB_PATH = re.compile(r"^/slurmdb/(v\d+\.\d+\.\d+)/job/")


@dataclasses.dataclass(frozen=True)
class ServedApi:
    """The data-parser version the backend uses with one daemon, and whether that daemon serves
    the accounting job routes (``slurmdb/{version}/job/{id}``) in it: ``None`` when not known
    (the version was found by ping, or configured), then the first look-up finds out."""

    version: str
    accounting: bool | None = None


def served_in_document(document: Any) -> ServedApi | None:
    """The newest supported version among the ``/slurm/{version}/`` paths of a slurmrestd OpenAPI
    document, and whether ``/slurmdb/{version}/job/`` exists for it; None when the document
    names no supported version (not slurmrestd's, or only versions this pack does not speak)."""
    paths = document.get("paths") if isinstance(document, Mapping) else None
    if not isinstance(paths, Mapping):
        return None
    slurm: set[str] = set()
    accounting: set[str] = set()
    for path in paths:
        text = str(path).replace("\\/", "/")
        if match := _SLURM_PATH.match(text):
            slurm.add(match.group(1))
        elif match := _SLURMDB_PATH.match(text):
            accounting.add(match.group(1))
    for version in SUPPORTED_VERSIONS:
        if version in slurm:
            return ServedApi(version=version, accounting=version in accounting)
    return None


_served: dict[str, ServedApi] = {}
_served_lock = threading.Lock()


def served_api(daemon: str) -> ServedApi | None:
    """What this process learnt of ``daemon`` (its base URL, with the socket path when calls go
    over a UNIX socket), or None."""
    with _served_lock:
        return _served.get(daemon)


def remember_served(daemon: str, served: ServedApi) -> None:
    """Keep what ``daemon`` serves for every later client of this process."""
    with _served_lock:
        _served[daemon] = served


def forget_served(daemon: str | None = None) -> None:
    """Forget what was learnt of ``daemon`` (of every daemon when None): after an upgrade of the
    daemon, or in tests."""
    with _served_lock:
        if daemon is None:
            _served.clear()
        else:
            _served.pop(daemon, None)
