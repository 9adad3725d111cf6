"""The HTTP session: URL checks, Retry-After, error mapping, bounded body reads, TLS settings and
the plain-HTTP rule for every backend (built without a network call)."""

from __future__ import annotations

import contextlib
import socketserver
import ssl
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import certifi
import httpx
import pytest

from facility_common import FacilityClient
from facility_common.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from facility_common.http import ApiSession, RetryPolicy, check_base_url, parse_retry_after
from facility_common.tls import ssl_verify

PROBLEM = {
    "type": "about:blank",
    "status": 404,
    "title": "Not Found",
    "detail": "Job job-12345 not found",
    "instance": "/api/v1/compute/status/x/job-12345",
}


def test_base_url_rules() -> None:
    assert check_base_url("https://api.alcf.anl.gov/api/v1/", facility="iri", sends_credentials=True) == (
        "https://api.alcf.anl.gov/api/v1"
    )
    assert check_base_url("http://127.0.0.1:1/iri/api/v1", facility="iri", sends_credentials=True)
    with pytest.raises(ConfigurationError, match="plain HTTP"):
        check_base_url("http://api.example.org/api/v1", facility="iri", sends_credentials=True)
    assert check_base_url(
        "http://api.example.org/api/v1", facility="iri", sends_credentials=True, allow_insecure_http=True
    )
    with pytest.raises(ConfigurationError, match="base_url"):
        check_base_url("ftp://x", facility="iri", sends_credentials=False)
    with pytest.raises(ConfigurationError, match="credentials in the URL"):
        check_base_url("https://u:p@x.org", facility="iri", sends_credentials=False)


def test_retry_after_forms() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff=1, max_backoff=4, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 4, 4]
    assert policy.delay(1, retry_after=500) == policy.max_retry_after


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitedError),
        (500, ServerError),
        (422, APIError),
    ],
)
def test_error_mapping_uses_problem_detail(status: int, error: type[Exception]) -> None:
    session = ApiSession(facility="iri", base_url="https://iri.example.org/api/v1")
    request = httpx.Request("GET", "https://iri.example.org/api/v1/compute/status/x/job-12345")
    response = httpx.Response(status, json={**PROBLEM, "status": status}, request=request)
    exc = session._error_for("GET", "/compute/status/x/job-12345", response, "polaris")
    assert isinstance(exc, error)
    assert "Job job-12345 not found" in str(exc)
    assert exc.status_code == status and exc.resource == "polaris" and exc.facility == "iri"


def test_html_error_page_is_excerpted() -> None:
    session = ApiSession(facility="iri", base_url="https://iri.example.org/api/v1")
    request = httpx.Request("GET", "https://iri.example.org/api/v1/x")
    response = httpx.Response(
        502, text="<html><body>" + "Bad gateway " * 100 + "</body></html>", request=request
    )
    exc = session._error_for("GET", "/x", response, None)
    assert isinstance(exc, ServerError)
    assert len(str(exc)) < 500


# -- bodies are read as streams, up to a limit ------------------------------------------------


class _EndlessBody(socketserver.BaseRequestHandler):
    """Answers any request with a chunked body (no Content-Length) until the client hangs up."""

    status = "200 OK"
    content_type = "application/json"
    limit = 40 * 1024 * 1024

    def handle(self) -> None:
        self.request.recv(65536)
        head = (
            f"HTTP/1.1 {self.status}\r\nContent-Type: {self.content_type}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        piece = b" " * 65536
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        with contextlib.suppress(OSError):
            self.request.sendall(head.encode())
            for _ in range(self.limit // len(piece)):
                self.request.sendall(chunk)
            self.request.sendall(b"0\r\n\r\n")


@pytest.fixture
def endless_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_EndlessBody,), getattr(request, "param", {}))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def _peak_while(call: Callable[[], Awaitable[Any]]) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        try:
            await call()
        except Exception as exc:
            error: BaseException | None = exc
        else:
            error = None
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_endless_answer_is_cut_at_max_body_bytes(endless_server: str) -> None:
    """No Content-Length: the session counts while reading and stops at the limit."""

    async def main() -> tuple[BaseException | None, int]:
        session = ApiSession(
            facility="iri",
            base_url=endless_server,
            auth=httpx.BasicAuth("u", "p"),
            max_body_bytes=1024 * 1024,
            retry=RetryPolicy(attempts=1),
        )
        try:
            return await _peak_while(lambda: session.request("GET", "status/resources"))
        finally:
            await session.aclose()

    error, peak = anyio.run(main)
    assert isinstance(error, APIError) and "max_body_bytes" in str(error), error
    assert error.facility == "iri" and error.status_code == 200
    assert peak < 8 * 1024 * 1024, peak  # a memory bound: far below the 40 MiB on offer


@pytest.mark.parametrize(
    "endless_server", [{"status": "502 Bad Gateway", "content_type": "text/html"}], indirect=True
)
def test_an_endless_error_page_is_read_only_for_its_message(endless_server: str) -> None:
    async def main() -> tuple[BaseException | None, int]:
        session = ApiSession(facility="sfapi", base_url=endless_server, retry=RetryPolicy(attempts=1))
        try:
            return await _peak_while(lambda: session.request("GET", "status"))
        finally:
            await session.aclose()

    error, peak = anyio.run(main)
    assert isinstance(error, ServerError) and error.status_code == 502, error
    assert len(str(error)) < 600
    assert peak < 4 * 1024 * 1024, peak


def test_max_body_bytes_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        ApiSession(facility="iri", base_url="https://iri.example.org", max_body_bytes=0)


# -- TLS settings --------------------------------------------------------------------------------


def test_verify_settings_become_what_httpx_takes(tmp_path: Path) -> None:
    assert ssl_verify(True, "iri") is True and ssl_verify("false", "iri") is False
    bundle = ssl_verify(certifi.where(), "iri")
    assert isinstance(bundle, ssl.SSLContext) and bundle.verify_mode == ssl.CERT_REQUIRED
    assert isinstance(ssl_verify(Path(certifi.where()), "iri"), ssl.SSLContext)
    assert isinstance(ssl_verify(str(tmp_path), "iri"), ssl.SSLContext)  # a c_rehash directory
    not_a_bundle = tmp_path / "ca.pem"
    not_a_bundle.write_text("not a certificate\n")
    for bad in (tmp_path / "missing.pem", not_a_bundle, 3):
        with pytest.raises(ConfigurationError, match=r"^verify: .*\[facility=flux\]$") as caught:
            ssl_verify(bad, "flux")
        assert caught.value.facility == "flux"


# -- no credentials over plain HTTP to remote hosts, for every backend ---------------------------

# The smallest options each backend needs besides base_url and auth.
BACKEND_OPTIONS: dict[str, dict[str, Any]] = {
    "firecrest": {},
    "flux": {},
    "iri": {},
    "s3m": {},
    "sfapi": {},
    "slurmrest": {"user_name": "alice"},
}


@pytest.mark.parametrize("backend", sorted(BACKEND_OPTIONS))
def test_credentials_are_refused_over_plain_http_to_remote_hosts(backend: str) -> None:
    options = BACKEND_OPTIONS[backend]
    with pytest.raises(ConfigurationError) as caught:
        FacilityClient.connect(backend, base_url="http://example.org/api", auth="secret-token", **options)
    text = str(caught.value)
    assert "allow_insecure_http" in text and f"facility={backend}" in text, text
    assert "secret-token" not in text
    for base_url in ("http://127.0.0.1:9/api", "http://localhost:9/api", "http://[::1]:9/api"):
        FacilityClient.connect(backend, base_url=base_url, auth="secret-token", **options).close()
    FacilityClient.connect(
        backend, base_url="http://example.org/api", auth="secret-token", allow_insecure_http=True, **options
    ).close()


@pytest.mark.parametrize("backend", sorted(BACKEND_OPTIONS))
def test_a_ca_bundle_path_is_accepted_by_every_backend(backend: str) -> None:
    options = BACKEND_OPTIONS[backend]
    for key in ("verify", "ca_bundle"):
        client = FacilityClient.connect(
            backend, base_url="https://example.org/api", auth="t", **{key: certifi.where()}, **options
        )
        client.close()
    with pytest.raises(ConfigurationError, match=rf"verify: .*\[facility={backend}\]"):
        FacilityClient.connect(backend, base_url="https://example.org/api", verify="/no/ca.pem", **options)


def test_token_endpoints_follow_the_same_rule() -> None:
    oidc = {
        "type": "oidc_client_credentials",
        "token_url": "http://idp.example.org/token",
        "client_id": "client",
        "client_secret": "secret-value",
    }
    with pytest.raises(ConfigurationError, match=r"token_url: .*allow_insecure_http.*\[facility=iri\]"):
        FacilityClient.connect("iri", base_url="https://iri.example.org/api/v1", auth=oidc)
    # The client's own opt-in covers its token endpoint; so does the auth mapping's.
    FacilityClient.connect(
        "iri", base_url="http://iri.example.org/api/v1", auth=oidc, allow_insecure_http=True
    ).close()
    FacilityClient.connect(
        "iri", base_url="https://iri.example.org/api/v1", auth={**oidc, "allow_insecure_http": True}
    ).close()


@pytest.mark.parametrize(
    "base_url",
    [
        "iri.example.org/api",
        "ftp://iri.example.org",
        "https:///api",
        "https://iri example.org",
        "https://h:x/",
    ],
)
def test_malformed_base_urls(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^base_url: .*\[facility=iri\]$"):
        check_base_url(base_url, facility="iri", sends_credentials=False)
