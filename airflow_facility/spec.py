"""Build a :class:`~facility_common.JobSpec` from an operator's rendered, templated arguments.

Templates render to strings, lists and dicts, so each field accepts its JSON form as well as the
model object: ``resources`` a dict of ``ResourceSpec`` fields, ``duration`` a ``timedelta`` or
seconds, ``job_spec`` a whole ``JobSpec`` or its dict to start from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from facility_common import InvalidJobSpec, JobAttributes, JobSpec, ResourceSpec

__all__ = ["build_job_spec", "to_duration"]


def to_duration(value: timedelta | float | int | str | None) -> timedelta | None:
    """A walltime from a timedelta, a number of seconds, or ``"[D-]HH:MM:SS"`` text."""
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise InvalidJobSpec("duration: must be a timedelta or seconds", field="duration")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if not 1 <= len(parts) <= 3 or not all(part.isdigit() for part in parts):
        raise InvalidJobSpec(f"duration: {value!r} is not seconds or [D-]HH:MM:SS", field="duration")
    numbers = [int(part) for part in parts]
    while len(numbers) < 3:
        numbers.insert(0, 0)
    return timedelta(days=int(days or 0), hours=numbers[0], minutes=numbers[1], seconds=numbers[2])


def _resources(value: ResourceSpec | Mapping[str, Any] | None, base: ResourceSpec) -> ResourceSpec:
    if value is None:
        return base
    if isinstance(value, ResourceSpec):
        return value
    if isinstance(value, Mapping):
        return ResourceSpec.from_dict({**base.to_dict(), **value})
    raise InvalidJobSpec("resources: must be a ResourceSpec or a mapping", field="resources")


def build_job_spec(
    *,
    job_spec: JobSpec | Mapping[str, Any] | None = None,
    executable: str | None = None,
    arguments: Sequence[str] | None = None,
    script: str | None = None,
    name: str | None = None,
    directory: str | None = None,
    environment: Mapping[str, str] | None = None,
    stdin_path: str | None = None,
    stdout_path: str | None = None,
    stderr_path: str | None = None,
    resources: ResourceSpec | Mapping[str, Any] | None = None,
    duration: timedelta | float | int | str | None = None,
    queue_name: str | None = None,
    account: str | None = None,
    reservation_id: str | None = None,
    custom_attributes: Mapping[str, str] | None = None,
) -> JobSpec:
    """Merge the individual fields over ``job_spec`` (fields given win) and validate."""
    base: JobSpec | None
    if job_spec is None or isinstance(job_spec, JobSpec):
        base = job_spec
    elif isinstance(job_spec, Mapping):
        base = JobSpec.from_dict(job_spec)
    else:
        raise InvalidJobSpec("job_spec: must be a JobSpec or a mapping", field="job_spec")
    data: dict[str, Any] = base.to_dict() if base is not None else {}
    fields = {
        "executable": executable,
        "script": script,
        "name": name,
        "directory": directory,
        "stdin_path": stdin_path,
        "stdout_path": stdout_path,
        "stderr_path": stderr_path,
    }
    for key, value in fields.items():
        if value is not None:
            data[key] = value
    if executable is not None:
        data.pop("script", None)
    if script is not None:
        data.pop("executable", None)
    if arguments is not None:
        if isinstance(arguments, str):
            raise InvalidJobSpec("arguments: must be a list of strings", field="arguments")
        data["arguments"] = [str(argument) for argument in arguments]
    if environment is not None:
        data["environment"] = {
            **(data.get("environment") or {}),
            **{k: str(v) for k, v in environment.items()},
        }
    attributes = JobAttributes.from_dict(data.get("attributes") or {})
    spec = JobSpec.from_dict({k: v for k, v in data.items() if k not in ("resources", "attributes")})
    changes: dict[str, Any] = {}
    for key, value in (("queue_name", queue_name), ("account", account), ("reservation_id", reservation_id)):
        if value is not None:
            changes[key] = value
    walltime = to_duration(duration)
    if walltime is not None:
        changes["duration"] = walltime
    if custom_attributes is not None:
        changes["custom_attributes"] = {**attributes.custom_attributes, **custom_attributes}
    attributes = JobAttributes(**{**_attribute_fields(attributes), **changes})
    return spec.replace(
        resources=_resources(resources, base.resources if base else ResourceSpec()), attributes=attributes
    )


def _attribute_fields(attributes: JobAttributes) -> dict[str, Any]:
    return {
        "duration": attributes.duration,
        "queue_name": attributes.queue_name,
        "account": attributes.account,
        "reservation_id": attributes.reservation_id,
        "custom_attributes": dict(attributes.custom_attributes),
    }
