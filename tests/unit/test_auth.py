"""Token sources, FacilityAuth and resolve_auth against in-test token servers.

OIDC token endpoints and facility APIs are ``httpx.MockTransport`` handlers. Globus Auth is a tiny
threaded ``http.server`` on 127.0.0.1 because globus-sdk talks through ``requests``; it serves the
token endpoint under ``/globus/v2/oauth2/token`` like the facility emulator does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import anyio
import certifi
import httpx
import pytest

from facility_common.auth import (
    ALCF_FACILITY_API_CLIENT_ID,
    ALCF_IRI_RESOURCE_SERVER,
    FacilityAuth,
    Fetched,
    GlobusConfidentialClient,
    GlobusRefreshToken,
    OIDCClientCredentials,
    PrivateKeyJWTClientCredentials,
    Secret,
    StaticToken,
    TokenFile,
    TokenSource,
    default_storage_path,
    resolve_auth,
)
from facility_common.errors import AuthenticationError, ConfigurationError
from facility_common.http import ApiSession, RetryPolicy

CLIENT_ID = "client-abc"
CLIENT_SECRET = "s3cr3t-client-value"
TOKEN_URL = "https://idp.example.org/realms/hpc/protocol/openid-connect/token"
API_URL = "https://api.example.org/api/v1"
IRI_SCOPE = f"https://auth.globus.org/scopes/{ALCF_IRI_RESOURCE_SERVER}/filesystem"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class OIDCServer:
    """An OAuth2 token endpoint for ``httpx.MockTransport``: client credentials, counted fetches."""

    def __init__(self, lifetime: float | None = 300, delay: float = 0.0) -> None:
        self.lifetime = lifetime
        self.delay = delay
        self.fetches = 0
        self.last_form: dict[str, str] = {}
        self.last_authorization: str | None = None
        self.gate: anyio.Event | None = None

    def _credentials(self, request: httpx.Request, form: dict[str, str]) -> tuple[str, str]:
        header = request.headers.get("Authorization")
        self.last_authorization = header
        if header and header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return unquote(user), unquote(password)
        return form.get("client_id", ""), form.get("client_secret", "")

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.last_form = form
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await anyio.sleep(self.delay)
        client_id, secret = self._credentials(request, form)
        if form.get("grant_type") != "client_credentials":
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            # A careless server echoing the secret must not leak it through our errors.
            return httpx.Response(
                401, json={"error": "invalid_client", "error_description": f"bad secret {secret}"}
            )
        self.fetches += 1
        body: dict[str, Any] = {"access_token": f"tok-{self.fetches}", "token_type": "Bearer"}
        if self.lifetime is not None:
            body["expires_in"] = self.lifetime
        return httpx.Response(200, json=body)


class FacilityAPI:
    """A facility API that accepts only tokens in ``valid`` (optionally a raw, scheme-less token)."""

    def __init__(self, valid: set[str] | None = None, scheme: str = "Bearer") -> None:
        self.valid = valid
        self.scheme = scheme
        self.seen: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization")
        self.seen.append(header)
        prefix = f"{self.scheme} " if self.scheme else ""
        token = header[len(prefix) :] if header and header.startswith(prefix) else None
        if token is None or (self.valid is not None and token not in self.valid):
            return httpx.Response(
                401, json={"detail": "invalid token"}, headers={"WWW-Authenticate": "Bearer"}
            )
        return httpx.Response(200, json={"ok": True, "token": token})


def oidc_source(server: OIDCServer, **kwargs: Any) -> OIDCClientCredentials:
    return OIDCClientCredentials(
        TOKEN_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(server), **kwargs
    )


def session(api: FacilityAPI, auth: httpx.Auth) -> ApiSession:
    return ApiSession(
        facility="test",
        base_url=API_URL,
        auth=auth,
        transport=httpx.MockTransport(api),
        retry=RetryPolicy(attempts=1),
    )


# --- Secret and repr -------------------------------------------------------------------------


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r}"
    assert secret.get_secret_value() == "hunter2"
    assert secret == Secret("hunter2") and secret.matches("hunter2")
    assert "hunter2" not in repr([secret, {"k": secret}])


def test_repr_of_every_source_has_no_secret(tmp_path: Path) -> None:
    token_file = tmp_path / "tok"
    token_file.write_text("file-token-value\n")
    sources: list[object] = [
        StaticToken("static-token-value"),
        TokenFile(token_file),
        oidc_source(OIDCServer()),
        GlobusConfidentialClient(
            CLIENT_ID, CLIENT_SECRET, [IRI_SCOPE], auth_base_url="http://127.0.0.1:9/globus/"
        ),
        GlobusRefreshToken(CLIENT_ID, "refresh-token-value", auth_base_url="http://127.0.0.1:9/globus/"),
    ]
    sources.append(FacilityAuth(StaticToken("static-token-value")))
    for source in sources:
        text = repr(source) + str(source) + repr(vars(source))
        for secret in ("static-token-value", "file-token-value", CLIENT_SECRET, "refresh-token-value"):
            assert secret not in text, type(source).__name__


# --- caching, refresh ahead, single flight ---------------------------------------------------


@pytest.mark.anyio
async def test_token_is_cached_and_refreshed_ahead_of_expiry() -> None:
    server = OIDCServer(lifetime=100)
    clock = FakeClock()
    source = oidc_source(server, clock=clock)
    assert await source.token() == "tok-1"
    assert await source.token() == "tok-1"
    assert server.fetches == 1
    clock.now += 89.9  # lead is 10% of 100 s
    assert await source.token() == "tok-1"
    clock.now += 0.2
    assert await source.token() == "tok-2"
    assert server.fetches == 2


@pytest.mark.anyio
async def test_refresh_lead_is_capped() -> None:
    server = OIDCServer(lifetime=3600)
    clock = FakeClock()
    source = oidc_source(server, clock=clock)
    await source.token()
    clock.now += 3600 - 31
    await source.token()
    assert server.fetches == 1
    clock.now += 2  # inside the 30 s cap
    await source.token()
    assert server.fetches == 2


@pytest.mark.anyio
async def test_token_without_expiry_is_kept_until_refused() -> None:
    server = OIDCServer(lifetime=None)
    clock = FakeClock()
    source = oidc_source(server, clock=clock)
    assert await source.token() == "tok-1"
    clock.now += 10**6
    assert await source.token() == "tok-1"
    source.invalidate("tok-1")
    assert await source.token() == "tok-2"


@pytest.mark.anyio
async def test_twenty_concurrent_callers_cause_one_fetch() -> None:
    server = OIDCServer(lifetime=300, delay=0.05)
    source = oidc_source(server)
    tokens: list[str] = []

    async def call() -> None:
        tokens.append(await source.token())

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(call)
    assert tokens == ["tok-1"] * 20
    assert server.fetches == 1


@pytest.mark.anyio
async def test_waiters_share_a_failed_fetch() -> None:
    calls = 0

    async def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05)
        return httpx.Response(401, json={"error": "invalid_client"})

    source = OIDCClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(refuse))
    errors: list[Exception] = []

    async def call() -> None:
        try:
            await source.token()
        except AuthenticationError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(call)
    assert calls == 1 and len(errors) == 20
    assert len({id(e) for e in errors}) == 20 and all("invalid_client" in str(e) for e in errors)
    with pytest.raises(AuthenticationError):
        await source.token()  # a later caller tries again
    assert calls == 2


@pytest.mark.anyio
async def test_no_stampede_over_two_second_tokens() -> None:
    """20 callers hammering a 2 s token for 2.5 s: one fetch per lifetime, not one per caller."""
    server = OIDCServer(lifetime=2, delay=0.02)
    source = oidc_source(server)
    deadline = time.monotonic() + 2.5
    seen: set[str] = set()

    async def caller() -> None:
        while time.monotonic() < deadline:
            seen.add(await source.token())
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(caller)
    # refresh at ~1.8 s (lead 0.2 s): two fetches in 2.5 s
    assert server.fetches == 2
    assert seen == {"tok-1", "tok-2"}


@pytest.mark.anyio
async def test_callers_keep_the_valid_token_while_one_refreshes() -> None:
    server = OIDCServer(lifetime=100)
    clock = FakeClock()
    source = oidc_source(server, clock=clock)
    await source.token()
    clock.now += 95  # in the refresh window, still valid
    server.gate = anyio.Event()
    results: list[str] = []

    async def refresher() -> None:
        results.append(await source.token())

    async with anyio.create_task_group() as tg:
        tg.start_soon(refresher)
        await anyio.sleep(0.01)  # the refresher now holds the lock, waiting on the server
        with anyio.fail_after(1):
            assert await source.token() == "tok-1"  # no waiting
        server.gate.set()
    assert results == ["tok-2"]
    assert await source.token() == "tok-2"


@pytest.mark.anyio
async def test_invalidate_only_drops_the_named_token() -> None:
    server = OIDCServer()
    source = oidc_source(server)
    await source.token()
    source.invalidate("some-older-token")
    assert await source.token() == "tok-1"
    source.invalidate("tok-1")
    assert await source.token() == "tok-2"


# --- FacilityAuth ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_401_invalidates_and_retries_once_with_a_fresh_token() -> None:
    server = OIDCServer()
    api = FacilityAPI(valid={"tok-2"})  # the first token was revoked
    api_session = session(api, FacilityAuth(oidc_source(server)))
    response = await api_session.request("GET", "/status")
    assert response.json()["token"] == "tok-2"
    assert api.seen == ["Bearer tok-1", "Bearer tok-2"]
    assert server.fetches == 2
    await api_session.request("GET", "/status")
    assert server.fetches == 2
    await api_session.aclose()


@pytest.mark.anyio
async def test_second_401_reaches_the_caller() -> None:
    server = OIDCServer()
    api = FacilityAPI(valid=set())
    api_session = session(api, FacilityAuth(oidc_source(server)))
    with pytest.raises(AuthenticationError) as info:
        await api_session.request("GET", "/status")
    assert info.value.status_code == 401
    assert len(api.seen) == 2
    await api_session.aclose()


@pytest.mark.anyio
async def test_static_token_401_is_not_retried() -> None:
    api = FacilityAPI(valid={"right"})
    api_session = session(api, FacilityAuth(StaticToken("wrong")))
    with pytest.raises(AuthenticationError):
        await api_session.request("GET", "/status")
    assert api.seen == ["Bearer wrong"]
    await api_session.aclose()


@pytest.mark.anyio
async def test_post_body_is_resent_on_retry() -> None:
    server = OIDCServer()
    bodies: list[bytes] = []

    def api(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        ok = request.headers.get("Authorization") == "Bearer tok-2"
        return httpx.Response(200 if ok else 401)

    async with httpx.AsyncClient(
        auth=FacilityAuth(oidc_source(server)), transport=httpx.MockTransport(api)
    ) as c:
        response = await c.post(API_URL + "/jobs", json={"name": "x"})
    assert response.status_code == 200
    assert bodies == [b'{"name":"x"}', b'{"name":"x"}']


@pytest.mark.anyio
async def test_raw_token_scheme() -> None:
    api = FacilityAPI(valid={"raw"}, scheme="")
    auth = resolve_auth({"type": "token", "token": "raw", "scheme": ""}, facility="s3m")
    assert auth is not None
    api_session = session(api, auth)
    await api_session.request("GET", "/status")
    assert api.seen == ["raw"]
    await api_session.aclose()


def test_sync_flow_sends_the_token_and_refreshes_once_after_a_401() -> None:
    """The sync facade's transport: the same policy through httpx's synchronous flow, the token
    fetched on the facade's event loop (where the source and its HTTP client live)."""
    server = OIDCServer()
    source = oidc_source(server)
    api = FacilityAPI()
    with httpx.Client(auth=FacilityAuth(source), transport=httpx.MockTransport(api)) as client:
        first = client.get(API_URL).json()["token"]
        assert client.get(API_URL).json()["token"] == first  # cached: no second fetch
        assert server.fetches == 1
        api.valid = set()  # the API now refuses the token: one fresh token, one resend
        answer = client.get(API_URL)
    assert answer.status_code == 401
    assert server.fetches == 2
    assert len(api.seen) == 4


def test_sync_flow_raises_a_token_failure_as_authentication_error() -> None:
    class Broken(TokenSource):
        async def _fetch(self) -> Fetched:
            raise RuntimeError("boom")

    with (
        httpx.Client(auth=FacilityAuth(Broken()), transport=httpx.MockTransport(FacilityAPI())) as client,
        pytest.raises(AuthenticationError, match="could not provide a token"),
    ):
        client.get(API_URL)


@pytest.mark.anyio
async def test_unexpected_source_failure_becomes_authentication_error() -> None:
    class Broken(TokenSource):
        async def _fetch(self) -> Any:
            raise RuntimeError("leaky detail with secret")

    auth = FacilityAuth(Broken(facility="x"))
    api_session = session(FacilityAPI(), auth)
    with pytest.raises(AuthenticationError) as info:
        await api_session.request("GET", "/status")
    assert "secret" not in str(info.value)
    await api_session.aclose()


# --- TokenFile ------------------------------------------------------------------------------


def _write_token(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    path.chmod(0o600)
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.mark.anyio
async def test_token_file_rereads_on_change_and_on_invalidate(tmp_path: Path) -> None:
    path = tmp_path / "token"
    base = time.time_ns()
    _write_token(path, "  first\n", base)
    source = TokenFile(path, check_interval=0)
    assert await source.token() == "first"
    _write_token(path, "second\n", base + 10**9)
    assert await source.token() == "second"
    # rewritten with the same mtime: only a 401 makes it look again
    _write_token(path, "third", base + 10**9)
    assert await source.token() == "second"
    source.invalidate("second")
    assert await source.token() == "third"


@pytest.mark.anyio
async def test_token_file_change_seen_under_throttle(tmp_path: Path) -> None:
    path = tmp_path / "token"
    base = time.time_ns()
    _write_token(path, "first", base)
    clock = FakeClock()
    source = TokenFile(path, check_interval=1.0, clock=clock)
    assert await source.token() == "first"
    _write_token(path, "second", base + 10**9)
    assert await source.token() == "first"  # not looked at again within the interval
    clock.now += 1.5
    assert await source.token() == "second"
    assert await source.token() == "second"


@pytest.mark.anyio
async def test_token_file_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        await TokenFile(tmp_path / "nope", facility="s3m").token()
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    empty.chmod(0o600)
    with pytest.raises(ConfigurationError, match="is empty") as info:
        await TokenFile(empty, facility="s3m").token()
    assert info.value.facility == "s3m"


# --- OIDC client credentials ----------------------------------------------------------------


@pytest.mark.anyio
async def test_oidc_sends_basic_or_post_credentials_scope_and_audience() -> None:
    server = OIDCServer()
    await oidc_source(server, scope=["a", "b"], audience="firecrest").token()
    assert server.last_authorization is not None and server.last_authorization.startswith("Basic ")
    assert server.last_form == {"grant_type": "client_credentials", "scope": "a b", "audience": "firecrest"}
    await oidc_source(server, auth_method="client_secret_post").token()
    assert server.last_authorization is None
    assert server.last_form["client_secret"] == CLIENT_SECRET


@pytest.mark.anyio
async def test_oidc_error_names_host_but_not_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = OIDCServer()
    source = OIDCClientCredentials(
        TOKEN_URL, CLIENT_ID, CLIENT_SECRET + "-wrong", transport=httpx.MockTransport(server), facility="cscs"
    )
    with pytest.raises(AuthenticationError) as info:
        await source.token()
    text = str(info.value) + repr(info.value)
    assert "idp.example.org" in text and "invalid_client" in text
    assert CLIENT_SECRET not in text
    assert info.value.status_code == 401 and info.value.facility == "cscs"
    assert CLIENT_SECRET not in caplog.text


@pytest.mark.anyio
async def test_oidc_unreachable_and_malformed_answers() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    source = OIDCClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(refuse))
    with pytest.raises(AuthenticationError, match="got no answer: ConnectError"):
        await source.token()
    source = OIDCClientCredentials(
        TOKEN_URL,
        CLIENT_ID,
        CLIENT_SECRET,
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})),
    )
    with pytest.raises(AuthenticationError, match="without an access_token"):
        await source.token()


def test_oidc_refuses_plain_http_to_remote_hosts() -> None:
    with pytest.raises(ConfigurationError, match="token_url"):
        OIDCClientCredentials("http://idp.example.org/token", CLIENT_ID, CLIENT_SECRET)
    assert OIDCClientCredentials("http://127.0.0.1:1/token", CLIENT_ID, CLIENT_SECRET)
    with pytest.raises(ConfigurationError, match="verify: cannot load"):
        source = OIDCClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, verify="/nonexistent/ca.pem")
        source._ssl_verify()
    with pytest.raises(ConfigurationError, match="auth_method"):
        OIDCClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, auth_method="private_key_jwt")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_fetch_logs_host_and_expiry_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="facility_common.auth")
    await oidc_source(OIDCServer(lifetime=120)).token()
    assert "idp.example.org" in caplog.text and "120" in caplog.text
    assert "tok-1" not in caplog.text and CLIENT_SECRET not in caplog.text


# --- resolve_auth ---------------------------------------------------------------------------


def test_resolve_auth_accepts_the_simple_forms() -> None:
    assert resolve_auth(None, facility="iri") is None
    auth = resolve_auth("plain-token", facility="iri")
    assert isinstance(auth, FacilityAuth) and isinstance(auth.source, StaticToken)
    source = StaticToken("t")
    auth = resolve_auth(source, facility="iri")
    assert isinstance(auth, FacilityAuth) and auth.source is source and source.facility == "iri"
    basic = httpx.BasicAuth("u", "p")
    assert resolve_auth(basic, facility="flux") is basic


def test_resolve_auth_mappings(tmp_path: Path) -> None:
    def source_of(value: dict[str, Any]) -> TokenSource:
        auth = resolve_auth(value, facility="x", verify=certifi.where())
        assert isinstance(auth, FacilityAuth)
        return auth.source

    assert isinstance(source_of({"type": "token", "token": "t"}), StaticToken)
    token_file = source_of({"type": "token_file", "path": str(tmp_path / "t"), "check_interval": "5"})
    assert isinstance(token_file, TokenFile) and token_file.check_interval == 5.0
    oidc = source_of(
        {
            "type": "oidc_client_credentials",
            "token_url": TOKEN_URL,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": ["firecrest"],
            "auth_method": "client_secret_post",
        }
    )
    assert isinstance(oidc, OIDCClientCredentials)
    assert (oidc.scope, oidc.verify, oidc.auth_method) == ("firecrest", certifi.where(), "client_secret_post")
    confidential = source_of(
        {
            "type": "globus_confidential",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": IRI_SCOPE,
            "resource_server": ALCF_IRI_RESOURCE_SERVER,
            "auth_base_url": "http://127.0.0.1:9/globus",
        }
    )
    assert isinstance(confidential, GlobusConfidentialClient)
    assert confidential.auth_base_url == "http://127.0.0.1:9/globus/"
    refresh = source_of({"type": "globus_refresh_token", "client_id": CLIENT_ID, "refresh_token": "r"})
    assert isinstance(refresh, GlobusRefreshToken) and refresh.host == "auth.globus.org"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"type": "kerberos"}, "auth.type: 'kerberos'"),
        ({"token": "zz-secret"}, "auth.type: missing"),
        ({"type": "token"}, "auth.token: required"),
        ({"type": "token", "token": "zz-secret", "tokn": 1}, r"unknown key\(s\) \['tokn'\]"),
        ({"type": "token", "token": 42}, "auth.token: expected a string"),
        ({"type": "oidc_client_credentials", "token_url": TOKEN_URL, "client_id": "c"}, "auth.client_secret"),
        (
            {
                "type": "oidc_client_credentials",
                "token_url": "http://x.org/t",
                "client_id": "c",
                "client_secret": "zz-secret",
            },
            "token_url",
        ),
        ({"type": "globus_confidential", "client_id": "c", "client_secret": "zz-secret"}, "auth.scopes"),
        ({"type": "globus_refresh_token", "client_id": "c"}, "refresh_token or storage_path"),
        ({"type": "globus_refresh_token", "refresh_token": "zz-secret"}, "auth.client_id"),
        ({"type": "token_file", "path": "/t", "check_interval": "soon"}, "auth.check_interval"),
    ],
)
def test_resolve_auth_errors_name_key_and_facility_not_secret(value: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        resolve_auth(value, facility="alcf")
    assert "facility=alcf" in str(info.value)
    assert "zz-secret" not in str(info.value)


def test_resolve_auth_rejects_other_types() -> None:
    with pytest.raises(ConfigurationError, match="not int"):
        resolve_auth(42, facility="iri")


# --- Globus ---------------------------------------------------------------------------------


class GlobusAuthState:
    """What the fake Globus Auth knows and counts."""

    def __init__(self) -> None:
        self.lifetime = 3600
        self.issued = 0
        self.refresh_tokens = {"refresh-0"}
        self.rotate = False
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def token_body(self, resource_server: str, scope: str, refresh: str | None = None) -> dict[str, Any]:
        self.issued += 1
        body: dict[str, Any] = {
            "access_token": f"globus-{resource_server[:4]}-{self.issued}",
            "expires_in": self.lifetime,
            "resource_server": resource_server,
            "scope": scope,
            "token_type": "Bearer",
            "other_tokens": [],
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return body


def _handler(state: GlobusAuthState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            with state.lock:
                state.requests.append(form)
                if self.path != "/globus/v2/oauth2/token":
                    return self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                grant = form.get("grant_type")
                if grant == "client_credentials":
                    expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        return self._reply(401, {"error": "invalid_client"})
                    body = state.token_body("auth.globus.org", "openid")
                    body["other_tokens"] = [state.token_body(ALCF_IRI_RESOURCE_SERVER, form.get("scope", ""))]
                    return self._reply(200, body)
                if grant == "refresh_token":
                    if form.get("refresh_token") not in state.refresh_tokens:
                        return self._reply(400, {"error": "invalid_grant"})
                    refresh = form["refresh_token"]
                    if state.rotate:
                        state.refresh_tokens = {f"refresh-{state.issued + 1}"}
                        refresh = next(iter(state.refresh_tokens))
                    return self._reply(200, state.token_body(ALCF_IRI_RESOURCE_SERVER, IRI_SCOPE, refresh))
                return self._reply(400, {"error": "unsupported_grant_type"})

    return Handler


@pytest.fixture
def globus_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, GlobusAuthState]]:
    """A Globus-compatible token endpoint on 127.0.0.1; yields the Auth base URL and its state."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = GlobusAuthState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/globus/", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.anyio
async def test_globus_confidential_client_picks_the_resource_server(
    globus_auth: tuple[str, GlobusAuthState],
) -> None:
    base, state = globus_auth
    source = GlobusConfidentialClient(
        CLIENT_ID, CLIENT_SECRET, [IRI_SCOPE], resource_server=ALCF_IRI_RESOURCE_SERVER, auth_base_url=base
    )
    token = await source.token()
    assert token.startswith("globus-6be5-")
    assert await source.token() == token
    assert state.requests[0]["scope"] == IRI_SCOPE and len(state.requests) == 1
    # without resource_server the single non-Auth token is chosen
    other = GlobusConfidentialClient(CLIENT_ID, CLIENT_SECRET, IRI_SCOPE, auth_base_url=base)
    assert (await other.token()).startswith("globus-6be5-")
    await source.aclose()
    await other.aclose()


@pytest.mark.anyio
async def test_globus_confidential_refusal_and_unknown_resource_server(
    globus_auth: tuple[str, GlobusAuthState],
) -> None:
    base, _ = globus_auth
    bad = GlobusConfidentialClient(
        CLIENT_ID, "wrong-secret-zz", [IRI_SCOPE], auth_base_url=base, facility="alcf"
    )
    with pytest.raises(AuthenticationError) as info:
        await bad.token()
    assert "127.0.0.1" in str(info.value) and "HTTP 401" in str(info.value)
    assert "wrong-secret-zz" not in str(info.value)
    missing = GlobusConfidentialClient(
        CLIENT_ID, CLIENT_SECRET, [IRI_SCOPE], resource_server="transfer.api.globus.org", auth_base_url=base
    )
    with pytest.raises(ConfigurationError, match=re.escape("transfer.api.globus.org")):
        await missing.token()


@pytest.mark.anyio
async def test_globus_refresh_token_keeps_a_rotated_refresh_token(
    globus_auth: tuple[str, GlobusAuthState],
) -> None:
    base, state = globus_auth
    state.rotate = True
    responses: list[str] = []
    source = GlobusRefreshToken(
        "native-client",
        "refresh-0",
        resource_server=ALCF_IRI_RESOURCE_SERVER,
        auth_base_url=base,
        on_refresh=lambda data: responses.append(data["resource_server"]),
    )
    first = await source.token()
    source.invalidate(first)
    second = await source.token()  # works only with the rotated refresh token
    assert first != second
    assert [r["refresh_token"] for r in state.requests] == ["refresh-0", "refresh-1"]
    assert all(r["client_id"] == "native-client" for r in state.requests)
    assert responses == [ALCF_IRI_RESOURCE_SERVER] * 2
    assert "refresh-" not in repr(source)


@pytest.mark.anyio
async def test_globus_refresh_refused_says_to_log_in_again(globus_auth: tuple[str, GlobusAuthState]) -> None:
    base, _ = globus_auth
    source = GlobusRefreshToken("native-client", "expired-refresh-zz", auth_base_url=base)
    with pytest.raises(AuthenticationError, match="log in again") as info:
        await source.token()
    assert "expired-refresh-zz" not in str(info.value) and info.value.status_code == 400
    assert "invalid_grant" in str(info.value)


def _write_storage(
    path: Path, kind: str, *, access: str, expires_at: int, refresh: str = "refresh-0"
) -> None:
    from globus_sdk.token_storage import JSONTokenStorage, SQLiteTokenStorage, TokenStorageData

    storage = (SQLiteTokenStorage if kind == "sqlite" else JSONTokenStorage)(path)
    common = {"identity_id": "user-1", "token_type": "Bearer", "expires_at_seconds": expires_at}
    storage.store_token_data_by_resource_server(
        {
            ALCF_IRI_RESOURCE_SERVER: TokenStorageData(
                resource_server=ALCF_IRI_RESOURCE_SERVER,
                scope=IRI_SCOPE,
                access_token=access,
                refresh_token=refresh,
                **common,  # type: ignore[arg-type]
            ),
            "auth.globus.org": TokenStorageData(
                resource_server="auth.globus.org",
                scope="openid",
                access_token="auth-token",
                refresh_token="auth-refresh",
                **common,  # type: ignore[arg-type]
            ),
        }
    )
    storage.close()


def _read_storage(path: Path, kind: str) -> Any:
    from globus_sdk.token_storage import JSONTokenStorage, SQLiteTokenStorage

    storage = (SQLiteTokenStorage if kind == "sqlite" else JSONTokenStorage)(path)
    try:
        return storage.get_token_data(ALCF_IRI_RESOURCE_SERVER)
    finally:
        storage.close()


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["json", "sqlite"])
async def test_globus_storage_reuses_refreshes_and_writes_back(
    globus_auth: tuple[str, GlobusAuthState], tmp_path: Path, kind: str
) -> None:
    base, state = globus_auth
    state.rotate = True
    client_id = str(uuid.uuid4())
    path = (
        tmp_path
        / ".globus"
        / "app"
        / client_id
        / "my_app"
        / ("tokens." + ("db" if kind == "sqlite" else "json"))
    )
    _write_storage(path, kind, access="stored-access", expires_at=int(time.time()) + 3600)

    source = GlobusRefreshToken.from_storage(path, auth_base_url=base)
    assert source.client_id == client_id and source.resource_server == ALCF_IRI_RESOURCE_SERVER
    assert await source.token() == "stored-access"  # still valid: no call to Globus
    assert state.requests == []

    source.invalidate("stored-access")  # the API refused it: refresh even though the file says valid
    fresh = await source.token()
    assert fresh.startswith("globus-6be5-")
    assert state.requests[0]["refresh_token"] == "refresh-0" and state.requests[0]["client_id"] == client_id
    stored = _read_storage(path, kind)
    assert stored.access_token == fresh and stored.refresh_token == "refresh-1"
    assert stored.identity_id == "user-1" and stored.expires_at_seconds > time.time() + 3000

    # an expired stored token is refreshed with the rotated refresh token read back from the file
    _write_storage(path, kind, access="old", expires_at=int(time.time()) - 10, refresh="refresh-1")
    again = GlobusRefreshToken.from_storage(path, auth_base_url=base)
    assert (await again.token()).startswith("globus-6be5-")
    assert state.requests[-1]["refresh_token"] == "refresh-1"
    assert "stored-access" not in repr(again) and "refresh-1" not in repr(again)


def test_from_storage_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        GlobusRefreshToken.from_storage(tmp_path / "none.json", client_id="c")
    path = tmp_path / "tokens.json"
    _write_storage(path, "json", access="a", expires_at=0)
    with pytest.raises(ConfigurationError, match="client_id"):
        GlobusRefreshToken.from_storage(path)
    with pytest.raises(ConfigurationError, match=re.escape("no tokens for 'transfer.api.globus.org'")):
        GlobusRefreshToken.from_storage(path, client_id="c", resource_server="transfer.api.globus.org")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("[1, 2]")
    garbage.chmod(0o600)
    with pytest.raises(ConfigurationError, match="not a globus-sdk token storage"):
        GlobusRefreshToken.from_storage(garbage, client_id="c")


def test_default_storage_path_is_alcf_script_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_storage_path() is None
    with pytest.raises(ConfigurationError, match="no token storage found"):
        GlobusRefreshToken.from_storage()
    path = (
        tmp_path / ".globus" / "app" / ALCF_FACILITY_API_CLIENT_ID / "alcf_facility_api_app" / "tokens.json"
    )
    _write_storage(path, "json", access="a", expires_at=int(time.time()) + 3600)
    assert default_storage_path() == path
    auth = resolve_auth({"type": "globus_refresh_token", "storage_path": "default"}, facility="alcf")
    assert isinstance(auth, FacilityAuth) and isinstance(auth.source, GlobusRefreshToken)
    assert auth.source.client_id == ALCF_FACILITY_API_CLIENT_ID
    assert auth.source.storage_path == path


# -- private-key JWT client credentials (NERSC SF API) ------------------------------------------

SF_TOKEN_URL = "https://oidc.example.org/c2id/token"
SF_CLIENT_ID = "abcdefghij123"


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048)


class JWTTokenServer:
    """A token endpoint that verifies private_key_jwt assertions against a public key."""

    def __init__(self, public_key: Any, *, lifetime: int = 600, expired_client: bool = False) -> None:
        self.public_key = public_key
        self.lifetime = lifetime
        self.expired_client = expired_client
        self.assertions: list[dict[str, Any]] = []
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        from joserfc import jwt
        from joserfc.errors import JoseError

        self.requests += 1
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert form["grant_type"] == "client_credentials"
        assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        try:
            claims = jwt.decode(form["client_assertion"], self.public_key, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "bad signature"})
        self.assertions.append(claims)
        if self.expired_client:
            return httpx.Response(
                401, json={"error": "invalid_client", "error_description": "client expired"}
            )
        return httpx.Response(
            200,
            json={
                "access_token": f"tok-{self.requests}",
                "token_type": "Bearer",
                "expires_in": self.lifetime,
            },
        )


def _key_file(tmp_path: Path, text: str, mode: int = 0o600, name: str = "key.pem") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.anyio
async def test_private_key_jwt_signs_an_assertion_the_server_verifies(rsa_key: Any, tmp_path: Path) -> None:
    server = JWTTokenServer(rsa_key)
    path = _key_file(tmp_path, rsa_key.as_pem(private=True).decode())
    source = PrivateKeyJWTClientCredentials(
        SF_TOKEN_URL, SF_CLIENT_ID, key_path=path, transport=httpx.MockTransport(server)
    )
    assert await source.token() == "tok-1"
    claims = server.assertions[0]
    assert claims["iss"] == claims["sub"] == SF_CLIENT_ID
    assert claims["aud"] == SF_TOKEN_URL
    assert claims["exp"] - claims["iat"] <= 300
    assert "BEGIN" not in repr(source) and SF_CLIENT_ID in repr(source)


@pytest.mark.anyio
async def test_private_key_jwt_refreshes_ahead_of_a_ten_minute_token(rsa_key: Any) -> None:
    clock = FakeClock()
    server = JWTTokenServer(rsa_key, lifetime=600)
    source = PrivateKeyJWTClientCredentials(
        SF_TOKEN_URL,
        SF_CLIENT_ID,
        private_key=rsa_key.as_pem(private=True).decode(),
        transport=httpx.MockTransport(server),
        clock=clock,
    )
    assert await source.token() == "tok-1"
    clock.now += 560
    assert await source.token() == "tok-1"
    clock.now += 20  # inside the refresh lead (30 s before expiry)
    assert await source.token() == "tok-2"
    assert server.assertions[0]["jti"] != server.assertions[1]["jti"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_private_key_jwt_refuses_a_key_file_others_can_read(rsa_key: Any, tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, rsa_key.as_pem(private=True).decode(), mode)
    with pytest.raises(ConfigurationError, match="chmod 600") as caught:
        PrivateKeyJWTClientCredentials(SF_TOKEN_URL, SF_CLIENT_ID, key_path=path)
    assert "PRIVATE KEY" not in str(caught.value)


def test_private_key_jwt_reads_iris_file_layouts(rsa_key: Any, tmp_path: Path) -> None:
    pem = rsa_key.as_pem(private=True).decode()
    with_id = _key_file(tmp_path, f"{SF_CLIENT_ID}\n{pem}", name="with-id.pem")
    assert PrivateKeyJWTClientCredentials(SF_TOKEN_URL, key_path=with_id).client_id == SF_CLIENT_ID
    jwk = _key_file(tmp_path, json.dumps(rsa_key.as_dict(private=True)), name="key.jwk")
    assert PrivateKeyJWTClientCredentials(SF_TOKEN_URL, SF_CLIENT_ID, key_path=jwk).algorithm == "RS256"
    wrapped = _key_file(
        tmp_path,
        json.dumps({"client_id": SF_CLIENT_ID, "secret": rsa_key.as_dict(private=True)}),
        name="c.json",
    )
    assert PrivateKeyJWTClientCredentials(SF_TOKEN_URL, key_path=wrapped).client_id == SF_CLIENT_ID


def test_private_key_jwt_configuration_errors(rsa_key: Any, tmp_path: Path) -> None:
    pem = rsa_key.as_pem(private=True).decode()
    with pytest.raises(ConfigurationError, match="key_path: a private key is required"):
        PrivateKeyJWTClientCredentials(SF_TOKEN_URL, SF_CLIENT_ID)
    with pytest.raises(ConfigurationError, match="private_key: give either key_path or private_key"):
        PrivateKeyJWTClientCredentials(SF_TOKEN_URL, SF_CLIENT_ID, key_path="/k.pem", private_key=pem)
    with pytest.raises(ConfigurationError, match="does not exist"):
        PrivateKeyJWTClientCredentials(SF_TOKEN_URL, SF_CLIENT_ID, key_path=tmp_path / "missing.pem")
    with pytest.raises(ConfigurationError, match=r"cannot be parsed|no PEM"):
        PrivateKeyJWTClientCredentials(SF_TOKEN_URL, SF_CLIENT_ID, private_key="not a key")
    with pytest.raises(ConfigurationError, match="public key"):
        PrivateKeyJWTClientCredentials(
            SF_TOKEN_URL, SF_CLIENT_ID, private_key=json.dumps(rsa_key.as_dict(private=False))
        )
    with pytest.raises(ConfigurationError, match="client_id"):
        PrivateKeyJWTClientCredentials(SF_TOKEN_URL, private_key=pem)


@pytest.mark.anyio
async def test_private_key_jwt_wrong_key_and_expired_client_are_clear(rsa_key: Any) -> None:
    from joserfc.jwk import RSAKey

    other = RSAKey.generate_key(2048)
    wrong = PrivateKeyJWTClientCredentials(
        SF_TOKEN_URL,
        SF_CLIENT_ID,
        private_key=other.as_pem(private=True).decode(),
        transport=httpx.MockTransport(JWTTokenServer(rsa_key)),
    )
    with pytest.raises(AuthenticationError, match=r"invalid_client.*check the client id and its key"):
        await wrong.token()
    expired = PrivateKeyJWTClientCredentials(
        SF_TOKEN_URL,
        SF_CLIENT_ID,
        private_key=rsa_key.as_pem(private=True).decode(),
        transport=httpx.MockTransport(JWTTokenServer(rsa_key, expired_client=True)),
    )
    with pytest.raises(AuthenticationError, match=r"client expired.*48 hours"):
        await expired.token()


def test_resolve_auth_private_key_jwt_mapping(rsa_key: Any, tmp_path: Path) -> None:
    pem = rsa_key.as_pem(private=True).decode()
    auth = resolve_auth(
        {"type": "private_key_jwt", "token_url": SF_TOKEN_URL, "client_id": SF_CLIENT_ID, "private_key": pem},
        facility="sfapi",
    )
    assert isinstance(auth, FacilityAuth)
    assert isinstance(auth.source, PrivateKeyJWTClientCredentials)
    assert "PRIVATE" not in repr(auth)
    path = _key_file(tmp_path, pem, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        resolve_auth(
            {
                "type": "private_key_jwt",
                "token_url": SF_TOKEN_URL,
                "client_id": SF_CLIENT_ID,
                "key_path": str(path),
            },
            facility="sfapi",
        )
    with pytest.raises(ConfigurationError, match="unknown key"):
        resolve_auth({"type": "private_key_jwt", "token_url": SF_TOKEN_URL, "secret": pem}, facility="sfapi")


def test_flux_mappings_build_the_flux_flows() -> None:
    from facility_common.backends.flux.auth import FluxBasicAuth

    basic = resolve_auth({"type": "basic", "user": "u", "token": "secret-token"}, facility="flux")
    assert isinstance(basic, FluxBasicAuth)
    shared = resolve_auth(
        {
            "type": "flux_shared_secret",
            "base_url": "http://127.0.0.1:5000/v1",
            "user": "u",
            "token": "secret-token",
            "secret_key": "secret-key",
        },
        facility="flux",
    )
    assert "secret-token" not in repr(shared) and "secret-key" not in repr(shared)
    with pytest.raises(ConfigurationError, match=r"auth\.secret_key"):
        resolve_auth(
            {"type": "flux_shared_secret", "base_url": "http://127.0.0.1:5000", "user": "u", "token": "t"},
            facility="flux",
        )
