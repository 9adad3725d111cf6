"""Client memory of FirecREST staged transfers: the peak must not grow with the file size.

The emulator runs in a child process so only the client is measured. For each size the script
uploads a file of random bytes to ``eiger`` (whose direct-transfer limit is 1 MiB, so every size
here takes the staged S3 path: presigned part PUTs, completion, transfer job) and downloads it
back (transfer job, then a streamed GET of the staged object into a temporary file renamed into
place), checks the round trip byte for byte, and reports the tracemalloc peak of the client
process during the transfer. Streaming keeps the peak near ``max_s3_connections x
transfer_chunk_size`` plus fixed overhead; whole-file buffering would make it track the size.

    uv run python bench/firecrest_transfer_memory.py               # 5 MiB and 20 MiB
    uv run python bench/firecrest_transfer_memory.py --sizes 5 20 60
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import tempfile
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def _serve(pipe: Connection, root: str) -> None:
    """Child process: run the emulator until the parent says stop."""
    from facility_emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(root=Path(root), queue_delay=0.05)) as server:
        pipe.send({"url": server.api_url("firecrest"), **server.credentials})
        pipe.recv()


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


async def _measure(info: dict[str, Any], sizes: list[int], work: Path) -> list[tuple[int, int, int]]:
    from facility_common import AsyncFacilityClient

    client = AsyncFacilityClient.connect(
        "firecrest",
        base_url=info["url"],
        auth={
            "type": "oidc_client_credentials",
            "token_url": info["token_url"],
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
        },
    )
    results = []
    try:
        # Warm up with one small staged round trip: token, systems, sessions, aiofiles' threads.
        warm = work / "warm.bin"
        _write_random(warm, 2 * MIB)
        await client.upload("eiger", warm, f"{info['home']}/bench-warm.bin")
        await client.download("eiger", f"{info['home']}/bench-warm.bin", warm)
        warm.unlink()
        for size_mib in sizes:
            source = work / f"src-{size_mib}.bin"
            back = work / f"back-{size_mib}.bin"
            expected = _write_random(source, size_mib * MIB)
            remote = f"{info['home']}/bench-{size_mib}.bin"
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            await client.upload("eiger", source, remote)
            up_peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            await client.download("eiger", remote, back)
            down_peak = tracemalloc.get_traced_memory()[1] - base
            if _sha256(back) != expected:
                raise SystemExit(f"{size_mib} MiB round trip is not byte exact")
            results.append((size_mib, up_peak, down_peak))
            source.unlink()
            back.unlink()
    finally:
        await client.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20], help="file sizes in MiB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, str(Path(tmp) / "facility")), daemon=True)
        process.start()
        try:
            info = parent.recv()
            tracemalloc.start()
            results = asyncio.run(_measure(info, args.sizes, Path(tmp)))
            tracemalloc.stop()
        finally:
            parent.send("stop")
            process.join(timeout=10)
    print(f"{'size':>8} {'upload peak':>14} {'download peak':>14}")
    for size, up, down in results:
        print(f"{size:>5} MiB {up / MIB:>10.2f} MiB {down / MIB:>10.2f} MiB")
    first, last = results[0], results[-1]
    print(
        f"peak ratio {last[0]} MiB / {first[0]} MiB (file size ratio {last[0] / first[0]:.1f}): "
        f"upload {last[1] / first[1]:.2f}, download {last[2] / first[2]:.2f}"
    )


if __name__ == "__main__":
    main()
