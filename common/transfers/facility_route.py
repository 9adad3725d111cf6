"""The facility route: a facility API's own Globus routes, with that API's credentials.

NERSC's Superfacility API starts Globus transfers for its users (``specs/FINDINGS.md`` §2.2):

* ``POST /storage/globus/transfer`` -- form ``source_uuid``, ``target_uuid``, ``source_dir``,
  ``target_dir``, ``label``; ``{"transfer_id", "status": "OK"|"ERROR", "reason"}``. The uuids
  are collection ids or NERSC's names (``dtn``, ``perlmutter``, ``hpss``); a directory source is
  copied recursively into ``target_dir``, a file source lands in ``target_dir`` under its name;
* ``GET /storage/globus/transfer/{id}`` -- ``{"status", "reason", "globus_status" (ACTIVE,
  SUCCEEDED, FAILED, CANCELED), "bytes_transferred", "completion_time",
  "effective_bytes_per_second"}``.

What the API cannot express is refused before anything is sent, naming the field: one item per
transfer, a file keeps its name, no ``sync_level``, ``verify_checksum``, ``preserve_timestamp``
or ``deadline``. The API has no submission ids, no listing, no cancel and no event list: a
submit whose answer is lost is **not** sent again (nothing could find the first one), the error
says so; waiting asks for each transfer on its own (no batched call exists); cancel, events and
failed files raise :class:`~facility_common.UnsupportedOperation` saying where to look instead.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import anyio

from ..errors import (
    APIError,
    AuthenticationError,
    FacilityError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnsupportedOperation,
)
from ..http import ApiRequest
from .errors import TransferSubmissionError
from .models import (
    FailedFile,
    InvalidTransferRequest,
    TransferEvent,
    TransferRequest,
    TransferState,
    TransferTask,
    _parse_dt,
)
from .sites import FacilitySite

__all__ = ["FacilityGlobusRoute", "build_start", "parse_status"]

#: Single look-ups in flight at once while waiting on many transfers (the API lists none).
CONCURRENCY = 8
_STATES = {
    "ACTIVE": TransferState.ACTIVE,
    "INACTIVE": TransferState.ACTIVE,
    "SUCCEEDED": TransferState.SUCCEEDED,
    "FAILED": TransferState.FAILED,
    "CANCELED": TransferState.CANCELED,
    "CANCELLED": TransferState.CANCELED,
}
_UNSUPPORTED_OPTIONS = ("sync_level", "verify_checksum", "preserve_timestamp", "deadline")


def build_start(request: TransferRequest, facility: str) -> ApiRequest:
    """The ``POST /storage/globus/transfer`` of ``request``; refuses what the form cannot say."""

    def refuse(field: str, why: str) -> InvalidTransferRequest:
        return InvalidTransferRequest(
            f"{field}: {why} on the {facility} Globus route; use the Globus route for it",
            field=field,
            facility=facility,
        )

    for name in _UNSUPPORTED_OPTIONS:
        if getattr(request, name) not in (None, False):
            raise refuse(name, "cannot be set")
    if len(request.items) != 1:
        raise refuse("items", f"one item per transfer (got {len(request.items)})")
    [item] = request.items
    if item.recursive:
        source_dir, target_dir = item.source_path, item.destination_path
    else:
        name = posixpath.basename(item.source_path.rstrip("/"))
        if posixpath.basename(item.destination_path.rstrip("/")) != name:
            raise refuse(
                "items.destination_path", f"a file keeps its name ({name!r}): give <directory>/{name}"
            )
        source_dir, target_dir = item.source_path, posixpath.dirname(item.destination_path.rstrip("/")) or "/"
    form = {
        "source_uuid": request.source,
        "target_uuid": request.destination,
        "source_dir": source_dir,
        "target_dir": target_dir,
    }
    if request.label is not None:
        form["label"] = request.label
    return ApiRequest("POST", "storage/globus/transfer", data=form)


def parse_status(data: Any, transfer_id: str, route: str) -> TransferTask:
    """The answer of ``GET /storage/globus/transfer/{id}`` as a :class:`TransferTask`."""
    if not isinstance(data, Mapping):
        raise ValueError("not an object")
    if str(data.get("status", "")).upper() == "ERROR":
        raise LookupError(str(data.get("reason") or data.get("error") or "error"))
    native = str(data.get("globus_status") or "").upper()
    if native not in _STATES:
        raise ValueError(f"unknown globus_status {native!r}")
    state = _STATES[native]
    rate = data.get("effective_bytes_per_second")
    moved = data.get("bytes_transferred")
    reason = data.get("reason")
    return TransferTask(
        id=transfer_id,
        state=state,
        route=route,
        native_status=native,
        bytes_transferred=moved if isinstance(moved, int) and not isinstance(moved, bool) else 0,
        rate=float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else 0.0,
        reason=str(reason) if reason else None,
        completed_at=_parse_dt(data.get("completion_time")),
        raw=dict(data),
    )


class FacilityGlobusRoute:
    """The Globus routes of a facility's own API on ``site`` (see the module).

    Storages of ``site`` itself go by the names its API knows (``dtn``), others by their
    collection ids.
    """

    batched = False

    def __init__(self, site: FacilitySite) -> None:
        if site.settings is None:
            raise InvalidTransferRequest(
                f"route: site {site.name!r} has no facility connection to send transfers through",
                field="route",
                facility=site.name,
            )
        self.site = site
        self.name = site.name
        self.requests = 0
        """Calls made to the facility API (for tests and benchmarks)."""

    def __repr__(self) -> str:
        return f"FacilityGlobusRoute({self.site!r})"

    @property
    def _facility(self) -> str:
        return self.site.api or self.site.name

    async def submission_id(self) -> str:
        """A local id: the API has none, it only labels the request for the caller's records."""
        return str(uuid.uuid4())

    async def submit(self, request: TransferRequest, *, fresh_submission_id: bool = False) -> TransferTask:
        """Start the transfer (the API has no submission ids: ``fresh_submission_id`` changes
        nothing).

        :calls: POST /storage/globus/transfer
        """
        what = f"transfer {request.described_source} -> {request.described_destination}"
        api_request = build_start(request, self._facility)
        self.requests += 1
        try:
            data = await self.site.call(api_request)
        except (TransportError, ServerError, RateLimitedError) as exc:
            raise TransferSubmissionError(
                f"{what}: the outcome of the submit is unknown ({exc.message}); the {self._facility} API "
                "offers no way to find a transfer it started, so nothing was sent again: check your "
                "Globus activity before submitting it again",
                submission_id=request.submission_id,
                outcome_unknown=True,
                facility=self._facility,
                status_code=exc.status_code,
            ) from None
        except NotFoundError:
            raise self._unsupported("starting a Globus transfer") from None
        except AuthenticationError:
            raise
        except APIError as exc:
            raise TransferSubmissionError(
                f"{what}: refused by the {self._facility} API: {exc.message}",
                submission_id=request.submission_id,
                facility=self._facility,
                status_code=exc.status_code,
            ) from None
        answer = data if isinstance(data, Mapping) else {}
        transfer_id = answer.get("transfer_id")
        if str(answer.get("status", "")).upper() == "ERROR" or not transfer_id:
            reason = answer.get("reason") or answer.get("error") or "no transfer id in the answer"
            raise TransferSubmissionError(
                f"{what}: refused by the {self._facility} API: {reason}",
                submission_id=request.submission_id,
                facility=self._facility,
            )
        return TransferTask(
            id=str(transfer_id),
            state=TransferState.ACTIVE,
            route=self.name,
            native_status="ACTIVE",
            label=request.label,
            source=request.source,
            destination=request.destination,
            submission_id=request.submission_id,
            reason="accepted",
            requested_at=datetime.now(UTC),
            raw=dict(answer),
        )

    async def get_task(self, task_id: str) -> TransferTask:
        """One transfer.

        :calls: GET /storage/globus/transfer/{transfer_id}
        """
        self.requests += 1
        data = await self.site.call(ApiRequest("GET", f"storage/globus/transfer/{quote(task_id, safe='')}"))
        try:
            return parse_status(data, task_id, self.name)
        except LookupError as exc:
            raise NotFoundError(
                f"transfer {task_id}: the {self._facility} API says: {exc}", facility=self._facility
            ) from None
        except (TypeError, ValueError) as exc:
            raise APIError(f"transfer {task_id}: unusable answer ({exc})", facility=self._facility) from None

    async def list_tasks(
        self, task_ids: Sequence[str] | None = None, *, label: str | None = None, limit: int = 100
    ) -> list[TransferTask]:
        """The transfers of ``task_ids``, asked one by one (bounded concurrency): the API has no
        listing. Transfers it does not know are absent; a failed look-up is left out too."""
        if task_ids is None:
            raise self._unsupported("listing transfers")
        found: dict[str, TransferTask] = {}
        limiter = anyio.CapacityLimiter(CONCURRENCY)

        async def one(task_id: str) -> None:
            async with limiter:
                try:
                    found[task_id] = await self.get_task(task_id)
                except FacilityError:
                    return

        async with anyio.create_task_group() as group:
            for task_id in dict.fromkeys(task_ids):
                group.start_soon(one, task_id)
        return [found[t] for t in dict.fromkeys(task_ids) if t in found]

    def _unsupported(self, what: str) -> UnsupportedOperation:
        return UnsupportedOperation(
            f"{what} is not offered by the {self._facility} API's Globus routes; the Globus route "
            "(a Globus token) offers it, and the Globus web app shows every transfer",
            facility=self._facility,
        )

    async def find_by_label(self, label: str) -> TransferTask | None:
        raise self._unsupported("finding a transfer by its label")

    async def cancel(self, task_id: str) -> TransferTask:
        raise self._unsupported("cancelling a transfer")

    async def events(self, task_id: str, limit: int = 100) -> list[TransferEvent]:
        raise self._unsupported("a transfer's event list")

    async def mkdir(self, collection_id: str, path: str) -> None:
        raise self._unsupported("making a directory on a collection")

    async def failed_files(self, task_id: str) -> list[FailedFile]:
        raise self._unsupported("a transfer's failed files")

    async def aclose(self) -> None:
        """The site is the caller's: nothing of its own to close."""
