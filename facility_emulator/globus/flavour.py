"""The Globus Transfer flavour: Transfer API v0.10 under ``/transfer``, collections on the sandbox.

Point globus-sdk's ``TransferClient(base_url=<emulator>/transfer/)`` at it with a token from the
emulator's Globus token endpoint whose scope is the Transfer scope carrying the collections'
``data_access`` scopes. The credentials list the Transfer scope and every collection (id, name,
facility, root, ``data_access`` scope).

``GET|PUT /_emulator/globus`` ``{"bytes_per_second": N}`` reads or sets a copy rate limit for
every task (0, the default, copies as fast as the disks go), so tests can watch a copy in flight.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from facility_emulator.flavours import Flavour
from facility_emulator.globus.access import PREFIX
from facility_emulator.globus.collections import catalog_of
from facility_emulator.globus.engine import engine_of
from facility_emulator.globus.operations import OperationRoutes
from facility_emulator.globus.routes import TransferRoutes
from facility_emulator.globus.scopes import TRANSFER_SCOPE
from facility_emulator.state import EmulatorState

ADMIN_PATH = "/_emulator/globus"


def _admin_route(state: EmulatorState) -> Route:
    engine = engine_of(state)

    async def handle(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body: Any = json.loads(await request.body() or b"{}")
            except ValueError:
                return JSONResponse({"detail": "body must be JSON"}, status_code=400)
            rate = body.get("bytes_per_second") if isinstance(body, dict) else None
            if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
                return JSONResponse(
                    {"detail": "bytes_per_second must be a number >= 0 (0: no limit)"}, status_code=400
                )
            engine.bytes_per_second = float(rate)
        return JSONResponse({"bytes_per_second": engine.bytes_per_second})

    return Route(ADMIN_PATH, handle, methods=["GET", "PUT"])


class CollectionListing(dict[str, dict[str, str]]):
    """The collections by name; a plain mapping (and JSON object) that prints one per line, so
    the emulator's printout shows each collection's id and root."""

    def __str__(self) -> str:
        width = max((len(name) for name in self), default=0)
        return "".join(
            f"\n    {name.ljust(width)}  {item['id']}  {item['root']}" for name, item in self.items()
        )


def build(state: EmulatorState) -> Flavour:
    """The Globus Transfer flavour for ``state``."""
    catalog = catalog_of(state)
    routes: list[BaseRoute] = [
        *TransferRoutes(state).routes(),
        *OperationRoutes(state).routes(),
        _admin_route(state),
    ]

    def credentials(root_url: str) -> dict[str, Any]:
        return {
            "transfer_scope": TRANSFER_SCOPE,
            "collections": CollectionListing({c.name: c.describe() for c in catalog.all()}),
        }

    return Flavour(name="globus", routes=routes, prefixes={"transfer": PREFIX}, credentials=credentials)
