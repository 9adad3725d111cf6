"""Upload and download throughput and client peak memory through the FirecREST staged path.

The FirecREST staged path is the streamed one (the other emulated APIs cap direct transfers at
5 MiB). A file of ``--size`` MiB (random bytes) is uploaded to ``eiger`` and downloaded back,
byte exact, by three clients in the same run, against the same emulator (child process):

* ``bare httpx``: the baseline. The same staged protocol by hand: ``POST .../transfer/upload``,
  each part ``PUT`` streamed from the file in 1 MiB reads, the completion ``POST``, then the
  transfer job polled every 0.1 s; for the download ``POST .../transfer/download``, the job
  polled, then a streamed ``GET`` of the staged object into a file.
* ``AsyncFacilityClient``: ``client.upload`` / ``client.download`` of the firecrest backend.
* ``pyfirecrest`` (peer): ``AsyncFirecrest.upload/download`` with its own defaults, the transfer
  job awaited with its ``wait_for_job`` (its blocking form reads the job's log with ``ops/view``
  at FirecREST's default size of 5 MiB, which a system whose ``max_ops_file_size`` is smaller,
  such as ``eiger`` here, refuses).

Throughput is file size over wall time of the whole operation (job waits included). Peak memory
is the growth of this process's peak resident set during the operation (the kernel's high-water
mark, reset before each operation through ``/proc/self/clear_refs``).

    uv run python bench/transfer_throughput.py                # 256 MiB
    uv run python bench/transfer_throughput.py --size 1024    # 1 GiB
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
from _common import MIB, Emulator, add_latency_option, emulator, latency_heading, ratio_line

from facility_common import AsyncFacilityClient
from facility_common.auth import FacilityAuth, resolve_auth

warnings.filterwarnings("ignore", category=DeprecationWarning)

SYSTEM = "eiger"


def _reset_peak() -> int:
    """Reset the peak RSS and return the current RSS, in bytes."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return _status_kib("VmRSS") * 1024


def _peak() -> int:
    return _status_kib("VmHWM") * 1024


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(size // MIB):
            block = os.urandom(MIB)
            digest.update(block)
            handle.write(block)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


class BareTransfer:
    """The staged FirecREST protocol written with plain httpx, streaming both ways."""

    def __init__(self, emu: Emulator, token: str) -> None:
        self.api = httpx.AsyncClient(
            base_url=emu.info["firecrest"], headers={"Authorization": f"Bearer {token}"}, timeout=300
        )
        self.stage = httpx.AsyncClient(timeout=300)

    async def _wait_job(self, job_id: str) -> None:
        while True:
            answer = await self.api.get(f"/compute/{SYSTEM}/jobs/{job_id}")
            answer.raise_for_status()
            state = answer.json()["jobs"][0]["status"]["state"]
            if state == "COMPLETED":
                return
            if state in {"FAILED", "CANCELLED", "TIMEOUT"}:
                raise RuntimeError(f"transfer job {job_id}: {state}")
            await asyncio.sleep(0.1)

    async def upload(self, local: Path, remote: str) -> None:
        size = (await anyio.Path(local).stat()).st_size
        answer = await self.api.post(
            f"/filesystem/{SYSTEM}/transfer/upload",
            json={
                "sourcePath": remote,
                "account": "demo",
                "transferDirectives": {"transferMethod": "s3", "fileSize": size},
            },
        )
        answer.raise_for_status()
        body = answer.json()
        directives = body["transferDirectives"]
        part_size = int(directives["maxPartSize"])
        etags = []
        with local.open("rb") as handle:
            for number, url in enumerate(directives["partsUploadUrls"], start=1):
                offset = (number - 1) * part_size
                length = min(part_size, size - offset)

                async def chunks(offset: int = offset, length: int = length) -> AsyncIterator[bytes]:
                    handle.seek(offset)
                    left = length
                    while left:
                        block = handle.read(min(MIB, left))
                        left -= len(block)
                        yield block

                put = await self.stage.put(url, content=chunks(), headers={"Content-Length": str(length)})
                put.raise_for_status()
                etags.append((number, put.headers["ETag"]))
        parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in etags)
        done = await self.stage.post(
            directives["completeUploadUrl"],
            content=f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode(),
        )
        done.raise_for_status()
        await self._wait_job(str(body["transferJob"]["jobId"]))

    async def download(self, remote: str, local: Path) -> None:
        answer = await self.api.post(
            f"/filesystem/{SYSTEM}/transfer/download",
            json={"sourcePath": remote, "account": "demo", "transferDirectives": {"transferMethod": "s3"}},
        )
        answer.raise_for_status()
        body = answer.json()
        await self._wait_job(str(body["transferJob"]["jobId"]))
        async with self.stage.stream("GET", body["transferDirectives"]["downloadUrl"]) as stream:
            stream.raise_for_status()
            with local.open("wb") as handle:
                async for block in stream.aiter_bytes(MIB):
                    handle.write(block)

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.stage.aclose()


async def _measure(emu: Emulator, size_mib: int, work: Path, peer: bool) -> dict[str, dict[str, float]]:
    import firecrest as f7t

    home = emu.info["home"]
    token = await resolve_token(emu)
    bare = BareTransfer(emu, token)
    ours = AsyncFacilityClient.connect("firecrest", **emu.connect_args("firecrest"))
    f7 = f7t.v2.AsyncFirecrest(
        firecrest_url=emu.info["firecrest"],
        authorization=f7t.ClientCredentialsAuth(
            emu.info["client_id"], emu.info["client_secret"], emu.info["token_url"]
        ),
    )

    async def f7_upload(local: Path, remote: str) -> None:
        directory, name = remote.rsplit("/", 1)
        staged = await f7.upload(SYSTEM, str(local), directory, name, account="demo", blocking=False)
        if staged is not None:
            await staged.upload_file_to_stage()
            await f7.wait_for_job(SYSTEM, staged.transfer_data["transferJob"]["jobId"])

    async def f7_download(remote: str, local: Path) -> None:
        staged = await f7.download(SYSTEM, remote, str(local), account="demo", blocking=False)
        if staged is not None:
            await f7.wait_for_job(SYSTEM, staged.transfer_data["transferJob"]["jobId"])
            await staged.download_file_from_stage()

    contenders: dict[
        str, tuple[Callable[[Path, str], Awaitable[Any]], Callable[[str, Path], Awaitable[Any]]]
    ] = {
        "bare httpx": (bare.upload, bare.download),
        "AsyncFacilityClient": (
            lambda local, remote: ours.upload(SYSTEM, local, remote),
            lambda remote, local: ours.download(SYSTEM, remote, local),
        ),
    }
    if peer:
        contenders["pyfirecrest"] = (f7_upload, f7_download)
    source = work / "source.bin"
    back = work / "back.bin"
    warm = work / "warm.bin"
    _write_random(warm, 2 * MIB)
    expected = _write_random(source, size_mib * MIB)
    results: dict[str, dict[str, float]] = {}
    try:
        for name, (upload, download) in contenders.items():
            await upload(warm, f"{home}/bench-warm.bin")  # tokens, sessions, threads
            await download(f"{home}/bench-warm.bin", work / "warm-back.bin")
            remote = f"{home}/bench-transfer.bin"
            base = _reset_peak()
            started = time.perf_counter()
            await upload(source, remote)
            up_s = time.perf_counter() - started
            up_peak = _peak() - base
            base = _reset_peak()
            started = time.perf_counter()
            await download(remote, back)
            down_s = time.perf_counter() - started
            down_peak = _peak() - base
            if _sha256(back) != expected:
                raise SystemExit(f"{name}: the round trip is not byte exact")
            back.unlink()
            results[name] = {
                "up": size_mib / up_s,
                "down": size_mib / down_s,
                "up_peak": up_peak / MIB,
                "down_peak": down_peak / MIB,
            }
            print(f"# {name} done", flush=True)
    finally:
        await bare.aclose()
        await ours.aclose()
    return results


async def resolve_token(emu: Emulator) -> str:
    auth = resolve_auth(emu.oidc_auth(), facility="firecrest")
    assert isinstance(auth, FacilityAuth)
    return await auth.source.token()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="file size in MiB (default 256; 1024 = 1 GiB)")
    parser.add_argument("--no-peer", action="store_true", help="leave pyfirecrest out")
    add_latency_option(parser)
    args = parser.parse_args(argv)
    print(latency_heading(args.latency))
    with emulator(queue_delay=0.0, task_delay=0.0, latency=args.latency) as emu:
        results = asyncio.run(_measure(emu, args.size, emu.root, not args.no_peer))
    print(f"# {args.size} MiB file, staged FirecREST path on {SYSTEM}")
    print(
        f"{'client':<22} {'upload MiB/s':>13} {'download MiB/s':>15} {'up peak MiB':>12} {'down peak MiB':>14}"
    )
    for name, r in results.items():
        print(f"{name:<22} {r['up']:>13.1f} {r['down']:>15.1f} {r['up_peak']:>12.1f} {r['down_peak']:>14.1f}")
    bare, ours = results["bare httpx"], results["AsyncFacilityClient"]
    print(
        ratio_line("AsyncFacilityClient / bare httpx, upload throughput", ours["up"], bare["up"], ">= 0.80")
    )
    print(
        ratio_line(
            "AsyncFacilityClient / bare httpx, download throughput", ours["down"], bare["down"], ">= 0.80"
        )
    )
    if "pyfirecrest" in results:
        peer = results["pyfirecrest"]
        print(ratio_line("pyfirecrest / bare httpx, upload throughput", peer["up"], bare["up"]))
        print(ratio_line("pyfirecrest / bare httpx, download throughput", peer["down"], bare["down"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
