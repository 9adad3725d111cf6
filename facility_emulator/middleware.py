"""ASGI middleware shared by all flavours: observation (stats, exchange log) and faults.

Observation is outermost so faulted requests are counted too; fault injection sits between it
and the application. Both work at the raw ASGI level because dropped connections need control
over exactly which bytes reach the socket.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facility_emulator.faults import FaultInjector, FaultRule
from facility_emulator.problems import PROBLEM_CONTENT_TYPE, problem_body
from facility_emulator.stats import Exchange, ExchangeLog, RequestStats

TemplateLookup = Callable[[Scope], str | None]

MAX_RECORDED_BODY = 256 * 1024
"""Bytes of a response body kept in the exchange log (large downloads are cut, not copied)."""


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


class ObservationMiddleware:
    """Counts requests per route template and records the API exchanges (not admin routes)."""

    def __init__(self, app: ASGIApp, template: TemplateLookup, stats: RequestStats, log: ExchangeLog) -> None:
        self.app = app
        self.template = template
        self.stats = stats
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        observed = not path.startswith("/_emulator")
        record = observed and self.log.enabled and not path.startswith(("/_emulator", "/auth/", "/globus/"))
        template = self.template(scope) if observed else None
        request_body = bytearray()
        response_body = bytearray()
        response_headers: list[tuple[bytes, bytes]] = []
        status = 0

        async def tapped_receive() -> Message:
            message = await receive()
            if record and message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        async def tapped_send(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body" and record:
                room = MAX_RECORDED_BODY - len(response_body)
                if room > 0:
                    response_body.extend(message.get("body", b"")[:room])
            await send(message)

        try:
            await self.app(scope, tapped_receive if record else receive, tapped_send)
        finally:
            if observed:
                key = f"{scope['method']} {template}" if template else None
                self.stats.record(key, status)
            if record:
                req_headers = _headers(list(scope.get("headers", [])))
                resp_headers = _headers(response_headers)
                self.log.add(
                    Exchange(
                        method=scope["method"],
                        path=path,
                        query=scope.get("query_string", b"").decode("latin-1"),
                        route=template,
                        request_content_type=req_headers.get("content-type"),
                        request_headers=req_headers,
                        request_body=bytes(request_body),
                        status=status,
                        response_content_type=resp_headers.get("content-type"),
                        response_headers=resp_headers,
                        response_body=bytes(response_body),
                    )
                )


@dataclass
class _Answer:
    """An app's answer held back by a fault."""

    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


class FaultMiddleware:
    """Applies the decisions of a :class:`FaultInjector` to each request, after the emulator's
    own ``latency`` (seconds before answering any request but the ``/_emulator`` ones)."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, *, latency: float = 0.0) -> None:
        self.app = app
        self.injector = injector
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decision = self.injector.decide(scope["method"], scope["path"])
        delay = decision.delay
        if self.latency > 0 and not scope["path"].startswith("/_emulator"):
            delay += self.latency
        if delay > 0:
            receive = await _received_whole(receive)
            await asyncio.sleep(delay)
        rule = decision.rule
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind == "drop_before":
            await _send_truncated(send, 200, [(b"content-type", b"application/json")], b'{"dropped": true}')
        elif rule.kind == "drop_after":
            await self._drop_after(scope, receive, send)
        elif rule.kind == "504_after":
            await self.app(scope, receive, _discard)
            await _send_error(scope, send, rule)
        elif rule.kind == "wrong_types":
            await self._wrong_types(scope, receive, send)
        elif rule.kind == "bad_json":
            await _send_body(send, 200, b"application/json", b'{"id": "1", "state": ')
        elif rule.kind == "html":
            await _send_body(send, 502, b"text/html; charset=utf-8", BAD_GATEWAY_PAGE)
        elif rule.kind == "huge":
            await _send_huge(send, rule.bytes)
        elif rule.kind == "echo":
            await _send_echo(scope, send, rule.status)
        else:
            await _send_error(scope, send, rule)

    async def _answer_of_app(self, scope: Scope, receive: Receive) -> _Answer:
        """Run the app to completion and keep its whole answer (without ``content-length``)."""
        answer = _Answer()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = int(message["status"])
                answer.headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"
                ]
            elif message["type"] == "http.response.body":
                answer.body.extend(message.get("body", b""))

        await self.app(scope, receive, capture)
        return answer

    async def _drop_after(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app to completion, then deliver only part of its response."""
        answer = await self._answer_of_app(scope, receive)
        status = 200 if answer.status in (204, 304) or answer.status < 200 else answer.status
        await _send_truncated(send, status, answer.headers, bytes(answer.body) or b'{"dropped": true}')

    async def _wrong_types(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, then answer its JSON with the types of every value changed."""
        answer = await self._answer_of_app(scope, receive)
        try:
            payload = json.dumps(scramble_types(json.loads(bytes(answer.body)))).encode()
        except ValueError:
            payload = bytes(answer.body)
        headers = [*answer.headers, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
HUGE_CHUNK = 1024 * 1024


def scramble_types(value: Any) -> Any:
    """Every string becomes a number and every number a list, recursively (keys stay)."""
    if isinstance(value, dict):
        return {key: scramble_types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scramble_types(item) for item in value]
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return [value]
    return value


async def _discard(message: Message) -> None:
    """A ``send`` that throws the app's answer away."""


async def _received_whole(receive: Receive) -> Receive:
    """Read the request body now and return a ``receive`` that replays it: the app then acts on
    the request even if the client hangs up while a delay runs."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


async def _send_body(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_echo(scope: Scope, send: Send, status: int) -> None:
    """An error that repeats the request line and headers back (credentials included)."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    query = scope.get("query_string", b"").decode("latin-1")
    line = f"{scope['method']} {scope['path']}" + (f"?{query}" if query else "")
    text = f"bad request (injected fault): {line} with headers {json.dumps(headers)}"
    body = json.dumps({"detail": text, "message": text, "errorType": "error", "headers": headers})
    await _send_body(send, status, b"application/json", body.encode())


async def _send_huge(send: Send, size: int) -> None:
    """A JSON-looking body of ``size`` bytes, sent in pieces so the emulator stays small too."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(size).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    sent = 0
    chunk = b" " * HUGE_CHUNK
    while sent < size:
        piece = chunk[: min(HUGE_CHUNK, size - sent)]
        sent += len(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": sent < size})


async def _send_truncated(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Announce the full length, send half of the body and stop: the connection is cut."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})


async def _send_error(scope: Scope, send: Send, rule: FaultRule) -> None:
    """Answer an injected 429/5xx as problem+json."""
    status = rule.status
    instance = scope["path"]
    detail = "rate limit exceeded (injected fault)" if status == 429 else f"injected fault {status}"
    if rule.kind == "504_after":
        detail = "gateway timeout: the upstream answered too late (injected fault)"
    payload = json.dumps(problem_body(status, detail, instance)).encode()
    headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    if rule.retry_after is not None:
        headers.append((b"retry-after", str(math.ceil(rule.retry_after)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
