"""IRI v2 ``GET /account/whoami``: the authenticated caller's user name.

In neither revision of the v2 spec; the reference server's main branch serves it (operation
``whoami``) and answers ``{"username": <user id>}``, so the emulator does too, in both modes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.iri.common import json_response, prefix
from facility_emulator.state import EmulatorState


class AccountRoutes:
    """account/whoami (v2 only)."""

    def __init__(self, state: EmulatorState, version: str) -> None:
        self.state = state
        self.version = version

    def routes(self) -> list[Route]:
        return [Route(f"{prefix(self.version)}/account/whoami", self.whoami, methods=["GET"])]

    async def whoami(self, request: Request) -> Response:
        self.state.require_auth(request)
        return json_response({"username": self.state.config.user})
