"""N jobs submitted and waited, per API: our client against the vendor clients, at facility latency.

Each contender submits ``--jobs`` short jobs (``/bin/true``; the emulator keeps each queued for
``--queue-delay`` seconds) with at most ``--concurrency`` submits in flight, and waits for every
job right after its own submit, polling every ``--interval`` seconds. The emulator (child process)
waits ``--latency`` before each answer (default 30 ms, a facility some distance away) and counts
the API requests (token requests left out). Per API, in the same run and emulator:

* **IRI**: ``AsyncFacilityClient`` (``submit`` then ``wait``, which shares one batched status
  request per interval among the waits) against **bare httpx**, the baseline: ``POST
  /compute/job/{resource}`` then ``GET /compute/status/{resource}/{id}`` every interval per job;
* **SF API**: ours against NERSC's ``sfapi_client`` as its documentation shows, in its asynchronous
  form so that jobs are waited together: ``(await client.compute(Machine.perlmutter))
  .submit_job(script)`` then ``await job.complete()`` (``wait_interval`` = ``--interval``);
* **FirecREST**: ours against CSCS's ``pyfirecrest`` ``AsyncFirecrest``: ``submit`` then
  ``job_info(system, jobid)`` every interval until the job's state is final (its ``wait_for_job``
  does the same on a growing schedule: 0.2 s, 0.5 s, 1 s, 2 s, ...).

The ratio lines set ours against the baseline of the same API: requests made and wall time (first
submit to last job seen final).

    uv run python bench/jobs_end_to_end.py                           # 1000 jobs, 30 ms
    uv run python bench/jobs_end_to_end.py --jobs 200 --apis iri sfapi --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from _common import RESOURCE, Emulator, add_latency_option, emulator, latency_heading, ratio_line

from facility_common import AsyncFacilityClient, JobSpec, JobState

warnings.filterwarnings("ignore", category=DeprecationWarning)

SCRIPT = "#!/bin/bash\n/bin/true\n"
IRI_FINAL = {"completed", "failed", "canceled", "cancelled"}
PEER = {"iri": "bare httpx", "sfapi": "sfapi_client", "firecrest": "pyfirecrest"}


@dataclass
class Run:
    """What one contender cost for all its jobs."""

    api: str
    client: str
    jobs: int
    requests: int
    seconds: float
    completed: int


@dataclass
class Settings:
    jobs: int
    interval: float
    concurrency: int


async def _ours(emu: Emulator, api: str, settings: Settings, gate: asyncio.Semaphore) -> int:
    spec = JobSpec(executable="/bin/true", name="bench-e2e")
    resource = RESOURCE[api]
    async with AsyncFacilityClient.connect(api, **emu.connect_args(api)) as client:

        async def one() -> bool:
            async with gate:
                job = await client.submit(resource, spec)
            done = await client.wait(resource, job.id, poll_interval=settings.interval)
            return done.state is JobState.COMPLETED

        return sum(await asyncio.gather(*(one() for _ in range(settings.jobs))))


async def _bare_iri(emu: Emulator, settings: Settings, gate: asyncio.Semaphore) -> int:
    """The baseline for IRI: plain httpx, a submit and a per-job status loop for each job."""
    async with httpx.AsyncClient(base_url=emu.info["iri"] + "/", timeout=120) as http:
        answer = await http.post(
            emu.info["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(emu.info["client_id"], emu.info["client_secret"]),
        )
        answer.raise_for_status()
        http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        resource_id = emu.info["polaris_id"]

        async def one() -> bool:
            async with gate:
                submitted = await http.post(
                    f"compute/job/{resource_id}", json={"executable": "/bin/true", "name": "bench-e2e"}
                )
                submitted.raise_for_status()
            job_id = submitted.json()["id"]
            while True:
                status = await http.get(f"compute/status/{resource_id}/{job_id}")
                if status.status_code != 404:
                    status.raise_for_status()
                    state = status.json()["status"]["state"]
                    if state in IRI_FINAL:
                        return bool(state == "completed")
                await asyncio.sleep(settings.interval)

        return sum(await asyncio.gather(*(one() for _ in range(settings.jobs))))


async def _sfapi_client(emu: Emulator, settings: Settings, gate: asyncio.Semaphore) -> int:
    from sfapi_client import AsyncClient  # type: ignore[import-untyped]
    from sfapi_client.compute import Machine  # type: ignore[import-untyped]

    async with AsyncClient(
        key=emu.sfapi_key_file(),
        api_base_url=emu.info["sfapi"],
        token_url=emu.info["sfapi_credentials"]["token_url"],
        wait_interval=settings.interval,
    ) as client:
        perlmutter = await client.compute(Machine.perlmutter)

        async def one() -> bool:
            async with gate:
                job = await perlmutter.submit_job(SCRIPT)
            await job.complete()
            return str(job.state.value).upper() == "COMPLETED"

        return sum(await asyncio.gather(*(one() for _ in range(settings.jobs))))


async def _pyfirecrest(emu: Emulator, settings: Settings, gate: asyncio.Semaphore) -> int:
    import firecrest as f7t
    from firecrest.utilities import sched_state_completed

    f7 = f7t.v2.AsyncFirecrest(
        firecrest_url=emu.info["firecrest"],
        authorization=f7t.ClientCredentialsAuth(
            emu.info["client_id"], emu.info["client_secret"], emu.info["token_url"]
        ),
    )

    async def one() -> bool:
        async with gate:
            answer = await f7.submit("daint", working_dir=emu.info["home"], script_str=SCRIPT)
        job_id = str(answer["jobId"])
        while True:
            try:
                info = await f7.job_info("daint", job_id)
            except f7t.FirecrestException:
                info = []  # not visible yet, as wait_for_job allows for
            if info:
                state = info[0]["status"]["state"]
                if sched_state_completed(state):  # type: ignore[no-untyped-call]
                    return bool(state == "COMPLETED")
            await asyncio.sleep(settings.interval)

    try:
        return sum(await asyncio.gather(*(one() for _ in range(settings.jobs))))
    finally:
        await f7.close_session()


Contender = Callable[[Emulator, Settings, asyncio.Semaphore], Awaitable[int]]


def _contenders(api: str) -> dict[str, Contender]:
    async def ours(emu: Emulator, settings: Settings, gate: asyncio.Semaphore) -> int:
        return await _ours(emu, api, settings, gate)

    peer: Contender = {"iri": _bare_iri, "sfapi": _sfapi_client, "firecrest": _pyfirecrest}[api]
    return {"ours": ours, PEER[api]: peer}


async def _measure(emu: Emulator, apis: list[str], settings: Settings) -> list[Run]:
    runs = []
    for api in apis:
        for name, contender in _contenders(api).items():
            await asyncio.to_thread(emu.reset_stats)
            started = time.perf_counter()
            completed = await contender(emu, settings, asyncio.Semaphore(settings.concurrency))
            seconds = time.perf_counter() - started
            requests = await asyncio.to_thread(emu.api_requests)
            runs.append(Run(api, name, settings.jobs, requests, seconds, completed))
            print(f"# {api} {name}: {requests} requests, {seconds:.1f} s", flush=True)
    return runs


def _print(runs: list[Run], markdown: bool) -> None:
    print(
        f"{'API':<10} {'client':<14} {'jobs':>6} {'requests':>9} {'per job':>8} {'wall s':>8} {'completed':>10}"
    )
    for r in runs:
        print(
            f"{r.api:<10} {r.client:<14} {r.jobs:>6} {r.requests:>9} {r.requests / r.jobs:>8.2f}"
            f" {r.seconds:>8.1f} {r.completed:>10}"
        )
    by_key = {(r.api, r.client): r for r in runs}
    for api in dict.fromkeys(r.api for r in runs):
        ours, peer = by_key[(api, "ours")], by_key[(api, PEER[api])]
        print(ratio_line(f"{api} ours / {PEER[api]}, requests", ours.requests, peer.requests))
        print(ratio_line(f"{api} ours / {PEER[api]}, wall time", ours.seconds, peer.seconds))
    if markdown:
        print()
        print("| API | client | requests | per job | wall s | ratio requests | ratio wall |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in runs:
            peer = by_key[(r.api, PEER[r.api])]
            print(
                f"| {r.api} | {r.client} | {r.requests:,} | {r.requests / r.jobs:.2f} | {r.seconds:.1f} |"
                f" {r.requests / peer.requests:.2f} | {r.seconds / peer.seconds:.2f} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per contender (default 1000)")
    parser.add_argument("--apis", nargs="+", choices=list(RESOURCE), default=list(RESOURCE))
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, s (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="submits in flight (default 16)")
    parser.add_argument("--queue-delay", type=float, default=1.0, help="s a job stays queued (default 1)")
    parser.add_argument("--markdown", action="store_true", help="also print the figures as a Markdown table")
    add_latency_option(parser)
    parser.set_defaults(latency=0.03)  # the figure: a facility 30 ms away
    args = parser.parse_args(argv)
    print(latency_heading(args.latency))
    print(
        f"# {args.jobs} jobs per contender, poll interval {args.interval:g} s, "
        f"{args.concurrency} submits in flight, queued {args.queue_delay:g} s"
    )
    settings = Settings(jobs=args.jobs, interval=args.interval, concurrency=args.concurrency)
    with emulator(queue_delay=args.queue_delay, task_delay=0.0, latency=args.latency) as emu:
        runs = asyncio.run(_measure(emu, args.apis, settings))
    _print(runs, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
