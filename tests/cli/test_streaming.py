"""``facility streaming`` runs a Redis cluster's life against the emulated S3M (a real server behind
it), keeps its credentials off the screen unless asked, and says where streaming lives on another
API; ``facility token revoke`` makes S3M refuse the token."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from facility_cli.main import app

from ..streaming_support import leftover_servers, require_engine
from .conftest import run


def s3m_conn(cli_emulator: Any, token: str | None = None) -> str:
    credentials = cli_emulator.flavour_credentials("s3m")
    return json.dumps(
        {"conn_type": "facility_s3m", "host": cli_emulator.url, "password": token or credentials["token"]}
    )


@pytest.fixture
def s3m_env(env: dict[str, str | None], cli_emulator: Any) -> dict[str, str | None]:
    return {**env, "FACILITY_CONN": s3m_conn(cli_emulator)}


def test_backends_lists_kinds_and_bounds(s3m_env: dict[str, str | None]) -> None:
    shown = run(s3m_env, "streaming", "backends")
    assert shown.exit_code == 0, shown.output
    assert "valkey-general" in shown.stdout and "cpus 1..4 (default 2)" in shown.stdout
    data = json.loads(run(s3m_env, "streaming", "backends", "--json").stdout)
    assert {b["engine"] for b in data} == {"redis", "rabbitmq"}


def test_a_redis_cluster_from_create_to_delete(s3m_env: dict[str, str | None], cli_emulator: Any) -> None:
    require_engine("redis")
    import redis

    created = run(
        s3m_env, "streaming", "create", "redis", "cli-stream", "--set", "cpus=1", "--interval", "0.05"
    )
    assert created.exit_code == 0, created.output
    assert "state       ready (health healthy)" in created.stdout
    assert "url         redis://127.0.0.1:" in created.stdout
    assert "credentials withheld" in created.output

    secret = json.loads(
        run(s3m_env, "streaming", "show", "redis", "cli-stream", "--json", "--show-secrets").stdout
    )
    assert secret["password"] and secret["password"] not in created.output
    plain = run(s3m_env, "streaming", "show", "redis", "cli-stream", "--json")
    assert secret["password"] not in plain.stdout and "url" not in json.loads(plain.stdout)

    client = redis.Redis.from_url(secret["url"])
    client.rpush("work", "a", "b")
    assert client.lrange("work", 0, -1) == [b"a", b"b"]
    client.close()

    listed = run(s3m_env, "streaming", "list", "--engine", "redis")
    assert listed.exit_code == 0 and "cli-stream" in listed.stdout and "ready" in listed.stdout
    extended = run(s3m_env, "streaming", "extend", "redis", "cli-stream")
    assert extended.exit_code == 0 and "now expires" in extended.stdout

    admin = httpx.get(f"{cli_emulator.url}/_emulator/s3m/streaming").json()
    (view,) = [c for c in admin["clusters"] if c["name"] == "cli-stream"]
    deleted = run(s3m_env, "streaming", "delete", "redis", "cli-stream")
    assert deleted.exit_code == 0 and "deleted redis cluster cli-stream" in deleted.stdout
    assert not leftover_servers(view["patterns"])
    assert run(s3m_env, "streaming", "delete", "redis", "cli-stream").exit_code == 7
    assert run(s3m_env, "streaming", "delete", "redis", "cli-stream", "--missing-ok").exit_code == 0


def test_bad_arguments_exit_2_naming_them(s3m_env: dict[str, str | None]) -> None:
    named = run(s3m_env, "streaming", "create", "redis", "Bad_Name")
    assert named.exit_code == 2 and "name:" in named.output
    bounds = run(s3m_env, "streaming", "create", "redis", "ok-name", "--set", "cpus=64")
    assert bounds.exit_code == 2 and "resources['cpus']: 64 is outside 1..4" in bounds.output
    assert run(s3m_env, "streaming", "create", "kafka", "ok-name").exit_code == 2
    assert run(s3m_env, "streaming", "create", "redis", "ok-name", "--set", "cpus").exit_code == 2


def test_another_api_says_where_streaming_is(env: dict[str, str | None]) -> None:
    refused = run(env, "streaming", "list")
    assert refused.exit_code == 1
    assert "not supported by this API" in refused.output and "OLCF S3M API ('s3m')" in refused.output


def test_token_revoke_makes_s3m_refuse_the_token(env: dict[str, str | None], cli_emulator: Any) -> None:
    spare = httpx.post(f"{cli_emulator.url}/_emulator/s3m/tokens").json()["token"]
    spare_env = {**env, "FACILITY_CONN": s3m_conn(cli_emulator, spare)}
    assert run(spare_env, "whoami").exit_code == 0
    kept = CliRunner().invoke(app, ["token", "revoke"], env=spare_env, input="n\n", catch_exceptions=False)
    assert kept.exit_code == 1 and run(spare_env, "whoami").exit_code == 0
    revoked = run(spare_env, "token", "revoke", "--yes")
    assert revoked.exit_code == 0, revoked.output
    assert "the facility refuses it from now on" in revoked.stdout and spare not in revoked.output
    refused = run(spare_env, "whoami")
    assert refused.exit_code == 4 and "bad credentials" in refused.output
    assert run({**env, "FACILITY_CONN": s3m_conn(cli_emulator)}, "whoami").exit_code == 0
