"""The emulated S3M streaming clusters: records, lifetimes, and the servers behind them.

A provisioned cluster is a record at once (``healthStatus`` ``progressing``) and a real server a
moment later (``healthy``; ``degraded`` if it could not start), as S3M provisions in the
background. One long-lived worker thread starts the servers (the kernel's parent-death signal
is tied to the thread that started a child, see :mod:`.servers`) and deletes clusters when
their lifetime ends. Deleting a cluster stops its server and removes its directory (its config
holds the password). :meth:`ClusterManager.shutdown` stops them all; the emulator calls it when
it stops, and at interpreter exit as a last resort.

``lifetime`` (7 days, S3M's) and ``start_timeout`` can be changed while running
(``PUT /_emulator/s3m/streaming``), so tests can watch a cluster expire.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import secrets
import shutil
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facility_emulator.s3m.servers import MARKER, ServerStartError, StreamingServer, server_class

__all__ = ["ClusterExists", "ClusterManager", "ClusterRecord", "EngineUnavailable"]

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME = 7 * 24 * 3600.0
DEFAULT_START_TIMEOUT = 180.0

_MANAGERS: weakref.WeakSet[ClusterManager] = weakref.WeakSet()


@atexit.register
def _stop_every_manager() -> None:
    for manager in list(_MANAGERS):
        manager.shutdown()


class ClusterExists(Exception):
    """A cluster of that engine and name exists already."""


class EngineUnavailable(Exception):
    """The engine's server program is not installed here."""


@dataclass
class ClusterRecord:
    """One cluster: what was asked for, its lifetime and its server."""

    engine: str
    name: str
    kind: str
    username: str
    resource_settings: dict[str, int]
    feature_flags: dict[str, bool]
    server: StreamingServer
    lifetime: float
    provisioned_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extended_at: datetime | None = None
    health: str = "progressing"
    failure: str | None = None
    deleted: bool = False
    started_in: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.engine, self.name)

    @property
    def expires_at(self) -> float:
        start = self.extended_at or self.provisioned_at
        return start.timestamp() + self.lifetime

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.time())

    def admin_view(self) -> dict[str, Any]:
        """What the admin route shows: no password."""
        return {
            "engine": self.engine,
            "name": self.name,
            "kind": self.kind,
            "health": self.health,
            "failure": self.failure,
            "directory": str(self.server.directory),
            "ports": dict(self.server.ports),
            "pids": self.server.pids,
            "patterns": self.server.patterns() if self.server.ports else [],
            "started_in_seconds": self.started_in,
            "seconds_remaining": round(self.remaining(), 3),
        }


class ClusterManager:
    """Every streaming cluster of one emulator."""

    def __init__(self, root: Path, lifetime: float = DEFAULT_LIFETIME) -> None:
        self.root = Path(root) / MARKER
        self.lifetime = lifetime
        self.start_timeout = DEFAULT_START_TIMEOUT
        self._records: dict[tuple[str, str], ClusterRecord] = {}
        self._lock = threading.Lock()
        self._tasks: queue.Queue[ClusterRecord | None] = queue.Queue()
        self._closed = False
        self._worker: threading.Thread | None = None
        _MANAGERS.add(self)

    # -- requests ----------------------------------------------------------------------------

    def provision(
        self,
        engine: str,
        name: str,
        kind: str,
        username: str,
        resource_settings: dict[str, int],
        feature_flags: dict[str, bool],
    ) -> ClusterRecord:
        """Record a new cluster and queue its server's start. Raises ClusterExists or
        EngineUnavailable."""
        server_type = server_class(engine)
        reason = server_type.unavailable()
        if reason is not None:
            raise EngineUnavailable(reason)
        with self._lock:
            if self._closed:
                raise EngineUnavailable("the emulator is stopping")
            if (engine, name) in self._records:
                raise ClusterExists(f"{engine} cluster {name} already exists")
            directory = self.root / f"{engine}-{name}-{secrets.token_hex(4)}"
            directory.mkdir(parents=True, mode=0o700)
            record = ClusterRecord(
                engine=engine,
                name=name,
                kind=kind,
                username=username,
                resource_settings=resource_settings,
                feature_flags=feature_flags,
                server=server_type(directory, username),
                lifetime=self.lifetime,
            )
            record.server.prepare()
            self._records[record.key] = record
            self._ensure_worker()
        self._tasks.put(record)
        return record

    def get(self, engine: str, name: str) -> ClusterRecord | None:
        self._expire()
        with self._lock:
            return self._records.get((engine, name))

    def list(self, engine: str | None = None) -> list[ClusterRecord]:
        self._expire()
        with self._lock:
            return [r for r in self._records.values() if engine is None or r.engine == engine]

    def extend(self, engine: str, name: str) -> ClusterRecord | None:
        """Restart the cluster's countdown from now with the current lifetime."""
        record = self.get(engine, name)
        if record is not None:
            record.extended_at = datetime.now(UTC)
            record.lifetime = self.lifetime
            self._tasks.put(None)  # the worker recomputes the next expiry
        return record

    def delete(self, engine: str, name: str) -> bool:
        """Stop the cluster's server and forget it (blocking while the server stops)."""
        with self._lock:
            record = self._records.pop((engine, name), None)
        if record is None:
            return False
        self._stop(record)
        return True

    def set_lifetime(self, seconds: float) -> None:
        """The lifetime of clusters provisioned or extended from now on."""
        self.lifetime = float(seconds)

    def shutdown(self) -> None:
        """Stop every server and the worker; provisioning is refused afterwards."""
        with self._lock:
            self._closed = True
            records = list(self._records.values())
            self._records.clear()
            worker = self._worker
        for record in records:
            record.deleted = True
        threads = [threading.Thread(target=self._stop, args=(r,), daemon=True) for r in records]
        try:
            for thread in threads:
                thread.start()  # RabbitMQ takes seconds to stop: stop them side by side
        except RuntimeError:  # no new threads at interpreter exit: one after the other
            for record in records:
                self._stop(record)
        for thread in threads:
            if thread.ident is not None:
                thread.join()
        self._tasks.put(None)
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=30)
        with contextlib.suppress(OSError):
            if self.root.is_dir() and not any(self.root.iterdir()):
                self.root.rmdir()

    # -- the worker ----------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="s3m-streaming", daemon=True)
            self._worker.start()

    def _next_expiry(self) -> float | None:
        with self._lock:
            expiries = [r.expires_at for r in self._records.values()]
        return min(expiries) - time.time() if expiries else None

    def _work(self) -> None:
        while True:
            wait = self._next_expiry()
            try:
                record = self._tasks.get(timeout=max(0.0, wait) if wait is not None else None)
            except queue.Empty:
                record = None
            if self._closed:
                return
            if record is not None:
                self._start(record)
            self._expire()

    def _start(self, record: ClusterRecord) -> None:
        """Launch the server here (this thread outlives it), wait for it on a thread of its own
        so that clusters start side by side."""
        began = time.monotonic()
        try:
            record.server.launch(self.start_timeout)
        except (ServerStartError, OSError) as exc:
            self._failed(record, exc)
            return
        waiter = threading.Thread(
            target=self._wait_ready, args=(record, began), name=f"s3m-{record.name}", daemon=True
        )
        waiter.start()

    def _wait_ready(self, record: ClusterRecord, began: float) -> None:
        try:
            record.server.wait_ready(max(0.0, self.start_timeout - (time.monotonic() - began)))
        except (ServerStartError, OSError) as exc:
            self._failed(record, exc)
            return
        record.started_in = round(time.monotonic() - began, 3)
        if record.deleted:  # deleted while it started
            self._stop(record)
            return
        record.health = "healthy"
        logger.info("%s cluster %s is up in %.1f s", record.engine, record.name, record.started_in)

    @staticmethod
    def _failed(record: ClusterRecord, exc: Exception) -> None:
        if not record.deleted:
            record.health = "degraded"
            record.failure = str(exc)
            logger.warning("the %s cluster %s did not start: %s", record.engine, record.name, exc)

    def _expire(self) -> None:
        now = time.time()
        with self._lock:
            expired = [r for r in self._records.values() if r.expires_at <= now]
            for record in expired:
                del self._records[record.key]
        for record in expired:
            logger.info("%s cluster %s reached the end of its lifetime", record.engine, record.name)
            self._stop(record)

    @staticmethod
    def _stop(record: ClusterRecord) -> None:
        record.deleted = True
        record.server.stop()
        shutil.rmtree(record.server.directory, ignore_errors=True)
