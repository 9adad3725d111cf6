"""1000 deferred ``FacilityJobTrigger``s in one event loop: requests, CPU and memory per interval.

This is what an Airflow triggerer process holds when a thousand tasks wait on facility jobs. The
jobs are ``/bin/sleep 300`` kept pending by an hour of queue delay, so no wait ends during the
run. Two ways of waiting are run one after the other in the same process and loop:

* ``FacilityJobTrigger``: the provider's trigger, which polls through the client's shared,
  batched poller (``max_age`` = its interval);
* ``naive per-job trigger``: the baseline, a loop per job calling ``get_job`` every interval,
  the way a trigger written against a per-job status call behaves.

For each, after one warm-up interval: API requests per interval (counted by the emulator, which
runs in a child process), CPU seconds of this process per interval, and resident memory added per
waiting trigger (RSS after the waits are set up, against before).

    uv run python bench/airflow_triggers.py
    uv run python bench/airflow_triggers.py --triggers 1000 --interval 5 --intervals 8
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
from typing import Any

from _common import Emulator, emulator, ratio_line

warnings.filterwarnings("ignore", category=DeprecationWarning)

CONN_ID = "bench_site"
SUBMIT_CONCURRENCY = 16


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _airflow_env(emu: Emulator, home: str) -> None:
    """A private AIRFLOW_HOME and the facility connection, set before Airflow is imported."""
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # Each trigger logs its first state once; keep a thousand such lines out of the report.
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
                {
                    "conn_type": "facility_iri",
                    "host": emu.info["iri"],
                    "login": emu.info["client_id"],
                    "password": emu.info["client_secret"],
                    "extra": {"auth_type": "oidc_client_credentials", "token_url": emu.info["token_url"]},
                }
            ),
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


async def _window(
    emu: Emulator, waits: list[Callable[[], Coroutine[Any, Any, None]]], interval: float, intervals: int
) -> dict[str, float]:
    """Start the waits, let one interval pass, then measure ``intervals`` intervals."""
    gc.collect()
    rss_before = _rss_bytes()
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(wait()) for wait in waits]
    await asyncio.sleep(interval * 1.5)
    gc.collect()
    rss_after = _rss_bytes()
    await asyncio.to_thread(emu.reset_stats)
    cpu = time.process_time()
    await asyncio.sleep(interval * intervals)
    cpu_used = time.process_time() - cpu
    requests = await asyncio.to_thread(emu.api_requests)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "requests": requests / intervals,
        "cpu": cpu_used / intervals,
        "memory": (rss_after - rss_before) / len(waits),
    }


async def _measure(
    emu: Emulator, job_ids: list[str], interval: float, intervals: int
) -> dict[str, dict[str, float]]:
    from airflow_facility.hooks.facility import shared_async_client
    from airflow_facility.triggers import FacilityJobTrigger

    client, _ = await shared_async_client(CONN_ID)
    await client.resources()  # token and resource ids, outside the windows

    def trigger_wait(job_id: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def wait() -> None:
            trigger = FacilityJobTrigger(CONN_ID, "polaris", job_id, poll_interval=interval)
            async for _event in trigger.run():
                return

        return wait

    def naive_wait(job_id: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def wait() -> None:
            while True:
                job = await client.get_job("polaris", job_id)
                if job.state.is_terminal:
                    return
                await asyncio.sleep(interval)

        return wait

    results = {}
    results["FacilityJobTrigger"] = await _window(
        emu, [trigger_wait(j) for j in job_ids], interval, intervals
    )
    results["naive per-job trigger"] = await _window(
        emu, [naive_wait(j) for j in job_ids], interval, intervals
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--triggers", type=int, default=1000, help="deferred waits (default 1000)")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval in seconds (default 5)")
    parser.add_argument("--intervals", type=int, default=8, help="intervals measured (default 8)")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="airflow-bench-") as home,
        emulator(queue_delay=3600.0, task_delay=0.0) as emu,
    ):
        _airflow_env(emu, home)
        job_ids = asyncio.run(_submit(emu, args.triggers))
        print(f"# {len(job_ids)} pending jobs submitted", flush=True)

        async def run() -> dict[str, dict[str, float]]:
            return await _measure(emu, job_ids, args.interval, args.intervals)

        results = asyncio.run(run())
        asyncio.run(_cancel(emu, job_ids))

    print(f"# {args.triggers} waits, interval {args.interval:g} s, {args.intervals} intervals measured")
    print(f"{'waiter':<24} {'requests/interval':>18} {'CPU s/interval':>15} {'KiB/trigger':>12}")
    for name, r in results.items():
        print(f"{name:<24} {r['requests']:>18.1f} {r['cpu']:>15.3f} {r['memory'] / 1024:>12.1f}")
    ours, naive = results["FacilityJobTrigger"], results["naive per-job trigger"]
    print(
        ratio_line("FacilityJobTrigger requests per interval / 1 per resource", ours["requests"], 1.0, "1.00")
    )
    print(
        ratio_line(
            "FacilityJobTrigger / naive per-job trigger, requests per interval",
            ours["requests"],
            naive["requests"],
        )
    )
    print(
        ratio_line("FacilityJobTrigger / naive per-job trigger, CPU per interval", ours["cpu"], naive["cpu"])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
