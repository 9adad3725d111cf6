"""The Globus route: Globus Transfer through globus-sdk's ``TransferClient``.

globus-sdk is blocking (``requests``): every call runs in one of the route's worker threads, with
the token of :class:`~facility_common.transfers.globus_auth.TransferCredentials` handed to it
(a context variable set in that thread for the call), so concurrent calls never share a header. The client's transport sends no request on
after a redirect and reaches a loopback Transfer service (the emulator) directly, as the pack's
HTTP session does; retries follow the route's :class:`~facility_common.RetryPolicy`.

* **Submits are idempotent.** The request carries its ``submission_id`` (taken before sending,
  kept by the caller); globus-sdk retries a submit whose answer was lost with the same id, and
  Transfer answers a used id with the task it already created (``Duplicate``). When every retry
  failed, :class:`~facility_common.transfers.TransferSubmissionError` says the outcome is unknown
  and submitting the same request again is safe.
* **Consents.** A ``ConsentRequired`` answer is met by asking for a token with the missing
  ``data_access`` scopes when the route manages its scopes (a confidential client), and is
  otherwise a :class:`~facility_common.transfers.ConsentRequired` naming the collection.
* **A 401** invalidates the token and the call is made once more with a fresh one.
* **Batched status.** :meth:`GlobusRoute.list_tasks` asks for many tasks with one
  ``GET /task_list?filter=task_id:<id>,<id>...`` per ``ids_per_request`` ids.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..endpoints import check_base_url, host_of, is_loopback_url
from ..errors import (
    APIError,
    AuthenticationError,
    FacilityError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from ..http import RetryPolicy
from ..redaction import install_log_redaction
from ..tls import VerifySetting, ca_path, certificate_failure, certificate_message
from .errors import ConsentRequired, TransferSubmissionError
from .globus_auth import GLOBUS_FACILITY, TransferCredentials, transfer_scope
from .globus_parsers import failed_files, parse_event, parse_task, transfer_document
from .models import (
    FailedFile,
    InvalidTransferRequest,
    TransferEvent,
    TransferRequest,
    TransferState,
    TransferTask,
)

if TYPE_CHECKING:
    import globus_sdk

    from ..auth.globus_transport import CredentialTransport

__all__ = ["GLOBUS_TRANSFER_URL", "GlobusRoute"]

logger = logging.getLogger("facility_common.transfers")

GLOBUS_TRANSFER_URL = "https://transfer.api.globus.org/"
#: Task ids one ``task_list`` request asks about (Transfer pages ``task_list`` at 1000).
IDS_PER_REQUEST = 1000
#: Worker threads of one route (globus-sdk calls in flight at once).
WORKER_THREADS = 8
_T = TypeVar("_T")
_CALL_TOKEN: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "facility_transfer_token", default=None
)
_DATA_ACCESS_PREFIX = "https://auth.globus.org/scopes/"


def _consent_collections(exc: Any) -> list[str]:
    """Collection ids named by the ``required_scopes`` of a ``ConsentRequired`` answer."""
    found: list[str] = []
    body = exc.raw_json if isinstance(getattr(exc, "raw_json", None), dict) else {}
    for scope in body.get("required_scopes") or []:
        for word in str(scope).replace("[", " ").replace("]", " ").split():
            word = word.lstrip("*")
            if word.startswith(_DATA_ACCESS_PREFIX) and word.endswith("/data_access"):
                found.append(word[len(_DATA_ACCESS_PREFIX) : -len("/data_access")].lower())
    return found


class GlobusRoute:
    """Globus Transfer as a transfer route (see the module for what it guarantees).

    :param credentials: the Transfer token (:class:`TransferCredentials`, or an auth setting it
        takes: a ``globus_confidential`` or ``globus_refresh_token`` mapping, a token...).
    :param base_url: the Transfer API (``https://transfer.api.globus.org/``; the emulator's
        ``http://127.0.0.1:PORT/transfer/``).
    :param names: how messages name collection ids (``{"<id>": "alcf:eagle"}``), updated as the
        client resolves storages.
    """

    name = GLOBUS_FACILITY
    batched = True

    def __init__(
        self,
        credentials: TransferCredentials | Any,
        *,
        base_url: str = GLOBUS_TRANSFER_URL,
        verify: VerifySetting = True,
        allow_insecure_http: bool = False,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        ids_per_request: int = IDS_PER_REQUEST,
        names: dict[str, str] | None = None,
    ) -> None:
        self.base_url = (
            check_base_url(
                base_url,
                facility=GLOBUS_FACILITY,
                sends_credentials=True,
                allow_insecure_http=allow_insecure_http,
            )
            + "/"
        )
        if not isinstance(credentials, TransferCredentials):
            credentials = TransferCredentials(
                credentials, verify=verify, allow_insecure_http=allow_insecure_http
            )
        self.credentials = credentials
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        if isinstance(ids_per_request, bool) or not isinstance(ids_per_request, int) or ids_per_request < 1:
            raise InvalidTransferRequest(
                "ids_per_request: must be a positive integer", field="ids_per_request"
            )
        self.ids_per_request = ids_per_request
        self.names: dict[str, str] = names if names is not None else {}
        self._client: globus_sdk.TransferClient | None = None
        self._transport: CredentialTransport | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.requests = 0
        """Calls made to the Transfer API (for tests and benchmarks)."""

    def __repr__(self) -> str:
        return f"GlobusRoute(base_url={self.base_url!r}, credentials={self.credentials!r})"

    # -- plumbing ---------------------------------------------------------------------------------

    def _sdk(self) -> globus_sdk.TransferClient:
        import globus_sdk
        from globus_sdk.transport import RetryConfig

        from ..auth.globus_transport import CredentialTransport

        if self._client is None:
            install_log_redaction()  # globus-sdk's loggers exist once it is imported
            policy = self.retry
            self._transport = CredentialTransport(
                verify=ca_path(self.verify, GLOBUS_FACILITY),
                direct=is_loopback_url(self.base_url),
                host=host_of(self.base_url),
                facility=GLOBUS_FACILITY,
                purpose="Globus Transfer request",
                hint="set the Transfer API's base URL to the address that answers",
            )
            self._transport.http_timeout = self.timeout
            retry = RetryConfig(
                max_retries=max(0, policy.attempts - 1),
                max_sleep=policy.max_retry_after,
                backoff=lambda context: policy.delay(context.attempt + 1),
            )
            self._client = globus_sdk.TransferClient(
                base_url=self.base_url,
                authorizer=_call_token(),
                transport=self._transport,
                retry_config=retry,
            )
        return self._client

    def _threads(self) -> ThreadPoolExecutor:
        """The route's worker threads for globus-sdk calls. An executor of its own rather than
        anyio's worker threads: a call costs a tenth of a millisecond more than globus-sdk alone,
        not almost a millisecond (bench/transfer_submit.py)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="globus-transfer")
        return self._executor

    def describe(self, collection_id: str | None) -> str:
        """A collection as messages name it: ``alcf:eagle (<id>)`` or the id."""
        if not collection_id:
            return "?"
        name = self.names.get(collection_id.lower())
        return f"{name} ({collection_id})" if name else collection_id

    async def _call(
        self, what: str, work: Callable[[globus_sdk.TransferClient], _T], collections: Sequence[str] = ()
    ) -> _T:
        """Run ``work`` in a worker thread with a Transfer token; map its failure to our tree."""
        import globus_sdk

        client = self._sdk()
        refreshed = widened = False
        while True:
            token = await self.credentials.token(collections)
            self.requests += 1
            failure: FacilityError
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self._threads(), _with_token, token, work, client
                )
            except globus_sdk.GlobusAPIError as exc:
                if exc.http_status == 401 and not refreshed:
                    refreshed = True
                    self.credentials.invalidate(token)
                    continue
                missing = _consent_collections(exc) if exc.code == "ConsentRequired" else []
                if missing and self.credentials.managed and not widened:
                    widened = True
                    collections = [*collections, *missing]
                    continue
                failure = self._api_error(what, exc, collections, missing)
            except globus_sdk.NetworkError as exc:
                certificate = certificate_failure(exc)
                if certificate is not None:
                    failure = TransportError(
                        f"{what}: {certificate_message(certificate, host_of(self.base_url))}",
                        facility=GLOBUS_FACILITY,
                    )
                else:
                    failure = TransportError(
                        f"{what}: no answer from the Transfer API at {host_of(self.base_url)} "
                        f"({type(exc).__name__})",
                        facility=GLOBUS_FACILITY,
                    )
            except globus_sdk.GlobusError as exc:
                failure = APIError(f"{what}: {type(exc).__name__}", facility=GLOBUS_FACILITY)
            # Raised outside the except: no globus-sdk exception (which holds the request) is chained.
            raise failure

    def _api_error(
        self, what: str, exc: globus_sdk.GlobusAPIError, collections: Sequence[str], missing: Sequence[str]
    ) -> FacilityError:
        status = exc.http_status
        code = exc.code if isinstance(exc.code, str) else "Error"
        said = exc.message if isinstance(exc.message, str) else ""
        text = f"{what}: {code}" + (f": {said}" if said else "")
        context: dict[str, Any] = {"facility": GLOBUS_FACILITY, "status_code": status}
        if code == "ConsentRequired" or (status == 403 and missing):
            named = list(dict.fromkeys(missing or collections))
            scope = transfer_scope(named)
            where = ", ".join(self.describe(c) for c in named) or "the collections involved"
            return ConsentRequired(
                f"{what}: Globus needs your consent to use {where} "
                f"({'its data_access scope' if len(named) == 1 else 'their data_access scopes'}); "
                f"log in again asking for the scope {scope}",
                collections=named,
                required_scope=scope,
                **context,
            )
        if status == 401:
            return AuthenticationError(f"{what}: the Transfer API refused the token ({code})", **context)
        if status == 403:
            return AuthenticationError(text, **context)
        if status == 404:
            if code == "EndpointNotFound":
                names = ", ".join(self.describe(c) for c in collections)
                text = f"{what}: Globus knows no collection {names}" + (f" ({said})" if said else "")
            return NotFoundError(text, **context)
        if status == 429:
            return RateLimitedError(text, **context)
        if status >= 500:
            return ServerError(text, **context)
        return APIError(text, **context)

    # -- the route ---------------------------------------------------------------------------------

    async def submission_id(self) -> str:
        """A new ``submission_id`` from Transfer.

        :calls: GET /v0.10/submission_id
        """
        data = await self._call("submission id", lambda client: client.get_submission_id().data)
        value = data.get("value") if isinstance(data, Mapping) else None
        if not isinstance(value, str) or not value:
            raise APIError("GET /submission_id: no submission id in the answer", facility=GLOBUS_FACILITY)
        return value

    async def submit(self, request: TransferRequest, *, fresh_submission_id: bool = False) -> TransferTask:
        """Submit ``request``; the task as Transfer accepted it (a used ``submission_id`` gives
        the task it created before, read again).

        With ``fresh_submission_id`` the request's id is replaced by a new one from Transfer,
        taken in the same worker call just before sending (the one-step ``transfer()``, whose
        request nobody keeps: one thread hop instead of two).

        :calls: [GET /v0.10/submission_id], POST /v0.10/transfer
        """
        what = f"transfer {request.described_source} -> {request.described_destination}"
        document = transfer_document(request)
        collections = [request.source, request.destination]
        taken: dict[str, str] = {} if fresh_submission_id else {"id": request.submission_id}

        def send(client: globus_sdk.TransferClient) -> dict[str, Any]:
            if fresh_submission_id:
                document["submission_id"] = taken["id"] = str(client.get_submission_id()["value"])
            return dict(client.submit_transfer(document).data)

        try:
            answer = await self._call(what, send, collections)
        except (TransportError, ServerError, RateLimitedError) as exc:
            if "id" not in taken:
                raise  # no submission id yet: nothing was sent
            raise TransferSubmissionError(
                f"{what}: the outcome of the submit is unknown ({exc.message}); submitting the same "
                f"request (submission_id {taken['id']}) again starts no second transfer",
                submission_id=taken["id"],
                outcome_unknown=True,
                facility=GLOBUS_FACILITY,
                status_code=exc.status_code,
            ) from None
        except APIError as exc:
            if isinstance(exc, NotFoundError) or exc.status_code in (401, 403):
                raise
            raise TransferSubmissionError(
                f"{what}: refused: {exc.message}",
                submission_id=taken.get("id"),
                facility=GLOBUS_FACILITY,
                status_code=exc.status_code,
            ) from None
        if fresh_submission_id:
            request = dataclasses.replace(request, submission_id=taken["id"])
        task_id = answer.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise TransferSubmissionError(
                f"{what}: the answer has no task id; submitting the same request again is safe",
                submission_id=request.submission_id,
                outcome_unknown=True,
                facility=GLOBUS_FACILITY,
            )
        if answer.get("code") == "Duplicate":
            logger.info(
                "%s: submission %s was already accepted as task %s", what, request.submission_id, task_id
            )
            task = await self.get_task(task_id)
            return _with_submission(task, request)
        return TransferTask(
            id=task_id,
            state=TransferState.ACTIVE,
            route=self.name,
            native_status="ACTIVE",
            label=request.label,
            source=request.source,
            destination=request.destination,
            submission_id=request.submission_id,
            reason=str(answer.get("code") or "Accepted"),
            requested_at=datetime.now(UTC),
            deadline=request.deadline,
            raw=answer,
        )

    async def get_task(self, task_id: str) -> TransferTask:
        """One task.

        :calls: GET /v0.10/task/{task_id}
        """
        data = await self._call(f"task {task_id}", lambda client: dict(client.get_task(task_id).data))
        return self._parsed(f"GET /task/{task_id}", data)

    def _parsed(self, what: str, data: Any) -> TransferTask:
        try:
            return parse_task(data, route=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise APIError(f"{what}: unusable task document ({exc})", facility=GLOBUS_FACILITY) from None

    async def list_tasks(
        self, task_ids: Sequence[str] | None = None, *, label: str | None = None, limit: int = 100
    ) -> list[TransferTask]:
        """Tasks by id (one request per ``ids_per_request`` ids; ids Transfer does not know are
        absent), or the newest ``limit`` tasks (with ``label``: of that exact label).

        :calls: GET /v0.10/task_list?filter=task_id:<ids> | label:=<label>
        """
        if task_ids is not None:
            ids = list(dict.fromkeys(task_ids))
            found: list[TransferTask] = []
            for start in range(0, len(ids), self.ids_per_request):
                chunk = ids[start : start + self.ids_per_request]
                found += await self._page(f"task_id:{','.join(chunk)}", len(chunk), 0)
            return found
        clause = ""
        if label is not None:
            if any(mark in label for mark in ",/") or not label.strip():
                raise InvalidTransferRequest(
                    "label: a label looked up must be non-empty, without ',' or '/'", field="label"
                )
            clause = f"label:={label}"
        tasks: list[TransferTask] = []
        while len(tasks) < limit:
            page = await self._page(clause, min(1000, limit - len(tasks)), len(tasks))
            tasks += page
            if len(page) < min(1000, limit - len(tasks) + len(page)):
                break
        return tasks[:limit]

    async def _page(self, clause: str, limit: int, offset: int) -> list[TransferTask]:
        def call(client: globus_sdk.TransferClient) -> list[dict[str, Any]]:
            params: dict[str, Any] = {"limit": limit, "offset": offset}
            if clause:
                params["filter"] = clause
            return [dict(doc) for doc in client.task_list(**params)]

        docs = await self._call("task list", call)
        return [self._parsed("GET /task_list", doc) for doc in docs]

    async def find_by_label(self, label: str) -> TransferTask | None:
        """The newest task labelled ``label``, or None: how a retried task finds the transfer an
        earlier try submitted."""
        tasks = await self.list_tasks(label=label, limit=10)
        tasks.sort(key=lambda t: t.requested_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return tasks[0] if tasks else None

    async def cancel(self, task_id: str) -> TransferTask:
        """Cancel a task and return it (ended, or still stopping).

        :calls: POST /v0.10/task/{task_id}/cancel
        """
        await self._call(f"cancel task {task_id}", lambda client: dict(client.cancel_task(task_id).data))
        return await self.get_task(task_id)

    async def events(self, task_id: str, limit: int = 100) -> list[TransferEvent]:
        """The task's events, newest first.

        :calls: GET /v0.10/task/{task_id}/event_list
        """

        def call(client: globus_sdk.TransferClient) -> list[dict[str, Any]]:
            return [dict(doc) for doc in client.task_event_list(task_id, limit=min(limit, 1000))]

        return [parse_event(doc) for doc in await self._call(f"events of task {task_id}", call)]

    async def failed_files(self, task_id: str) -> list[FailedFile]:
        """The files the task could not move, from its error events.

        :calls: GET /v0.10/task/{task_id}/event_list
        """
        return failed_files(await self.events(task_id, limit=1000))

    async def mkdir(self, collection_id: str, path: str) -> None:
        """Make a directory on a collection, and its missing parents (an existing one is fine).

        :calls: POST /v0.10/operation/endpoint/{collection_id}/mkdir (per missing level)
        """
        import globus_sdk

        parts = [part for part in path.split("/") if part and part != "~"]
        prefix = "/~/" if path.startswith("/~") or path.startswith("~") else "/"
        where = self.describe(collection_id)
        for depth in range(1, len(parts) + 1):
            level = prefix + "/".join(parts[:depth])

            def make(client: globus_sdk.TransferClient, level: str = level) -> bool:
                try:
                    client.operation_mkdir(collection_id, level)
                except globus_sdk.TransferAPIError as exc:
                    if exc.code and "Exists" in exc.code:
                        return False
                    raise
                return True

            await self._call(f"mkdir {level} on {where}", make, [collection_id])

    async def aclose(self) -> None:
        transport, self._transport = self._transport, None
        executor, self._executor = self._executor, None
        self._client = None
        if transport is not None:
            transport.close()
        if executor is not None:
            executor.shutdown(wait=False)
        await self.credentials.aclose()


def _call_token() -> Any:
    """A globus-sdk authorizer sending the token of the current call: the context variable
    :func:`_with_token` sets in the worker thread before the call."""
    from globus_sdk.authorizers import GlobusAuthorizer

    class CallToken(GlobusAuthorizer):
        def get_authorization_header(self) -> str | None:
            token = _CALL_TOKEN.get()
            return f"Bearer {token}" if token else None

        def handle_missing_authorization(self) -> bool:
            return False  # the route refreshes the token itself and calls again

    return CallToken()


def _with_token(token: str, work: Callable[[Any], _T], client: Any) -> _T:
    _CALL_TOKEN.set(token)
    return work(client)


def _with_submission(task: TransferTask, request: TransferRequest) -> TransferTask:
    return dataclasses.replace(task, submission_id=request.submission_id)
