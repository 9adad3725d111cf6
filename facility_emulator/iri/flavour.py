"""The IRI Facility API flavour: v1 and v2 under ``/iri/api/vN``."""

from __future__ import annotations

from facility_emulator.flavours import Flavour
from facility_emulator.iri.common import VERSIONS, prefix
from facility_emulator.iri.routes import iri_routes
from facility_emulator.state import EmulatorState


def build(state: EmulatorState) -> Flavour:
    """The IRI flavour; its clients use the emulator's shared OIDC and Globus credentials."""
    return Flavour(
        name="iri",
        routes=list(iri_routes(state)),
        prefixes={version: prefix(version) for version in VERSIONS},
    )
