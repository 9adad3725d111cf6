"""The transfer client's own cost per submit, against bare globus-sdk on the same Transfer API.

Each contender submits one-file transfers between two emulated collections, taking its
``submission_id`` from Transfer first (``GET /submission_id``, then ``POST /transfer``), the same
two requests in every case:

* ``bare globus-sdk``: ``TransferData`` + ``TransferClient.submit_transfer`` (which fetches the
  submission id itself), with a ready access token;
* ``AsyncTransferClient.transfer``: the one-step submit on an event loop;
* ``TransferClient.transfer``: the same through the blocking facade;
* ``AsyncTransferClient prepare+submit``: the two steps whose request a caller keeps (a retry
  finds its transfer by it), one worker-thread hop each.

Calls alternate between contenders in rounds, after a warm-up (tokens fetched, connections
open); the emulator runs in its own process and its copies crawl (one byte per second) so they
take no CPU from the measurement. The ratio lines compare each client's median with bare
globus-sdk's (goal: within 10 %).

    uv run python bench/transfer_submit.py
    uv run python bench/transfer_submit.py --submits 3 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from collections.abc import Callable

from _common import emulator, median_ms, ratio_line

from facility_common.transfers import AsyncTransferClient, TransferClient

warnings.filterwarnings("ignore", category=DeprecationWarning)


def main(argv: list[str] | None = None) -> int:
    import globus_sdk

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--submits", type=int, default=50, help="submits per contender per round (default 50)"
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds of turns (default 6)")
    args = parser.parse_args(argv)
    names = (
        "bare globus-sdk",
        "AsyncTransferClient.transfer",
        "TransferClient.transfer",
        "async prepare+submit",
    )
    samples: dict[str, list[float]] = {name: [] for name in names}
    with emulator(queue_delay=0.05, task_delay=0.0) as emu:
        source_file = emu.root / "facility" / "olcf" / "bench.bin"
        source_file.parent.mkdir(parents=True, exist_ok=True)
        source_file.write_bytes(b"x" * 1024)
        emu.globus_rate(1)
        orion = emu.info["collections"]["olcf-dtn"]["id"]
        kronos = emu.info["collections"]["olcf-kronos"]["id"]
        options = {"globus_auth": emu.globus_auth(), "globus_url": emu.info["transfer_url"]}
        ours = TransferClient.connect(**options)
        loop = asyncio.new_event_loop()
        ours_async = AsyncTransferClient.connect(**options)
        # The bare client gets a token carrying both collections' consents, as ours ask for them.
        access = loop.run_until_complete(ours_async.route().credentials.token([orion, kronos]))
        bare = globus_sdk.TransferClient(
            base_url=emu.info["transfer_url"], authorizer=globus_sdk.AccessTokenAuthorizer(access)
        )
        counter = iter(range(10**9))

        def destination() -> str:
            return f"/bench/{next(counter)}.bin"

        def bare_submit() -> None:
            data = globus_sdk.TransferData(orion, kronos, label="bench")
            data.add_item("/bench.bin", destination())
            bare.submit_transfer(data)

        def async_transfer() -> None:
            loop.run_until_complete(
                ours_async.transfer(orion, kronos, [("/bench.bin", destination())], label="bench")
            )

        def sync_transfer() -> None:
            ours.transfer(orion, kronos, [("/bench.bin", destination())], label="bench")

        async def two_steps() -> None:
            request = await ours_async.prepare(orion, kronos, [("/bench.bin", destination())], label="bench")
            await ours_async.submit(request)

        contenders: dict[str, Callable[[], None]] = {
            "bare globus-sdk": bare_submit,
            "AsyncTransferClient.transfer": async_transfer,
            "TransferClient.transfer": sync_transfer,
            "async prepare+submit": lambda: loop.run_until_complete(two_steps()),
        }
        for call in contenders.values():  # warm-up: tokens, connections, consents
            call()
            call()
        for _ in range(args.rounds):
            for name, call in contenders.items():
                for _ in range(args.submits):
                    started = time.perf_counter()
                    call()
                    samples[name].append(time.perf_counter() - started)
        ours.close()
        loop.run_until_complete(ours_async.aclose())
        loop.close()
    print(f"median ms per transfer submit ({args.rounds} rounds x {args.submits} submits, 2 requests each)")
    for name, values in samples.items():
        print(f"  {name:<30} {median_ms(values):8.3f}")
    baseline = median_ms(samples["bare globus-sdk"])
    for name in names[1:]:
        print(
            ratio_line(f"{name} vs bare globus-sdk per submit", median_ms(samples[name]), baseline, "<= 1.10")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
