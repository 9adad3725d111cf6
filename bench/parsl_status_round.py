"""What one Parsl status round costs with many blocks: ``FacilityProvider.status`` over 50 blocks.

Parsl's strategy asks the provider for the state of every block it holds once per
``status_polling_interval``. This script submits ``--blocks`` pilot jobs through
``FacilityProvider.submit`` (IRI API; the emulator, a child process, keeps them queued for an hour,
so no worker starts and the states stay live), then times ``provider.status(block_ids)`` for
``--rounds`` rounds after one warm-up round: API requests per round (counted by the emulator,
token requests left out), wall time and this process's CPU time per round (medians). The baseline is the same round with
one block, measured in the same run; the goal is one request per round whatever the number of
blocks, and a round's time close to the one-block round's.

    uv run python bench/parsl_status_round.py                      # 1 and 50 blocks
    uv run python bench/parsl_status_round.py --blocks 1 10 50 200 --latency 30ms
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

from _common import Emulator, add_latency_option, emulator, latency_heading, ratio_line

from parsl_facility import FacilityProvider

warnings.filterwarnings("ignore", category=DeprecationWarning)


@dataclass
class RoundFigures:
    blocks: int
    requests: float
    seconds: float
    cpu: float


def _provider(emu: Emulator, blocks: int) -> FacilityProvider:
    return FacilityProvider(
        facility="iri",
        base_url=emu.info["iri"],
        resource="polaris",
        auth=emu.oidc_auth(),
        account="bench",
        walltime="01:00:00",
        init_blocks=0,
        max_blocks=blocks,
        status_polling_interval=5,
    )


def measure(emu: Emulator, blocks: int, rounds: int) -> RoundFigures:
    """Submit ``blocks`` pilots on a fresh provider, then time its status rounds."""
    provider = _provider(emu, blocks)
    ids = [provider.submit("sleep 3600", 1, f"parsl.bench.block-{n}") for n in range(blocks)]
    try:
        states = provider.status(ids)  # warm-up: the client's resource ids and token
        assert len(states) == blocks and not any(s.terminal for s in states)
        requests: list[int] = []
        seconds: list[float] = []
        cpu: list[float] = []
        for _ in range(rounds):
            emu.reset_stats()
            started, cpu_started = time.perf_counter(), time.process_time()
            provider.status(ids)
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            requests.append(emu.api_requests())
    finally:
        provider.cancel(ids)
        if provider.client is not None:
            provider.client.close()
    return RoundFigures(
        blocks, statistics.median(requests), statistics.median(seconds), statistics.median(cpu)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 50], help="blocks (default 1 50)")
    parser.add_argument("--rounds", type=int, default=10, help="status rounds measured (default 10)")
    add_latency_option(parser)
    args = parser.parse_args(argv)
    logging.getLogger("parsl_facility").setLevel(logging.WARNING)
    print(latency_heading(args.latency))
    sizes = sorted(set(args.blocks) | {1})
    with emulator(queue_delay=3600.0, latency=args.latency) as emu:
        figures = [measure(emu, blocks, args.rounds) for blocks in sizes]
    print(f"{'blocks':>7} {'requests/round':>15} {'ms/round':>9} {'CPU ms/round':>13}")
    for f in figures:
        print(f"{f.blocks:>7} {f.requests:>15.1f} {f.seconds * 1000:>9.2f} {f.cpu * 1000:>13.2f}")
    base = figures[0]
    for f in figures[1:]:
        print(
            ratio_line(f"requests per status round, {f.blocks} / 1 blocks", f.requests, base.requests, "1.00")
        )
        print(ratio_line(f"time per status round, {f.blocks} / 1 blocks", f.seconds, base.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
