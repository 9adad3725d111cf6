"""Suite-wide fixtures: one facility emulator on loopback, shared by the integration suites; and
the ``--suite-schedule`` option that spreads the suite over xdist workers (tests/schedule.py).

Under xdist every worker is a session of its own: session fixtures (the emulator) exist once per
worker, and ``tmp_path_factory`` directories are per worker.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import schedule

# Anything that reads proxy settings must not route loopback traffic elsewhere.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")


def pytest_addoption(parser: pytest.Parser) -> None:
    schedule.add_option(parser)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if schedule.enabled(config):
        schedule.order(items)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist asks the controller for its scheduler: ours with ``--suite-schedule``, else xdist's."""
    return schedule.make_scheduler(config, log) if schedule.enabled(config) else None


@pytest.fixture(scope="session", autouse=True)
def no_streaming_server_left() -> Iterator[None]:
    """Set up before, so torn down after, every emulator of the session: by then no Redis or
    RabbitMQ server an emulated S3M cluster started may still run (``pgrep -f``)."""
    yield
    from .streaming_support import leftover_servers

    left = leftover_servers()
    assert not left, f"streaming servers still running after their emulators stopped: {left}"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One emulator for the session (faults off, hour-long tokens)."""
    from facility_emulator import EmulatorConfig, EmulatorServer

    root: Path = tmp_path_factory.mktemp("facility")
    with EmulatorServer(EmulatorConfig(root=root, queue_delay=0.1, task_delay=0.01)) as server:
        yield server


@pytest.fixture(scope="session")
def emulator_of(
    emulator: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], object]]:
    """``emulator_of(fidelity)``: the session's emulator of that fidelity setting (``"spec"`` is
    ``emulator``; another, such as ``"iri=reference"``, is started on first use)."""
    from facility_emulator import EmulatorConfig, EmulatorServer

    started: dict[str, object] = {"spec": emulator}
    with contextlib.ExitStack() as stack:

        def of(fidelity: str) -> object:
            if fidelity not in started:
                config = EmulatorConfig(
                    root=tmp_path_factory.mktemp("facility-" + fidelity.replace("=", "-").replace(",", "-")),
                    queue_delay=0.1,
                    task_delay=0.01,
                    fidelity=fidelity,
                )
                started[fidelity] = stack.enter_context(EmulatorServer(config))
            return started[fidelity]

        yield of


def resource_id(server: object, name: str) -> str:
    """The IRI id of an emulated resource, as a client would learn it."""
    import httpx

    answer = httpx.get(f"{server.iri_url('v1')}/status/resources", params={"name": name})  # type: ignore[attr-defined]
    answer.raise_for_status()
    return str(answer.json()[0]["id"])
