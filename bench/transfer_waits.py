"""HTTP requests per status interval while many transfers are waited on, per route.

N transfers (default 1000) are started between two emulated collections and kept ACTIVE (the
emulator's copy rate is one byte per second and Globus runs three at a time), then one status
interval of every wait is counted:

* ``globus route, shared poller``: every wait through ``AsyncTransferClient`` (what the Airflow
  triggers, the Parsl staging and the command do): one ``GET /task_list?filter=task_id:...``
  per 1000 transfers;
* ``globus, get_task per transfer``: what a wait loop per transfer on bare globus-sdk costs
  (``TransferClient.get_task`` for each, as ``task_wait`` does);
* ``sfapi route, shared poller``: transfers started through NERSC's Superfacility API; its Globus
  routes have no listing, so each transfer is asked about on its own (bounded concurrency).

Requests are counted by the emulator; the ratio lines compare each with one request per route.

    uv run python bench/transfer_waits.py
    uv run python bench/transfer_waits.py --transfers 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings
from typing import Any

from _common import Emulator, emulator, ratio_line

from facility_common.transfers import AsyncTransferClient, FacilitySite

warnings.filterwarnings("ignore", category=DeprecationWarning)

SUBMIT_CONCURRENCY = 16


def _sfapi_site(emu: Emulator) -> FacilitySite:
    return FacilitySite.connect(
        "nersc",
        "sfapi",
        base_url=emu.info["sfapi"],
        auth=emu.sfapi_auth(),
        collections={"dtn": emu.info["collections"]["nersc-dtn"]["id"]},
    )


async def _start(client: AsyncTransferClient, count: int, route: str | None) -> list[str]:
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    source = "nersc:perlmutter" if route else "nersc:dtn"

    async def one(index: int) -> str:
        async with gate:
            task = await client.transfer(
                source, "olcf:orion", [(f"/bench/f{index % 10}.bin", f"/in/{route or 'g'}/{index}/f{index % 10}.bin")],
                route=route,
            )  # fmt: skip
            return task.id

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _counted(emu: Emulator, work: Any) -> int:
    await work()  # warm-up interval (tokens, connections)
    await asyncio.to_thread(emu.reset_stats)
    await work()
    return await asyncio.to_thread(emu.api_requests)


async def scenario(emu: Emulator, count: int) -> dict[str, tuple[int, int]]:
    import globus_sdk

    orion = emu.info["collections"]["olcf-dtn"]["id"]
    client = AsyncTransferClient.connect(
        globus_auth=emu.globus_auth(),
        globus_url=emu.info["transfer_url"],
        sites=[_sfapi_site(emu), FacilitySite("olcf", collections={"orion": orion})],
    )
    results: dict[str, tuple[int, int]] = {}
    try:
        globus_ids = await _start(client, count, None)
        results["globus route, shared poller"] = (
            await _counted(emu, lambda: client.poll(globus_ids)),
            1,
        )
        token = await client.route().credentials.token([orion, emu.info["collections"]["nersc-dtn"]["id"]])
        bare = globus_sdk.TransferClient(
            base_url=emu.info["transfer_url"], authorizer=globus_sdk.AccessTokenAuthorizer(token)
        )

        async def one_by_one() -> None:
            gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)

            async def get(task_id: str) -> None:
                async with gate:
                    await asyncio.to_thread(bare.get_task, task_id)

            await asyncio.gather(*(get(t) for t in globus_ids))

        results["globus, get_task per transfer"] = (await _counted(emu, one_by_one), 1)
        sfapi_ids = await _start(client, count, "nersc")
        results["sfapi route, shared poller"] = (
            await _counted(emu, lambda: client.poll(sfapi_ids, "nersc")),
            1,
        )
    finally:
        await client.aclose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transfers", type=int, default=1000, help="transfers waited on (default 1000)")
    args = parser.parse_args(argv)
    with emulator(queue_delay=0.05, task_delay=0.0) as emu:
        source = emu.root / "facility" / "nersc" / "bench"
        source.mkdir(parents=True)
        for index in range(10):
            (source / f"f{index}.bin").write_bytes(b"x" * 1024)
        emu.globus_rate(1)  # copies crawl: every transfer stays ACTIVE while it is counted
        results = asyncio.run(scenario(emu, args.transfers))
    print(f"requests per status interval for {args.transfers} waiting transfers")
    for name, (requests, _) in results.items():
        print(f"  {name:<34} {requests:>6}")
    print(
        ratio_line(
            "globus route requests per interval vs one", results["globus route, shared poller"][0], 1, "1"
        )
    )
    print(
        ratio_line(
            "globus route poller vs get_task per transfer",
            results["globus route, shared poller"][0],
            results["globus, get_task per transfer"][0],
            "1/N",
        )
    )
    print(
        ratio_line(
            "sfapi route requests per interval vs one",
            results["sfapi route, shared poller"][0],
            1,
            "1; the Superfacility API has no batched call: N",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
