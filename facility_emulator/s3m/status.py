"""S3M's status service (``/olcf/v1alpha/status``) and token control (``/olcf/v1/token/ctls``).

Resources are the emulator's compute resources; their incidents are S3M downtimes: current ones
under ``/downtimes``, those starting in the next ten days under ``/downtimes/upcoming``. Answers use
the gRPC gateway's JSON names (camelCase). The status service is public; the token calls need the
token. A revoked token is refused by every S3M route from then on; ``POST /_emulator/s3m/tokens``
issues another token of the project (to revoke one without losing the flavour's static token).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.facility import IncidentRecord, ResourceRecord, iso
from facility_emulator.s3m.common import ENCLAVE, S3MToken
from facility_emulator.state import EmulatorState

UPCOMING_WINDOW = timedelta(days=10)


def compute_resources(state: EmulatorState) -> list[ResourceRecord]:
    return [r for r in state.facility.resource_list() if r.resource_type == "compute"]


def _downtime(incident: IncidentRecord, resource: str) -> dict[str, Any]:
    end = incident.end or (incident.start + timedelta(hours=4))
    return {
        "resourceName": resource,
        "status": "UNAVAILABLE",
        "start": iso(incident.start),
        "end": iso(end),
        "description": incident.description or incident.name,
        "attributes": {"scheduled": incident.type == "planned", "reboot": False},
        "updatedAt": iso(incident.last_modified),
    }


def _downtimes(state: EmulatorState, *, upcoming: bool, resource: str | None = None) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    names = {r.name: r.id for r in compute_resources(state)}
    found = []
    for incident in state.facility.incident_list():
        if incident.resolution in ("completed", "cancelled"):
            continue
        if upcoming:
            if not (now < incident.start <= now + UPCOMING_WINDOW):
                continue
        elif not incident.active(now):
            continue
        for name, resource_id in names.items():
            if resource is not None and name != resource:
                continue
            if name in incident.resources or resource_id in incident.resources:
                found.append(_downtime(incident, name))
    return found


def _resource(state: EmulatorState, record: ResourceRecord) -> dict[str, Any]:
    current = _downtimes(state, upcoming=False, resource=record.name)
    status = state.facility.effective_status(record)
    operational = status in ("up", "degraded") and not current
    return {
        "name": record.name,
        "description": record.description,
        "systemType": "compute",
        "securityEnclave": ENCLAVE,
        "organization": "OLCF (emulated)",
        "status": "OPERATIONAL" if operational else "UNAVAILABLE",
        "annotations": {},
        "downtimeScheduleAvailable": True,
        "upcomingDowntimes": _downtimes(state, upcoming=True, resource=record.name),
        "retrievedAt": iso(datetime.now(UTC)),
    }


def status_routes(state: EmulatorState, token: S3MToken) -> list[Route]:
    async def list_resources(request: Request) -> Response:
        return JSONResponse({"resources": [_resource(state, r) for r in compute_resources(state)]})

    async def get_resource(request: Request) -> Response:
        name = request.path_params["resource_name"]
        for record in compute_resources(state):
            if name in (record.name, record.id):
                return JSONResponse(_resource(state, record))
        return JSONResponse({"code": 5, "message": f"resource {name} not found"}, status_code=404)

    async def current(request: Request) -> Response:
        return JSONResponse({"downtimes": _downtimes(state, upcoming=False)})

    async def upcoming(request: Request) -> Response:
        return JSONResponse({"downtimes": _downtimes(state, upcoming=True)})

    async def introspect(request: Request) -> Response:
        refusal = token.check(request)
        if refusal is not None:
            return refusal
        expires = datetime.now(UTC) + timedelta(seconds=token.lifetime)
        return JSONResponse(
            {
                "token": {
                    "username": f"{token.project}_auser",
                    "project": token.project,
                    "permissions": ["compute-ace", "data-streaming"],
                    "plannedExpiration": iso(expires),
                    "securityEnclave": ENCLAVE,
                    "description": "emulated S3M token",
                    "oneTimeToken": False,
                    "delayedStart": False,
                }
            }
        )

    async def revoke(request: Request) -> Response:
        refusal = token.check(request)
        if refusal is not None:
            return refusal
        token.revoke(token.presented(request))
        return JSONResponse({})

    async def issue(request: Request) -> Response:
        return JSONResponse({"token": token.issue()})

    return [
        Route("/olcf/v1alpha/status", list_resources, methods=["GET"]),
        Route("/olcf/v1alpha/status/downtimes", current, methods=["GET"]),
        Route("/olcf/v1alpha/status/downtimes/upcoming", upcoming, methods=["GET"]),
        Route("/olcf/v1alpha/status/{resource_name}", get_resource, methods=["GET"]),
        Route("/olcf/v1/token/ctls/introspect", introspect, methods=["GET"]),
        Route("/olcf/v1/token/ctls/revoke", revoke, methods=["DELETE"]),
        Route("/_emulator/s3m/tokens", issue, methods=["POST"]),
    ]
