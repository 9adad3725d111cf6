"""slurmrestd's cluster answers as the shared models: partitions as resources, nodes as plain
dicts, maintenance reservations as planned outages. Pure functions, tested on recorded payloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...models import Outage, ResourceState, ResourceStatus
from .parsers import time_of

__all__ = ["filter_outages", "parse_nodes", "parse_partitions", "parse_pings", "parse_reservations"]

_UP_WORDS = frozenset({"UP"})
_DOWN_WORDS = frozenset({"DOWN", "INACTIVE", "DRAIN"})
_NODE_DOWN_WORDS = frozenset({"DOWN", "DRAIN", "DRAINED", "FAIL", "FUTURE", "UNKNOWN", "NOT_RESPONDING"})


def parse_pings(data: Any) -> list[dict[str, Any]]:
    """``GET ping``'s ``pings`` list (``hostname``, ``ping``/``responding``, ``mode``...)."""
    pings = data.get("pings") if isinstance(data, Mapping) else None
    if not isinstance(pings, list):
        raise ValueError("no 'pings' list")
    return [dict(p) for p in pings]


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


def parse_partitions(data: Any) -> list[ResourceStatus]:
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


def parse_nodes(data: Any) -> list[dict[str, Any]]:
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


def parse_reservations(data: Any, *, all_reservations: bool = False) -> list[Outage]:
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
                start=time_of(item.get("start_time")),
                end=time_of(item.get("end_time")),
                planned=True,
                status="planned",
                description=f"Slurm reservation {name} on {item.get('node_list') or 'no nodes'}",
                resources=(str(partition),) if partition else (),
                raw=dict(item),
            )
        )
    return outages


def filter_outages(
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
