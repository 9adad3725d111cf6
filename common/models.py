"""The one job, file and status model shared by every backend, the Parsl provider and Airflow.

Every model is a frozen dataclass with ``to_dict()``/``from_dict()`` producing plain JSON types, so a
value can cross Airflow's trigger boundary or sit in XCom unchanged. Models never hold a client.

``JobSpec`` follows the PSI/J and DOE IRI JobSpec (the model DOE facilities are converging on) and
validates itself on construction: a bad field raises :class:`~facility_common.errors.InvalidJobSpec`
naming that field before any request is built.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import InvalidJobSpec

__all__ = [
    "FileEntry",
    "Job",
    "JobAttributes",
    "JobSpec",
    "JobState",
    "Outage",
    "ResourceSpec",
    "ResourceState",
    "ResourceStatus",
]


class JobState(enum.Enum):
    """A job's state, normalised across every facility API.

    Each backend keeps a module-level table from its native words to these members; a native word
    that is not in the table maps to ``UNKNOWN`` with one warning and never raises.
    """

    PENDING = "PENDING"
    """Accepted and waiting: queued, scheduled, held by a dependency or not yet visible."""
    HELD = "HELD"
    """Held by the user, an administrator or the scheduler; it will not start until released."""
    RUNNING = "RUNNING"
    """Started on its nodes (includes completing/cleanup phases)."""
    COMPLETED = "COMPLETED"
    """Finished and the scheduler reports success (exit code 0 where the API tells)."""
    FAILED = "FAILED"
    """Finished unsuccessfully: non-zero exit, node or boot failure, out of memory."""
    CANCELLED = "CANCELLED"
    """Cancelled by the user or an administrator before it finished."""
    TIMEOUT = "TIMEOUT"
    """Killed at its walltime limit. Never reported as FAILED: Parsl treats FAILED blocks as a
    configuration error and may shut the executor down, while TIMEOUT only asks for a new block."""
    PREEMPTED = "PREEMPTED"
    """Stopped by the scheduler to make room for other work; like TIMEOUT, not the job's fault."""
    UNKNOWN = "UNKNOWN"
    """The API gave a word we do not know, or its answer could not be had this round."""

    @property
    def is_terminal(self) -> bool:
        """True when the job will not change state again."""
        return self in _TERMINAL_STATES


_TERMINAL_STATES = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT, JobState.PREEMPTED}
)


class ResourceState(enum.Enum):
    """A facility resource's current status (IRI's ``current_status`` vocabulary)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"

    @property
    def is_usable(self) -> bool:
        """True for ``up`` and ``degraded``: work can be submitted."""
        return self in (ResourceState.UP, ResourceState.DEGRADED)


def _fail(field: str, message: str) -> InvalidJobSpec:
    return InvalidJobSpec(f"{field}: {message}", field=field)


def _check_text(field: str, value: object, *, allow_newline: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise _fail(field, "must not contain a NUL character")
    if not allow_newline and ("\n" in value or "\r" in value):
        raise _fail(field, "must not contain a newline")


def _check_count(field: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise _fail(field, f"must be a positive integer, got {value}")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_mapping(field: str, data: object, allowed: Sequence[str]) -> Mapping[str, Any]:
    """``data`` as a mapping of known keys; a misspelt key is an error, not silently dropped."""
    if not isinstance(data, Mapping):
        raise _fail(field, f"must be a mapping, got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        prefix = f"{field}." if field != "spec" else ""
        raise _fail(f"{prefix}{unknown[0]}", f"unknown field (known: {', '.join(allowed)})")
    return data


def _check_types(
    model: object, texts: Sequence[str], optional_texts: Sequence[str], times: Sequence[str]
) -> None:
    """Refuse a report model built from values of the wrong type (a server answered a number
    where text belongs, a list where a number belongs). Raises ``TypeError`` naming the field;
    the client turns that into an APIError naming the facility."""
    name = type(model).__name__
    for field in texts:
        value = getattr(model, field)
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name}.{field}: expected non-empty text, got {type(value).__name__}")
    for field in optional_texts:
        value = getattr(model, field)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name}.{field}: expected text, got {type(value).__name__}")
    for field in times:
        value = getattr(model, field)
        if value is not None and not isinstance(value, datetime):
            raise TypeError(f"{name}.{field}: expected a datetime, got {type(value).__name__}")


def _dt_to_json(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt_from_json(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclasses.dataclass(frozen=True)
class ResourceSpec:
    """What a job asks for: nodes, processes, cores, GPUs and memory (bytes)."""

    node_count: int | None = None
    process_count: int | None = None
    processes_per_node: int | None = None
    cpu_cores_per_process: int | None = None
    gpu_cores_per_process: int | None = None
    memory: int | None = None
    exclusive_node_use: bool | None = None

    def __post_init__(self) -> None:
        for name in (
            "node_count",
            "process_count",
            "processes_per_node",
            "cpu_cores_per_process",
            "gpu_cores_per_process",
            "memory",
        ):
            _check_count(f"resources.{name}", getattr(self, name))
        if self.exclusive_node_use is not None and not isinstance(self.exclusive_node_use, bool):
            raise _fail("resources.exclusive_node_use", "must be a boolean")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceSpec:
        """Build from ``to_dict()`` form; an unknown key raises InvalidJobSpec naming it."""
        fields = [f.name for f in dataclasses.fields(cls)]
        return cls(**_check_mapping("resources", data, fields))


@dataclasses.dataclass(frozen=True)
class JobAttributes:
    """Scheduler attributes: walltime (``duration``), queue, account, reservation and extras."""

    duration: timedelta | None = None
    queue_name: str | None = None
    account: str | None = None
    reservation_id: str | None = None
    custom_attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.duration is not None:
            if not isinstance(self.duration, timedelta):
                raise _fail("attributes.duration", "must be a datetime.timedelta")
            if self.duration.total_seconds() < 1:
                raise _fail("attributes.duration", "must be at least one second")
        for name in ("queue_name", "account", "reservation_id"):
            _check_text(f"attributes.{name}", getattr(self, name))
        if not isinstance(self.custom_attributes, Mapping):
            raise _fail("attributes.custom_attributes", "must be a mapping of strings to strings")
        for key, value in self.custom_attributes.items():
            _check_text("attributes.custom_attributes", key)
            _check_text(f"attributes.custom_attributes[{key!r}]", value)
        object.__setattr__(self, "custom_attributes", dict(self.custom_attributes))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "duration": int(self.duration.total_seconds()) if self.duration is not None else None,
            "queue_name": self.queue_name,
            "account": self.account,
            "reservation_id": self.reservation_id,
            "custom_attributes": dict(self.custom_attributes) or None,
        }
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobAttributes:
        """Build from ``to_dict()`` form (``duration`` in seconds); unknown keys raise."""
        data = _check_mapping("attributes", data, [f.name for f in dataclasses.fields(cls)])
        duration = data.get("duration")
        if duration is not None and not isinstance(duration, timedelta):
            if isinstance(duration, bool) or not isinstance(duration, int | float):
                raise _fail(
                    "attributes.duration", f"must be a number of seconds, got {type(duration).__name__}"
                )
            if duration != duration or duration in (float("inf"), float("-inf")):
                raise _fail("attributes.duration", "must be a finite number of seconds")
            duration = timedelta(seconds=duration)
        return cls(
            duration=duration,
            queue_name=data.get("queue_name"),
            account=data.get("account"),
            reservation_id=data.get("reservation_id"),
            custom_attributes=data.get("custom_attributes") or {},
        )


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """A job to submit: an ``executable`` with ``arguments``, or a whole batch ``script``.

    Paths are the facility's paths. ``environment`` is added to the job's environment.
    """

    executable: str | None = None
    arguments: Sequence[str] = ()
    script: str | None = None
    name: str | None = None
    directory: str | None = None
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    stdin_path: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    resources: ResourceSpec = dataclasses.field(default_factory=ResourceSpec)
    attributes: JobAttributes = dataclasses.field(default_factory=JobAttributes)

    def __post_init__(self) -> None:
        if self.executable is None and self.script is None:
            raise _fail("executable", "a job needs an executable or a script")
        if self.executable is not None and self.script is not None:
            raise _fail("script", "give either an executable or a script, not both")
        _check_text("executable", self.executable)
        if self.executable is not None and not self.executable.strip():
            raise _fail("executable", "must not be empty")
        _check_text("script", self.script, allow_newline=True)
        if self.script is not None and not self.script.strip():
            raise _fail("script", "must not be empty")
        if isinstance(self.arguments, str) or not isinstance(self.arguments, Sequence):
            raise _fail("arguments", "must be a list of strings")
        for index, argument in enumerate(self.arguments):
            if not isinstance(argument, str):
                raise _fail(f"arguments[{index}]", f"must be a string, got {type(argument).__name__}")
            if "\x00" in argument:
                raise _fail(f"arguments[{index}]", "must not contain a NUL character")
        object.__setattr__(self, "arguments", tuple(self.arguments))
        for name in ("name", "directory", "stdin_path", "stdout_path", "stderr_path"):
            _check_text(name, getattr(self, name))
        if not isinstance(self.environment, Mapping):
            raise _fail("environment", "must be a mapping of strings to strings")
        for key, value in self.environment.items():
            _check_text("environment", key)
            if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
                raise _fail("environment", f"invalid variable name {key!r}")
            if value is None:
                raise _fail(f"environment[{key!r}]", "must be a string, got NoneType")
            _check_text(f"environment[{key!r}]", value, allow_newline=True)
        object.__setattr__(self, "environment", dict(self.environment))
        if not isinstance(self.resources, ResourceSpec):
            raise _fail("resources", "must be a ResourceSpec")
        if not isinstance(self.attributes, JobAttributes):
            raise _fail("attributes", "must be a JobAttributes")

    def replace(self, **changes: Any) -> JobSpec:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "executable": self.executable,
            "arguments": list(self.arguments) or None,
            "script": self.script,
            "name": self.name,
            "directory": self.directory,
            "environment": dict(self.environment) or None,
            "stdin_path": self.stdin_path,
            "stdout_path": self.stdout_path,
            "stderr_path": self.stderr_path,
            "resources": self.resources.to_dict() or None,
            "attributes": self.attributes.to_dict() or None,
        }
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """Build from ``to_dict()`` form; errors (unknown keys included) name the field."""
        data = _check_mapping("spec", data, [f.name for f in dataclasses.fields(cls)])
        arguments = data.get("arguments")
        environment = data.get("environment")
        return cls(
            executable=data.get("executable"),
            arguments=() if arguments is None else arguments,
            script=data.get("script"),
            name=data.get("name"),
            directory=data.get("directory"),
            environment={} if environment is None else environment,
            stdin_path=data.get("stdin_path"),
            stdout_path=data.get("stdout_path"),
            stderr_path=data.get("stderr_path"),
            resources=ResourceSpec.from_dict(data.get("resources") or {}),
            attributes=JobAttributes.from_dict(data.get("attributes") or {}),
        )


@dataclasses.dataclass(frozen=True)
class Job:
    """A job as the facility reports it. ``native_state`` is the API's own word for ``state``."""

    id: str
    resource: str
    state: JobState
    native_state: str | None = None
    exit_code: int | None = None
    message: str | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    name: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_types(
            self,
            ("id", "resource"),
            ("native_state", "message", "name", "stdout_path", "stderr_path"),
            ("submitted_at", "started_at", "finished_at", "updated_at"),
        )
        if not isinstance(self.state, JobState):
            raise TypeError(f"Job.state: expected a JobState, got {type(self.state).__name__}")
        if self.exit_code is not None and (
            isinstance(self.exit_code, bool) or not isinstance(self.exit_code, int)
        ):
            raise TypeError(f"Job.exit_code: expected an integer, got {type(self.exit_code).__name__}")

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "state": self.state.value,
            "native_state": self.native_state,
            "exit_code": self.exit_code,
            "message": self.message,
            "submitted_at": _dt_to_json(self.submitted_at),
            "started_at": _dt_to_json(self.started_at),
            "finished_at": _dt_to_json(self.finished_at),
            "updated_at": _dt_to_json(self.updated_at),
            "name": self.name,
            "stdout_path": self.stdout_path,
            "stderr_path": self.stderr_path,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        return cls(
            id=str(data["id"]),
            resource=str(data["resource"]),
            state=JobState(data["state"]),
            native_state=data.get("native_state"),
            exit_code=data.get("exit_code"),
            message=data.get("message"),
            submitted_at=_dt_from_json(data.get("submitted_at")),
            started_at=_dt_from_json(data.get("started_at")),
            finished_at=_dt_from_json(data.get("finished_at")),
            updated_at=_dt_from_json(data.get("updated_at")),
            name=data.get("name"),
            stdout_path=data.get("stdout_path"),
            stderr_path=data.get("stderr_path"),
            raw=data.get("raw") or {},
        )


@dataclasses.dataclass(frozen=True)
class ResourceStatus:
    """A facility resource (compute system, storage, service) and its current status."""

    id: str
    name: str
    state: ResourceState
    resource_type: str | None = None
    description: str | None = None
    group: str | None = None
    updated_at: datetime | None = None
    native_state: str | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_types(
            self,
            ("id", "name"),
            ("resource_type", "description", "group", "native_state"),
            ("updated_at",),
        )
        if not isinstance(self.state, ResourceState):
            raise TypeError(
                f"ResourceStatus.state: expected a ResourceState, got {type(self.state).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state.value,
            "resource_type": self.resource_type,
            "description": self.description,
            "group": self.group,
            "updated_at": _dt_to_json(self.updated_at),
            "native_state": self.native_state,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceStatus:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            state=ResourceState(data["state"]),
            resource_type=data.get("resource_type"),
            description=data.get("description"),
            group=data.get("group"),
            updated_at=_dt_from_json(data.get("updated_at")),
            native_state=data.get("native_state"),
            raw=data.get("raw") or {},
        )


#: Words with which the APIs say an outage is over (SF API statuses, IRI resolutions).
OUTAGE_OVER_WORDS = frozenset({"completed", "cancelled", "canceled", "resolved"})


@dataclasses.dataclass(frozen=True)
class Outage:
    """A planned or unplanned outage (IRI incident, SF API outage, reservation...).

    ``end`` is None while an outage has no announced end. ``resources`` holds resource names
    where the API gives them, otherwise ids.
    """

    id: str
    name: str
    start: datetime | None
    end: datetime | None
    planned: bool
    status: str | None = None
    description: str | None = None
    resources: tuple[str, ...] = ()
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def has_ended(self, now: datetime | None = None) -> bool:
        """True once the outage is over: the facility calls it completed, cancelled or resolved
        (in its ``status``, or an IRI incident's ``resolution``), or its announced end has passed
        (``now``, default the current time)."""
        words = {str(self.status or "").lower(), str(self.raw.get("resolution") or "").lower()}
        if words & OUTAGE_OVER_WORDS:
            return True
        moment = now or datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return self.end is not None and self.end <= moment

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True when this outage covers any instant of ``start..end``."""
        outage_start = self.start or datetime.min.replace(tzinfo=UTC)
        outage_end = self.end or datetime.max.replace(tzinfo=UTC)
        return outage_start < end and start < outage_end

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "start": _dt_to_json(self.start),
            "end": _dt_to_json(self.end),
            "planned": self.planned,
            "status": self.status,
            "description": self.description,
            "resources": list(self.resources),
            "raw": dict(self.raw),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outage:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            start=_dt_from_json(data.get("start")),
            end=_dt_from_json(data.get("end")),
            planned=bool(data["planned"]),
            status=data.get("status"),
            description=data.get("description"),
            resources=tuple(data.get("resources") or ()),
            raw=data.get("raw") or {},
        )


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One entry of a remote directory listing or ``stat``.

    ``type`` is ``"file"``, ``"directory"``, ``"symlink"`` or ``"other"``; ``permissions`` is the
    symbolic form (``rwxr-x---``) where the API gives it.
    """

    name: str
    path: str
    type: str
    size: int | None = None
    permissions: str | None = None
    user: str | None = None
    group: str | None = None
    modified_at: datetime | None = None
    link_target: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["modified_at"] = _dt_to_json(self.modified_at)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileEntry:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["modified_at"] = _dt_from_json(values.get("modified_at"))
        return cls(**values)
