"""HTTP requests per status round for 1, 10, 100 and 1000 live jobs, per client.

Jobs are ``/bin/sleep 300`` submitted through each API with a queue delay of an hour, so they stay
pending (one waiting thread each in the emulator, no process) for the whole run and are cancelled
at the end. One "status round" is what a client does to learn the state of every watched job once:

* ``poller (iri|sfapi|firecrest)``: ``AsyncFacilityClient.poll_jobs`` (the shared batched poller
  that Parsl's provider and the Airflow triggers use) on each API;
* ``get_job per job (iri)``: one ``get_job`` per job, all in flight together;
* ``sfapi_client job.update()``: NERSC's client, ``update()`` of every job object gathered (what
  ``job.complete()`` does once per wait interval); its job monitor may merge concurrent calls;
* ``sfapi_client compute.jobs(ids)``: NERSC's explicit batched form;
* ``pyfirecrest job_info per job``: CSCS's client, ``job_info(system, jobid)`` per job gathered;
* ``pyfirecrest job_info(system)``: its list form (every job of the user, filtered locally).

Requests are counted by the emulator (token requests left out, tokens warmed first); the ratio
lines compare each client with our poller on the same API. ``--plot`` writes the PNG of the docs.

    uv run python bench/request_economy.py
    uv run python bench/request_economy.py --jobs 1 10 100 1000 --plot docs/img/requests_per_round.png
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import RESOURCE, Emulator, add_latency_option, emulator, latency_heading, ratio_line

from facility_common import AsyncFacilityClient, JobSpec

warnings.filterwarnings("ignore", category=DeprecationWarning)

SUBMIT_CONCURRENCY = 16


async def _submit(client: AsyncFacilityClient, resource: str, count: int) -> list[str]:
    """Submit ``count`` long sleepers, a few at a time."""
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    spec = JobSpec(executable="/bin/sleep", arguments=["300"], name="bench-economy")

    async def one() -> str:
        async with gate:
            return (await client.submit(resource, spec)).id

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _count(emu: Emulator, round_: Callable[[], Awaitable[Any]]) -> tuple[int, float]:
    """Requests and seconds of one status round (after one warm-up round)."""
    await round_()
    await asyncio.to_thread(emu.reset_stats)
    started = time.perf_counter()
    await round_()
    elapsed = time.perf_counter() - started
    return await asyncio.to_thread(emu.api_requests), elapsed


def _rounds(
    ours: dict[str, AsyncFacilityClient],
    perlmutter: Any,
    f7: Any,
    sfc_jobs: list[Any],
    iri: list[str],
    sf: list[str],
    fc: list[str],
) -> dict[str, Callable[[], Awaitable[Any]]]:
    """One status round of each client over the same live jobs."""
    from sfapi_client.jobs import JobCommand  # type: ignore[import-untyped]

    async def per_job_iri() -> None:
        await asyncio.gather(*(ours["iri"].get_job("polaris", j) for j in iri))

    async def sfc_update() -> None:
        await asyncio.gather(*(job.update() for job in sfc_jobs))

    async def sfc_batch() -> None:
        await perlmutter.jobs(jobids=sf, command=JobCommand.squeue)

    async def f7_per_job() -> None:
        await asyncio.gather(*(f7.job_info("daint", j) for j in fc))

    async def f7_list() -> None:
        await f7.job_info("daint")

    return {
        "poller (iri)": lambda: ours["iri"].poll_jobs("polaris", iri),
        "poller (sfapi)": lambda: ours["sfapi"].poll_jobs("perlmutter", sf),
        "poller (firecrest)": lambda: ours["firecrest"].poll_jobs("daint", fc),
        "get_job per job (iri)": per_job_iri,
        "sfapi_client job.update()": sfc_update,
        "sfapi_client compute.jobs(ids)": sfc_batch,
        "pyfirecrest job_info per job": f7_per_job,
        "pyfirecrest job_info(system)": f7_list,
    }


async def _measure(emu: Emulator, sizes: list[int]) -> dict[str, dict[int, tuple[int, float]]]:
    import firecrest as f7t
    from sfapi_client import AsyncClient  # type: ignore[import-untyped]
    from sfapi_client.compute import Machine  # type: ignore[import-untyped]
    from sfapi_client.jobs import JobCommand

    ours = {api: AsyncFacilityClient.connect(api, **emu.connect_args(api)) for api in RESOURCE}
    sfc = AsyncClient(
        key=emu.sfapi_key_file(),
        api_base_url=emu.info["sfapi"],
        token_url=emu.info["sfapi_credentials"]["token_url"],
        wait_interval=1,
    )
    f7 = f7t.v2.AsyncFirecrest(
        firecrest_url=emu.info["firecrest"],
        authorization=f7t.ClientCredentialsAuth(
            emu.info["client_id"], emu.info["client_secret"], emu.info["token_url"]
        ),
    )
    results: dict[str, dict[int, tuple[int, float]]] = {}
    ids: dict[str, list[str]] = {api: [] for api in RESOURCE}
    try:
        perlmutter = await sfc.compute(Machine.perlmutter)
        for size in sizes:
            started = time.perf_counter()
            for api, client in ours.items():
                ids[api] += await _submit(client, RESOURCE[api], size - len(ids[api]))
            print(
                f"# {size} live jobs per API (submitted in {time.perf_counter() - started:.1f} s)", flush=True
            )
            iri, sf, fc = ids["iri"][:size], ids["sfapi"][:size], ids["firecrest"][:size]
            sfc_jobs = await perlmutter.jobs(jobids=sf, command=JobCommand.squeue)
            if len(sfc_jobs) != size:
                raise SystemExit(f"sfapi_client sees {len(sfc_jobs)} of {size} jobs")

            rounds = _rounds(ours, perlmutter, f7, sfc_jobs, iri, sf, fc)
            for name, round_ in rounds.items():
                results.setdefault(name, {})[size] = await _count(emu, round_)
    finally:
        started = time.perf_counter()
        for api, client in ours.items():
            gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)

            async def cancel(
                job_id: str,
                client: AsyncFacilityClient = client,
                api: str = api,
                gate: asyncio.Semaphore = gate,
            ) -> None:
                async with gate:
                    await client.cancel(RESOURCE[api], job_id)

            await asyncio.gather(*(cancel(j) for j in ids[api]), return_exceptions=True)
            await client.aclose()
        await sfc.close()
        print(f"# cancelled all jobs in {time.perf_counter() - started:.1f} s", flush=True)
    return results


def _plot(results: dict[str, dict[int, tuple[int, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    markers = "o^vsDx+*"
    names = list(results)
    for index, name in enumerate(names):
        by_size = results[name]
        sizes = sorted(by_size)
        # Lines that coincide (one request per round) are drawn thick to thin so each stays visible.
        axes.plot(
            sizes,
            [by_size[s][0] for s in sizes],
            "-" if name.startswith("poller") else "--",
            marker=markers[index % len(markers)],
            linewidth=1.2 + 0.45 * (len(names) - index),
            markersize=3 + 0.8 * (len(names) - index),
            alpha=0.75,
            label=name,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("live jobs watched")
    axes.set_ylabel("HTTP requests per status round")
    axes.set_title("Requests per status round (emulated APIs, tokens excluded)", fontsize=11)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"# plot written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 10, 100, 1000], help="live jobs per API")
    parser.add_argument("--plot", type=Path, help="write the requests-per-round plot (PNG) here")
    add_latency_option(parser)
    args = parser.parse_args(argv)
    print(latency_heading(args.latency))
    sizes = sorted(args.jobs)
    with emulator(queue_delay=3600.0, task_delay=0.0, latency=args.latency) as emu:
        results = asyncio.run(_measure(emu, sizes))

    print(f"{'client':<32}" + "".join(f"{f'{n} jobs':>14}" for n in sizes))
    for name, by_size in results.items():
        cells = "".join(f"{by_size[n][0]:>6} {by_size[n][1]:>5.2f}s " for n in sizes)
        print(f"{name:<32}{cells}")
    largest = sizes[-1]
    baseline = {api: results[f"poller ({api})"][largest][0] for api in RESOURCE}
    for name, by_size in results.items():
        api = "firecrest" if "firecrest" in name else "sfapi" if "sfapi" in name else "iri"
        if name.startswith("poller"):
            print(
                ratio_line(
                    f"{name} requests/round at {largest} jobs vs 1 per resource",
                    by_size[largest][0],
                    1,
                    "1.00",
                )
            )
        else:
            print(
                ratio_line(f"{name} / poller ({api}) at {largest} jobs", by_size[largest][0], baseline[api])
            )
    if args.plot:
        _plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
