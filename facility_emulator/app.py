"""Assemble the ASGI application: token endpoints, flavours, admin routes and middleware.

Flavours (one per emulated API, see :mod:`facility_emulator.flavours`) bring their routes; the
shared middleware gives them stats, exchange recording and fault injection for free.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Scope

from facility_emulator.admin import AdminRoutes
from facility_emulator.auth_routes import AuthRoutes
from facility_emulator.flavours import Flavour, load_flavours
from facility_emulator.middleware import FaultMiddleware, ObservationMiddleware
from facility_emulator.problems import ProblemError, http_exception_handler, problem_exception_handler
from facility_emulator.state import EmulatorState


def route_template(routes: list[BaseRoute], scope: Scope) -> str | None:
    """The path template of the route a request matches (method mismatch still counts)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match != Match.NONE and isinstance(route, Route):
            return route.path
    return None


def build_app(state: EmulatorState, flavours: list[Flavour] | None = None) -> ASGIApp:
    """The complete emulator application for ``state`` (every registered flavour by default)."""
    if flavours is None:
        flavours = load_flavours(state)
    routes: list[BaseRoute] = [*AuthRoutes(state).routes()]
    for flavour in flavours:
        routes += flavour.routes
    routes += AdminRoutes(state).routes()
    app = Starlette(
        routes=routes,
        exception_handlers={ProblemError: problem_exception_handler, HTTPException: http_exception_handler},
    )
    app.state.emulator = state
    faulted = FaultMiddleware(app, state.faults, latency=state.config.latency)
    return ObservationMiddleware(
        faulted, lambda scope: route_template(routes, scope), state.stats, state.exchanges
    )
