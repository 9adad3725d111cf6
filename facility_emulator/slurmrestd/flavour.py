"""The plain slurmrestd flavour: one Slurm cluster's REST daemon, data parser v0.0.43.

Clients reach it under ``/slurmrestd`` (the daemon's root, so calls go to
``/slurmrestd/slurm/v0.0.43/...``) with ``X-SLURM-USER-NAME`` and ``X-SLURM-USER-TOKEN``. The
flavour's credentials hold the user name, its token (random per emulator) and the user's home.
``GET|PUT /_emulator/slurmrestd`` ``{"minute_seconds": S, "min_job_age": S, "other_jobs": N}``
reads or sets how long a Slurm minute lasts (:class:`~.common.SlurmClock`), how long slurmctld
keeps finished jobs and how many other users' jobs it lists
(:class:`~.common.ControllerSettings`); any one of them may be given alone.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.flavours import Flavour
from facility_emulator.slurmrestd.associations import AccountingRoutes
from facility_emulator.slurmrestd.common import VERSION, ControllerSettings, SlurmAuth, SlurmClock
from facility_emulator.slurmrestd.routes import SlurmRestdRoutes, partitions
from facility_emulator.state import EmulatorState

PREFIX = "/slurmrestd"


def clock_route(
    clock: SlurmClock, path: str = "/_emulator/slurmrestd", controller: ControllerSettings | None = None
) -> Route:
    """``path`` (under ``/_emulator``): the admin knobs of the emulated Slurm (never faulted or
    counted): ``minute_seconds`` (how long a Slurm minute lasts) and, with a ``controller``,
    ``min_job_age`` and ``other_jobs`` (:class:`~.common.ControllerSettings`)."""

    def settings() -> dict[str, Any]:
        found: dict[str, Any] = {"minute_seconds": clock.minute_seconds}
        if controller is not None:
            found.update(min_job_age=controller.min_job_age, other_jobs=controller.other_jobs)
        return found

    async def handle(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = json.loads(await request.body() or b"{}")
                known = set(settings())
                if not isinstance(body, dict) or not body or set(body) - known:
                    raise ValueError(f"give one or more of {', '.join(sorted(known))}")
                if "minute_seconds" in body:
                    clock.set(float(body["minute_seconds"]))
                if controller is not None:
                    other_jobs = body.get("other_jobs")
                    if other_jobs is not None and not isinstance(other_jobs, int):
                        raise TypeError("other_jobs must be an integer")
                    age = body.get("min_job_age")
                    controller.set(min_job_age=None if age is None else float(age), other_jobs=other_jobs)
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse(
                    {"detail": f"expected {{'minute_seconds': S > 0, ...}}: {exc}"}, status_code=422
                )
        return JSONResponse(settings())

    return Route(path, handle, methods=["GET", "PUT"])


def openapi_routes(auth: SlurmAuth, served: list[Route]) -> list[Route]:
    """``GET /openapi/v3`` (also ``/openapi`` and ``/openapi.json``): the daemon's description of
    the routes it serves, as slurmrestd publishes it. Only the paths and their methods are
    given: clients read it to learn which data-parser versions and which accounting routes are
    served. Like Debian's slurmrestd, it wants the caller's token."""
    paths: dict[str, dict[str, Any]] = {}
    for route in served:
        path = route.path[len(PREFIX) :]
        if path.endswith("/") and path != "/":
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                paths.setdefault(path, {})[method.lower()] = {"responses": {"200": {"description": "answer"}}}
    document = {
        "openapi": "3.0.2",
        "info": {"title": "Slurm REST API", "version": f"Slurm-25.05.8 {VERSION} (emulated)"},
        "paths": paths,
    }

    async def handle(request: Request) -> Response:
        refusal = auth.check(request)
        if refusal is not None:
            return refusal
        return JSONResponse(document)

    return [
        Route(f"{PREFIX}{path}", handle, methods=["GET"])
        for path in ("/openapi/v3", "/openapi", "/openapi.json")
    ]


def build(state: EmulatorState) -> Flavour:
    auth = SlurmAuth(state.config.user, secrets.token_urlsafe(32), state.tokens)
    clock = SlurmClock()
    controller = ControllerSettings()
    cluster = SlurmRestdRoutes(state, auth, clock, PREFIX, controller)
    served = [*cluster.routes(), *AccountingRoutes(cluster).routes()]

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
        routes=[*served, *openapi_routes(auth, served), clock_route(clock, controller=controller)],
        prefixes={"root": PREFIX},
        credentials=credentials,
    )
