"""The FirecREST v2 flavour: ``/firecrest`` (the API) and ``/firecrest-s3`` (its staging area).

Systems ``daint`` and ``eiger`` (Slurm) run jobs on the shared scheduler; clients authenticate
with the emulator's shared OIDC client-credentials grant (``/auth/token``), as FirecREST sites
do with their Keycloak.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from facility_emulator.firecrest.common import PREFIX, STAGE_PREFIX, SYSTEMS
from facility_emulator.firecrest.compute import ComputeRoutes
from facility_emulator.firecrest.filesystem import FilesystemRoutes
from facility_emulator.firecrest.site import site_of
from facility_emulator.firecrest.status import StatusRoutes
from facility_emulator.firecrest.transfer import TransferRoutes
from facility_emulator.flavours import Flavour
from facility_emulator.state import EmulatorState


def firecrest_routes(state: EmulatorState) -> list[Route]:
    """Every FirecREST route."""
    site_of(state)
    return [
        *StatusRoutes(state).routes(),
        *ComputeRoutes(state).routes(),
        *FilesystemRoutes(state).routes(),
        *TransferRoutes(state).routes(),
    ]


def build(state: EmulatorState) -> Flavour:
    """The FirecREST flavour; its clients use the emulator's shared OIDC client credentials."""

    def credentials(root_url: str) -> dict[str, Any]:
        return {"systems": sorted(SYSTEMS), "token_url": f"{root_url}/auth/token"}

    return Flavour(
        name="firecrest",
        routes=list(firecrest_routes(state)),
        prefixes={"v2": PREFIX, "staging": STAGE_PREFIX},
        credentials=credentials,
    )
