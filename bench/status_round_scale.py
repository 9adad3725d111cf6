"""A status round's cost as the facility's job count grows: slurmrest and IRI, 1k to 100k jobs.

The client watches ``--own`` live jobs of its own on a facility that lists many more: other users'
jobs in the emulated slurmctld (``PUT /_emulator/slurmrestd {"other_jobs": N}``, about 4 KB of
JSON each, as a real ``GET jobs`` answers) and the finished history of the IRI resource
(``POST /_emulator/jobs/history``). For each size of ``--sizes`` and each API:

* **status round**: ``AsyncFacilityClient.poll_jobs(resource, own_ids)``, the shared poller behind
  the Parsl provider and the Airflow triggers (slurmrest: ``GET job/{id}`` per job; IRI: one
  ``POST /compute/status/{resource}`` with the ids);
* **full listing** (the baseline, what a round cost when it listed everything):
  ``list_jobs(resource)`` with no ids (slurmrest: one ``GET jobs``; IRI: the paged listing), only
  up to ``--listing-max`` jobs, since 100k listed slurmrest jobs are about 450 MB.

Per round: the answers' bytes, the wall time and this process's CPU time (reading the JSON and
parsing it into jobs: the emulator runs in a child process, so its own work is only in the wall
time), medians of ``--rounds`` rounds after one warm-up round. ``--plot`` writes a PNG.

    uv run python bench/status_round_scale.py --plot docs/img/status_round_scale.png
    uv run python bench/status_round_scale.py --sizes 1000 10000 --listing-max 10000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import Emulator, add_latency_option, emulator, latency_heading, ratio_line

from facility_common import AsyncFacilityClient, JobSpec

warnings.filterwarnings("ignore", category=DeprecationWarning)

RESOURCE = "polaris"
APIS = ("slurmrest", "iri")


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts the body bytes of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        body = await response.aread()
        self.received += len(body)
        return response


@dataclass
class Figures:
    api: str
    kind: str  # "round" or "listing"
    jobs: int
    bytes: float
    seconds: float
    cpu: float


def _connect(emu: Emulator, api: str, transport: CountingTransport) -> AsyncFacilityClient:
    if api == "slurmrest":
        answer = httpx.post(
            emu.info["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(emu.info["client_id"], emu.info["client_secret"]),
        )
        answer.raise_for_status()
        return AsyncFacilityClient.connect(
            "slurmrest",
            base_url=f"{emu.url}/slurmrestd",
            auth=str(answer.json()["access_token"]),
            user_name=emu.info["user"],
            directory=emu.info["home"],
            transport=transport,
            timeout=600,
        )
    return AsyncFacilityClient.connect("iri", **emu.connect_args("iri"), transport=transport, timeout=600)


async def _grow(emu: Emulator, api: str, listed: int, target: int) -> int:
    """Make the facility list ``target`` jobs besides ours; returns the new count."""
    async with httpx.AsyncClient(base_url=emu.url, timeout=600) as admin:
        if api == "slurmrest":
            answer = await admin.put("/_emulator/slurmrestd", json={"other_jobs": target})
            answer.raise_for_status()
            return target
        while listed < target:
            count = min(target - listed, 100_000)
            answer = await admin.post("/_emulator/jobs/history", json={"resource": RESOURCE, "count": count})
            answer.raise_for_status()
            listed += count
        return listed


async def _time(
    counting: CountingTransport, call: Callable[[], Awaitable[Any]], rounds: int
) -> tuple[float, float, float]:
    """Median bytes, wall seconds and CPU seconds of ``call`` over ``rounds`` (after a warm-up)."""
    await call()
    samples = []
    for _ in range(rounds):
        counting.received = 0
        cpu, wall = time.process_time(), time.perf_counter()
        await call()
        samples.append((counting.received, time.perf_counter() - wall, time.process_time() - cpu))
    return tuple(statistics.median(s[i] for s in samples) for i in range(3))  # type: ignore[return-value]


async def _measure_api(
    emu: Emulator, api: str, sizes: list[int], own: int, rounds: int, listing_max: int
) -> list[Figures]:
    counting = CountingTransport()
    figures = []
    async with _connect(emu, api, counting) as client:
        spec = JobSpec(executable="/bin/sleep", arguments=["600"], name="bench-scale")
        ids = [(await client.submit(RESOURCE, spec)).id for _ in range(own)]
        listed = 0
        try:
            for size in sizes:
                listed = await _grow(emu, api, listed, size)

                async def round_() -> None:
                    jobs = await client.poll_jobs(RESOURCE, ids)
                    assert [job.id for job in jobs] == ids and not any(j.state.is_terminal for j in jobs)

                figures.append(Figures(api, "round", size, *await _time(counting, round_, rounds)))
                if size <= listing_max:

                    async def listing() -> None:
                        await client.list_jobs(RESOURCE)

                    figures.append(Figures(api, "listing", size, *await _time(counting, listing, rounds)))
                print(f"# {api} at {size:,} listed jobs done", flush=True)
        finally:
            for job_id in ids:
                await client.cancel(RESOURCE, job_id)
            if api == "slurmrest":
                await _grow(emu, api, 0, 0)
    return figures


def _plot(figures: list[Figures], path: Path, own: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for api in APIS:
        for kind, style in (("round", "-o"), ("listing", "--s")):
            points = sorted((f.jobs, f) for f in figures if f.api == api and f.kind == kind)
            if not points:
                continue
            label = f"{api}: {'status round (poll_jobs)' if kind == 'round' else 'full listing'}"
            xs = [x for x, _ in points]
            left.plot(xs, [f.bytes for _, f in points], style, label=label)
            right.plot(xs, [f.cpu * 1000 for _, f in points], style, label=label)
    for axes, what in ((left, "bytes per round"), (right, "client CPU ms per round (read + parse)")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("jobs the facility lists")
        axes.set_ylabel(what)
        axes.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    figure.suptitle(
        f"Status round of {own} own jobs as the facility's job count grows (emulated)", fontsize=11
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    print(f"# plot written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="jobs the facility lists"
    )
    parser.add_argument("--apis", nargs="+", choices=APIS, default=list(APIS))
    parser.add_argument("--own", type=int, default=5, help="our live jobs, asked about each round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per size (default 5)")
    parser.add_argument(
        "--listing-max", type=int, default=10000, help="largest size the full listing is measured at"
    )
    parser.add_argument("--plot", type=Path, help="write the figure (PNG) here")
    add_latency_option(parser)
    args = parser.parse_args(argv)
    print(latency_heading(args.latency))
    sizes = sorted(args.sizes)
    figures: list[Figures] = []
    with emulator(queue_delay=3600.0, latency=args.latency) as emu:
        for api in args.apis:
            figures += asyncio.run(_measure_api(emu, api, sizes, args.own, args.rounds, args.listing_max))

    print(f"{'API':<10} {'what':<8} {'listed jobs':>11} {'bytes/round':>13} {'wall s':>8} {'CPU s':>8}")
    for f in figures:
        print(f"{f.api:<10} {f.kind:<8} {f.jobs:>11,} {f.bytes:>13,.0f} {f.seconds:>8.3f} {f.cpu:>8.3f}")
    for api in args.apis:
        rounds = [f for f in figures if f.api == api and f.kind == "round"]
        first, last = rounds[0], rounds[-1]
        what = f"{api} status round at {last.jobs} / {first.jobs} listed jobs"
        print(ratio_line(f"{what}, bytes", last.bytes, first.bytes, "1.00"))
        print(ratio_line(f"{what}, client CPU", last.cpu, first.cpu, "~1"))
        for listing in (f for f in figures if f.api == api and f.kind == "listing"):
            paired = next(r for r in rounds if r.jobs == listing.jobs)
            what = f"{api} status round / full listing at {listing.jobs} listed jobs"
            print(ratio_line(f"{what}, bytes", paired.bytes, listing.bytes))
    if args.plot:
        _plot(figures, args.plot, args.own)
    return 0


if __name__ == "__main__":
    sys.exit(main())
