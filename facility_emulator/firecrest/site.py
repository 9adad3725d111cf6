"""Per-emulator FirecREST site state: reservations (planned maintenance) and service health.

FirecREST has no outage calendar; maintenance shows up as scheduler reservations and as unhealthy
services in ``/status/systems``. Tests and demos drive both through :func:`site_of`.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from facility_emulator.state import EmulatorState


@dataclass(frozen=True)
class Reservation:
    """A Slurm reservation on one system; ``maintenance`` ones make the system unhealthy."""

    name: str
    system: str
    start: datetime
    end: datetime
    maintenance: bool = True

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end


class FirecrestSite:
    """Reservations and forced-down systems of one emulator, thread safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reservations: dict[str, Reservation] = {}
        self._down: dict[str, str] = {}

    def add_reservation(
        self,
        system: str,
        start: datetime,
        end: datetime,
        *,
        name: str | None = None,
        maintenance: bool = True,
    ) -> Reservation:
        """Add a reservation (``maint-<hex>`` unless named)."""
        record = Reservation(name or f"maint-{uuid.uuid4().hex[:8]}", system, start, end, maintenance)
        with self._lock:
            self._reservations[record.name] = record
        return record

    def remove_reservation(self, name: str) -> bool:
        with self._lock:
            return self._reservations.pop(name, None) is not None

    def reservations(self, system: str) -> list[Reservation]:
        with self._lock:
            return sorted(
                (r for r in self._reservations.values() if r.system == system), key=lambda r: r.start
            )

    def set_down(self, system: str, message: str | None) -> None:
        """Mark a system's scheduler unhealthy with ``message``, or healthy again with None."""
        with self._lock:
            if message is None:
                self._down.pop(system, None)
            else:
                self._down[system] = message

    def health_problem(self, system: str, now: datetime | None = None) -> str | None:
        """Why ``system`` is unhealthy now, or None."""
        moment = now or datetime.now(UTC)
        with self._lock:
            if system in self._down:
                return self._down[system]
            for reservation in self._reservations.values():
                if reservation.system == system and reservation.maintenance and reservation.active(moment):
                    return f"maintenance reservation {reservation.name}"
        return None


_SITES: weakref.WeakKeyDictionary[EmulatorState, FirecrestSite] = weakref.WeakKeyDictionary()


def site_of(state: EmulatorState) -> FirecrestSite:
    """The FirecREST site of an emulator (created on first use)."""
    site = _SITES.get(state)
    if site is None:
        site = _SITES[state] = FirecrestSite()
    return site
