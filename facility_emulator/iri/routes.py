"""All IRI routes for both API versions."""

from __future__ import annotations

from starlette.routing import Route

from facility_emulator.iri.account import AccountRoutes
from facility_emulator.iri.common import VERSIONS
from facility_emulator.iri.compute import ComputeRoutes
from facility_emulator.iri.filesystem import FilesystemRoutes
from facility_emulator.iri.status import StatusRoutes
from facility_emulator.iri.storage import StorageRoutes
from facility_emulator.state import EmulatorState


def iri_routes(state: EmulatorState) -> list[Route]:
    """Routes of IRI v1 and v2 under ``/iri/api/vN``."""
    routes: list[Route] = []
    for version in VERSIONS:
        routes += StatusRoutes(state, version).routes()
        routes += ComputeRoutes(state, version).routes()
        routes += FilesystemRoutes(state, version).routes()
        routes += AccountRoutes(state, version).routes()
        if version == "v2":
            routes += StorageRoutes(state, version).routes()
    return routes
