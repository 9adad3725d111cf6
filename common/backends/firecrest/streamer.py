"""The FirecREST streamer's wire protocol: moving one file over a websocket to or from the
transfer job that ``transfer/upload``/``transfer/download`` started on a system whose
``dataTransfer.serviceType`` is ``streamer``.

The job runs ``streamer server ... receive|send --path <file>`` (the ``firecrest-streamer``
package, 0.0.21) on the cluster. It listens on the first free port of a range and accepts one
client presenting ``Authorization: Bearer <secret>``. The API's answer carries *coordinates*: the
base64url of ``{"ports": [first, last], "ips": [...], "secret": "..."}``. The client tries every
address and port until the job answers: a port of another transfer refuses the secret (403), a
port nobody listens on refuses the connection, and a job that is still starting refuses them all
for a while.

On the websocket (messages of at most 5 MiB, the package's chunk size):

1. the sender sends ``{"type": "init", "num_chunks": n, "file_size": bytes}`` as JSON in a
   binary message;
2. then the file in binary messages of 5 MiB (the last one shorter);
3. then ``{"type": "eof", "sha256_hash": "<hex>"}``.

This module speaks it itself rather than through the package's client functions, for what they
do with the end of a transfer (observed with 0.0.21 on loopback): its receiver recognises the
``eof`` message only as *text* starting ``{"type":"eof"``, while its sender sends it as binary
JSON with a space after each colon, so between two 0.0.21 peers the ``eof`` document is written
into the received file (98 bytes too many) and the hash is never checked; its client functions
also report a failure only to a logger and return as if all went well. Here:

* sending, the ``eof`` goes as compact JSON in a *text* message, which a 0.0.21 receiver
  recognises and checks against the hash (then it closes the connection);
* receiving, the file's size from ``init`` decides where the data ends: the next message is the
  ``eof`` (text or binary), whose hash is checked; a short file, a closed connection or a wrong
  hash is an error.

The secret is a credential: no message, log line or repr shows it or the coordinates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from ...errors import APIError, ConfigurationError, TransportError

__all__ = [
    "CHUNK_SIZE",
    "Coordinates",
    "StreamerConnection",
    "decode_coordinates",
    "open_streamer",
    "receive_file",
    "send_file",
]

FACILITY = "firecrest"
#: The streamer's message size (``firecrest-streamer``'s ``CHUNK_SIZE``): every data message but
#: the last carries exactly this much, since the receiver counts its limit in whole chunks.
CHUNK_SIZE = 5 * 1024 * 1024
#: How long one connection attempt may take (seconds).
CONNECT_TIMEOUT = 5.0
#: How long the peer has to close the connection once the transfer is done (seconds).
CLOSE_WAIT = 30.0


@dataclass(frozen=True)
class Coordinates:
    """Where the transfer job listens and the secret it wants; the secret never shows."""

    ports: tuple[int, int]
    ips: tuple[str, ...]
    secret: str

    def __repr__(self) -> str:
        return f"Coordinates(ports={self.ports}, ips={self.ips})"

    def addresses(self) -> list[str]:
        """Every ``ws://ip:port`` to try, in the order the package's client tries them."""
        first, last = self.ports
        return [f"ws://{ip}:{port}" for ip in self.ips for port in range(first, last + 1)]


def _bad(message: str, system: str) -> APIError:
    return APIError(f"streamer transfer: {message}", facility=FACILITY, resource=system)


def decode_coordinates(text: Any, system: str) -> Coordinates:
    """The coordinates of a streamer transfer answer (never echoed in an error)."""
    try:
        if not isinstance(text, str) or not text:
            raise ValueError("no coordinates")
        data = json.loads(base64.urlsafe_b64decode(text.encode("ascii")).decode("utf-8"))
        ports = data["ports"]
        first, last = int(ports[0]), int(ports[1])
        ips = tuple(str(ip) for ip in data["ips"])
        secret = data["secret"]
        if not (0 < first <= last < 65536) or not ips or not isinstance(secret, str) or not secret:
            raise ValueError("incomplete coordinates")
    except (ValueError, KeyError, IndexError, TypeError, UnicodeError, binascii.Error):
        raise _bad("the answer's coordinates cannot be read", system) from None
    return Coordinates((first, last), ips, secret)


def _websockets() -> Any:
    try:
        import websockets.asyncio.client as client
    except ImportError:  # pragma: no cover - the firecrest extra brings it
        raise ConfigurationError(
            "this system moves large files with FirecREST's streamer, which needs the "
            "'websockets' package: install hpc-facility-providers[firecrest]",
            facility=FACILITY,
        ) from None
    return client


class StreamerConnection:
    """One websocket to a transfer job (``address`` is what may be shown of it)."""

    def __init__(self, websocket: Any, address: str) -> None:
        self.websocket = websocket
        self.address = address

    async def close(self) -> None:
        await self.websocket.close()


async def open_streamer(
    coordinates: Coordinates,
    system: str,
    *,
    deadline: float,
    pause: float,
    max_pause: float,
    job_ended: Callable[[], Any],
) -> StreamerConnection:
    """Connect to the transfer job: every address in turn, round after round while the job is
    starting (pausing ``pause`` seconds, doubling up to ``max_pause``), until ``deadline``
    (``time.monotonic()``). After each
    round without a connection, ``await job_ended()`` may raise to end the wait (the job failed
    before it listened).
    """
    client = _websockets()
    from websockets.exceptions import InvalidHandshake

    headers = {"Authorization": f"Bearer {coordinates.secret}"}
    while True:
        for address in coordinates.addresses():
            try:
                websocket = await client.connect(
                    address,
                    additional_headers=headers,
                    max_size=int(CHUNK_SIZE * 1.25),
                    open_timeout=CONNECT_TIMEOUT,
                    ping_interval=60,
                    ping_timeout=None,
                    close_timeout=CLOSE_WAIT,
                    proxy=None,
                )
            except (OSError, InvalidHandshake, TimeoutError):
                continue  # nobody there, or another transfer's job (it refuses our secret)
            return StreamerConnection(websocket, address)
        await job_ended()
        if time.monotonic() + pause > deadline:
            raise TransportError(
                f"streamer transfer: the transfer job did not accept a connection on "
                f"{coordinates.ips[0]} ports {coordinates.ports[0]}-{coordinates.ports[1]} in time",
                facility=FACILITY,
                resource=system,
            )
        await anyio.sleep(pause)
        pause = min(pause * 2, max(max_pause, pause))


def _closed_reason(connection: StreamerConnection, exc: BaseException | None = None) -> str:
    """Why the peer closed, in its own words where it gave them (``{"type": "error", ...}``)."""
    websocket = connection.websocket
    code = getattr(websocket, "close_code", None)
    reason = getattr(websocket, "close_reason", None) or ""
    try:
        detail = json.loads(reason).get("error") if reason.startswith("{") else reason
    except ValueError:
        detail = reason
    said = f": {detail}" if detail else ""
    return f"{connection.address} closed the connection (code {code}){said}"


async def send_file(
    connection: StreamerConnection, local: anyio.Path, size: int, system: str, sent: Callable[[int], None]
) -> None:
    """Send the file at ``local`` (``size`` bytes) and wait until the receiver closes."""
    from websockets.exceptions import ConnectionClosed

    websocket = connection.websocket
    digest = hashlib.sha256()
    chunks = (size + CHUNK_SIZE - 1) // CHUNK_SIZE
    try:
        init = {"type": "init", "num_chunks": chunks, "file_size": size}
        await websocket.send(json.dumps(init).encode("utf-8"))
        async with await anyio.open_file(local, "rb") as handle:
            left = size
            while left > 0:
                chunk = await handle.read(min(CHUNK_SIZE, left))
                if not chunk:
                    raise _bad(f"{local} became shorter while it was sent", system)
                await websocket.send(chunk)
                digest.update(chunk)
                left -= len(chunk)
                sent(len(chunk))
        await websocket.send(
            json.dumps({"type": "eof", "sha256_hash": digest.hexdigest()}, separators=(",", ":"))
        )
    except ConnectionClosed as exc:
        raise TransportError(
            f"streamer transfer: {_closed_reason(connection, exc)}", facility=FACILITY, resource=system
        ) from None
    with anyio.move_on_after(CLOSE_WAIT):
        await websocket.wait_closed()
    await websocket.close()


async def receive_file(
    connection: StreamerConnection,
    handle: anyio.AsyncFile[bytes],
    system: str,
    received: Callable[[int], None],
) -> int:
    """Receive the file into ``handle``; returns its size once its hash has been checked (the
    caller renames the file into place only then)."""
    from websockets.exceptions import ConnectionClosed

    websocket = connection.websocket
    digest = hashlib.sha256()
    try:
        init = _control(await websocket.recv(), "init", system)
        size = init.get("file_size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _bad("the sender announced no file size", system)
        written = 0
        while written < size:
            message = await websocket.recv()
            data = message.encode("utf-8") if isinstance(message, str) else message
            if written + len(data) > size:
                raise _bad(f"the sender sent more than the {size} bytes it announced", system)
            await handle.write(data)
            digest.update(data)
            written += len(data)
            received(len(data))
        eof = _control(await websocket.recv(), "eof", system)
    except ConnectionClosed as exc:
        raise TransportError(
            f"streamer transfer: {_closed_reason(connection, exc)} before the file was complete",
            facility=FACILITY,
            resource=system,
        ) from None
    finally:
        await websocket.close()
    if eof.get("sha256_hash") != digest.hexdigest():
        raise _bad(
            "the received file does not match the sender's SHA-256: the transfer was corrupted", system
        )
    return written


def _control(message: Any, kind: str, system: str) -> dict[str, Any]:
    """A protocol message (``init``, ``eof`` or the sender's ``error``) as a dict."""
    try:
        text = message.decode("utf-8") if isinstance(message, bytes) else str(message)
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise _bad(f"expected the {kind} message, got something else", system)
    if data.get("type") == "error":
        raise _bad(f"the sender reported an error: {data.get('error')}", system)
    if data.get("type") != kind:
        raise _bad(f"expected the {kind} message, got {data.get('type')!r}", system)
    return data
