"""The one rule for "is there enough allocation left?", shared by the Airflow gate, sensor and
trigger and by ``facility allocations --min-remaining``.

:class:`AllocationThreshold` is what a caller asks for: ``min_remaining`` a number in the
allocation's unit (``50`` node-hours) or a percentage of the grant (``"5%"``), optionally for one
``capability`` (matched against an allocation's capability, resource or unit: ``"gpu"``,
``"polaris"``, ``"node-hours"``). :meth:`AllocationThreshold.verdict` reads the allocations an
API reported and says whether any checked one is below it.

Which allocations are checked: the whole project's (not a user's share), with a limit (an
allocation without one cannot run out), of the named capability, or else those counted in time
(``*-hours``) when there are any, since a job spends time, not bytes. Allocations of more than one
project without a ``project`` named are an error: the caller must say which one its jobs charge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .account import Allocation
from .errors import ConfigurationError

__all__ = ["AllocationThreshold", "AllocationVerdict"]


@dataclasses.dataclass(frozen=True)
class AllocationVerdict:
    """The outcome of a check: ``ok`` unless a checked allocation is below the threshold."""

    ok: bool
    message: str
    checked: tuple[Allocation, ...] = ()
    short: tuple[Allocation, ...] = ()


def _parse_amount(value: object, facility: str | None) -> tuple[float, bool]:
    """``(amount, is_fraction)`` of a ``min_remaining`` setting."""
    error = ConfigurationError(
        f"min_remaining: a number >= 0 in the allocation's unit or a percentage such as '5%' is "
        f"required, got {value!r}",
        facility=facility,
    )
    fraction = False
    if isinstance(value, str):
        text = value.strip()
        fraction = text.endswith("%")
        try:
            amount = float(text[:-1] if fraction else text)
        except ValueError:
            raise error from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        amount = float(value)
    else:
        raise error
    if amount != amount or amount < 0 or (fraction and amount > 100):
        raise error
    return (amount / 100.0 if fraction else amount), fraction


def _matches(allocation: Allocation, capability: str) -> bool:
    wanted = capability.strip().lower()
    return any(
        value is not None and value.lower() == wanted
        for value in (allocation.capability, allocation.resource, allocation.unit, allocation.id)
    )


@dataclasses.dataclass(frozen=True)
class AllocationThreshold:
    """The least a project's allocation must have left (see the module's docstring)."""

    amount: float
    fraction: bool = False
    capability: str | None = None

    @classmethod
    def parse(
        cls, min_remaining: object, capability: str | None = None, *, facility: str | None = None
    ) -> AllocationThreshold:
        """Read ``min_remaining`` (a number, or a percentage string ``"5%"``); a bad value raises
        :class:`ConfigurationError` naming ``min_remaining``."""
        amount, fraction = _parse_amount(min_remaining, facility)
        if capability is not None and (not isinstance(capability, str) or not capability.strip()):
            raise ConfigurationError("capability: a non-empty name is required", facility=facility)
        return cls(amount, fraction, capability)

    def describe(self) -> str:
        """``5% of the grant`` or ``50 (in the allocation's unit)``."""
        if self.fraction:
            return f"{self.amount * 100:g}% of the grant"
        return f"{self.amount:g} (in the allocation's unit)"

    def _is_short(self, allocation: Allocation) -> bool:
        value = allocation.fraction_remaining if self.fraction else allocation.remaining
        return value is not None and value < self.amount

    def select(
        self, allocations: Sequence[Allocation], project: str | None = None, *, facility: str | None = None
    ) -> list[Allocation]:
        """The allocations this threshold applies to (see the module's docstring)."""
        chosen = [a for a in allocations if a.user is None]
        if project is not None:
            chosen = [a for a in chosen if a.project == project] or chosen
        if self.capability is not None:
            matched = [a for a in chosen if _matches(a, self.capability)]
            if not matched:
                known = sorted({a.capability or a.resource or a.unit for a in chosen})
                raise ConfigurationError(
                    f"capability: no allocation matches {self.capability!r}"
                    + (f" (the API reports {', '.join(known)})" if known else ""),
                    facility=facility,
                )
            chosen = matched
        else:
            timed = [a for a in chosen if a.unit.endswith("-hours")]
            chosen = timed or chosen
        projects = sorted({a.project for a in chosen})
        if project is None and len(projects) > 1:
            raise ConfigurationError(
                f"project: the allocations belong to several projects ({', '.join(projects)}); "
                "name the one the jobs charge",
                facility=facility,
            )
        return chosen

    def verdict(
        self, allocations: Sequence[Allocation], project: str | None = None, *, facility: str | None = None
    ) -> AllocationVerdict:
        """Whether every checked allocation has at least this much left."""
        checked = self.select(allocations, project, facility=facility)
        limited = [a for a in checked if a.allocated is not None]
        if not limited:
            what = f"project {project}" if project else "the project"
            return AllocationVerdict(True, f"{what} reports no allocation limit to check", tuple(checked))
        short = [a for a in limited if self._is_short(a)]
        if short:
            lines = "; ".join(a.describe() for a in short)
            return AllocationVerdict(
                False, f"{lines}: below the minimum of {self.describe()}", tuple(limited), tuple(short)
            )
        lines = "; ".join(a.describe() for a in limited)
        return AllocationVerdict(True, f"{lines}: at least {self.describe()}", tuple(limited))
