"""IRI compute routes: submit, update, status, list and cancel jobs.

Decisions where the spec is silent:

* ``resource_id`` may be the resource's UUID or its name.
* Submitting to a resource that is ``down`` answers 503 ("resource <name> is down").
* Cancelling a job that already ended (completed, failed or canceled) answers 409 and leaves
  the job as it is; cancelling a new/queued job cancels it before it starts.
* Updating a job is allowed only while it is ``new`` or ``queued`` (409 otherwise).
* The list filter body supports ``{"job_ids": [...]}`` (also ``"state"``/``"states"``); other
  keys are ignored.
* v2 submit/update need exactly one of ``attributes.account`` and the ``X-IRI-Facility-Project``
  header (400 otherwise); the header's value is reported as ``attributes.account``.
* v2 ``Idempotency-Key`` follows :mod:`facility_emulator.idempotency`; an in-flight duplicate's
  409 carries ``Retry-After: 2``. Without an idempotency store (``idempotency_store=False``) a
  keyed request answers 501, as the reference server does without one.
* v2 jobs carry HAL ``_links`` (``self``, ``iri:update-job``, ``iri:cancel-job``).

In reference mode (``fidelity iri=reference``) the routes answer as the reference server with its
demo adapter does:

* the list filter body is ignored: a list answers a page (``offset``/``limit``, ``historical``)
  of all the resource's jobs, whatever ``job_ids`` it names;
* no answer carries ``job_spec`` (the key is absent, even with ``include_spec=true``) nor
  ``_links``;
* v2 ignores the ``X-IRI-Facility-Project`` header: the account is ``attributes.account`` of the
  job spec, which may be absent;
* the in-flight 409 has no ``Retry-After`` (the reference server's error handler drops it).
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.facility import ResourceRecord
from facility_emulator.idempotency import IdempotencyConflict, StoredResponse, fingerprint
from facility_emulator.iri import links
from facility_emulator.iri.common import (
    api_base,
    json_body,
    json_response,
    lookup_resource,
    prefix,
    query_bool,
    query_int,
    reference_mode,
)
from facility_emulator.iri.jobspec import build_plan, validate_shape
from facility_emulator.problems import ProblemError
from facility_emulator.scheduler import JobRecord, JobStateError
from facility_emulator.state import EmulatorState

PROJECT_HEADER = "x-iri-facility-project"
NO_STORE = "Idempotency-Key provided but no idempotency store is configured (set IRI_IDEMPOTENCY_STORE)."


class ComputeRoutes:
    """compute/job, compute/status and compute/cancel for one API version."""

    def __init__(self, state: EmulatorState, version: str) -> None:
        self.state = state
        self.version = version

    def routes(self) -> list[Route]:
        p = prefix(self.version)
        return [
            Route(f"{p}/compute/job/{{resource_id}}", self.submit, methods=["POST"]),
            Route(f"{p}/compute/job/{{resource_id}}/{{job_id}}", self.update, methods=["PUT"]),
            Route(f"{p}/compute/status/{{resource_id}}/{{job_id}}", self.get_job, methods=["GET"]),
            Route(f"{p}/compute/status/{{resource_id}}", self.list_jobs, methods=["POST"]),
            Route(f"{p}/compute/cancel/{{resource_id}}/{{job_id}}", self.cancel, methods=["DELETE"]),
        ]

    # -- helpers -------------------------------------------------------------------------

    @property
    def reference(self) -> bool:
        return reference_mode(self.state)

    def job_view(self, request: Request, job: JobRecord, include_spec: bool) -> dict[str, Any]:
        snap = self.state.scheduler.snapshot(job)
        view: dict[str, Any] = {
            "id": job.id,
            "status": {
                "state": snap["state"],
                "time": snap["time"],
                "message": snap["message"],
                "exit_code": snap["exit_code"],
                "meta_data": snap["meta_data"],
            },
        }
        if self.reference:
            return view
        view["job_spec"] = snap["spec"] if include_spec else None
        if self.version == "v2":
            resource = self.state.facility.find(job.resource)
            rid = resource.id if resource is not None else job.resource
            view["_links"] = links.job_links(api_base(request, self.version), rid, job.id)
        return view

    def _compute_resource(self, key: str) -> ResourceRecord:
        resource = lookup_resource(self.state, key)
        if resource.resource_type != "compute":
            raise ProblemError(400, f"resource {resource.name} is not a compute resource")
        return resource

    def _find_job(self, request: Request, resource: ResourceRecord) -> JobRecord:
        job_id = request.path_params["job_id"]
        job = self.state.scheduler.get(job_id)
        if job is None or job.resource != resource.name or not job.visible():
            raise ProblemError(404, f"job {job_id} not found on {resource.name}")
        return job

    def _apply_project(self, request: Request, spec: dict[str, Any]) -> dict[str, Any]:
        """v2 project/account rule; returns the spec with the effective account."""
        if self.version != "v2" or self.reference:
            return spec
        header = request.headers.get(PROJECT_HEADER)
        attributes = spec.get("attributes") or {}
        account = attributes.get("account")
        if bool(header) == bool(account):
            raise ProblemError(
                400,
                "exactly one of attributes.account and the X-IRI-Facility-Project header must be given",
            )
        if header:
            return {**spec, "attributes": {**attributes, "account": header}}
        return spec

    async def _idempotent(self, request: Request, scope: str, spec: Any, action: Any) -> Response:
        """Run ``action`` under v2 Idempotency-Key semantics."""
        key = request.headers.get("idempotency-key")
        if self.version != "v2" or not key:
            status, body = await action()
            return json_response(body, status)
        if not self.state.config.idempotency_store:
            raise ProblemError(501, NO_STORE)
        store = self.state.idempotency
        print_ = (
            fingerprint(spec) if self.reference else fingerprint(spec, request.headers.get(PROJECT_HEADER))
        )
        try:
            stored = store.begin(scope, key, print_)
        except IdempotencyConflict as exc:
            headers = {"Retry-After": "2"} if exc.status == 409 and not self.reference else None
            raise ProblemError(exc.status, exc.detail, headers) from exc
        if stored is not None:
            return json_response(stored.body, stored.status, {"Idempotency-Key-Reply": "hit"})
        try:
            status, body = await action()
        except BaseException:
            store.finish(scope, key, None)
            raise
        store.finish(scope, key, StoredResponse(status, body))
        return json_response(body, status, {"Idempotency-Key-Reply": "miss"})

    # -- handlers ------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        self.state.require_auth(request)
        resource = self._compute_resource(request.path_params["resource_id"])
        spec = validate_shape(await json_body(request))
        spec = self._apply_project(request, spec)

        async def action() -> tuple[int, Any]:
            if self.state.facility.effective_status(resource) == "down":
                raise ProblemError(503, f"resource {resource.name} is down")
            scheduler = self.state.scheduler
            job_id = scheduler.allocate_id()
            plan, reported = build_plan(self.state.sandbox, spec, job_id)
            try:
                job = scheduler.submit(
                    resource.name,
                    plan,
                    reported,
                    invisible_for=self.state.faults.invisible_seconds,
                    job_id=job_id,
                    start=False,
                )
            except JobStateError as exc:
                raise ProblemError(503, str(exc)) from exc
            view = self.job_view(request, job, include_spec=True)
            scheduler.start(job)
            return 200, view

        return await self._idempotent(request, "submit", spec, action)

    async def update(self, request: Request) -> Response:
        self.state.require_auth(request)
        resource = self._compute_resource(request.path_params["resource_id"])
        job = self._find_job(request, resource)
        spec = self._apply_project(request, validate_shape(await json_body(request)))

        async def action() -> tuple[int, Any]:
            plan, reported = build_plan(self.state.sandbox, spec, job.id)
            try:
                self.state.scheduler.update(job, plan, reported)
            except JobStateError as exc:
                raise ProblemError(409, str(exc)) from exc
            return 200, self.job_view(request, job, include_spec=True)

        return await self._idempotent(request, f"update:{job.id}", spec, action)

    async def get_job(self, request: Request) -> Response:
        self.state.require_auth(request)
        resource = self._compute_resource(request.path_params["resource_id"])
        job = self._find_job(request, resource)
        historical = query_bool(request, "historical", True)
        if not historical and job.terminal:
            raise ProblemError(404, f"job {job.id} has ended and historical=false")
        return json_response(self.job_view(request, job, query_bool(request, "include_spec", False)))

    async def list_jobs(self, request: Request) -> Response:
        self.state.require_auth(request)
        resource = self._compute_resource(request.path_params["resource_id"])
        offset = query_int(request, "offset", 0) or 0
        limit = query_int(request, "limit", 100, minimum=1, maximum=1000) or 100
        historical = query_bool(request, "historical", False)
        include_spec = query_bool(request, "include_spec", False)
        filters = await json_body(request, allow_null=True)
        if filters is not None and not isinstance(filters, dict):
            raise ProblemError(422, "filters must be a JSON object or null")
        filters = {} if self.reference else filters or {}
        job_ids = filters.get("job_ids")
        states = filters.get("states") or ([filters["state"]] if filters.get("state") else None)
        now = time.time()
        selected = []
        for job in self.state.scheduler.jobs():
            if job.resource != resource.name or not job.visible(now):
                continue
            if not historical and job.terminal:
                continue
            if isinstance(job_ids, list) and job.id not in {str(j) for j in job_ids}:
                continue
            if isinstance(states, list) and job.state not in states:
                continue
            selected.append(job)
        page = selected[offset : offset + limit]
        return json_response([self.job_view(request, job, include_spec) for job in page])

    async def cancel(self, request: Request) -> Response:
        self.state.require_auth(request)
        resource = self._compute_resource(request.path_params["resource_id"])
        job = self._find_job(request, resource)
        try:
            await anyio.to_thread.run_sync(self.state.scheduler.cancel, job)
        except JobStateError as exc:
            raise ProblemError(409, str(exc)) from exc
        return Response(status_code=204)
