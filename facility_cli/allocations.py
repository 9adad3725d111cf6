"""``facility allocations``: each project's grant, what its jobs used and what is left.

The rows are the client's :class:`~facility_common.Allocation` values: the whole project's
allocation and, where the API tells (the SF API), the caller's share of it (``user`` column).
``--min-remaining`` applies the status gate's rule (:class:`facility_common.AllocationThreshold`):
the command exits 10 when a checked allocation has less left, so a script can stop before
submitting into an exhausted project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import ConnOption, JsonOption, wants_json
from .output import note, out, print_json, styled, table

if TYPE_CHECKING:
    from facility_common import Allocation

__all__ = ["allocations"]

ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="one project (account); default: every project of yours"),
]
MinRemainingOption = Annotated[
    str | None,
    typer.Option(
        "--min-remaining",
        help="exit 10 when the project's allocation has less left: a number in its unit (50) or "
        "a percentage of the grant (5%)",
        show_default=False,
    ),
]
CapabilityOption = Annotated[
    str | None,
    typer.Option(help="with --min-remaining, check only this allocation (gpu, polaris, node-hours)"),
]


def _amount(value: float | None) -> str:
    if value is None:
        return "no limit"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _left(allocation: Allocation) -> str:
    fraction = allocation.fraction_remaining
    if fraction is None:
        return ""
    text = f"{fraction * 100:.1f}%"
    return styled(text, "red" if fraction <= 0.05 else "yellow" if fraction <= 0.2 else None)


def _row(allocation: Allocation) -> list[Any]:
    return [
        allocation.project,
        allocation.capability or "",
        allocation.resource or "",
        allocation.user or "",
        allocation.unit,
        _amount(allocation.allocated),
        _amount(allocation.used),
        "" if allocation.remaining is None else _amount(allocation.remaining),
        _left(allocation),
    ]


def allocations(
    project: ProjectOption = None,
    min_remaining: MinRemainingOption = None,
    capability: CapabilityOption = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show each project's allocation: its grant, what jobs used and what is left."""
    from facility_common import AllocationThreshold

    from .session import open_session

    threshold = None
    with open_session(conn) as session:
        if min_remaining is not None or capability is not None:
            threshold = AllocationThreshold.parse(
                min_remaining if min_remaining is not None else 0, capability, facility=session.api
            )
        found = session.client.allocations(project)
        verdict = threshold.verdict(found, project, facility=session.api) if threshold else None
    if wants_json(as_json):
        answer: dict[str, Any] = {"allocations": [a.to_dict() | {"raw": None} for a in found]}
        if verdict is not None:
            answer["check"] = {"ok": verdict.ok, "message": verdict.message}
        print_json(answer)
    elif not found:
        note("the API reports no allocations for " + (f"project {project}" if project else "your projects"))
    else:
        columns = [
            "project",
            "capability",
            "resource",
            "user",
            "unit",
            "allocated",
            "used",
            "remaining",
            "left",
        ]
        table(columns, [_row(a) for a in found])
    if verdict is not None:
        if not wants_json(as_json):
            out(("ok: " if verdict.ok else "below the minimum: ") + verdict.message)
        if not verdict.ok:
            from .problems import EXIT

            raise typer.Exit(EXIT.ALLOCATION_LOW)
