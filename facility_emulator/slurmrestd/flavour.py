"""The plain slurmrestd flavour: one Slurm cluster's REST daemon, data parser v0.0.43.

Clients reach it under ``/slurmrestd`` (the daemon's root, so calls go to
``/slurmrestd/slurm/v0.0.43/...``) with ``X-SLURM-USER-NAME`` and ``X-SLURM-USER-TOKEN``. The
flavour's credentials hold the user name, its token (random per emulator) and the user's home.
``GET|PUT /_emulator/slurmrestd`` ``{"minute_seconds": S}`` reads or sets how long a Slurm minute
lasts (see :class:`~.common.SlurmClock`).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.flavours import Flavour
from facility_emulator.slurmrestd.common import VERSION, SlurmAuth, SlurmClock
from facility_emulator.slurmrestd.routes import SlurmRestdRoutes, partitions
from facility_emulator.state import EmulatorState

PREFIX = "/slurmrestd"


def clock_route(clock: SlurmClock, path: str = "/_emulator/slurmrestd") -> Route:
    """``path`` (under ``/_emulator``): the admin knob of a Slurm minute (never faulted or counted)."""

    async def handle(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = json.loads(await request.body() or b"{}")
                clock.set(float(body["minute_seconds"]))
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse(
                    {"detail": f"expected {{'minute_seconds': S > 0}}: {exc}"}, status_code=422
                )
        return JSONResponse({"minute_seconds": clock.minute_seconds})

    return Route(path, handle, methods=["GET", "PUT"])


def build(state: EmulatorState) -> Flavour:
    auth = SlurmAuth(state.config.user, secrets.token_urlsafe(32), state.tokens)
    clock = SlurmClock()

    def credentials(root_url: str) -> dict[str, Any]:
        return {
            "user_name": auth.user_name,
            "token": auth.token,
            "version": VERSION,
            "home": str(state.sandbox.home),
            "partitions": [p.name for p in partitions(state)],
        }

    return Flavour(
        name="slurmrestd",
        routes=[*SlurmRestdRoutes(state, auth, clock, PREFIX).routes(), clock_route(clock)],
        prefixes={"root": PREFIX},
        credentials=credentials,
    )
