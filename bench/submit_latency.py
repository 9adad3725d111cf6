"""Submit latency of every backend against a bare REST submit of the same body.

For each API, a client that has submitted once (so its version probe, discovery and token are
cached, as they are for every later submit of a process) submits ``/bin/true`` again and again;
each of its submits is set against a bare ``httpx.AsyncClient`` POST of the very request it sent
(same path, headers and body, recorded by a transport; ready token, kept-alive connection). The
two take turns, ``--submits`` each; figures are medians.

The SF API answers a submit with a task that the client then asks about until the job's id is
known: its figure includes those task look-ups (``task_poll_interval`` 20 ms), which a bare POST
does not wait for, so it is shown against both the bare POST and a bare POST plus the same task
look-ups.

    uv run python bench/submit_latency.py
    uv run python bench/submit_latency.py --submits 50 --latency 30ms
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings
from typing import Any

import httpx
from _common import RESOURCE, Emulator, add_latency_option, emulator, latency_heading, ratio_line

from facility_common import AsyncFacilityClient, JobSpec

warnings.filterwarnings("ignore", category=DeprecationWarning)

APIS = {**RESOURCE, "slurmrest": "polaris"}


class Recording(httpx.AsyncHTTPTransport):
    """Sends as usual and keeps every request of the current submit."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, str], bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.sent.append((request.method, str(request.url), dict(request.headers), body))
        return await super().handle_async_request(request)


def connect(emu: Emulator, api: str, transport: Recording) -> AsyncFacilityClient:
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
        )
    return AsyncFacilityClient.connect(api, **emu.connect_args(api), transport=transport)


async def bare_replay(
    http: httpx.AsyncClient, requests: list[tuple[str, str, dict[str, str], bytes]]
) -> None:
    for method, url, headers, body in requests:
        kept = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host")}
        answer = await http.request(method, url, headers=kept, content=body)
        answer.raise_for_status()


async def measure(emu: Emulator, submits: int) -> dict[str, dict[str, Any]]:
    spec = JobSpec(executable="/bin/true", name="bench-submit")
    figures: dict[str, dict[str, Any]] = {}
    for api, resource in APIS.items():
        recording = Recording()
        async with connect(emu, api, recording) as client, httpx.AsyncClient(timeout=60) as http:
            await client.submit(resource, spec)  # version, discovery, token: cached from here on
            ours: list[float] = []
            bare: list[float] = []
            bare_all: list[float] = []
            requests = 0
            for _ in range(submits):
                recording.sent.clear()
                started = time.perf_counter()
                await client.submit(resource, spec)
                ours.append(time.perf_counter() - started)
                sent = [r for r in recording.sent if "token" not in r[1]]
                requests = len(sent)
                post = [r for r in sent if r[0] == "POST"][:1]
                started = time.perf_counter()
                await bare_replay(http, post)
                bare.append(time.perf_counter() - started)
                started = time.perf_counter()
                await bare_replay(http, sent)
                bare_all.append(time.perf_counter() - started)
            figures[api] = {
                "ours": statistics.median(ours),
                "bare": statistics.median(bare),
                "bare_all": statistics.median(bare_all),
                "requests": requests,
            }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--submits", type=int, default=30, help="submits per contender per API (default 30)")
    add_latency_option(parser)
    args = parser.parse_args(argv)
    print(latency_heading(args.latency))
    with emulator(queue_delay=0.0, task_delay=0.0, latency=args.latency) as emu:
        figures = asyncio.run(measure(emu, args.submits))
    print(f"{'API':<10} {'requests':>8} {'ours ms':>9} {'bare POST ms':>13} {'bare same requests ms':>22}")
    for api, f in figures.items():
        print(
            f"{api:<10} {f['requests']:>8} {f['ours'] * 1000:>9.2f} {f['bare'] * 1000:>13.2f}"
            f" {f['bare_all'] * 1000:>22.2f}"
        )
    for api, f in figures.items():
        print(ratio_line(f"{api} submit / bare REST submit", f["ours"], f["bare"], "<= 1.20"))
    print(
        ratio_line(
            "sfapi submit / bare POST plus its task look-ups",
            figures["sfapi"]["ours"],
            figures["sfapi"]["bare_all"],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
