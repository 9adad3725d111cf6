"""Credentials sent to loopback never pass through a proxy from the environment.

Plain HTTP may carry a token to a loopback URL without any opt-in, because those bytes stay on
the machine. Every HTTP client honours ``http_proxy``/``HTTPS_PROXY``/``ALL_PROXY``, though, and a
proxy would receive the token in clear. Here a real proxy (a small HTTP server on 127.0.0.1 that
records what it receives) is set in all of those variables, ``NO_PROXY`` is unset, and every
backend and token flow talks to the emulator on loopback: each call must succeed and the proxy
must have received nothing. A control shows the proxy is honoured for other hosts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest

from facility_common import FacilityClient
from facility_common.http import http_client

from ..conformance.flavour import Flavour
from ..conformance.flavours.firecrest import FLAVOURS as FIRECREST
from ..conformance.flavours.flux import FLAVOURS as FLUX
from ..conformance.flavours.s3m import FLAVOURS as S3M
from ..conformance.flavours.sfapi import FLAVOURS as SFAPI
from ..conformance.flavours.slurmrest_emulated import FLAVOURS as SLURMREST

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class RecordingProxy(ThreadingHTTPServer):
    """A forward proxy that records every request it gets and answers 502 to all of them."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: RecordingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("latin-1") if length else ""
        with self.server.lock:
            self.server.seen.append(f"{self.command} {self.path}\n{self.headers}\n{body}")
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_CONNECT = _record


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    server = RecordingProxy()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _use_proxy(monkeypatch: pytest.MonkeyPatch, proxy: RecordingProxy) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy.url)


def _static_on_localhost(server: Any) -> Flavour:
    return Flavour(
        facility="iri",
        base_url=server.iri_url("v1").replace("127.0.0.1", "localhost"),
        auth=server.credentials["static_token"],
        compute="polaris",
        compute_id="polaris",
        scratch=server.credentials["home"],
        options={},
    )


def _oidc(server: Any) -> Flavour:
    credentials = server.credentials
    return Flavour(
        facility="iri",
        base_url=server.iri_url("v2"),
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        compute="polaris",
        compute_id="polaris",
        scratch=credentials["home"],
        options={"project": "demo"},
    )


def _globus_refresh(server: Any) -> Flavour:
    credentials = server.credentials
    return Flavour(
        facility="iri",
        base_url=server.iri_url("v1"),
        auth={
            "type": "globus_refresh_token",
            "client_id": credentials["native_client_id"],
            "refresh_token": credentials["refresh_token"],
            "resource_server": "facility-emulator-iri",
            "auth_base_url": f"{server.url}/globus/",
        },
        compute="polaris",
        compute_id="polaris",
        scratch=credentials["home"],
        options={},
    )


CASES: dict[str, Callable[[Any], Flavour]] = {
    "iri-static-localhost": _static_on_localhost,
    "iri-oidc": _oidc,
    "iri-globus-refresh": _globus_refresh,
    **SFAPI,
    **FIRECREST,
    **FLUX,
    **S3M,
    **SLURMREST,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_loopback_credentials_never_reach_an_environment_proxy(
    emulator: Any, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    flavour = CASES[name](emulator)  # built first: some flavours set the emulator up over HTTP
    _use_proxy(monkeypatch, proxy)
    with FacilityClient.connect(
        flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
    ) as client:
        names = [status.name for status in client.resources()]
    assert flavour.compute in names or flavour.compute_id in names, names
    assert proxy.seen == [], f"the proxy received {len(proxy.seen)} request(s)"


def test_the_environment_proxy_still_serves_other_hosts(
    proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same variables do send a request for another host to the proxy."""
    _use_proxy(monkeypatch, proxy)

    async def main() -> int:
        async with http_client(facility="test") as client:
            response = await client.get("http://facility.invalid/status")
            return response.status_code

    assert anyio.run(main) == 502
    assert [line.partition("\n")[0] for line in proxy.seen] == ["GET http://facility.invalid/status"]
