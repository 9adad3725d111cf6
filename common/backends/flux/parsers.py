"""Pure parsers of the Flux RESTful API's answers, tested on recorded payloads.

Each raises ``ValueError`` for an answer of the wrong shape; the backend turns that into an
:class:`~facility_common.errors.APIError` naming the call. Flux's job states become
:class:`~facility_common.models.JobState` through :mod:`facility_common.backends.states`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ...models import Job, ResourceState, ResourceStatus
from ..states import settle_exit_code, translate_flux_state

__all__ = [
    "down_resource",
    "job_id_of",
    "job_items",
    "parse_job",
    "parse_output",
    "parse_resource",
    "parse_search",
    "parse_submit",
]

FACILITY = "flux"


def job_id_of(value: Any) -> str:
    """A job id as the API gives it (an integer, or its text); raises ValueError for anything
    else (a list, an object, a boolean, empty text) rather than making an id of its ``str()``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a job id must be an integer or text, not {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError("a job id is empty")
    return text


def parse_submit(data: Any) -> str:
    """The job id of a submit answer ``{"Message": "Job submit.", "id": <int>}``."""
    if not isinstance(data, Mapping) or data.get("id") in (None, ""):
        raise ValueError("the submit answer holds no job id")
    return job_id_of(data["id"])


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(data: Mapping[str, Any]) -> str | None:
    exception = data.get("exception")
    if isinstance(exception, Mapping) and exception.get("occurred"):
        kind = exception.get("type") or "exception"
        note = exception.get("note") or ""
        return f"{kind}: {note}".strip().rstrip(":")
    return None


def parse_job(data: Any, resource: str) -> Job:
    """A Flux jobinfo document as a :class:`Job`.

    INACTIVE jobs are judged by ``result`` (COMPLETED, FAILED, CANCELED, TIMEOUT); a COMPLETED
    result with a non-zero ``returncode`` is FAILED.
    """
    if not isinstance(data, Mapping) or data.get("id") in (None, ""):
        raise ValueError("a job document needs an id")
    job_id = job_id_of(data["id"])
    native = data.get("state")
    result = data.get("result") or None
    state = translate_flux_state(
        str(native) if native is not None else None,
        str(result) if result is not None else None,
        facility=FACILITY,
    )
    exit_code = _int(data.get("returncode")) if state.is_terminal else None
    state = settle_exit_code(state, exit_code)
    native_word = str(native) if native is not None else None
    if native_word and native_word.upper() == "INACTIVE" and result:
        native_word = f"INACTIVE ({result})"
    return Job(
        id=job_id,
        resource=resource,
        state=state,
        native_state=native_word,
        exit_code=exit_code,
        message=_message(data),
        submitted_at=_time(data.get("t_submit")),
        started_at=_time(data.get("t_run")),
        finished_at=_time(data.get("t_inactive")),
        name=str(data["name"]) if data.get("name") else None,
        raw=dict(data),
    )


def job_items(data: Any) -> list[Mapping[str, Any]]:
    """The job documents of a listing, in any of the server's shapes.

    ``{"jobs": [...]}``, a bare list, or ``{"<id>": jobinfo, ...}`` (``details`` without
    ``listing``).
    """
    if isinstance(data, Mapping) and isinstance(data.get("jobs"), list):
        items: Sequence[Any] = data["jobs"]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, Mapping):
        items = [
            {"id": key, **value} if isinstance(value, Mapping) and "id" not in value else value
            for key, value in data.items()
        ]
    else:
        raise ValueError("a job listing must be a list or an object")
    if not all(isinstance(item, Mapping) for item in items):
        raise ValueError("every listed job must be an object")
    return list(items)


def parse_output(data: Any) -> str | None:
    """The text of ``{"Output": [chunks]}``; None for ``{"Message": "...does not exist yet..."}``."""
    if isinstance(data, Mapping) and "Output" in data:
        chunks = data["Output"]
        if not isinstance(chunks, list):
            raise ValueError("Output must be a list of text chunks")
        return "".join(str(chunk) for chunk in chunks)
    if isinstance(data, Mapping) and "Message" in data:
        return None
    raise ValueError("an output answer holds Output or Message")


def parse_resource(data: Any, name: str) -> ResourceStatus:
    """The Flux instance as one resource; ``{"nodes": [...]}`` lists the nodes that are up (the
    server answers Flux's ``resource.list`` ``up`` set: nodes online, busy or not).

    Nodes up mean UP; none up is DOWN: the instance accepts jobs but can run none. The node names
    are the resource's details, in ``raw["nodes"]`` (sorted; the server's order is a set's).
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise ValueError("a nodes answer is {'nodes': [...]}")
    nodes = sorted({str(node) for node in data["nodes"]})
    return ResourceStatus(
        id=name,
        name=name,
        state=ResourceState.UP if nodes else ResourceState.DOWN,
        resource_type="compute",
        description=f"Flux instance, {len(nodes)} node(s) up",
        native_state="nodes up" if nodes else "no node up",
        raw={"nodes": nodes, "node_count": len(nodes)},
    )


def parse_search(data: Any) -> tuple[list[Mapping[str, Any]], int | None]:
    """The job documents of a search page and the server's ``recordsTotal`` (how many jobs the
    instance lists before the query filters them; None when absent).

    The answer is DataTables' shape: ``{"data": [jobinfo...], "draw", "recordsTotal",
    "recordsFiltered"}`` (``recordsFiltered`` counts the page, not the matches: not used).
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
        raise ValueError("a search answer is {'data': [...], ...}")
    items = data["data"]
    if not all(isinstance(item, Mapping) for item in items):
        raise ValueError("every job found must be an object")
    total = _int(data.get("recordsTotal"))
    return list(items), total


def down_resource(name: str, reason: str) -> ResourceStatus:
    """The instance when the server answers 503 (Flux is stopped or unreachable)."""
    return ResourceStatus(
        id=name,
        name=name,
        state=ResourceState.DOWN,
        resource_type="compute",
        description=reason,
        native_state="unavailable",
    )
