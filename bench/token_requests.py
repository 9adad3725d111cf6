"""Token requests per token lifetime with 100 concurrent callers.

The emulator issues tokens with a short lifetime (``--lifetime`` seconds). For ``--lifetimes``
lifetimes, ``--callers`` concurrent callers each ask for a job's state in a loop (one call, then
a 20 ms pause), through:

* ``AsyncFacilityClient (shared)``: one async client, the callers are tasks on its event loop;
* ``FacilityClient (shared, threads)``: one sync client, the callers are threads;
* ``pyfirecrest (shared)``: one ``AsyncFirecrest`` with its ``ClientCredentialsAuth`` (peer),
  ``min_token_validity`` set to the same 10 % lead (its default, 10 s, exceeds the lifetime);
* ``one client per caller``: the baseline, every caller with its own AsyncFacilityClient.

Token requests and 401 answers are counted by the emulator (its OIDC token route); calls that
raised are counted as failed (a 401 our client retried once with a fresh token is not a failure). A token source refreshes
``refresh_fraction`` (10 %) of the lifetime ahead of expiry, so one fetch per refresh period is
``1 / 0.9 = 1.11`` fetches per lifetime; both figures are printed.

    uv run python bench/token_requests.py
    uv run python bench/token_requests.py --callers 100 --lifetime 3 --lifetimes 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from _common import Emulator, add_latency_option, emulator, latency_heading, ratio_line

from facility_common import AsyncFacilityClient, FacilityClient, JobSpec
from facility_common.auth import DEFAULT_REFRESH_FRACTION

warnings.filterwarnings("ignore", category=DeprecationWarning)

PAUSE = 0.02


Result = tuple[int, int, int, int]  # token requests, calls, failed calls, 401 answers


async def _async_run(
    emu: Emulator, call: Callable[[int], Awaitable[Any]], callers: int, seconds: float
) -> Result:
    """Run ``callers`` loops of ``call`` for ``seconds``; token requests, calls, failures, 401s."""
    stop = time.monotonic() + seconds
    calls = failed = 0

    async def loop(index: int) -> None:
        nonlocal calls, failed
        while time.monotonic() < stop:
            try:
                await call(index)
            except Exception:
                failed += 1
            calls += 1
            await asyncio.sleep(PAUSE)

    await asyncio.gather(*(call(i) for i in range(callers)))  # warm: every caller holds a token
    stop = time.monotonic() + seconds
    await asyncio.to_thread(emu.reset_stats)
    await asyncio.gather(*(loop(i) for i in range(callers)))
    tokens, refusals = await asyncio.to_thread(lambda: (emu.token_requests(), emu.refusals()))
    return tokens, calls, failed, refusals


def _thread_run(emu: Emulator, call: Callable[[], Any], callers: int, seconds: float) -> Result:
    stop = time.monotonic() + seconds
    counts = [0] * callers
    failures = [0] * callers

    def loop(index: int) -> None:
        while time.monotonic() < stop:
            try:
                call()
            except Exception:
                failures[index] += 1
            counts[index] += 1
            time.sleep(PAUSE)

    call()  # warm: the shared client holds a token
    stop = time.monotonic() + seconds
    emu.reset_stats()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return emu.token_requests(), sum(counts), sum(failures), emu.refusals()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--callers", type=int, default=100, help="concurrent callers (default 100)")
    parser.add_argument("--lifetime", type=float, default=3.0, help="token lifetime in seconds (default 3)")
    parser.add_argument("--lifetimes", type=float, default=5.0, help="lifetimes measured (default 5)")
    add_latency_option(parser)
    args = parser.parse_args(argv)
    print(latency_heading(args.latency))
    seconds = args.lifetime * args.lifetimes
    results: dict[str, Result] = {}
    with emulator(
        queue_delay=3600.0, task_delay=0.0, token_lifetime=args.lifetime, latency=args.latency
    ) as emu:
        setup = FacilityClient.connect("iri", **emu.connect_args("iri"))
        job = setup.submit(
            "polaris", JobSpec(executable="/bin/sleep", arguments=["300"], name="bench-token")
        ).id
        fc_client = FacilityClient.connect("firecrest", **emu.connect_args("firecrest"))
        fc_job = fc_client.submit("daint", JobSpec(executable="/bin/sleep", arguments=["300"])).id

        async def shared_async() -> Result:
            async with AsyncFacilityClient.connect("iri", **emu.connect_args("iri")) as client:
                return await _async_run(emu, lambda _i: client.get_job("polaris", job), args.callers, seconds)

        async def per_caller() -> Result:
            clients = [
                AsyncFacilityClient.connect("iri", **emu.connect_args("iri")) for _ in range(args.callers)
            ]
            try:
                return await _async_run(
                    emu, lambda i: clients[i].get_job("polaris", job), args.callers, seconds
                )
            finally:
                for client in clients:
                    await client.aclose()

        async def pyfirecrest() -> Result:
            import firecrest as f7t

            client = f7t.v2.AsyncFirecrest(
                firecrest_url=emu.info["firecrest"],
                authorization=f7t.ClientCredentialsAuth(
                    emu.info["client_id"],
                    emu.info["client_secret"],
                    emu.info["token_url"],
                    # Its default (reuse until 10 s before expiry) exceeds the short lifetime used
                    # here; give it the same lead as ours.
                    min_token_validity=args.lifetime * DEFAULT_REFRESH_FRACTION,
                ),
            )
            return await _async_run(emu, lambda _i: client.job_info("daint", fc_job), args.callers, seconds)

        results["AsyncFacilityClient (shared)"] = asyncio.run(shared_async())
        print("# AsyncFacilityClient done", flush=True)
        sync_client = FacilityClient.connect("iri", **emu.connect_args("iri"))
        results["FacilityClient (shared, threads)"] = _thread_run(
            emu, lambda: sync_client.get_job("polaris", job), args.callers, seconds
        )
        sync_client.close()
        print("# FacilityClient done", flush=True)
        results["pyfirecrest (shared)"] = asyncio.run(pyfirecrest())
        print("# pyfirecrest done", flush=True)
        results["one client per caller"] = asyncio.run(per_caller())
        setup.cancel("polaris", job)
        fc_client.cancel("daint", fc_job)
        setup.close()
        fc_client.close()

    period = args.lifetime * (1 - DEFAULT_REFRESH_FRACTION)
    print(f"# {args.callers} callers, token lifetime {args.lifetime:g} s, {seconds:g} s measured")
    print(
        f"{'client':<34} {'calls':>7} {'failed':>7} {'401s':>5} {'token requests':>15} "
        f"{'per lifetime':>13} {'per refresh period':>19}"
    )
    per_lifetime = {}
    for name, (tokens, calls, failed, refused) in results.items():
        per_lifetime[name] = tokens / args.lifetimes
        print(
            f"{name:<34} {calls:>7} {failed:>7} {refused:>5} {tokens:>15} "
            f"{per_lifetime[name]:>13.2f} {tokens / (seconds / period):>19.2f}"
        )
    for name in ("AsyncFacilityClient (shared)", "FacilityClient (shared, threads)"):
        print(ratio_line(f"{name} token requests per lifetime vs 1", per_lifetime[name], 1.0, "1.00"))
    base = per_lifetime["one client per caller"]
    print(
        ratio_line(
            "AsyncFacilityClient (shared) / one client per caller",
            per_lifetime["AsyncFacilityClient (shared)"],
            base,
        )
    )
    print(
        ratio_line(
            "pyfirecrest (shared) token requests per lifetime vs 1", per_lifetime["pyfirecrest (shared)"], 1.0
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
