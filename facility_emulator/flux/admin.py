"""Admin switches of the Flux flavour under ``/_emulator/flux``: stop and start an instance
(a stopped one answers 503), take its nodes down and up again (``/v1/nodes`` lists none while
down) and revoke its access tokens (clients must refresh on 401)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.flux.instance import FluxInstance


class FluxAdminRoutes:
    """``GET /_emulator/flux`` and
    ``POST /_emulator/flux/{label}/{start|stop|nodes-down|nodes-up|revoke-tokens}``."""

    def __init__(self, instances: Mapping[str, FluxInstance]) -> None:
        self.instances = instances

    def routes(self) -> list[Route]:
        return [
            Route("/_emulator/flux", self.describe, methods=["GET"]),
            Route("/_emulator/flux/{label}/{action}", self.act, methods=["POST"]),
        ]

    def _view(self, instance: FluxInstance) -> dict[str, Any]:
        return {
            "label": instance.label,
            "prefix": instance.prefix,
            "auth_backend": instance.auth_backend,
            "running": instance.running,
            "nodes_up": instance.nodes_up,
            "nodes": list(instance.nodes),
            "jobs": len(instance.own_jobs()),
        }

    async def describe(self, request: Request) -> Response:
        return JSONResponse({label: self._view(item) for label, item in self.instances.items()})

    async def act(self, request: Request) -> Response:
        instance = self.instances.get(request.path_params["label"])
        if instance is None:
            return JSONResponse({"detail": "no such Flux instance"}, status_code=404)
        action = request.path_params["action"]
        if action == "stop":
            instance.running = False
        elif action == "start":
            instance.running = True
        elif action in ("nodes-down", "nodes-up"):
            instance.nodes_up = action == "nodes-up"
        elif action == "revoke-tokens":
            instance.token_epoch += 1
        else:
            return JSONResponse({"detail": f"unknown action {action!r}"}, status_code=404)
        return JSONResponse(self._view(instance))
