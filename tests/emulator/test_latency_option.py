"""The emulator's ``--latency`` option: parsed from the forms a user types, applied before every
answer but the emulator's own routes (checked by the pause asked for, never by a clock)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from facility_emulator import middleware
from facility_emulator.cli import duration, parse_args
from facility_emulator.config import EmulatorConfig
from facility_emulator.faults import FaultInjector


@pytest.mark.parametrize(("text", "seconds"), [("30ms", 0.03), ("0.03s", 0.03), ("0.03", 0.03), ("0", 0.0)])
def test_duration_forms(text: str, seconds: float) -> None:
    assert duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["fast", "-5ms", "nan"])
def test_bad_duration_is_refused_naming_it(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="duration"):
        duration(text)


def test_option_reaches_the_config() -> None:
    assert parse_args(["--latency", "30ms"]).latency == pytest.approx(0.03)
    assert parse_args([]).latency == 0.0
    with pytest.raises(ValueError, match="latency"):
        EmulatorConfig(latency=-1.0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "pause"), [("/iri/api/v1/status/resources", 0.03), ("/_emulator/stats", None)]
)
async def test_pause_before_answering(
    monkeypatch: pytest.MonkeyPatch, path: str, pause: float | None
) -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(middleware.asyncio, "sleep", sleep)
    answered: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        answered.append(scope["path"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    faulted = middleware.FaultMiddleware(app, FaultInjector(), latency=0.03)
    await faulted({"type": "http", "method": "GET", "path": path}, receive, send)
    assert answered == [path]
    assert pauses == ([] if pause is None else [pause])
