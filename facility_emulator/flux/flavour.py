"""The Flux RESTful API flavour: one emulated Flux instance per auth backend.

* ``/flux`` -- ``shared-secret`` (the handshake at ``/v1/token`` and the login form; bearer tokens)
* ``/flux-noauth`` -- ``none``
* ``/flux-basic`` -- ``basic`` (HTTP Basic with user and token)
* ``/flux-database`` -- ``database`` (login form; bearer tokens)

Every instance knows the same user (the emulator's user) and token; the credentials also carry
the shared secret (``FLUX_SECRET_KEY``) of the handshake.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from facility_emulator.flavours import Flavour
from facility_emulator.flux.admin import FluxAdminRoutes
from facility_emulator.flux.instance import FluxCredentials, FluxInstance
from facility_emulator.flux.routes import FluxRoutes
from facility_emulator.state import EmulatorState

PREFIXES = {
    "shared-secret": "/flux",
    "none": "/flux-noauth",
    "basic": "/flux-basic",
    "database": "/flux-database",
}


def build(state: EmulatorState) -> Flavour:
    """The Flux flavour for ``state``."""
    credentials = FluxCredentials.generate(state.config.user)
    instances = {
        label: FluxInstance(label=label, prefix=prefix, auth_backend=label, credentials=credentials)
        for label, prefix in PREFIXES.items()
    }
    routes: list[BaseRoute] = []
    for instance in instances.values():
        routes += FluxRoutes(state, instance).routes()
    routes += FluxAdminRoutes(instances).routes()

    def describe(root_url: str) -> dict[str, Any]:
        return {
            "user": credentials.user,
            "token": credentials.token,
            "secret_key": credentials.secret_key,
            "resource": "flux",
            "admin": f"{root_url}/_emulator/flux",
        }

    return Flavour(name="flux", routes=routes, prefixes=dict(PREFIXES), credentials=describe)
