"""The NERSC Superfacility API v1.2 flavour: ``/sfapi/api/v1.2`` plus its token endpoint.

Each emulator registers its own SF API clients (a live one and an expired one, each with a fresh
RSA key pair); ``credentials`` hands out their ids and private keys as PEM, as Iris would, and
the paths of key files (mode 0600, client id on the first line) holding them, and the Globus
collection ids of NERSC's endpoint names (``dtn``, ``perlmutter``, ``hpss``) for the Globus
routes (:mod:`facility_emulator.sfapi.globus`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.routing import Route

from facility_emulator.flavours import Flavour
from facility_emulator.sfapi.account import SFAPIAccountRoutes
from facility_emulator.sfapi.clients import ClientRegistry, RegisteredClient, TokenEndpoint
from facility_emulator.sfapi.globus import SFAPIGlobusRoutes
from facility_emulator.sfapi.routes import MACHINES, PREFIX, SFAPIRoutes
from facility_emulator.state import EmulatorState

TOKEN_PATH = "/sfapi/oidc/token"


def _write_key(folder: Path, client: RegisteredClient) -> Path:
    """A key file as Iris users keep it: client id on the first line, then the PEM, mode 0600."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{client.client_id}.pem"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{client.client_id}\n{client.private_pem}")
    path.chmod(0o600)
    return path


def build(state: EmulatorState) -> Flavour:
    """The SF API flavour for ``state``; key files are written under ``<root>/sfapi-keys``."""
    registry = ClientRegistry()
    keys = state.sandbox.root / "sfapi-keys"
    key_path = _write_key(keys, registry.live)
    expired_key_path = _write_key(keys, registry.expired)
    globus = SFAPIGlobusRoutes(state)
    routes: list[Any] = [Route(TOKEN_PATH, TokenEndpoint(state, registry).handle, methods=["POST"])]
    routes += globus.routes()  # before SFAPIRoutes: /status/globus must win over /status/{name}
    routes += SFAPIRoutes(state).routes()
    routes += SFAPIAccountRoutes(state, PREFIX).routes()

    def credentials(root_url: str) -> dict[str, Any]:
        return {
            "client_id": registry.live.client_id,
            "private_key": registry.live.private_pem,
            "key_path": str(key_path),
            "expired_client_id": registry.expired.client_id,
            "expired_private_key": registry.expired.private_pem,
            "expired_key_path": str(expired_key_path),
            "token_url": root_url + TOKEN_PATH,
            "machines": list(MACHINES),
            "globus_endpoints": globus.endpoints(),
        }

    return Flavour(name="sfapi", routes=routes, prefixes={"v1.2": PREFIX}, credentials=credentials)
