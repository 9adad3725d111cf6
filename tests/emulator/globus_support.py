"""Helpers for the Globus tests: tokens and a ``TransferClient`` on the emulator, file trees.

A test gets a Transfer token the way a confidential Globus app does, from the emulator's Globus
token endpoint, asking for the Transfer scope with the ``data_access`` scope of each collection
it will touch; globus-sdk's own ``TransferClient`` then talks to ``<emulator>/transfer/``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import globus_sdk
import httpx
from globus_sdk.scopes import GCSCollectionScopes, TransferScopes
from globus_sdk.transport import RetryConfig

from facility_emulator import EmulatorServer
from facility_emulator.globus.collections import Collection, catalog_of

from .emu_helpers import wait_for

CHUNK = 4 * 1024 * 1024


def collection(server: EmulatorServer, name: str) -> Collection:
    """A collection of the emulator by catalog name (``alcf-eagle``, ``nersc-dtn``, ...)."""
    return catalog_of(server.state).named(name)


def transfer_token(server: EmulatorServer, *consents: Collection, scope: str | None = None) -> str:
    """A Transfer access token from the emulator's Globus token endpoint, carrying the
    ``data_access`` consent of each collection given."""
    creds = server.credentials
    auth = globus_sdk.ConfidentialAppAuthClient(
        creds["client_id"], creds["client_secret"], base_url=f"{server.url}/globus/"
    )
    if scope is None:
        transfer = TransferScopes.all.with_dependencies(
            [GCSCollectionScopes(c.id).data_access.with_optional(True) for c in consents]
        )
        scope = str(transfer)
    tokens = auth.oauth2_client_credentials_tokens(requested_scopes=scope)
    return str(tokens.by_resource_server["transfer.api.globus.org"]["access_token"])


def transfer_client(server: EmulatorServer, token: str) -> globus_sdk.TransferClient:
    """globus-sdk's TransferClient pointed at the emulator (retries without real waits)."""
    return globus_sdk.TransferClient(
        base_url=f"{server.url}/transfer/",
        authorizer=globus_sdk.AccessTokenAuthorizer(token),
        retry_config=RetryConfig(backoff=lambda _context: 0.0, max_sleep=0.05),
    )


def wait_task(client: globus_sdk.TransferClient, task_id: str, timeout: float = 60.0) -> dict[str, object]:
    """Poll a task until it is no longer ACTIVE; returns its document."""

    def ended() -> dict[str, object] | None:
        task = client.get_task(task_id).data
        return task if task["status"] != "ACTIVE" else None

    found: dict[str, object] = wait_for(ended, timeout)
    return found


def set_rate(server: EmulatorServer, bytes_per_second: float) -> None:
    """Limit every copy to ``bytes_per_second`` (0: no limit)."""
    httpx.put(
        f"{server.url}/_emulator/globus", json={"bytes_per_second": bytes_per_second}
    ).raise_for_status()


def make_tree(root: Path, total_bytes: int, files: int) -> dict[str, str]:
    """Random files under ``root`` (some in subdirectories) adding up to ``total_bytes``;
    returns ``{relative path: sha256}``. Written in chunks, never held whole in memory."""
    digests: dict[str, str] = {}
    size = total_bytes // files
    for index in range(files):
        relative = f"part-{index:03d}.bin" if index % 2 == 0 else f"sub-{index % 3}/deep/part-{index:03d}.bin"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        remaining = size if index < files - 1 else total_bytes - size * (files - 1)
        with path.open("wb") as handle:
            while remaining > 0:
                chunk = os.urandom(min(CHUNK, remaining))
                handle.write(chunk)
                hasher.update(chunk)
                remaining -= len(chunk)
        digests[relative] = hasher.hexdigest()
    return digests


def tree_digests(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    digests: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
        digests[path.relative_to(root).as_posix()] = hasher.hexdigest()
    return digests
