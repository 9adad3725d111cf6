"""Deferred ``FacilityJobTrigger``s in one event loop: requests, CPU and memory per interval.

This is what an Airflow triggerer process holds when thousands of tasks wait on facility jobs
(default 1000 on one facility; the scale figure is 10,000 across 5). Each facility is an emulator
of its own (a child process each, IRI API, its own connection ``bench_site_<n>``), and the
triggers are spread evenly over them. The jobs are ``/bin/sleep 300`` kept pending by an hour of
queue delay, so no wait ends during the run. Two ways of waiting are run one after the other in
the same process and loop:

* ``FacilityJobTrigger``: the provider's trigger, which polls through the client's shared,
  batched poller (``max_age`` = its interval);
* ``naive per-job trigger``: the baseline, a loop per job calling ``get_job`` every interval,
  the way a trigger written against a per-job status call behaves.

The baseline waits on at most ``--naive-max`` of the jobs (1000): ten thousand concurrent per-job
calls through one client queue in httpcore's connection pool, whose every hand-over scans the
whole queue, and the process spends its time there. For each, once the waits are set up (at least
1.5 intervals, then until this process is less than half busy; printed as ``set-up``): API
requests per interval (counted by the emulator, which runs in a child process), CPU seconds of
this process per interval, and resident memory added per waiting trigger (RSS after the waits are
set up, against before). The goal is one status round per facility per interval, whatever the
number of triggers (a round is one request per 1000 jobs on IRI, its listing's page limit).

    uv run python bench/airflow_triggers.py
    uv run python bench/airflow_triggers.py --triggers 1000 --interval 5 --intervals 8
    uv run python bench/airflow_triggers.py --triggers 10000 --facilities 5 --intervals 4
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from typing import Any

from _common import Emulator, emulator, ratio_line

from facility_common.backends.iri.requests import PAGE_LIMIT

warnings.filterwarnings("ignore", category=DeprecationWarning)

CONN_PREFIX = "bench_site"
SUBMIT_CONCURRENCY = 16


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _conn_id(index: int) -> str:
    return f"{CONN_PREFIX}_{index}"


def _airflow_env(emus: list[Emulator], home: str) -> None:
    """A private AIRFLOW_HOME and one connection per facility, set before Airflow is imported."""
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # Each trigger logs its first state once; keep thousands of such lines out of the report.
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    for index, emu in enumerate(emus):
        os.environ[f"AIRFLOW_CONN_{_conn_id(index).upper()}"] = json.dumps(
            {
                "conn_type": "facility_iri",
                "host": emu.info["iri"],
                "login": emu.info["client_id"],
                "password": emu.info["client_secret"],
                "extra": {"auth_type": "oidc_client_credentials", "token_url": emu.info["token_url"]},
            }
        )


async def _submit(emu: Emulator, count: int) -> list[str]:
    from facility_common import AsyncFacilityClient, JobSpec

    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    spec = JobSpec(executable="/bin/sleep", arguments=["300"], name="bench-trigger")
    async with AsyncFacilityClient.connect("iri", **emu.connect_args("iri")) as client:

        async def one() -> str:
            async with gate:
                return (await client.submit("polaris", spec)).id

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def _cancel(emu: Emulator, job_ids: list[str]) -> None:
    from facility_common import AsyncFacilityClient

    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    async with AsyncFacilityClient.connect("iri", **emu.connect_args("iri")) as client:

        async def one(job_id: str) -> None:
            async with gate:
                await client.cancel("polaris", job_id)

        await asyncio.gather(*(one(j) for j in job_ids), return_exceptions=True)


async def _api_requests(emus: list[Emulator]) -> int:
    counts = await asyncio.gather(*(asyncio.to_thread(emu.api_requests) for emu in emus))
    return sum(counts)


async def _reset(emus: list[Emulator]) -> None:
    await asyncio.gather(*(asyncio.to_thread(emu.reset_stats) for emu in emus))


async def _settled(started: float, interval: float, limit: float = 900.0) -> None:
    """Wait for the waits to be set up: at least 1.5 intervals, then until this process is less
    than half busy over half an interval (thousands of triggers take a while to start, and that
    start-up must not be counted as their cost per interval)."""
    await asyncio.sleep(interval * 1.5)
    while time.perf_counter() - started < limit:
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(interval / 2)
        if (time.process_time() - cpu) / (time.perf_counter() - wall) < 0.5:
            return


async def _window(
    emus: list[Emulator],
    waits: list[Callable[[], Coroutine[Any, Any, None]]],
    interval: float,
    intervals: int,
) -> dict[str, float]:
    """Start the waits, let one interval pass, then measure ``intervals`` intervals."""
    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(wait()) for wait in waits]
    await _settled(started, interval)
    setup = time.perf_counter() - started
    gc.collect()
    rss_after = _rss_bytes()
    await _reset(emus)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(interval * intervals)
    cpu_used = time.process_time() - cpu
    # A loop too busy to wake the sleep on time shows here (the window is then longer).
    print(f"# window of {len(waits)} waits: {time.perf_counter() - wall:.1f} s measured", flush=True)
    requests = await _api_requests(emus)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "setup": setup,
        "waits": len(waits),
        "requests": requests / intervals,
        "cpu": cpu_used / intervals,
        "memory": (rss_after - rss_before) / len(waits),
    }


async def _measure(
    emus: list[Emulator], job_ids: list[list[str]], interval: float, intervals: int, naive_max: int
) -> dict[str, dict[str, float]]:
    from airflow_facility.hooks.facility import shared_async_client
    from airflow_facility.triggers import FacilityJobTrigger

    clients = []
    for index in range(len(emus)):
        client, _ = await shared_async_client(_conn_id(index))
        await client.resources()  # token and resource ids, outside the windows
        clients.append(client)

    def trigger_wait(index: int, job_id: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def wait() -> None:
            trigger = FacilityJobTrigger(_conn_id(index), "polaris", job_id, poll_interval=interval)
            async for _event in trigger.run():
                return

        return wait

    def naive_wait(index: int, job_id: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def wait() -> None:
            while True:
                job = await clients[index].get_job("polaris", job_id)
                if job.state.is_terminal:
                    return
                await asyncio.sleep(interval)

        return wait

    pairs = [(index, job_id) for index, ids in enumerate(job_ids) for job_id in ids]
    # The baseline on every facility, on at most naive_max of the jobs (spread evenly).
    naive_pairs = pairs[:: -(-len(pairs) // naive_max)][:naive_max]
    results = {}
    results["FacilityJobTrigger"] = await _window(
        emus, [trigger_wait(i, j) for i, j in pairs], interval, intervals
    )
    results["naive per-job trigger"] = await _window(
        emus, [naive_wait(i, j) for i, j in naive_pairs], interval, intervals
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--triggers", type=int, default=1000, help="deferred waits (default 1000)")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval in seconds (default 5)")
    parser.add_argument("--intervals", type=int, default=8, help="intervals measured (default 8)")
    parser.add_argument("--facilities", type=int, default=1, help="facilities, one emulator each (default 1)")
    parser.add_argument(
        "--naive-max",
        type=int,
        default=1000,
        help="waits of the naive baseline at most (default 1000); ratios are per wait",
    )
    args = parser.parse_args(argv)
    per_site = [
        args.triggers // args.facilities + (1 if i < args.triggers % args.facilities else 0)
        for i in range(args.facilities)
    ]
    with tempfile.TemporaryDirectory(prefix="airflow-bench-") as home, ExitStack() as stack:
        emus = [
            stack.enter_context(emulator(queue_delay=3600.0, task_delay=0.0)) for _ in range(args.facilities)
        ]
        _airflow_env(emus, home)

        async def submit_all() -> list[list[str]]:
            return list(await asyncio.gather(*(_submit(e, n) for e, n in zip(emus, per_site, strict=True))))

        started = time.perf_counter()
        job_ids = asyncio.run(submit_all())
        print(
            f"# {sum(map(len, job_ids))} pending jobs submitted on {len(emus)} facilities"
            f" in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

        async def run() -> dict[str, dict[str, float]]:
            return await _measure(emus, job_ids, args.interval, args.intervals, args.naive_max)

        results = asyncio.run(run())

        async def cancel_all() -> None:
            await asyncio.gather(*(_cancel(e, ids) for e, ids in zip(emus, job_ids, strict=True)))

        asyncio.run(cancel_all())

    print(
        f"# {args.triggers} waits on {args.facilities} facilities, interval {args.interval:g} s,"
        f" {args.intervals} intervals measured"
    )
    print(
        f"{'waiter':<24} {'waits':>6} {'set-up s':>9} {'requests/interval':>18} {'CPU s/interval':>15}"
        f" {'KiB/trigger':>12}"
    )
    for name, r in results.items():
        print(
            f"{name:<24} {r['waits']:>6.0f} {r['setup']:>9.1f} {r['requests']:>18.1f} {r['cpu']:>15.3f}"
            f" {r['memory'] / 1024:>12.1f}"
        )
    ours, naive = results["FacilityJobTrigger"], results["naive per-job trigger"]
    print(
        ratio_line(
            "FacilityJobTrigger requests per interval / 1 per facility",
            ours["requests"],
            args.facilities,
            "1.00",
        )
    )
    # An IRI listing call names at most PAGE_LIMIT jobs: a round over more takes several.
    calls = sum(-(-n // PAGE_LIMIT) for n in per_site)
    print(
        ratio_line(
            f"FacilityJobTrigger requests per interval / listing calls of one round ({calls})",
            ours["requests"],
            calls,
            "1.00",
        )
    )
    # Per wait, so that a baseline on fewer waits (--naive-max) still compares like with like.
    print(
        ratio_line(
            "FacilityJobTrigger / naive per-job trigger, requests per interval per wait",
            ours["requests"] / ours["waits"],
            naive["requests"] / naive["waits"],
        )
    )
    print(
        ratio_line(
            "FacilityJobTrigger / naive per-job trigger, CPU per interval per wait",
            ours["cpu"] / ours["waits"],
            naive["cpu"] / naive["waits"],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
