"""Per-call overhead: median latency of one job-status call, per client, against bare httpx.

One pending job per API (queue delay of an hour) is asked for its state again and again:

* IRI: ``FacilityClient.get_job`` (sync facade) and ``AsyncFacilityClient.get_job`` against a bare
  ``httpx.Client`` / ``httpx.AsyncClient`` GET of the same route with a ready token;
* SF API: ``AsyncFacilityClient.get_job`` and ``sfapi_client``'s ``compute.job(id, squeue)``
  against a bare async GET of the route our backend calls;
* FirecREST: ``AsyncFacilityClient.get_job`` and ``pyfirecrest``'s ``AsyncFirecrest.job_info``
  against a bare async GET of the same route.

The emulator runs in a child process, so the figures are those of the client plus the loopback
round trip. Contenders take turns in blocks of ``--calls`` calls for ``--rounds`` rounds, so drift
of this noisy machine spreads over all of them; each figure is the median of all its calls.

    uv run python bench/call_overhead.py
    uv run python bench/call_overhead.py --calls 200 --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from _common import RESOURCE, Emulator, add_latency_option, emulator, latency_heading, median_ms, ratio_line

from facility_common import AsyncFacilityClient, FacilityClient, JobSpec
from facility_common.auth import FacilityAuth, resolve_auth

warnings.filterwarnings("ignore", category=DeprecationWarning)

Call = Callable[[], Awaitable[Any]]


async def _token(mapping: dict[str, Any], facility: str) -> str:
    auth = resolve_auth(mapping, facility=facility)
    assert isinstance(auth, FacilityAuth)
    return await auth.source.token()


async def _time_async(call: Call, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


def _time_sync(call: Callable[[], Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


async def _async_contenders(emu: Emulator, jobs: dict[str, str]) -> tuple[dict[str, Call], list[Any]]:
    import firecrest as f7t
    from sfapi_client import AsyncClient  # type: ignore[import-untyped]
    from sfapi_client.compute import Machine  # type: ignore[import-untyped]
    from sfapi_client.jobs import JobCommand  # type: ignore[import-untyped]

    ours = {api: AsyncFacilityClient.connect(api, **emu.connect_args(api)) for api in RESOURCE}
    oidc = await _token(emu.oidc_auth(), "iri")
    sf_token = await _token(emu.sfapi_auth(), "sfapi")
    bare_iri = httpx.AsyncClient(base_url=emu.info["iri"], headers={"Authorization": f"Bearer {oidc}"})
    bare_sf = httpx.AsyncClient(base_url=emu.info["sfapi"], headers={"Authorization": f"Bearer {sf_token}"})
    bare_fc = httpx.AsyncClient(base_url=emu.info["firecrest"], headers={"Authorization": f"Bearer {oidc}"})
    sfc = AsyncClient(
        key=emu.sfapi_key_file(),
        api_base_url=emu.info["sfapi"],
        token_url=emu.info["sfapi_credentials"]["token_url"],
    )
    perlmutter = await sfc.compute(Machine.perlmutter)
    f7 = f7t.v2.AsyncFirecrest(
        firecrest_url=emu.info["firecrest"],
        authorization=f7t.ClientCredentialsAuth(
            emu.info["client_id"], emu.info["client_secret"], emu.info["token_url"]
        ),
    )
    polaris, iri_job, sf_job, fc_job = emu.info["polaris_id"], jobs["iri"], jobs["sfapi"], jobs["firecrest"]

    async def bare_get(client: httpx.AsyncClient, path: str, params: dict[str, str] | None = None) -> None:
        answer = await client.get(path, params=params)
        answer.raise_for_status()
        answer.json()

    contenders: dict[str, Call] = {
        "iri bare httpx async": lambda: bare_get(
            bare_iri,
            f"/compute/status/{polaris}/{iri_job}",
            {"historical": "true", "include_spec": "true"},
        ),
        "iri AsyncFacilityClient": lambda: ours["iri"].get_job("polaris", iri_job),
        "sfapi bare httpx async": lambda: bare_get(
            bare_sf, f"/compute/jobs/perlmutter/{sf_job}", {"sacct": "false", "cached": "false"}
        ),
        "sfapi AsyncFacilityClient": lambda: ours["sfapi"].get_job("perlmutter", sf_job),
        "sfapi sfapi_client": lambda: perlmutter.job(sf_job, command=JobCommand.squeue),
        "firecrest bare httpx async": lambda: bare_get(bare_fc, f"/compute/daint/jobs/{fc_job}"),
        "firecrest AsyncFacilityClient": lambda: ours["firecrest"].get_job("daint", fc_job),
        "firecrest pyfirecrest": lambda: f7.job_info("daint", fc_job),
    }
    closers = [*ours.values(), bare_iri, bare_sf, bare_fc, sfc]
    return contenders, closers


async def _close(closers: list[Any]) -> None:
    for item in closers:
        if isinstance(item, AsyncFacilityClient | httpx.AsyncClient):
            await item.aclose()
        else:
            await item.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100, help="calls per contender per round (default 100)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of turns (default 6)")
    add_latency_option(parser)
    args = parser.parse_args(argv)
    print(latency_heading(args.latency))
    samples: dict[str, list[float]] = {}
    with emulator(queue_delay=3600.0, task_delay=0.0, latency=args.latency) as emu:
        setup = FacilityClient.connect("iri", **emu.connect_args("iri"))
        jobs = {}
        for api in RESOURCE:
            client = setup if api == "iri" else FacilityClient.connect(api, **emu.connect_args(api))
            jobs[api] = client.submit(
                RESOURCE[api], JobSpec(executable="/bin/sleep", arguments=["300"], name="bench-overhead")
            ).id
        sync_ours = setup
        oidc = asyncio.run(_token(emu.oidc_auth(), "iri"))
        bare_sync = httpx.Client(base_url=emu.info["iri"], headers={"Authorization": f"Bearer {oidc}"})
        route = f"/compute/status/{emu.info['polaris_id']}/{jobs['iri']}"
        params = {"historical": "true", "include_spec": "true"}

        def bare_sync_get() -> None:
            answer = bare_sync.get(route, params=params)
            answer.raise_for_status()
            answer.json()

        sync_contenders: dict[str, Callable[[], Any]] = {
            "iri bare httpx sync": bare_sync_get,
            "iri FacilityClient (sync)": lambda: sync_ours.get_job("polaris", jobs["iri"]),
        }
        for call in sync_contenders.values():  # warm-up: tokens, connections, metadata
            _time_sync(call, 5)

        async def run_async(rounds: int) -> None:
            contenders, closers = await _async_contenders(emu, jobs)
            try:
                for call in contenders.values():
                    await _time_async(call, 5)
                for _ in range(rounds):
                    for name, call in contenders.items():
                        samples.setdefault(name, []).extend(await _time_async(call, args.calls))
            finally:
                await _close(closers)

        for _ in range(args.rounds):
            for name, sync_call in sync_contenders.items():
                samples.setdefault(name, []).extend(_time_sync(sync_call, args.calls))
        asyncio.run(run_async(args.rounds))
        for api in RESOURCE:
            FacilityClient.connect(api, **emu.connect_args(api)).cancel(RESOURCE[api], jobs[api])
        bare_sync.close()

    med = {name: median_ms(values) for name, values in samples.items()}
    print(f"{'client':<32} {'calls':>6} {'median ms':>10}")
    for name, value in med.items():
        print(f"{name:<32} {len(samples[name]):>6} {value:>10.3f}")
    print(
        ratio_line(
            "iri FacilityClient (sync) / bare httpx sync",
            med["iri FacilityClient (sync)"],
            med["iri bare httpx sync"],
            "<= 1.10",
        )
    )
    for api in RESOURCE:
        bare = med[f"{api} bare httpx async"]
        ours = med[f"{api} AsyncFacilityClient"]
        print(ratio_line(f"{api} AsyncFacilityClient / bare httpx async", ours, bare, "<= 1.10"))
    print(
        ratio_line(
            "sfapi AsyncFacilityClient / sfapi_client",
            med["sfapi AsyncFacilityClient"],
            med["sfapi sfapi_client"],
            "<= 1.00",
        )
    )
    print(
        ratio_line(
            "sfapi sfapi_client / bare httpx async", med["sfapi sfapi_client"], med["sfapi bare httpx async"]
        )
    )
    print(
        ratio_line(
            "firecrest AsyncFacilityClient / pyfirecrest",
            med["firecrest AsyncFacilityClient"],
            med["firecrest pyfirecrest"],
            "<= 1.00",
        )
    )
    print(
        ratio_line(
            "firecrest pyfirecrest / bare httpx async",
            med["firecrest pyfirecrest"],
            med["firecrest bare httpx async"],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
