"""Globus Transfer API v0.10 task routes under ``/transfer/v0.10``.

* ``GET /submission_id`` -- ``{"value": <uuid>}``.
* ``POST /transfer`` -- a transfer document; 202 ``Accepted`` with ``task_id``, or, for a
  ``submission_id`` the caller used before, 200 ``Duplicate`` with the first task's id.
* ``GET /task/{id}``, ``GET /task_list`` (``filter``, ``limit`` up to 1000, ``offset``,
  ``orderby``, ``fields``), ``POST /task/{id}/cancel``, ``GET /task/{id}/successful_transfers``
  (``marker`` paging), ``GET /task/{id}/event_list`` (newest first, ``limit``/``offset``).

A caller sees only its own tasks (its token's client); another's task answers 404 as an unknown
one does. Answers follow the task documents of the Transfer docs and globus-sdk's fixtures.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.globus.access import (
    PREFIX,
    VERSION,
    GlobusError,
    authorize,
    globus_route,
    lookup_collection,
    not_found_task,
    request_id,
    require_consent,
)
from facility_emulator.globus.collections import catalog_of
from facility_emulator.globus.engine import engine_of
from facility_emulator.globus.submission import bad_request, parse_submission
from facility_emulator.globus.task_filters import order, parse_filter
from facility_emulator.globus.tasks import TransferTask
from facility_emulator.state import EmulatorState

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
SUCCESSFUL_PAGE = 1000


def _int(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from None
    if value < 0 or (maximum is not None and value > maximum):
        raise bad_request(f"{name} must be between 0 and {maximum}, got {value}")
    return value


class TransferRoutes:
    """The task routes of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.catalog = catalog_of(state)
        self.engine = engine_of(state)

    def routes(self) -> list[Route]:
        p = PREFIX + VERSION
        return [
            Route(f"{p}/submission_id", globus_route(self.submission_id), methods=["GET"]),
            Route(f"{p}/transfer", globus_route(self.submit), methods=["POST"]),
            Route(f"{p}/task_list", globus_route(self.task_list), methods=["GET"]),
            Route(f"{p}/task/{{task_id}}", globus_route(self.get_task), methods=["GET"]),
            Route(f"{p}/task/{{task_id}}/cancel", globus_route(self.cancel), methods=["POST"]),
            Route(
                f"{p}/task/{{task_id}}/successful_transfers",
                globus_route(self.successful_transfers),
                methods=["GET"],
            ),
            Route(f"{p}/task/{{task_id}}/event_list", globus_route(self.event_list), methods=["GET"]),
        ]

    def _own_task(self, request: Request) -> tuple[TransferTask, str]:
        owner = authorize(self.state, request).client_id
        self.engine.wake()
        task_id = str(request.path_params["task_id"])
        task = self.engine.get(task_id)
        if task is None or task.owner != owner:
            raise not_found_task(task_id)
        return task, owner

    async def submission_id(self, request: Request) -> Response:
        authorize(self.state, request)
        return JSONResponse({"value": str(uuid.uuid4())})

    async def submit(self, request: Request) -> Response:
        token = authorize(self.state, request)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise bad_request("the request body is not JSON") from None
        submission = parse_submission(body, datetime.now(UTC))
        source = lookup_collection(self.catalog, submission.source_endpoint)
        destination = lookup_collection(self.catalog, submission.destination_endpoint)
        require_consent(token, [source, destination])
        task, created = self.engine.submit(
            owner=token.client_id,
            origin="transfer",
            submission_id=submission.submission_id,
            label=submission.label,
            source=source,
            destination=destination,
            items=submission.items,
            options=submission.options,
        )
        if created:
            code, status = "Accepted", 202
            message = "The transfer has been accepted and a task has been created and queued for execution"
        else:
            code, status = "Duplicate", 200
            message = f"A transfer with id '{task.submission_id}' was already submitted"
        return JSONResponse(
            {
                "DATA_TYPE": "transfer_result",
                "code": code,
                "message": message,
                "request_id": request_id(),
                "resource": "/v0.10/transfer",
                "submission_id": task.submission_id,
                "task_id": task.task_id,
                "task_link": {
                    "DATA_TYPE": "link",
                    "href": f"/v0.10/task/{task.task_id}?format=json",
                    "rel": "related",
                    "resource": "task",
                    "title": "related task",
                },
            },
            status_code=status,
        )

    async def get_task(self, request: Request) -> Response:
        task, _ = self._own_task(request)
        return JSONResponse(_fields(self.engine.document(task), request))

    async def task_list(self, request: Request) -> Response:
        owner = authorize(self.state, request).client_id
        self.engine.wake()
        predicates = parse_filter(request.query_params.get("filter"))
        limit = _int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        offset = _int(request, "offset", 0)
        found = [t for t in self.engine.tasks() if t.owner == owner and all(p(t) for p in predicates)]
        found = order(found, request.query_params.get("orderby"))
        page = [_fields(self.engine.document(t), request) for t in found[offset : offset + limit]]
        return JSONResponse(
            {
                "DATA_TYPE": "task_list",
                "DATA": page,
                "length": len(page),
                "limit": limit,
                "offset": offset,
                "total": len(found),
            }
        )

    async def cancel(self, request: Request) -> Response:
        task, _ = self._own_task(request)
        code = await self.engine.cancel(task)
        messages = {
            "Canceled": "The task has been cancelled successfully.",
            "TaskComplete": "The task completed before the cancel request was processed.",
            "CancelAccepted": "The cancel request has been accepted; the task is stopping.",
        }
        return JSONResponse(
            {
                "DATA_TYPE": "result",
                "code": code,
                "message": messages[code],
                "request_id": request_id(),
                "resource": f"/task/{task.task_id}/cancel",
            },
            status_code=202 if code == "CancelAccepted" else 200,
        )

    async def successful_transfers(self, request: Request) -> Response:
        task, _ = self._own_task(request)
        marker = _int(request, "marker", 0)
        with task.lock:
            done = list(task.successful)
        page = done[marker : marker + SUCCESSFUL_PAGE]
        following = marker + len(page)
        return JSONResponse(
            {
                "DATA_TYPE": "successful_transfers",
                "marker": marker,
                "next_marker": following if following < len(done) else None,
                "DATA": [
                    {"DATA_TYPE": "successful_transfer", "source_path": src, "destination_path": dst}
                    for src, dst in page
                ],
            }
        )

    async def event_list(self, request: Request) -> Response:
        task, _ = self._own_task(request)
        limit = _int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        offset = _int(request, "offset", 0)
        with task.lock:
            events = [event.document() for event in reversed(task.events)]
        page = events[offset : offset + limit]
        return JSONResponse(
            {
                "DATA_TYPE": "event_list",
                "DATA": page,
                "length": len(page),
                "limit": limit,
                "offset": offset,
                "total": len(events),
            }
        )


def _fields(document: dict[str, Any], request: Request) -> dict[str, Any]:
    """Only the ``fields`` asked for (comma separated), as Transfer's ``fields`` parameter does."""
    wanted = request.query_params.get("fields")
    if not wanted:
        return document
    names = {name.strip() for name in wanted.split(",") if name.strip()}
    unknown = sorted(names - set(document))
    if unknown:
        raise GlobusError(400, "ClientError.BadRequest", f"unknown fields {unknown}")
    return {"DATA_TYPE": document["DATA_TYPE"], **{k: v for k, v in document.items() if k in names}}
