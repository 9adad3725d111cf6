"""What a slurmrest status round and a first submit cost, on a busy emulated cluster.

A real ``GET slurm/{version}/jobs`` answers every user's jobs (about 4 KB each): the emulated
slurmrestd lists ``--others`` jobs of other users beside our ``--own`` jobs. Per cluster size:

* **before**: a round as the backend used to make it, one ``GET jobs`` read and parsed whole
  (measured here with bare httpx and the backend's own parser), whatever the jobs wanted;
* **after**: ``AsyncFacilityClient.list_jobs(resource, own_ids)``, which asks ``job/{id}`` per job.

Bytes are the answers' bodies; seconds the median of ``--rounds`` rounds (the emulator runs in a
child process, so its own work counts in both). Then the **first submit** of a process, whose
version is learnt from ``/openapi/v3`` (cold) or already known (warm, a second client), against a
bare httpx POST of the same body with a ready token, medians of ``--submits`` tries.

    uv run python bench/slurmrest_status_round.py
    uv run python bench/slurmrest_status_round.py --others 1000 10000 --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from _common import Emulator, emulator, ratio_line

from facility_common import AsyncFacilityClient, JobSpec
from facility_common.backends.slurmrest.discovery import forget_served
from facility_common.backends.slurmrest.parsers import parse_jobs

warnings.filterwarnings("ignore", category=DeprecationWarning)

RESOURCE = "polaris"
VERSION = "v0.0.43"


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts the body bytes of the answers and keeps the last request sent."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0
        self.last_request: httpx.Request | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.last_request = request
        response = await super().handle_async_request(request)
        self.received += int(response.headers.get("content-length", "0"))
        return response


@dataclass
class RoundFigures:
    others: int
    before_bytes: float
    before_seconds: float
    after_bytes: float
    after_seconds: float


def token_of(emu: Emulator) -> str:
    """A ready access token (the emulated slurmrestd takes any the token endpoint issued)."""
    answer = httpx.post(
        emu.info["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(emu.info["client_id"], emu.info["client_secret"]),
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def connect(
    emu: Emulator, token: str, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncFacilityClient:
    options: dict[str, Any] = {"user_name": emu.info["user"], "directory": emu.info["home"]}
    if transport is not None:
        options["transport"] = transport
    return AsyncFacilityClient.connect("slurmrest", base_url=f"{emu.url}/slurmrestd", auth=token, **options)


async def set_other_jobs(emu: Emulator, count: int) -> None:
    """How many other users' jobs the emulated slurmctld lists."""
    async with httpx.AsyncClient() as admin:
        answer = await admin.put(f"{emu.url}/_emulator/slurmrestd", json={"other_jobs": count})
        answer.raise_for_status()


async def round_before(http: httpx.AsyncClient, own: set[str]) -> tuple[int, float]:
    """The old round: the whole listing, parsed, filtered to our jobs."""
    started = time.perf_counter()
    answer = await http.get(f"slurm/{VERSION}/jobs")
    answer.raise_for_status()
    jobs = [job for job in parse_jobs(answer.json(), RESOURCE) if job.id in own]
    elapsed = time.perf_counter() - started
    assert len(jobs) == len(own)
    return len(answer.content), elapsed


async def measure_rounds(
    emu: Emulator, token: str, own_count: int, sizes: list[int], rounds: int
) -> list[RoundFigures]:
    counting = CountingTransport()
    figures = []
    headers = {"X-SLURM-USER-NAME": emu.info["user"], "X-SLURM-USER-TOKEN": token}
    async with (
        connect(emu, token, counting) as client,
        httpx.AsyncClient(base_url=f"{emu.url}/slurmrestd/", headers=headers, timeout=120) as http,
    ):
        own = [
            (await client.submit(RESOURCE, JobSpec(executable="/bin/sleep", arguments=["600"]))).id
            for _ in range(own_count)
        ]
        try:
            for others in sizes:
                await set_other_jobs(emu, others)
                await round_before(http, set(own))  # the emulator renders the crowd once
                await client.list_jobs(RESOURCE, own)
                before: list[tuple[int, float]] = []
                after: list[tuple[int, float]] = []
                for _ in range(rounds):
                    before.append(await round_before(http, set(own)))
                    counting.received = 0
                    started = time.perf_counter()
                    listed = await client.list_jobs(RESOURCE, own)
                    after.append((counting.received, time.perf_counter() - started))
                    assert sorted(job.id for job in listed) == sorted(own)
                figures.append(
                    RoundFigures(
                        others,
                        statistics.median(b for b, _ in before),
                        statistics.median(s for _, s in before),
                        statistics.median(b for b, _ in after),
                        statistics.median(s for _, s in after),
                    )
                )
        finally:
            for job_id in own:
                await client.cancel(RESOURCE, job_id)
            await set_other_jobs(emu, 0)
    return figures


async def measure_submits(emu: Emulator, token: str, submits: int) -> dict[str, float]:
    """Median seconds of a first submit on a new client: ours with the version not known yet
    (cold: ``/openapi/v3``, then the POST) and known (warm), and a bare httpx POST of the same
    body on a new ``httpx.AsyncClient``; the kinds take turns."""
    samples: dict[str, list[float]] = {"cold": [], "warm": [], "bare": []}
    spec = JobSpec(executable="/bin/true")
    headers = {
        "X-SLURM-USER-NAME": emu.info["user"],
        "X-SLURM-USER-TOKEN": token,
        "Content-Type": "application/json",
    }
    for _ in range(submits):
        forget_served()
        counting = CountingTransport()
        for kind in ("cold", "warm"):
            counting = CountingTransport()
            async with connect(emu, token, counting) as client:
                started = time.perf_counter()
                await client.submit(RESOURCE, spec)
                samples[kind].append(time.perf_counter() - started)
        assert counting.last_request is not None
        body = counting.last_request.content
        async with httpx.AsyncClient(base_url=f"{emu.url}/slurmrestd/", headers=headers) as bare:
            started = time.perf_counter()
            answer = await bare.post(f"slurm/{VERSION}/job/submit", content=body)
            samples["bare"].append(time.perf_counter() - started)
            answer.raise_for_status()
    return {kind: statistics.median(values) for kind, values in samples.items()}


def print_markdown(figures: list[RoundFigures], submits: dict[str, float], own: int) -> None:
    print(
        "| other users' jobs | before: bytes/round | before: s/round | after: bytes/round | after: s/round |"
    )
    print("|---:|---:|---:|---:|---:|")
    for f in figures:
        print(
            f"| {f.others:,} | {f.before_bytes:,.0f} | {f.before_seconds:.3f} | "
            f"{f.after_bytes:,.0f} | {f.after_seconds:.4f} |"
        )
    print(f"\n(a round asks for our {own} jobs)\n")
    print("| first submit | ms |")
    print("|---|---:|")
    for kind, label in (
        ("cold", "ours, version not known yet"),
        ("warm", "ours, version known"),
        ("bare", "bare httpx POST"),
    ):
        print(f"| {label} | {submits[kind] * 1000:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--others", type=int, nargs="+", default=[1000, 10000], help="other users' jobs listed"
    )
    parser.add_argument("--own", type=int, default=5, help="our jobs, asked about in each round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per cluster size")
    parser.add_argument("--submits", type=int, default=7, help="tries of each first-submit kind")
    parser.add_argument("--markdown", action="store_true", help="also print the figures as Markdown tables")
    args = parser.parse_args(argv)
    with emulator(queue_delay=0.0) as emu:
        token = token_of(emu)
        figures = asyncio.run(measure_rounds(emu, token, args.own, args.others, args.rounds))
        submits = asyncio.run(measure_submits(emu, token, args.submits))
    for f in figures:
        print(f"status round, {args.own} own jobs among {f.others:,} other users' jobs:")
        print(f"  before (GET jobs):   {f.before_bytes:>12,.0f} bytes  {f.before_seconds:.4f} s")
        print(f"  after (job/{{id}}):    {f.after_bytes:>12,.0f} bytes  {f.after_seconds:.4f} s")
        print("  " + ratio_line(f"round bytes after/before at {f.others}", f.after_bytes, f.before_bytes))
        print(
            "  " + ratio_line(f"round seconds after/before at {f.others}", f.after_seconds, f.before_seconds)
        )
    first, last = figures[0], figures[-1]
    if len(figures) > 1:
        what = f"{last.others}/{first.others} other jobs"
        print(ratio_line(f"round bytes after, {what}", last.after_bytes, first.after_bytes, "~1.0"))
        print(ratio_line(f"round seconds after, {what}", last.after_seconds, first.after_seconds, "~1.0"))
    print(
        f"first submit: cold {submits['cold'] * 1000:.1f} ms, warm {submits['warm'] * 1000:.1f} ms, "
        f"bare httpx {submits['bare'] * 1000:.1f} ms"
    )
    print(ratio_line("first submit, ours (version learnt) / bare httpx", submits["cold"], submits["bare"]))
    print(ratio_line("first submit, ours (version known) / bare httpx", submits["warm"], submits["bare"]))
    if args.markdown:
        print()
        print_markdown(figures, submits, args.own)
    return 0


if __name__ == "__main__":
    sys.exit(main())
