"""Admin routes under ``/_emulator`` for tests and demos (never faulted, never counted).

* ``GET /_emulator/credentials``
* ``GET|DELETE /_emulator/stats``
* ``GET|PUT|DELETE /_emulator/faults`` (JSON form, see :mod:`facility_emulator.faults`)
* ``PUT /_emulator/resources/{name}/status`` ``{"current_status": "down"}``
* ``POST /_emulator/incidents`` ``{"name", "type", "start", "end", "resources", "description"?,
  "status"?}``; ``DELETE /_emulator/incidents/{id}``; ``POST /_emulator/incidents/{id}/resolve``
  ``{"resolution"?: "completed" | "cancelled"}`` -- the incident ends now
* ``GET /_emulator/jobs`` -- all job records and submit counts
* ``POST /_emulator/jobs/history`` ``{"resource": "polaris", "count": 1000, "state"?: "completed"}``
  -- add finished jobs with no process (another user's long history, for listings)
* ``PUT /_emulator/config`` ``{"queue_delay": s, "task_delay": s, "fidelity": "iri=reference"}`` --
  change timings or the fidelity setting at runtime
* ``POST /_emulator/tokens/revoke`` -- forget every issued token
* ``GET /_emulator/allocations`` -- every grant and its usage (:mod:`facility_emulator.ledger`);
  ``PUT`` ``{"project", "capability", "unit"?, "allocation"?, "base_usage"?}`` changes one
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.facility import parse_time
from facility_emulator.faults import FaultSpecError, parse_json
from facility_emulator.fidelity import FidelityError
from facility_emulator.problems import ProblemError
from facility_emulator.scheduler import JobStateError
from facility_emulator.state import EmulatorState


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise ProblemError(422, f"invalid JSON: {exc}") from exc


class AdminRoutes:
    """The ``/_emulator`` routes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/_emulator/credentials", self.credentials, methods=["GET"]),
            Route("/_emulator/stats", self.stats, methods=["GET", "DELETE"]),
            Route("/_emulator/faults", self.faults, methods=["GET", "PUT", "DELETE"]),
            Route("/_emulator/resources/{name}/status", self.resource_status, methods=["PUT"]),
            Route("/_emulator/incidents", self.add_incident, methods=["POST"]),
            Route("/_emulator/incidents/{incident_id}", self.delete_incident, methods=["DELETE"]),
            Route("/_emulator/incidents/{incident_id}/resolve", self.resolve_incident, methods=["POST"]),
            Route("/_emulator/jobs", self.jobs, methods=["GET"]),
            Route("/_emulator/jobs/history", self.add_history, methods=["POST"]),
            Route("/_emulator/config", self.config, methods=["PUT"]),
            Route("/_emulator/tokens/revoke", self.revoke, methods=["POST"]),
            Route("/_emulator/allocations", self.allocations, methods=["GET", "PUT"]),
        ]

    async def credentials(self, request: Request) -> Response:
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(self.state.credentials(base))

    async def stats(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.stats.reset()
        return JSONResponse(self.state.stats.snapshot())

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.faults.clear()
        elif request.method == "PUT":
            try:
                faults = parse_json(await _body(request))
                incidents = self.state.install_faults(faults)
            except (FaultSpecError, ValueError) as exc:
                raise ProblemError(422, str(exc)) from exc
            return JSONResponse({**faults.to_json(), "incident_ids": incidents})
        return JSONResponse(self.state.faults.faults.to_json())

    async def resource_status(self, request: Request) -> Response:
        body = await _body(request)
        name = request.path_params["name"]
        resource = self.state.facility.find(name)
        if resource is None:
            raise ProblemError(404, f"resource {name!r} not found")
        try:
            self.state.facility.set_status(resource.name, str((body or {}).get("current_status")))
        except ValueError as exc:
            raise ProblemError(422, str(exc)) from exc
        return JSONResponse({"name": resource.name, "id": resource.id, "current_status": resource.status})

    async def add_incident(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise ProblemError(422, "incident must be a JSON object")
        try:
            incident = self.state.facility.add_incident(
                name=str(body.get("name") or "incident"),
                type_=str(body.get("type", "unplanned")),
                start=parse_time(body["start"]),
                end=parse_time(body["end"]) if body.get("end") else None,
                resources=list(body.get("resources", [])),
                description=str(body.get("description", "")),
                status=str(body.get("status", "down")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProblemError(422, f"invalid incident: {exc}") from exc
        return JSONResponse({"id": incident.id, "name": incident.name, "resources": incident.resources}, 201)

    async def resolve_incident(self, request: Request) -> Response:
        body = await _body(request)
        resolution = body.get("resolution", "completed") if isinstance(body, dict) else "completed"
        try:
            incident = self.state.facility.resolve_incident(
                request.path_params["incident_id"], str(resolution)
            )
        except KeyError:
            raise ProblemError(404, "incident not found") from None
        except ValueError as exc:
            raise ProblemError(422, str(exc)) from exc
        return JSONResponse({"id": incident.id, "resolution": incident.resolution})

    async def delete_incident(self, request: Request) -> Response:
        if not self.state.facility.remove_incident(request.path_params["incident_id"]):
            raise ProblemError(404, "incident not found")
        return Response(status_code=204)

    async def jobs(self, request: Request) -> Response:
        scheduler = self.state.scheduler
        jobs = []
        for job in scheduler.jobs():
            snap = scheduler.snapshot(job)
            jobs.append({"id": job.id, "resource": job.resource, **snap})
        per_resource: dict[str, int] = {}
        for entry in jobs:
            per_resource[entry["resource"]] = per_resource.get(entry["resource"], 0) + 1
        return JSONResponse(
            {"submit_count": scheduler.submit_count, "per_resource": per_resource, "jobs": jobs}
        )

    async def add_history(self, request: Request) -> Response:
        body = await _body(request) or {}
        resource = self.state.facility.find(str(body.get("resource", "")))
        count = body.get("count")
        if resource is None:
            raise ProblemError(422, f"unknown resource {body.get('resource')!r}")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 100_000:
            raise ProblemError(422, "count must be an integer from 1 to 100000")
        try:
            ids = self.state.scheduler.record_history(
                resource.name, count, str(body.get("state", "completed"))
            )
        except JobStateError as exc:
            raise ProblemError(422, str(exc)) from exc
        return JSONResponse({"ids": ids}, 201)

    async def config(self, request: Request) -> Response:
        body = await _body(request) or {}
        if "queue_delay" in body:
            self.state.scheduler.queue_delay = float(body["queue_delay"])
        if "task_delay" in body:
            self.state.tasks.delay = float(body["task_delay"])
        if "fidelity" in body:
            try:
                self.state.set_fidelity(body["fidelity"])
            except (FidelityError, AttributeError, TypeError) as exc:
                raise ProblemError(422, str(exc)) from exc
        return JSONResponse(
            {
                "queue_delay": self.state.scheduler.queue_delay,
                "task_delay": self.state.tasks.delay,
                "fidelity": self.state.fidelity_setting.text(),
            }
        )

    async def revoke(self, request: Request) -> Response:
        self.state.tokens.revoke_all()
        return Response(status_code=204)

    async def allocations(self, request: Request) -> Response:
        ledger = self.state.ledger
        if request.method == "PUT":
            body = await _body(request)
            if not isinstance(body, dict) or not {"project", "capability"} <= set(body):
                raise ProblemError(422, "give at least 'project' and 'capability'")
            unknown = sorted(set(body) - {"project", "capability", "unit", "allocation", "base_usage"})
            if unknown:
                raise ProblemError(422, f"unknown fields {unknown}")
            try:
                ledger.set_grant(
                    str(body["project"]),
                    str(body["capability"]),
                    unit=str(body.get("unit") or "node_hours"),
                    allocation=body.get("allocation"),
                    base_usage=body.get("base_usage"),
                )
            except ValueError as exc:
                raise ProblemError(422, str(exc)) from exc
        return JSONResponse({"allocations": ledger.snapshot()})
