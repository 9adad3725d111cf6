"""Every benchmark script still runs: each is run once with tiny parameters.

Only that it finishes and prints its ratio lines is checked, never a figure: timings belong in
docs/benchmarks.md, not in asserted tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_script(name: str, *args: str, timeout: float = 240) -> str:
    """Run ``bench/<name>.py`` with ``args``; return its standard output."""
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def ratio_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "ratio" in line]


def test_request_economy(tmp_path: Path) -> None:
    plot = tmp_path / "plot.png"
    output = run_script("request_economy", "--jobs", "1", "3", "--plot", str(plot))
    assert len(ratio_lines(output)) == 8
    assert plot.stat().st_size > 0


def test_call_overhead() -> None:
    output = run_script("call_overhead", "--calls", "3", "--rounds", "1", "--latency", "1ms")
    assert len(ratio_lines(output)) == 8
    assert "latency: 1 ms" in output


def test_submit_latency() -> None:
    output = run_script("submit_latency", "--submits", "1", "--latency", "0")
    assert len(ratio_lines(output)) == 5


def test_airflow_triggers() -> None:
    output = run_script("airflow_triggers", "--triggers", "4", "--interval", "0.5", "--intervals", "1")
    assert len(ratio_lines(output)) == 4


def test_transfer_throughput() -> None:
    output = run_script("transfer_throughput", "--size", "3")
    assert len(ratio_lines(output)) == 4


def test_token_requests() -> None:
    output = run_script("token_requests", "--callers", "4", "--lifetime", "1", "--lifetimes", "1")
    assert len(ratio_lines(output)) == 4


def test_firecrest_transfer_memory() -> None:
    output = run_script("firecrest_transfer_memory", "--sizes", "2", "3")
    assert len(ratio_lines(output)) == 1


def test_parsl_throughput() -> None:
    output = run_script("parsl_throughput", "--tasks", "10")
    assert len(ratio_lines(output)) == 3


def test_transfer_waits() -> None:
    output = run_script("transfer_waits", "--transfers", "3")
    assert len(ratio_lines(output)) == 3


def test_transfer_submit() -> None:
    output = run_script("transfer_submit", "--submits", "2", "--rounds", "1")
    assert len(ratio_lines(output)) == 3


def test_cli_startup() -> None:
    output = run_script("cli_startup", "--runs", "1", "--top", "3")
    assert len(ratio_lines(output)) == 2


def test_slurmrest_status_round() -> None:
    output = run_script(
        "slurmrest_status_round",
        "--others",
        "5",
        "50",
        "--own",
        "2",
        "--rounds",
        "1",
        "--submits",
        "1",
        "--markdown",
    )
    assert len(ratio_lines(output)) == 8
    assert "| other users' jobs |" in output


def test_jobs_end_to_end() -> None:
    output = run_script(
        "jobs_end_to_end", "--jobs", "3", "--interval", "0.2", "--queue-delay", "0.1", "--latency", "1ms"
    )
    assert len(ratio_lines(output)) == 6
    assert "latency: 1 ms" in output


def test_airflow_triggers_across_facilities() -> None:
    output = run_script(
        "airflow_triggers", "--triggers", "6", "--facilities", "2", "--interval", "0.5", "--intervals", "1"
    )
    assert len(ratio_lines(output)) == 4
    assert "on 2 facilities" in output


def test_parsl_status_round() -> None:
    output = run_script("parsl_status_round", "--blocks", "1", "3", "--rounds", "1")
    assert len(ratio_lines(output)) == 2


def test_status_round_scale(tmp_path: Path) -> None:
    plot = tmp_path / "scale.png"
    output = run_script(
        "status_round_scale",
        "--sizes",
        "5",
        "20",
        "--own",
        "2",
        "--rounds",
        "1",
        "--listing-max",
        "20",
        "--plot",
        str(plot),
    )
    assert len(ratio_lines(output)) == 8
    assert plot.stat().st_size > 0
