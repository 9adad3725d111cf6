"""The SF API v1.2 Globus routes, backed by the emulator's Globus transfer engine.

* ``GET /status/globus`` -- the Globus service's status (``sfapi_client``'s ``storage.globus()``
  reads it before anything else).
* ``POST /storage/globus/transfer`` -- form ``source_uuid``, ``target_uuid``, ``source_dir``,
  ``target_dir``, ``label``; answers ``{"transfer_id", "status": "OK", "reason": null}``.
  ``source_uuid``/``target_uuid`` take a collection id or NERSC's names ``dtn`` and
  ``perlmutter`` (the NERSC DTN collection) and ``hpss`` (NERSC HPSS). Paths are Globus paths on
  the named collections. A directory source is copied recursively into ``target_dir``; a file
  source lands in ``target_dir`` under its own name.
* ``GET /storage/globus/transfer/{id}`` -- ``{"status", "reason", "globus_status" (ACTIVE,
  SUCCEEDED, FAILED, CANCELED), "bytes_transferred", "completion_time" (once ended),
  "effective_bytes_per_second"}``.

Transfers run as the SF API client (no ``data_access`` consent: NERSC's service holds it) and are
tasks of the same engine as the Transfer API's. Domain errors are HTTP 200 with
``status: ERROR`` and a ``reason``, missing form fields FastAPI's 422, as elsewhere in the flavour.
"""

from __future__ import annotations

import asyncio
import posixpath
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.globus.access import GlobusError
from facility_emulator.globus.collections import Collection, PathRefused, catalog_of
from facility_emulator.globus.engine import engine_of
from facility_emulator.globus.submission import DEFAULT_DEADLINE, check_label
from facility_emulator.globus.tasks import FAILED, TransferItem, TransferOptions, TransferTask, iso_time
from facility_emulator.sfapi.routes import PREFIX
from facility_emulator.state import EmulatorState

ORIGIN = "sfapi"
FIELDS = ("source_uuid", "target_uuid", "source_dir", "target_dir")


def _missing(names: list[str]) -> JSONResponse:
    detail = [
        {"loc": ["body", name], "msg": "field required", "type": "value_error.missing"} for name in names
    ]
    return JSONResponse({"detail": detail}, status_code=422)


class SFAPIGlobusRoutes:
    """Globus routes of the SF API flavour."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.catalog = catalog_of(state)
        self.engine = engine_of(state)

    def routes(self) -> list[Route]:
        p = PREFIX
        return [
            Route(f"{p}/status/globus", self.status, methods=["GET"]),
            Route(f"{p}/storage/globus/transfer", self.start, methods=["POST"]),
            Route(f"{p}/storage/globus/transfer/{{transfer_id}}", self.transfer, methods=["GET"]),
        ]

    def endpoints(self) -> dict[str, str]:
        """NERSC's names for collections, to their ids (for the flavour's credentials)."""
        return {alias: c.id for c in self.catalog.all() for alias in c.aliases}

    async def status(self, request: Request) -> Response:
        return JSONResponse(
            {
                "name": "globus",
                "full_name": "Globus",
                "description": "Globus data transfer service (emulated)",
                "system_type": "service",
                "notes": [],
                "status": "active",
                "updated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            }
        )

    def _collection(self, name: str) -> Collection | None:
        return self.catalog.by_alias(name) or self.catalog.get(name)

    def _item(self, source: Collection, source_dir: str, target_dir: str) -> TransferItem:
        """A recursive item for a directory (or a missing path, which the task reports), a
        file item into ``target_dir`` for a file."""
        try:
            path = source.host_path(self.state.sandbox, source_dir)
        except PathRefused:
            return TransferItem(source_dir, target_dir, recursive=True)
        if path.is_file():
            name = posixpath.basename(source_dir.rstrip("/"))
            return TransferItem(source_dir, posixpath.join(target_dir, name))
        return TransferItem(source_dir, target_dir, recursive=True)

    async def start(self, request: Request) -> Response:
        self.state.require_auth(request)
        token = (request.headers.get("authorization") or "").partition(" ")[2].strip()
        issued = self.state.tokens.lookup(token)
        form = await request.form()
        fields = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
        missing = [name for name in FIELDS if not fields.get(name)]
        if missing:
            return _missing(missing)
        try:
            label = check_label(fields.get("label") or None)
        except GlobusError as exc:
            return JSONResponse({"transfer_id": "", "status": "ERROR", "reason": exc.message})
        source = self._collection(fields["source_uuid"])
        target = self._collection(fields["target_uuid"])
        for name, found in (("source_uuid", source), ("target_uuid", target)):
            if found is None:
                reason = f"No such endpoint '{fields[name]}' ({name}); use a collection id, dtn, perlmutter or hpss"
                return JSONResponse({"transfer_id": "", "status": "ERROR", "reason": reason})
        assert source is not None and target is not None
        item = await asyncio.to_thread(self._item, source, fields["source_dir"], fields["target_dir"])
        task, _ = self.engine.submit(
            owner=issued.client_id if issued is not None else "sfapi",
            origin=ORIGIN,
            submission_id=str(uuid.uuid4()),
            label=label,
            source=source,
            destination=target,
            items=[item],
            options=TransferOptions(deadline=datetime.now(UTC) + DEFAULT_DEADLINE),
        )
        return JSONResponse({"transfer_id": task.task_id, "status": "OK", "reason": None})

    async def transfer(self, request: Request) -> Response:
        self.state.require_auth(request)
        self.engine.wake()
        transfer_id = str(request.path_params["transfer_id"])
        task = self.engine.get(transfer_id)
        if task is None or task.origin != ORIGIN:
            return JSONResponse({"status": "ERROR", "reason": f"transfer {transfer_id} not found"})
        return JSONResponse(_result(self.engine.document(task), task))


def _result(document: dict[str, Any], task: TransferTask) -> dict[str, Any]:
    fatal = document["fatal_error"]
    status = document["status"]
    if status == FAILED and fatal is not None and fatal["code"] == "CANCELED":
        status = "CANCELED"
    result: dict[str, Any] = {
        "status": "OK",
        "reason": f"{fatal['code']}: {fatal['description']}" if fatal else None,
        "globus_status": status,
        "bytes_transferred": document["bytes_transferred"],
        "effective_bytes_per_second": document["effective_bytes_per_second"],
    }
    if task.completion_time is not None:  # absent while running: the field is not nullable
        result["completion_time"] = iso_time(task.completion_time)
    return result
