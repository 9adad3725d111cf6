"""Start-up of the ``facility`` command: how long ``--help`` and ``jobs`` take, and where the time
goes.

Each command runs ``--runs`` times as a fresh ``python -m facility_cli`` process (``jobs``
against an emulator in a child process). For each the script prints the median wall time and
CPU time (user + system of the child: less sensitive than wall time to the other load of a
shared machine), then, from one ``python -X importtime`` run, the total import time and the
packages that cost the most. ``python -c pass`` is the floor every command pays.

    uv run python bench/cli_startup.py
    uv run python bench/cli_startup.py --runs 20 --top 12
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from _common import emulator

ROOT = Path(__file__).resolve().parents[1]
IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _environment(iri_url: str, token_file: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACILITY_")}
    env.update(
        FACILITY_API="iri",
        FACILITY_URL=iri_url,
        FACILITY_TOKEN_FILE=str(token_file),
        FACILITY_RESOURCE="polaris",
        FACILITY_CONFIG=str(config),
    )
    return env


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _imports(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Total import time (s) of one run, and the time spent in each distribution's own modules
    (the sum of their self times, so nested imports are counted where they happen)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", *argv[1:]], env=env, cwd=ROOT, capture_output=True, text=True
    )
    packages: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in run.stderr.splitlines():
        found = IMPORT_LINE.match(line)
        if not found:
            continue
        own, cumulative, indent, name = found.groups()
        if len(indent) == 1:  # a top-level import: its cumulative time counts once
            total += int(cumulative) / 1e6
        packages[name.split(".")[0]] += int(own) / 1e6
    return total, dict(packages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per command (median reported)")
    parser.add_argument("--top", type=int, default=8, help="packages listed per command")
    args = parser.parse_args()
    with emulator() as emu:
        token_file = emu.root / "token"
        token_file.write_text(str(emu.info["static_token"]))
        token_file.chmod(0o600)
        env = _environment(str(emu.info["iri"]), token_file, emu.root / "absent.toml")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "facility --help": [sys.executable, "-m", "facility_cli", "--help"],
            "facility jobs": [sys.executable, "-m", "facility_cli", "jobs"],
        }
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.runs} runs each\n")
        print(f"{'command':<18} {'wall median':>12} {'CPU median':>12} {'imports':>9}")
        details: dict[str, dict[str, float]] = {}
        cpu_of: dict[str, float] = {}
        for label, argv in commands.items():
            runs = [_timed(argv, env) for _ in range(args.runs)]
            total, packages = _imports(argv, env)
            details[label] = packages
            wall = statistics.median(r[0] for r in runs)
            cpu_of[label] = cpu = statistics.median(r[1] for r in runs)
            print(f"{label:<18} {wall * 1000:>10.0f} ms {cpu * 1000:>10.0f} ms {total * 1000:>6.0f} ms")
        print()
        floor = cpu_of["python -c pass"]
        for label in ("facility --help", "facility jobs"):
            print(f"ratio CPU {label} / python -c pass: {cpu_of[label] / floor:.1f}")
        for label in ("facility --help", "facility jobs"):
            ranked = sorted(details[label].items(), key=lambda item: -item[1])[: args.top]
            listed = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in ranked)
            print(f"\n{label}: import time by package (ms): {listed}")


if __name__ == "__main__":
    main()
