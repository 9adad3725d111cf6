"""Backend for Slurm's REST daemon, slurmrestd (data-parser versions v0.0.38 to v0.0.44).

``base_url`` is the daemon's root (``http://127.0.0.1:6820``); calls go to
``slurm/{version}/{call}``. One deployment is one Slurm cluster and its **resources are its
partitions**: submitting to a resource sets the job's partition (``attributes.queue_name`` wins
when given). Every call has a pure ``_build_<op>``/``_parse_<op>`` pair tested on recorded payloads.

Choices where slurmrestd is silent or awkward:

* **Version.** ``api_version`` picks the data parser; ``"auto"`` (the default) probes
  ``GET slurm/{version}/ping`` from the newest version down on first use and keeps the first that
  answers. Parsers read every version's shapes (see :mod:`.slurmrest_versions`).
* **Auth.** A token (any auth setting ``resolve_auth`` accepts) is sent as ``X-SLURM-USER-TOKEN``
  with ``user_name`` as ``X-SLURM-USER-NAME``. With ``socket`` the calls go over slurmrestd's UNIX
  socket (httpx's UDS transport); there a token works for anyone, and no token at all works when
  the caller runs as slurmrestd's own user (``rest_auth/local`` knows it from the socket).
* **Jobs.** An ``executable`` is wrapped in a small ``/bin/sh`` batch script. The job's
  environment is only what is sent (slurmrestd does not inherit one), so the backend's
  ``environment`` option (default ``PATH=/usr/local/bin:/usr/bin:/bin``) is sent under the spec's.
  Standard output and error default to ``slurm-%j.out``/``slurm-%j.err`` in the working directory,
  which defaults to the ``directory`` option (``/tmp``). Durations are rounded *up* to whole
  minutes, Slurm's unit.
* **Submit without duplicates.** Every job carries a tag in its ``comment``
  (``facility-submit-tag:<tag>``) and in ``FACILITY_SUBMIT_TAG``. After an ambiguous failure the
  backend lists the jobs and returns the one with the tag before sending again. It does not send
  again when the jobs could not be listed, nor when the server may still be at work on the first
  request (a read timeout, 504): :class:`JobSubmissionError` then says the outcome is unknown,
  and the next submit of the same tag looks for the job first. A success answer that cannot be
  read (not JSON, no job id, a job id that is neither text nor a number) counts as a lost one,
  never as a refusal. ``find_job_by_tag`` offers the same look-up to a caller with a new client.
  A job just submitted that slurmctld does not show yet is PENDING.
* **Finished jobs** are only known to slurmctld for ``MinJobAge`` seconds when there is no
  accounting database; a job that is gone is ``NotFoundError``.
* **Output.** slurmrestd has no call to read a job's output. With ``local_output=True`` (the
  backend runs on a host that sees the cluster's file systems) ``job_output`` reads the job's
  stdout/stderr file; otherwise it raises :class:`UnsupportedOperation`.
* **Outages** are reservations flagged ``MAINT``: planned, for their partition or the whole
  cluster.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import re
import uuid
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import anyio
import anyio.to_thread
import httpx

from ..auth import FacilityAuth, TokenSource
from ..errors import (
    APIError,
    ConfigurationError,
    FacilityError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    ServerError,
    TransportError,
    UnsupportedOperation,
)
from ..models import Job, JobSpec, JobState, Outage, ResourceState, ResourceStatus
from ..options import BackendOptions, about
from .base import Capability, FacilityBackend
from .slurm_script import (
    SUBMIT_TAG_VARIABLE,
    SbatchOption,
    SlurmSite,
    job_description,
    job_environment,
    render_batch_script,
    sbatch_options,
)
from .slurmrest_versions import SUPPORTED_VERSIONS, normalise_version, script_at_top
from .states import SLURM_STATES, settle_exit_code, translate_state
from .submit_guard import SubmitMemory, may_still_be_working, newest, outcome_unknown

__all__ = [
    "SUBMIT_TAG_VARIABLE",
    "SlurmRequest",
    "SlurmRestBackend",
    "SlurmRestOptions",
    "SlurmTokenAuth",
]

logger = logging.getLogger("facility_common.backends.slurmrest")

FACILITY = "slurmrest"
TAG_PREFIX = "facility-submit-tag:"
SUBMIT_ATTEMPTS = 3
DEFAULT_ENVIRONMENT: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
_AMBIGUOUS_STATUSES = frozenset({502, 504})
_GONE_ERRORS = frozenset({2017})  # ESLURM_INVALID_JOB_ID
_ALREADY_DONE = re.compile(r"already\s+(completing|completed|finished)|job.*complet", re.IGNORECASE)
_UP_WORDS = frozenset({"UP"})
_DOWN_WORDS = frozenset({"DOWN", "INACTIVE", "DRAIN"})
_NODE_DOWN_WORDS = frozenset({"DOWN", "DRAIN", "DRAINED", "FAIL", "FUTURE", "UNKNOWN", "NOT_RESPONDING"})


# -- auth -------------------------------------------------------------------------------------


class RefreshingHeaderAuth(httpx.Auth):
    """Puts a :class:`TokenSource`'s token in the request (:meth:`apply`) and, like
    :class:`~facility_common.auth.FacilityAuth`, survives one refusal: on a 401 the token is
    invalidated and the request is sent once more with a fresh one, when the source can make one
    and the body can be replayed."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def apply(self, request: httpx.Request, token: str) -> None:
        raise NotImplementedError

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.source.token()
        self.apply(request, token)
        response = yield request
        if response.status_code != 401 or not self.source.refreshable:
            return
        try:
            request.content  # noqa: B018 - raises when the body is an unread stream
        except httpx.RequestNotRead:
            return
        self.source.invalidate(token)
        fresh = await self.source.token()
        if hmac.compare_digest(fresh.encode(), token.encode()):
            return
        self.apply(request, fresh)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise ConfigurationError(
            f"{type(self).__name__} works with httpx.AsyncClient only", facility=FACILITY
        )
        yield request  # pragma: no cover - makes this a generator, as httpx expects


class SlurmTokenAuth(RefreshingHeaderAuth):
    """Sends ``X-SLURM-USER-NAME`` and ``X-SLURM-USER-TOKEN`` (a JWT from a :class:`TokenSource`)."""

    def __init__(self, source: TokenSource, user_name: str | None) -> None:
        super().__init__(source)
        self.user_name = user_name

    def apply(self, request: httpx.Request, token: str) -> None:
        if self.user_name:
            request.headers["X-SLURM-USER-NAME"] = self.user_name
        request.headers["X-SLURM-USER-TOKEN"] = token

    def __repr__(self) -> str:
        return f"SlurmTokenAuth(user_name={self.user_name!r}, source={self.source!r})"


# -- requests ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SlurmRequest:
    """One API call, as built by a ``_build_<op>`` function."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    idempotent: bool | None = None
    ok: tuple[int, ...] = (200, 201, 202, 204)


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _build_ping(prefix: str) -> SlurmRequest:
    """:calls: GET {prefix}/ping"""
    return SlurmRequest("GET", f"{prefix}/ping")


def _build_partitions(prefix: str) -> SlurmRequest:
    """:calls: GET {prefix}/partitions"""
    return SlurmRequest("GET", f"{prefix}/partitions")


def _build_nodes(prefix: str) -> SlurmRequest:
    """:calls: GET {prefix}/nodes"""
    return SlurmRequest("GET", f"{prefix}/nodes")


def _build_reservations(prefix: str) -> SlurmRequest:
    """:calls: GET {prefix}/reservations"""
    return SlurmRequest("GET", f"{prefix}/reservations")


def _build_get_job(prefix: str, job_id: str) -> SlurmRequest:
    """:calls: GET {prefix}/job/{job_id}"""
    return SlurmRequest("GET", f"{prefix}/job/{_q(job_id)}", ok=(200, 404, 500))


def _build_list_jobs(prefix: str) -> SlurmRequest:
    """:calls: GET {prefix}/jobs (every job slurmctld knows, in one call)"""
    return SlurmRequest("GET", f"{prefix}/jobs")


def _build_cancel(prefix: str, job_id: str) -> SlurmRequest:
    """:calls: DELETE {prefix}/job/{job_id} (SIGKILL: the job ends CANCELLED)"""
    return SlurmRequest("DELETE", f"{prefix}/job/{_q(job_id)}", ok=(200, 204, 404, 500))


def _tag_comment(tag: str, stdout: str | None, stderr: str | None) -> str:
    return TAG_PREFIX + tag


SITE = SlurmSite(
    facility=FACILITY,
    shell="/bin/sh",
    job_description=True,
    default_job_name="facility-job",
    default_stdout="slurm-%j.out",
    default_stderr="slurm-%j.err",
    defaults_in_directory=True,
    reserved=frozenset({"comment", "environment", "script"}),
    tag_comment=_tag_comment,
    exec_command=True,
)
"""slurmrestd: the job is a job description (the queue is its partition, the tag its comment)
and a ``/bin/sh`` script that execs the command. Custom attributes are job description fields;
``comment``, ``environment`` and ``script`` are the backend's own."""


def _script_for(spec: JobSpec) -> str:
    """The batch script: the spec's own, or one that execs the executable with its arguments."""
    if spec.script is not None:
        return spec.script if spec.script.startswith("#!") else f"#!{SITE.shell}\n" + spec.script
    return render_batch_script(spec, SITE, (), tag=None)


def _job_options(
    spec: JobSpec, *, partition: str | None, tag: str, directory: str | None, facility: str = FACILITY
) -> tuple[SbatchOption, ...]:
    """The checked options of ``spec``'s job description (refused before any request)."""
    site = SITE if facility == SITE.facility else dataclasses.replace(SITE, facility=facility)
    return sbatch_options(spec, site, tag=tag, directory=spec.directory or directory, queue=partition)


def _render_job(
    spec: JobSpec,
    *,
    version: str,
    partition: str | None,
    tag: str,
    directory: str | None,
    base_environment: Mapping[str, str],
    facility: str = FACILITY,
) -> dict[str, Any]:
    """The Slurm job description (``job_desc_msg``) of ``spec``, without the script."""
    options = _job_options(spec, partition=partition, tag=tag, directory=directory, facility=facility)
    return job_description(options, version=version, environment=job_environment(spec, tag, base_environment))


def _submit_body(version: str, job: dict[str, Any], script: str) -> dict[str, Any]:
    if script_at_top(version):
        return {"script": script, "job": job}
    return {"job": {**job, "script": script}}


def _build_submit(prefix: str, version: str, job: dict[str, Any], script: str) -> SlurmRequest:
    """:calls: POST {prefix}/job/submit"""
    return SlurmRequest("POST", f"{prefix}/job/submit", json=_submit_body(version, job, script))


# -- parsing ----------------------------------------------------------------------------------


def _number(value: Any) -> int | None:
    """A plain number or a ``{"set", "infinite", "number"}`` struct; ``None`` when unset."""
    if isinstance(value, Mapping):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    return None


def _time(value: Any) -> datetime | None:
    number = _number(value)
    if not number:
        return None
    return datetime.fromtimestamp(number, tz=UTC)


def _errors(data: Any) -> list[Mapping[str, Any]]:
    if isinstance(data, Mapping):
        errors = data.get("errors") or []
        return [e for e in errors if isinstance(e, Mapping)]
    return []


def _error_text(data: Any) -> str:
    parts = []
    for error in _errors(data):
        text = error.get("description") or error.get("error") or ""
        number = error.get("error_number") or error.get("error_code")
        parts.append(f"{text} (error {number})" if number else str(text))
    return "; ".join(p for p in parts if p)


def _state_words(job: Mapping[str, Any]) -> list[str]:
    """A job's state words: v0.0.38's string, v0.0.40+'s list, or slurmdb's ``state.current``."""
    state = job.get("job_state")
    if state is None and isinstance(job.get("state"), Mapping):
        state = job["state"].get("current")
    if isinstance(state, str):
        return [word for word in state.replace(",", " ").split() if word]
    if isinstance(state, list):
        return [str(word) for word in state]
    return []


def _exit_code(job: Mapping[str, Any]) -> int | None:
    """The return code: v0.0.38 gives the wait status (code << 8), later versions a struct."""
    value = job.get("exit_code")
    if isinstance(value, Mapping):
        signal = value.get("signal")
        if isinstance(signal, Mapping):
            signal_id = _number(signal.get("id"))
            if signal_id:
                return 128 + signal_id
        return _number(value.get("return_code"))
    number = _number(value)
    if number is None:
        return None
    if number & 0x7F:
        return 128 + (number & 0x7F)
    return (number >> 8) & 0xFF


def _expand(path: str | None, job: Mapping[str, Any]) -> str | None:
    """Expand Slurm's filename patterns that matter here (``%j``, ``%x``, ``%u``, ``%%``)."""
    if not path:
        return None
    replacements = {
        "j": str(job.get("job_id", "")),
        "A": str(job.get("array_job_id", job.get("job_id", ""))),
        "x": str(job.get("name", "")),
        "u": str(job.get("user_name", "")),
    }
    return re.sub(r"%(%|[jAxu])", lambda m: "%" if m.group(1) == "%" else replacements[m.group(1)], path)


def _tag_of(job: Mapping[str, Any]) -> str | None:
    comment = job.get("comment")
    if isinstance(comment, Mapping):  # slurmdb: comment{job, administrator, system}
        comment = comment.get("job")
    if isinstance(comment, str) and comment.startswith(TAG_PREFIX):
        return comment[len(TAG_PREFIX) :]
    return None


def _parse_job(data: Mapping[str, Any], resource: str, *, facility: str = FACILITY) -> Job:
    """One job object of ``GET jobs`` or ``GET job/{id}`` as a :class:`Job`."""
    job_id = _job_id(data.get("job_id"))
    if job_id is None:
        raise ValueError("a job without a job_id string or integer")
    words = _state_words(data)
    native = words[0] if words else None
    state = translate_state(SLURM_STATES, native, facility=facility)
    exit_code = _exit_code(data) if state.is_terminal else None
    state = settle_exit_code(state, exit_code)
    if state is JobState.FAILED and exit_code == 0:
        exit_code = None
    times = data.get("time") if isinstance(data.get("time"), Mapping) else data
    assert isinstance(times, Mapping)
    reason = data.get("state_reason")
    if reason is None and isinstance(data.get("state"), Mapping):
        reason = data["state"].get("reason")
    stdout = data.get("stdout_expanded") or _expand(data.get("standard_output") or data.get("stdout"), data)
    stderr = data.get("stderr_expanded") or _expand(data.get("standard_error") or data.get("stderr"), data)
    return Job(
        id=job_id,
        resource=resource,
        state=state,
        native_state=",".join(words) or None,
        exit_code=exit_code,
        message=str(reason) if reason and reason != "None" else None,
        submitted_at=_time(times.get("submit_time", times.get("submission"))),
        started_at=_time(times.get("start_time", times.get("start")))
        if state is not JobState.PENDING
        else None,
        finished_at=_time(times.get("end_time", times.get("end"))) if state.is_terminal else None,
        name=data.get("name"),
        stdout_path=stdout,
        stderr_path=stderr,
        raw=dict(data),
    )


def _parse_jobs(data: Any, resource: str | None, *, facility: str = FACILITY) -> list[Job]:
    """``{"jobs": [...]}`` as jobs; each keeps its own partition as resource unless one is given."""
    if not isinstance(data, Mapping) or not isinstance(data.get("jobs"), list):
        raise ValueError("expected an object with a 'jobs' list")
    jobs = []
    for item in data["jobs"]:
        if not isinstance(item, Mapping):
            raise ValueError("a job entry is not an object")
        jobs.append(_parse_job(item, resource or str(item.get("partition") or ""), facility=facility))
    return jobs


def _job_id(value: Any) -> str | None:
    """A job id of an answer: a non-empty string or an integer, else None (never ``str()`` of a
    list or an object)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


class _Refused(ValueError):
    """slurmrestd's own errors in a submit answer: the job was refused."""


def _parse_submit(data: Any) -> str:
    """The new job's id from a submit answer. slurmrestd's own errors are raised as
    :class:`_Refused`; an answer that cannot be read otherwise as ValueError."""
    if not isinstance(data, Mapping):
        raise ValueError("the submit answer is not an object")
    raw = data.get("job_id")
    if raw is None and isinstance(data.get("result"), Mapping):
        raw = data["result"].get("job_id")
    if raw is None and _errors(data):
        raise _Refused(_error_text(data))
    job_id = _job_id(raw)
    if job_id is None:
        what = "no job_id" if raw is None else f"a job_id that is {type(raw).__name__}"
        raise ValueError(f"the submit answer has {what}")
    return job_id


def _partition_state(partition: Mapping[str, Any]) -> tuple[ResourceState, str | None]:
    state = partition.get("state")
    if isinstance(partition.get("partition"), Mapping):  # v0.0.40+: partition.state = ["UP"]
        state = partition["partition"].get("state")
    words = [state] if isinstance(state, str) else [str(w) for w in state or []]
    native = ",".join(words) or None
    upper = {w.upper() for w in words}
    if upper & _DOWN_WORDS:
        return ResourceState.DOWN, native
    if upper & _UP_WORDS:
        return ResourceState.UP, native
    return ResourceState.UNKNOWN, native


def _parse_partitions(data: Any) -> list[ResourceStatus]:
    """``GET partitions`` as resources (id and name are the partition's name)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("partitions"), list):
        raise ValueError("expected an object with a 'partitions' list")
    resources = []
    for partition in data["partitions"]:
        name = str(partition.get("name") or "")
        if not name:
            raise ValueError("a partition without a name")
        state, native = _partition_state(partition)
        resources.append(
            ResourceStatus(
                id=name,
                name=name,
                state=state,
                resource_type="compute",
                description=f"Slurm partition {name}",
                native_state=native,
                raw=dict(partition),
            )
        )
    return resources


def _parse_nodes(data: Any) -> list[dict[str, Any]]:
    """``GET nodes`` as plain dicts ``{name, state, usable, partitions, cpus, raw}``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise ValueError("expected an object with a 'nodes' list")
    nodes = []
    for node in data["nodes"]:
        state = node.get("state")
        words = [state] if isinstance(state, str) else [str(w) for w in state or []]
        words += [str(w) for w in node.get("state_flags") or []]
        upper = {w.upper() for w in words}
        nodes.append(
            {
                "name": node.get("name"),
                "state": ",".join(words),
                "usable": not (upper & _NODE_DOWN_WORDS),
                "partitions": list(node.get("partitions") or []),
                "cpus": node.get("cpus"),
                "raw": dict(node),
            }
        )
    return nodes


def _parse_reservations(data: Any, *, all_reservations: bool = False) -> list[Outage]:
    """``GET reservations`` as planned outages: those flagged ``MAINT`` (all with
    ``all_reservations``), for their partition or, without one, the whole cluster."""
    if not isinstance(data, Mapping) or not isinstance(data.get("reservations"), list):
        raise ValueError("expected an object with a 'reservations' list")
    outages = []
    for item in data["reservations"]:
        flags = {str(f).upper() for f in item.get("flags") or []}
        if not all_reservations and "MAINT" not in flags and "MAINTENANCE" not in flags:
            continue
        name = str(item.get("name") or "")
        partition = item.get("partition")
        outages.append(
            Outage(
                id=name,
                name=name,
                start=_time(item.get("start_time")),
                end=_time(item.get("end_time")),
                planned=True,
                status="planned",
                description=f"Slurm reservation {name} on {item.get('node_list') or 'no nodes'}",
                resources=(str(partition),) if partition else (),
                raw=dict(item),
            )
        )
    return outages


# -- backend ----------------------------------------------------------------------------------


def _new_tag() -> str:
    return uuid.uuid4().hex


def _read_tail(path: str, tail: int | None) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail > 0 else ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlurmRestOptions(BackendOptions):
    """Options of the slurmrestd backend."""

    user_name: str | None = dataclasses.field(
        default=None, metadata=about("The Slurm user the token belongs to (X-SLURM-USER-NAME).")
    )
    socket: str | None = dataclasses.field(
        default=None, metadata=about("Path of slurmrestd's UNIX socket, instead of a URL.")
    )
    api_version: str | None = dataclasses.field(
        default="auto", metadata=about("Data-parser version (v0.0.38 to v0.0.44), or auto to ask the server.")
    )
    directory: str | None = dataclasses.field(
        default="/tmp", metadata=about("Working directory of jobs that name none.")
    )
    environment: Mapping[str, str] | None = dataclasses.field(
        default=None, metadata=about("Environment given to every job (slurmrestd passes none of its own).")
    )
    partition: str | None = dataclasses.field(
        default=None, metadata=about("Partition of jobs that name no queue.")
    )
    local_output: bool = dataclasses.field(
        default=False, metadata=about("Read job output from this machine's file system (same cluster).")
    )
    all_reservations: bool = dataclasses.field(
        default=False, metadata=about("Report every reservation as an outage, not only MAINT ones.")
    )


class SlurmRestBackend(FacilityBackend):
    """slurmrestd, one cluster: partitions as resources, MAINT reservations as outages, jobs."""

    name: ClassVar[str] = "slurmrest"
    facility_label: ClassVar[str] = "Slurm REST API (slurmrestd)"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {Capability.STATUS, Capability.OUTAGES, Capability.JOBS, Capability.JOB_OUTPUT}
    )
    unsupported_hint: ClassVar[str] = (
        "slurmrestd only schedules jobs; move files with the cluster's own tools (scp, Globus)."
    )

    Options: ClassVar[type[BackendOptions]] = SlurmRestOptions
    options: SlurmRestOptions

    def __init__(
        self,
        *,
        base_url: str = "http://localhost",
        auth: httpx.Auth | None = None,
        options: SlurmRestOptions | None = None,
        **values: Any,
    ) -> None:
        super().__init__(base_url=base_url, auth=auth, options=options, **values)
        self.facility = self.name
        opts = self.options
        self.user_name = opts.user_name
        self.socket = opts.socket
        self.api_version = (
            None
            if opts.api_version in (None, "auto")
            else normalise_version(str(opts.api_version), facility=self.name)
        )
        self.directory = opts.directory
        self.environment = dict(DEFAULT_ENVIRONMENT if opts.environment is None else opts.environment)
        self.partition = opts.partition
        self.local_output = opts.local_output
        self.all_reservations = opts.all_reservations
        self.submit_lookup_delays = opts.submit_lookup_delays
        self._memory = SubmitMemory(visibility_grace=opts.visibility_grace, settle_window=opts.settle_window)
        if opts.socket is not None and opts.transport is None:
            opts = opts.with_values(
                transport=httpx.AsyncHTTPTransport(uds=opts.socket), allow_insecure_http=True
            )
        elif opts.socket is not None:
            opts = opts.with_values(allow_insecure_http=True)
        self._session = opts.session(
            self.name, base_url, self._wrap_auth(auth), headers={"Accept": "application/json"}
        )
        self.base_url = self._session.base_url
        self._version_lock: anyio.Lock | None = None

    def _wrap_auth(self, auth: httpx.Auth | None) -> httpx.Auth | None:
        """A token from ``resolve_auth`` goes in slurmrestd's own headers, not ``Authorization``."""
        if isinstance(auth, FacilityAuth):
            if not self.user_name:
                raise ConfigurationError(
                    "user_name: slurmrestd needs the user the token belongs to (X-SLURM-USER-NAME)",
                    facility=self.name,
                )
            return SlurmTokenAuth(auth.source, self.user_name)
        return auth

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_version={self.api_version!r})"

    async def aclose(self) -> None:
        await self._session.aclose()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "base_url": self.base_url,
            "socket": self.socket,
            "api_version": self.api_version,
            "user_name": self.user_name,
        }

    # -- plumbing -------------------------------------------------------------------------------

    def _prefix(self, version: str, resource: str | None) -> str:
        """The path prefix of the version's calls (``slurm/v0.0.38``)."""
        return f"slurm/{version}"

    async def _version(self) -> str:
        if self.api_version is not None:
            return self.api_version
        if self._version_lock is None:
            self._version_lock = anyio.Lock()
        async with self._version_lock:
            if self.api_version is None:
                self.api_version = await self._detect_version()
        return self.api_version

    async def _detect_version(self) -> str:
        """The newest data-parser version whose ping answers 200."""
        for version in SUPPORTED_VERSIONS:
            try:
                await self._session.request("GET", f"slurm/{version}/ping", ok=(200,))
            except (NotFoundError, APIError) as exc:
                if isinstance(exc, ServerError) or exc.status_code in (401, 403):
                    raise
                continue
            logger.debug("%s serves data parser %s", self.base_url, version)
            return version
        raise ConfigurationError(
            f"{self.base_url} answers none of the slurmrestd versions {', '.join(SUPPORTED_VERSIONS)}; "
            "set api_version",
            facility=self.name,
        )

    async def _send(self, request: SlurmRequest, resource: str | None = None) -> httpx.Response:
        return await self._session.request(
            request.method,
            request.path,
            resource=resource,
            params=request.params,
            json=request.json,
            idempotent=request.idempotent,
            ok=request.ok,
        )

    async def _call(self, request: SlurmRequest, resource: str | None = None) -> Any:
        response = await self._send(request, resource)
        return self._session.json(response, resource=resource)

    def _bad_answer(self, what: str, exc: Exception, resource: str | None) -> APIError:
        return APIError(f"{what}: unexpected answer: {exc}", facility=self.name, resource=resource)

    # -- status ---------------------------------------------------------------------------------

    async def ping(self, resource: str | None = None) -> list[dict[str, Any]]:
        """slurmctld's answer to ping (``hostname``, ``ping``/``responding``, ``mode``...).

        :calls: GET slurm/{version}/ping
        """
        version = await self._version()
        data = await self._call(_build_ping(self._prefix(version, resource)), resource)
        pings = data.get("pings") if isinstance(data, Mapping) else None
        if not isinstance(pings, list):
            raise self._bad_answer("GET ping", ValueError("no 'pings' list"), None)
        return [dict(p) for p in pings]

    async def partitions(self, resource: str | None = None) -> list[ResourceStatus]:
        """The cluster's partitions.

        :calls: GET slurm/{version}/partitions
        """
        version = await self._version()
        data = await self._call(_build_partitions(self._prefix(version, resource)), resource)
        try:
            return _parse_partitions(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET partitions", exc, None) from None

    async def resources(self) -> list[ResourceStatus]:
        """The cluster's partitions.

        :calls: GET slurm/{version}/partitions
        """
        return await self.partitions()

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One partition by name.

        :calls: GET slurm/{version}/partitions
        """
        for status in await self.resources():
            if name_or_id in (status.name, status.id):
                return status
        raise NotFoundError(f"no partition {name_or_id!r}", facility=self.name, resource=name_or_id)

    async def nodes(self, resource: str | None = None) -> list[dict[str, Any]]:
        """The cluster's nodes as plain dicts (``name``, ``state``, ``usable``, ``partitions``...).

        :calls: GET slurm/{version}/nodes
        """
        version = await self._version()
        data = await self._call(_build_nodes(self._prefix(version, resource)), resource)
        try:
            return _parse_nodes(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET nodes", exc, None) from None

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Maintenance reservations overlapping ``start..end``, of ``resource`` or the cluster.

        :calls: GET slurm/{version}/reservations
        """
        version = await self._version()
        data = await self._call(_build_reservations(self._prefix(version, resource)), resource)
        try:
            outages = _parse_reservations(data, all_reservations=self.all_reservations)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET reservations", exc, resource) from None
        return _filter_outages(outages, resource, start, end)

    # -- jobs -----------------------------------------------------------------------------------

    def _options(self, resource: str, spec: JobSpec, tag: str) -> tuple[SbatchOption, ...]:
        """The checked options of the job: a bad spec is refused here, before any request."""
        partition = self._partition_for(resource)
        return _job_options(spec, partition=partition, tag=tag, directory=self.directory, facility=self.name)

    def _render(
        self, version: str, options: Sequence[SbatchOption], spec: JobSpec, tag: str
    ) -> dict[str, Any]:
        environment = job_environment(spec, tag, self.environment)
        return job_description(options, version=version, environment=environment)

    def _partition_for(self, resource: str) -> str | None:
        return resource or self.partition

    async def submit(self, resource: str, spec: JobSpec) -> Job:
        """Submit ``spec``; never creates the job twice (see the module docstring).

        :calls: POST slurm/{version}/job/submit; after a lost answer GET slurm/{version}/jobs
        """
        tag = spec.environment.get(SUBMIT_TAG_VARIABLE) or _new_tag()
        options = self._options(resource, spec, tag)
        version = await self._version()
        job = self._render(version, options, spec, tag)
        request = _build_submit(self._prefix(version, resource), version, job, _script_for(spec))
        if self._memory.in_doubt(tag):
            # An earlier submit of this tag may have created the job: look before sending.
            found = self._memory.settle(
                await self._find_submitted(resource, tag),
                tag=tag,
                facility=self.name,
                resource=resource,
                variable=SUBMIT_TAG_VARIABLE,
            )
            if found is not None:
                return self._memory.submitted(found)
        last_error: FacilityError | None = None
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                response = await self._send(request, resource)
                data = self._session.json(response, resource=resource)
                job_id = _parse_submit(data)
            except (TransportError, APIError) as exc:
                status = exc.status_code
                if isinstance(exc, TransportError) or status in _AMBIGUOUS_STATUSES:
                    logger.warning(
                        "submit to %s: %s (attempt %d of %d); looking for job tag %s",
                        resource,
                        exc.message,
                        attempt,
                        SUBMIT_ATTEMPTS,
                        tag,
                    )
                    found = await self._find_submitted(resource, tag)
                    if found is not None:
                        return self._memory.submitted(found)
                    if may_still_be_working(exc):
                        self._memory.doubt(tag)
                        raise outcome_unknown(
                            facility=self.name,
                            resource=resource,
                            tag=tag,
                            variable=SUBMIT_TAG_VARIABLE,
                            reason=exc.message,
                        ) from None
                    last_error = exc
                    continue
                if status is not None and 200 <= status < 300:
                    return await self._unreadable(resource, tag, exc.message)
                raise JobSubmissionError(
                    f"the {self.facility_label} refused the job on {resource}: {exc.body or exc.message}",
                    facility=self.name,
                    resource=resource,
                    status_code=status,
                    body=exc.body,
                ) from None
            except _Refused as exc:
                raise JobSubmissionError(
                    f"the {self.facility_label} refused the job on {resource}: {exc}",
                    facility=self.name,
                    resource=resource,
                ) from None
            except ValueError as exc:
                return await self._unreadable(resource, tag, f"POST job/submit: {exc}")
            return self._memory.submitted(
                Job(
                    id=job_id,
                    resource=resource,
                    state=JobState.PENDING,
                    native_state="PENDING",
                    name=job.get("name"),
                    submitted_at=datetime.now(UTC),
                    raw=dict(data),
                )
            )
        reason = last_error.message if last_error is not None else "no answer"
        raise JobSubmissionError(
            f"submit to {resource} got no usable answer after {SUBMIT_ATTEMPTS} attempts and no job "
            f"tagged {tag} was found: {reason}",
            facility=self.name,
            resource=resource,
        )

    async def _find_submitted(self, resource: str, tag: str, cause: str = "") -> Job | None:
        """The job carrying ``tag``, if any; raises :class:`JobSubmissionError` when the jobs
        could not be listed at all (the job may exist, so it must not be sent again)."""
        failure: FacilityError | None = None
        listed = False
        for delay in self.submit_lookup_delays:
            if delay:
                await anyio.sleep(delay)
            try:
                found = await self.find_job_by_tag(resource, tag)
            except FacilityError as exc:
                logger.warning("looking for job tag %s on %s failed: %s", tag, resource, exc.message)
                failure = exc
                continue
            listed = True
            if found is not None:
                return found
        if not listed and failure is not None:
            self._memory.doubt(tag)
            raise outcome_unknown(
                facility=self.name,
                resource=resource,
                tag=tag,
                variable=SUBMIT_TAG_VARIABLE,
                reason=f"{cause + '; ' if cause else ''}looking for the job failed: {failure.message}",
            )
        return None

    async def find_job_by_tag(self, resource: str, tag: str) -> Job | None:
        """The newest job, live or recently finished, whose comment carries ``tag``.

        :calls: GET slurm/{version}/jobs
        """
        return newest(job for job in await self._all_jobs(resource) if _tag_of(job.raw) == tag)

    async def _unreadable(self, resource: str, tag: str, detail: str) -> Job:
        """After a submit answered success with a body that cannot be used: the job may exist,
        so it is looked for by its tag and, when not found, not sent again."""
        reason = f"the answer to the submit could not be read: {detail}"
        found = await self._find_submitted(resource, tag, reason)
        if found is not None:
            return self._memory.submitted(found)
        self._memory.doubt(tag)
        raise outcome_unknown(
            facility=self.name, resource=resource, tag=tag, variable=SUBMIT_TAG_VARIABLE, reason=reason
        )

    async def _all_jobs(self, resource: str) -> list[Job]:
        version = await self._version()
        data = await self._call(_build_list_jobs(self._prefix(version, resource)), resource)
        try:
            return _parse_jobs(data, resource, facility=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET jobs", exc, resource) from None

    async def get_job(self, resource: str, job_id: str) -> Job:
        """One job as slurmctld (or, behind S3M, the accounting database) reports it; PENDING for
        a job submitted here that it does not show yet.

        :calls: GET slurm/{version}/job/{job_id}
        """
        try:
            return await self._get_job(resource, job_id)
        except NotFoundError:
            pending = self._memory.pending_view(resource, str(job_id))
            if pending is None:
                raise
            return pending

    async def _get_job(self, resource: str, job_id: str) -> Job:
        version = await self._version()
        response = await self._send(_build_get_job(self._prefix(version, resource), job_id), resource)
        data = self._session.json(response, resource=resource)
        jobs = data.get("jobs") if isinstance(data, Mapping) else None
        if not jobs:
            errors = _errors(data)
            gone = response.status_code == 404 or any(
                _number(e.get("error_number")) in _GONE_ERRORS for e in errors
            )
            if not gone and response.status_code >= 500:
                raise ServerError(
                    f"GET job/{job_id} answered {response.status_code}: {_error_text(data) or 'no jobs'}",
                    facility=self.name,
                    resource=resource,
                    status_code=response.status_code,
                )
            raise NotFoundError(
                f"job {job_id} is not known to {resource}: {_error_text(data) or 'no such job'}",
                facility=self.name,
                resource=resource,
                status_code=response.status_code,
            )
        try:
            return _parse_job(jobs[0], resource, facility=self.name)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer(f"GET job/{job_id}", exc, resource) from None

    async def list_jobs(self, resource: str, job_ids: Sequence[str] | None = None) -> list[Job]:
        """Every job slurmctld knows (one call), or those of ``job_ids``.

        :calls: GET slurm/{version}/jobs
        """
        jobs = await self._all_jobs(resource)
        if job_ids is None:
            return jobs
        wanted = {str(job_id) for job_id in job_ids}
        return [job for job in jobs if job.id in wanted]

    async def cancel(self, resource: str, job_id: str) -> None:
        """Cancel a job; a job that already finished is left as it is.

        :calls: DELETE slurm/{version}/job/{job_id}
        """
        version = await self._version()
        response = await self._send(_build_cancel(self._prefix(version, resource), job_id), resource)
        data = self._session.json(response, resource=resource) if response.content else {}
        errors = _errors(data)
        if not errors and response.status_code < 400:
            return
        text = _error_text(data)
        if any(_number(e.get("error_number")) in _GONE_ERRORS for e in errors) or response.status_code == 404:
            raise NotFoundError(
                f"job {job_id} is not known to {resource}: {text}",
                facility=self.name,
                resource=resource,
                status_code=response.status_code,
            )
        if _ALREADY_DONE.search(text):
            return
        raise APIError(
            f"cancel of job {job_id} on {resource} failed: {text or response.status_code}",
            facility=self.name,
            resource=resource,
            status_code=response.status_code,
        )

    async def job_output(
        self, resource: str, job_id: str, stream: str = "stdout", tail: int | None = None
    ) -> str:
        """The job's output file, read locally (only with ``local_output=True``).

        :calls: GET slurm/{version}/job/{job_id} (for the file's path)
        """
        if stream not in ("stdout", "stderr"):
            raise InvalidJobSpec(f"stream: must be 'stdout' or 'stderr', got {stream!r}", field="stream")
        if not self.local_output:
            raise UnsupportedOperation(
                f"job_output is not offered by the {self.facility_label}: it has no call to read a "
                "job's output; set local_output=True when this host sees the cluster's file systems",
                facility=self.name,
            )
        job = await self.get_job(resource, job_id)
        path = job.stdout_path if stream == "stdout" else job.stderr_path
        if not path:
            raise NotFoundError(f"job {job_id} has no {stream} path", facility=self.name, resource=resource)
        try:
            return await anyio.to_thread.run_sync(_read_tail, path, tail)
        except FileNotFoundError:
            raise NotFoundError(
                f"the {stream} of job {job_id} ({path}) does not exist", facility=self.name, resource=resource
            ) from None


def _filter_outages(
    outages: list[Outage], resource: str | None, start: datetime | None, end: datetime | None
) -> list[Outage]:
    """Outages of ``resource`` (or of every resource) overlapping ``start..end``."""
    chosen = []
    for outage in outages:
        if resource is not None and outage.resources and resource not in outage.resources:
            continue
        if start is not None and outage.end is not None and outage.end < start:
            continue
        if end is not None and outage.start is not None and outage.start > end:
            continue
        chosen.append(outage)
    return chosen
