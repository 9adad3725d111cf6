"""Request statistics and the exchange log used for spec validation.

Counts are kept per route template (``"POST /iri/api/v1/compute/status/{resource_id}"``) so
tests and benchmarks can assert exactly how many calls a client made. The exchange log keeps
a bounded list of full request/response pairs for ``/iri`` routes.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any


class RequestStats:
    """Thread-safe request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._unmatched = 0

    def record(self, key: str | None, status: int) -> None:
        """Count one request; ``key`` is ``"METHOD template"`` or None when no route matched."""
        with self._lock:
            if key is None:
                self._unmatched += 1
            else:
                self._routes[key] += 1
            self._statuses[status] += 1

    def snapshot(self) -> dict[str, Any]:
        """Counts per route, per status, and totals."""
        with self._lock:
            return {
                "routes": dict(sorted(self._routes.items())),
                "statuses": {str(k): v for k, v in sorted(self._statuses.items())},
                "unmatched": self._unmatched,
                "total": sum(self._routes.values()) + self._unmatched,
            }

    def reset(self) -> None:
        """Zero all counters."""
        with self._lock:
            self._routes.clear()
            self._statuses.clear()
            self._unmatched = 0


@dataclass
class Exchange:
    """One recorded request/response pair."""

    method: str
    path: str
    query: str
    route: str | None
    request_content_type: str | None
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_content_type: str | None
    response_headers: dict[str, str]
    response_body: bytes


class ExchangeLog:
    """Bounded, thread-safe list of exchanges."""

    def __init__(self, maxlen: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._items: deque[Exchange] = deque(maxlen=maxlen)

    def add(self, exchange: Exchange) -> None:
        """Append one exchange (oldest dropped when full)."""
        if self.enabled:
            with self._lock:
                self._items.append(exchange)

    def items(self) -> list[Exchange]:
        """A copy of the log."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Empty the log."""
        with self._lock:
            self._items.clear()
