"""Fixtures of the Parsl suite: PATH for Parsl's helper scripts, admin calls to the emulator,
and providers and HighThroughputExecutor configs wired to an emulator on loopback."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from parsl.config import Config
from parsl.executors import HighThroughputExecutor

from facility_emulator import EmulatorServer
from parsl_facility import FacilityProvider

VENV_BIN = str(Path(sys.executable).parent)
REPO_ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="session", autouse=True)
def parsl_scripts_on_path() -> Iterator[None]:
    """Parsl starts interchange.py and process_worker_pool.py through PATH; pilot jobs inherit
    the emulator's (this process's) environment, so the environment's bin goes first."""
    saved = os.environ.get("PATH", "")
    if VENV_BIN not in saved.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([VENV_BIN, saved])
    yield
    os.environ["PATH"] = saved


def admin(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    """Call an ``/_emulator`` admin route and return its JSON answer."""
    answer = httpx.request(method, f"{server.url}/_emulator/{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def emulator_jobs(server: EmulatorServer, name_prefix: str) -> list[dict[str, Any]]:
    """The emulator's records of jobs whose name starts with ``name_prefix``, oldest first."""
    return [
        job
        for job in admin(server, "GET", "jobs")["jobs"]
        if str(job["spec"].get("name", "")).startswith(name_prefix)
    ]


def make_provider(server: EmulatorServer, **options: Any) -> FacilityProvider:
    """A provider for the emulated Polaris, fast-polling, with the static token by default."""
    settings: dict[str, Any] = {
        "facility": "iri",
        "base_url": server.iri_url("v1"),
        "resource": "polaris",
        "auth": server.credentials["static_token"],
        "account": "proj",
        "queue": "debug",
        "walltime": "00:05:00",
        "status_polling_interval": 1,
        # Workers unpickle apps defined in test modules by reference: they must import ``tests``.
        "environment": {"PYTHONPATH": REPO_ROOT},
    }
    settings.update(options)
    return FacilityProvider(**settings)


def htex_config(provider: FacilityProvider, run_dir: Path, label: str, **options: Any) -> Config:
    """One HighThroughputExecutor on loopback with two workers per block."""
    executor_options: dict[str, Any] = {
        "label": label,
        "address": "127.0.0.1",
        "max_workers_per_node": 2,
        "provider": provider,
        # Lost workers are noticed within seconds, yet a busy 2-core machine is not mistaken
        # for a lost one.
        "heartbeat_period": 2,
        "heartbeat_threshold": 10,
    }
    executor_options.update(options.pop("executor", {}))
    config_options: dict[str, Any] = {"run_dir": str(run_dir), "strategy_period": 0.5}
    config_options.update(options)
    return Config(executors=[HighThroughputExecutor(**executor_options)], **config_options)
