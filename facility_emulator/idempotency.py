"""Idempotency-Key support for IRI v2 submit/update, as the reference server implements it.

While the first request with a key is being handled, any other request with that key answers 409,
whatever its body; afterwards the same key and the same request get the stored response again
(``Idempotency-Key-Reply: hit``), and the same key with a different request gets 422. Only
successful responses are stored; a failed first attempt releases the key so a retry can proceed.
Keys are scoped per operation, not per resource (``submit``, ``update:<job_id>``), as the
reference server's cache key is user + operation + key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class StoredResponse:
    """A response kept for replay."""

    status: int
    body: Any


@dataclass
class _Entry:
    fingerprint: str
    response: StoredResponse | None = None


class IdempotencyConflict(Exception):
    """The key is in use: ``status`` is 409 (in flight) or 422 (different request)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def fingerprint(*parts: Any) -> str:
    """A stable hash of the request parts that must match on replay."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyStore:
    """Remembers keyed requests per (scope, key); thread safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def begin(self, scope: str, key: str, print_: str) -> StoredResponse | None:
        """Claim a key. Returns the stored response on a replay; raises on conflicts."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is None:
                self._entries[(scope, key)] = _Entry(print_)
                return None
            if entry.response is None:
                raise IdempotencyConflict(409, "A request with this Idempotency-Key is already in progress.")
            if entry.fingerprint != print_:
                raise IdempotencyConflict(422, "Idempotency-Key reused with a different request body.")
            return entry.response

    def finish(self, scope: str, key: str, response: StoredResponse | None) -> None:
        """Store the outcome; ``None`` (a failure) releases the key."""
        with self._lock:
            if response is None:
                self._entries.pop((scope, key), None)
            else:
                entry = self._entries.get((scope, key))
                if entry is not None:
                    entry.response = response
