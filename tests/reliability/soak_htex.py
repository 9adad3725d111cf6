"""A real DataFlowKernel with a HighThroughputExecutor on ``FacilityProvider`` blocks, under the
soak's faults: Parsl's own strategy submits, polls and scales in the blocks, and the pilots start
real workers that connect back to the interchange on loopback.

Each app appends one line to its own marker file, so "ran exactly once" is read from the sandbox.
The blocks are audited from the emulator's records: one facility job per block id Parsl
launched, none besides them, and every one ended with no process left once the DFK is closed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import parsl
from parsl.config import Config
from parsl.executors import HighThroughputExecutor

from facility_emulator import EmulatorServer

from .soak_backends import make_provider
from .soak_ledger import process_group_alive, run_lines

LABEL = "soakhtex"
BLOCK_PREFIX = f"parsl.{LABEL}.block-"
REPO_ROOT = str(Path(__file__).resolve().parents[2])
VENV_BIN = str(Path(sys.executable).parent)


@parsl.python_app
def mark(path: str) -> str:
    """Append one run line to ``path`` (a marker in the emulator's sandbox)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("run\n")
    return path


@dataclasses.dataclass
class HtexResult:
    """What the DFK run left behind."""

    apps: int = 0
    apps_failed: list[str] = dataclasses.field(default_factory=list)
    apps_not_once: list[str] = dataclasses.field(default_factory=list)
    blocks: int = 0
    block_jobs: int = 0
    blocks_not_ended: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.apps_failed
            and not self.apps_not_once
            and not self.blocks_not_ended
            and self.blocks == self.block_jobs
        )


class HtexRun:
    """Start the DFK and its apps; later collect the results and close it."""

    def __init__(
        self, server: EmulatorServer, backend: str, run_dir: Path, marker_dir: Path, apps: int
    ) -> None:
        self.server = server
        self.marker_dir = marker_dir
        self.keys = [f"soak-h-{backend}-{index:03d}" for index in range(apps)]
        provider = make_provider(
            server,
            backend,
            init_blocks=1,
            min_blocks=0,
            max_blocks=2,
            environment={"PYTHONPATH": REPO_ROOT, "PATH": f"{VENV_BIN}:/usr/bin:/bin"},
        )
        executor = HighThroughputExecutor(
            label=LABEL,
            address="127.0.0.1",
            max_workers_per_node=2,
            provider=provider,
            heartbeat_period=2,
            heartbeat_threshold=10,
        )
        self.config = Config(
            executors=[executor],
            run_dir=str(run_dir),
            strategy="htex_auto_scale",
            strategy_period=0.5,
            max_idletime=2.0,
        )
        self.dfk: Any = None
        self.futures: list[Any] = []

    def start(self) -> None:
        """Load the DFK (from the main thread: Parsl installs handlers there) and submit the apps."""
        self.dfk = parsl.load(self.config)
        self.futures = [mark(str(self.marker_dir / f"{key}.run")) for key in self.keys]

    def finish(self, timeout: float) -> HtexResult:
        """Wait for the apps, close the DFK (which cancels the blocks), and audit."""
        assert self.dfk is not None, "start() first"
        result = HtexResult(apps=len(self.keys))
        for key, future in zip(self.keys, self.futures, strict=True):
            try:
                future.result(timeout=timeout)
            except Exception as exc:  # reported, and failing the soak
                result.apps_failed.append(f"{key}: {type(exc).__name__}: {exc}")
        executor = self.dfk.executors[LABEL]
        job_ids = {str(job_id) for job_id in executor.blocks_to_job_id.values()}
        self.close()
        for key in self.keys:
            if run_lines(self.marker_dir, key, "run") != 1:
                result.apps_not_once.append(f"{key}: {run_lines(self.marker_dir, key, 'run')} runs")
        records = [
            record
            for record in _admin_jobs(self.server)
            if BLOCK_PREFIX in json.dumps(record.get("spec", {}))
        ]
        result.blocks = len(job_ids)
        result.block_jobs = len(records)
        for record in records:
            pid = record.get("meta_data", {}).get("pid")
            alive = isinstance(pid, int) and process_group_alive(pid)
            if record["id"] not in job_ids or record["state"] not in ("canceled", "completed") or alive:
                result.blocks_not_ended.append(f"{record['id']}: {record['state']}, process alive={alive}")
        return result

    def close(self) -> None:
        """Close the DFK (cancelling its blocks) once; safe to call again or after a failed start."""
        dfk, self.dfk = self.dfk, None
        if dfk is not None:
            dfk.cleanup()
        parsl.clear()


def _admin_jobs(server: EmulatorServer) -> list[dict[str, Any]]:
    import httpx

    answer = httpx.get(f"{server.url}/_emulator/jobs", timeout=30)
    answer.raise_for_status()
    return list(answer.json()["jobs"])
