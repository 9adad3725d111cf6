"""Where credentials may go: redirects, files others can read, forks, backend auth types.

Globus Auth stand-ins are tiny threaded ``http.server`` instances on loopback (globus-sdk talks
through ``requests``); OIDC token endpoints are ``httpx.MockTransport`` handlers.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import facility_common.auth as auth_package
from facility_common import BackendDescriptor, register_backend
from facility_common.auth import (
    AUTH_TYPES,
    READABLE_SECRETS_ENV,
    AuthTypeInfo,
    FacilityAuth,
    Fetched,
    GlobusConfidentialClient,
    GlobusRefreshToken,
    OIDCClientCredentials,
    PrivateKeyJWTClientCredentials,
    Secret,
    TokenFile,
    TokenSource,
    auth_type_info,
    check_secret_file,
    resolve_auth,
)
from facility_common.errors import AuthenticationError, ConfigurationError

REPO = Path(__file__).resolve().parents[2]
CLIENT_ID = "client-abc"
CLIENT_SECRET = "s3cr3t-client-value"
REFRESH_TOKEN = "refresh-token-value-zz"


class Recorder(ThreadingHTTPServer):
    """Records each request (line, headers, body); answers with ``reply(path)``."""

    def __init__(self, reply: Any) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.reply = reply
        self.seen: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _RecordingHandler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.server.seen.append(f"{self.command} {self.path}\n{self.headers}\n{body}")
        status, headers, payload = self.server.reply(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        data = json.dumps(payload).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    """A Globus Auth that redirects every token request, and the other host it points to."""
    elsewhere = Recorder(lambda path: (200, {}, {"access_token": "x", "resource_server": "rs"}))

    def redirect(path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        return 307, {"Location": f"http://localhost:{elsewhere.port}{path}"}, {}

    auth = Recorder(redirect)
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in (auth, elsewhere)
    ]
    for thread in threads:
        thread.start()
    try:
        yield auth, elsewhere
    finally:
        for server in (auth, elsewhere):
            server.shutdown()
            server.server_close()


# --- redirects ------------------------------------------------------------------------------


def test_a_globus_refresh_token_is_never_sent_on_after_a_redirect(servers: tuple[Recorder, Recorder]) -> None:
    auth, elsewhere = servers
    source = GlobusRefreshToken(
        CLIENT_ID, REFRESH_TOKEN, resource_server="rs", auth_base_url=f"http://127.0.0.1:{auth.port}/globus/"
    )
    with pytest.raises(AuthenticationError, match=r"redirect \(HTTP 307\)") as caught:
        anyio.run(source.token)
    assert len(auth.seen) == 1 and REFRESH_TOKEN in auth.seen[0]
    assert elsewhere.seen == []
    assert REFRESH_TOKEN not in str(caught.value)
    anyio.run(source.aclose)


def test_a_globus_client_secret_is_never_sent_on_after_a_redirect(servers: tuple[Recorder, Recorder]) -> None:
    auth, elsewhere = servers
    source = GlobusConfidentialClient(
        CLIENT_ID, CLIENT_SECRET, ["scope"], auth_base_url=f"http://127.0.0.1:{auth.port}/globus/"
    )
    with pytest.raises(AuthenticationError, match="redirect"):
        anyio.run(source.token)
    assert len(auth.seen) == 1 and elsewhere.seen == []
    anyio.run(source.aclose)


def test_an_oidc_client_secret_is_never_sent_on_after_a_redirect() -> None:
    seen: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"Location": "http://elsewhere.example.org/token"})

    source = OIDCClientCredentials(
        "https://idp.example.org/token", CLIENT_ID, CLIENT_SECRET, transport=httpx.MockTransport(redirect)
    )
    with pytest.raises(AuthenticationError, match="HTTP 307"):
        anyio.run(source.token)
    assert seen == ["https://idp.example.org/token"]


# --- files holding secrets ------------------------------------------------------------------


def _file(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_token_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = _file(tmp_path / "token", "file-token-value\n", mode)
    with pytest.raises(ConfigurationError) as caught:
        anyio.run(TokenFile(path, facility="s3m").token)
    text = str(caught.value)
    assert f"token_file: {path}" in text and f"chmod 600 {path}" in text
    assert "allow_readable_secret_files" in text and READABLE_SECRETS_ENV in text
    assert "file-token-value" not in text and caught.value.facility == "s3m"


def test_a_readable_token_file_is_accepted_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path / "token", "shared-token\n", 0o640)
    assert anyio.run(TokenFile(path, allow_readable_secret_files=True).token) == "shared-token"
    mapping = {"type": "token_file", "path": str(path), "allow_readable_secret_files": "true"}
    auth = resolve_auth(mapping, facility="s3m")
    assert isinstance(auth, FacilityAuth) and anyio.run(auth.source.token) == "shared-token"
    monkeypatch.setenv(READABLE_SECRETS_ENV, "1")
    assert anyio.run(TokenFile(path).token) == "shared-token"
    path.chmod(0o600)
    monkeypatch.delenv(READABLE_SECRETS_ENV)
    assert anyio.run(TokenFile(path).token) == "shared-token"


def test_a_globus_storage_others_can_read_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path / "tokens.json", json.dumps({"data": {}}), 0o644)
    with pytest.raises(ConfigurationError, match=r"storage_path: .* chmod 600"):
        GlobusRefreshToken.from_storage(path, client_id="c")
    with pytest.raises(ConfigurationError, match="storage_path"):
        resolve_auth(
            {"type": "globus_refresh_token", "storage_path": str(path), "client_id": "c"}, facility="alcf"
        )


def test_one_check_for_every_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key files, token files and token storages share one function, importable by the CLI."""
    loose = _file(tmp_path / "key.pem", "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n", 0o644)
    messages = []
    for build in (
        lambda: check_secret_file(loose, field="key_path", facility="sfapi"),
        lambda: PrivateKeyJWTClientCredentials("https://idp.example.org/t", "c", key_path=loose),
    ):
        with pytest.raises(ConfigurationError) as caught:
            build()
        messages.append(caught.value.message)
    assert messages[0] == messages[1]
    with pytest.raises(ConfigurationError, match="does not exist"):
        check_secret_file(tmp_path / "missing", field="path")
    with pytest.raises(ConfigurationError, match="is not a file"):
        check_secret_file(tmp_path, field="path")
    assert check_secret_file(loose, field="path", allow_readable=True) == loose
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_secret_file("~/key.pem", field="path", allow_readable=True) == loose


# --- fork -----------------------------------------------------------------------------------


def test_a_forked_child_gets_a_free_lock_and_keeps_the_cached_token() -> None:
    class Counting(TokenSource):
        def __init__(self) -> None:
            super().__init__()
            self.fetches = 0

        async def _fetch(self) -> Fetched:
            self.fetches += 1
            return Fetched(Secret(f"token-{self.fetches}"), None)

    source = Counting()
    assert anyio.run(source.token) == "token-1"
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once
        os.close(reader)
        try:
            fresh_lock = not source._lock.locked()
            answer = anyio.run(source.token)
            os.write(writer, f"{fresh_lock} {answer} {source.fetches}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    assert report == "True token-1 1"


# --- the hook for backends' own auth types ---------------------------------------------------


def test_every_name_of_the_old_module_is_still_exported() -> None:
    before = {
        "ALCF_FACILITY_API_CLIENT_ID",
        "ALCF_IRI_RESOURCE_SERVER",
        "ALCF_TOKENS_CLIENT_ID",
        "DEFAULT_STORAGE_PATHS",
        "FacilityAuth",
        "GlobusConfidentialClient",
        "GlobusRefreshToken",
        "OIDCClientCredentials",
        "PrivateKeyJWTClientCredentials",
        "Secret",
        "StaticToken",
        "TokenFile",
        "TokenSource",
        "default_storage_path",
        "resolve_auth",
    }
    assert before <= set(auth_package.__all__)
    assert all(hasattr(auth_package, name) for name in auth_package.__all__)
    assert "check_secret_file" in auth_package.__all__


def test_the_auth_package_imports_no_backend() -> None:
    """Backends' auth types are reached through their descriptor's path, never imported."""
    for path in sorted((REPO / "common" / "auth").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert "backends" not in module, f"{path.name} imports {module}"
            elif isinstance(node, ast.Import):
                assert not any("backends" in alias.name for alias in node.names), path.name


def test_flux_types_come_from_the_flux_auth_module() -> None:
    from facility_common.auth.types import BUILTIN_AUTH_TYPES
    from facility_common.backends.flux import auth as flux_auth

    assert not {"basic", "flux_shared_secret", "flux_password"} & set(BUILTIN_AUTH_TYPES)
    assert auth_type_info("flux_shared_secret") is flux_auth.AUTH_TYPES["flux_shared_secret"]
    assert AUTH_TYPES["flux_password"].needs_base_url
    assert {"token", "basic", "flux_password"} <= set(AUTH_TYPES)


class ApiKeyAuth(httpx.Auth):
    def __init__(self, key: Secret) -> None:
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["X-Api-Key"] = self.key.get_secret_value()
        yield request


def _example_auth_module() -> types.ModuleType:
    module = types.ModuleType("example_facility_auth")
    module.AUTH_TYPES = {  # type: ignore[attr-defined]
        "example_api_key": AuthTypeInfo(
            "example_api_key",
            "Example API key",
            "Password is the API key.",
            required=frozenset({"key"}),
            optional=frozenset({"retries"}),
            secrets=frozenset({"key"}),
            password_key="key",
            kinds=(("retries", "number"),),
        )
    }
    built: list[Mapping[str, Any]] = []

    def build_auth(
        info: AuthTypeInfo,
        values: Mapping[str, Any],
        *,
        facility: str,
        verify: Any,
        allow_insecure_http: bool,
    ) -> httpx.Auth:
        built.append({"info": info, "facility": facility, **values})
        return ApiKeyAuth(values["key"])

    module.build_auth = build_auth  # type: ignore[attr-defined]
    module.built = built  # type: ignore[attr-defined]
    return module


def test_a_registered_backend_declares_its_own_auth_type(monkeypatch: pytest.MonkeyPatch) -> None:
    from facility_common import registry
    from facility_common.auth import types as auth_types

    module = _example_auth_module()
    monkeypatch.setitem(sys.modules, "example_facility_auth", module)
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))
    monkeypatch.setattr(auth_types, "_modules", dict(auth_types._modules))
    register_backend(
        "example-auth-hook",
        BackendDescriptor(
            name="example-auth-hook",
            label="Example",
            backend="facility_common.backends.base:FacilityBackend",
            auth_types=("example_api_key",),
            auth_module="example_facility_auth",
        ),
    )
    auth = resolve_auth({"type": "example_api_key", "key": "k-123", "retries": "3"}, facility="example")
    assert isinstance(auth, ApiKeyAuth) and auth.key.get_secret_value() == "k-123"
    (call,) = module.built
    assert call["retries"] == 3.0 and isinstance(call["key"], Secret) and call["facility"] == "example"
    assert auth_type_info("example_api_key").label == "Example API key"
    with pytest.raises(ConfigurationError, match=r"auth\.key: required"):
        resolve_auth({"type": "example_api_key"}, facility="example")
    with pytest.raises(ConfigurationError, match=r"auth\.retries: expected a number"):
        resolve_auth({"type": "example_api_key", "key": "k", "retries": "often"}, facility="example")
    with pytest.raises(ConfigurationError, match="example_api_key") as caught:
        resolve_auth({"type": "kerberos"}, facility="example")
    assert "flux_shared_secret" in str(caught.value) and "token_file" in str(caught.value)


def test_a_built_in_type_is_found_without_importing_any_auth_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from facility_common.auth import types as auth_types

    monkeypatch.setattr(auth_types, "_modules", {})
    assert isinstance(resolve_auth({"type": "token", "token": "t"}, facility="iri"), FacilityAuth)
    assert auth_types._modules == {}


def test_mapping_keys_of_the_table_are_the_ones_validated() -> None:
    for name in ("token", "token_file", "oidc_client_credentials", "private_key_jwt"):
        info = auth_type_info(name)
        with pytest.raises(ConfigurationError, match="unknown key"):
            resolve_auth({"type": name, **dict.fromkeys(info.required, "x"), "nope": 1}, facility="x")
