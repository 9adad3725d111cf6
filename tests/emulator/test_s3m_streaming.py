"""The emulated S3M streaming service provisions real servers: messages go into a Redis (or Valkey) or
RabbitMQ cluster and come back out, a deleted or expired cluster's processes are gone, stopping
the emulator stops them all, and a revoked S3M token is refused afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from facility_common import AuthenticationError, FacilityClient, NotFoundError, StreamingClusterState
from facility_emulator import EmulatorConfig, EmulatorServer

from ..streaming_support import leftover_servers, require_engine

STREAMING = "/olcf/open/v1alpha/streaming"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """An emulator of this module's own (the tests change the clusters' lifetime)."""
    config = EmulatorConfig(root=tmp_path_factory.mktemp("s3m-streaming"), queue_delay=0.05)
    with EmulatorServer(config) as started:
        yield started
    assert not leftover_servers(), "a streaming server outlived the emulator"


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[FacilityClient]:
    token = server.flavour_credentials("s3m")["token"]
    with FacilityClient.connect("s3m", base_url=server.api_url("s3m", "root"), auth=token) as connected:
        yield connected


def headers(server: EmulatorServer) -> dict[str, str]:
    return {"Authorization": server.flavour_credentials("s3m")["token"]}


def admin(server: EmulatorServer, **settings: float) -> dict[str, Any]:
    answer = httpx.put(f"{server.url}/_emulator/s3m/streaming", json=settings)
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()
    return data


def patterns_of(server: EmulatorServer, engine: str, name: str) -> list[str]:
    (view,) = [c for c in admin(server)["clusters"] if (c["engine"], c["name"]) == (engine, name)]
    patterns: list[str] = view["patterns"]
    return patterns


def test_list_backends_under_both_paths_with_the_token(server: EmulatorServer) -> None:
    for prefix in (STREAMING, "/olcf/v1alpha/streaming"):
        answer = httpx.get(f"{server.url}{prefix}/list_backends", headers=headers(server))
        assert answer.status_code == 200
        engines = {(b["engine"], b["kind"]) for b in answer.json()["backends"]}
        assert engines == {("redis", "valkey-general"), ("rabbitmq", "general")}
    assert httpx.get(f"{server.url}{STREAMING}/list_backends").status_code == 401


def test_bad_requests_are_refused_as_the_gateway_does(server: EmulatorServer) -> None:
    url = f"{server.url}{STREAMING}/redis/provision_cluster"

    def provision(body: dict[str, Any]) -> httpx.Response:
        return httpx.post(url, json=body, headers=headers(server))

    for body in (
        {"kind": "dragonfly-xl", "name": "a"},
        {"kind": "valkey-general", "name": "Not_A_Label"},
        {"kind": "valkey-general", "name": "a", "resourceSettings": {"cpus": 64}},
        {"kind": "valkey-general", "name": "a", "featureFlags": {"tls": True}},
        {"kind": "valkey-general", "name": "a", "replicas": 3},
    ):
        answer = provision(body)
        assert answer.status_code == 400 and answer.json()["code"] == 3, body
    missing = httpx.get(f"{server.url}{STREAMING}/redis/cluster/nothing", headers=headers(server))
    assert missing.status_code == 404 and missing.json()["code"] == 5
    assert (
        httpx.get(f"{server.url}{STREAMING}/kafka/list_clusters", headers=headers(server)).status_code == 404
    )


def test_a_redis_cluster_is_a_real_server(server: EmulatorServer, client: FacilityClient) -> None:
    require_engine("redis")
    import redis

    created = client.backend.create_streaming_cluster("redis", "readings", resources={"cpus": 1})
    assert created.state is StreamingClusterState.PROVISIONING and created.has_credentials
    again = httpx.post(
        f"{server.url}{STREAMING}/redis/provision_cluster",
        json={"kind": "valkey-general", "name": "readings"},
        headers=headers(server),
    )
    assert again.status_code == 409 and again.json()["code"] == 6
    cluster = client.backend.wait_streaming_cluster("redis", "readings", timeout=120, poll_interval=0.05)
    assert cluster.endpoints.addresses == ("127.0.0.1",) and cluster.resource_settings["cpus"] == 1

    producer = redis.Redis.from_url(cluster.connection_url())
    for value in range(3):
        producer.xadd("readings", {"value": str(value)})
    consumer = redis.Redis.from_url(cluster.connection_url())
    assert [fields[b"value"] for _, fields in consumer.xrange("readings")] == [b"0", b"1", b"2"]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(f"redis://demo-api:wrong@127.0.0.1:{cluster.endpoints.ports['redis']}").ping()
    producer.close()
    consumer.close()

    (listed,) = [c for c in client.backend.list_streaming_clusters("redis") if c.name == "readings"]
    assert listed.is_ready and not listed.has_credentials
    before = cluster.expires_at
    extended = client.backend.extend_streaming_cluster("redis", "readings")
    assert before is not None and extended is not None and extended >= before

    patterns = patterns_of(server, "redis", "readings")
    assert leftover_servers(patterns)  # running now
    assert client.backend.delete_streaming_cluster("redis", "readings") is True
    assert not leftover_servers(patterns)
    with pytest.raises(NotFoundError):
        client.backend.get_streaming_cluster("redis", "readings")
    assert client.backend.delete_streaming_cluster("redis", "readings", missing_ok=True) is False


def test_a_rabbitmq_cluster_is_a_real_broker(server: EmulatorServer, client: FacilityClient) -> None:
    require_engine("rabbitmq")
    import pika

    client.backend.create_streaming_cluster("rabbitmq", "events")
    cluster = client.backend.wait_streaming_cluster("rabbitmq", "events", timeout=300, poll_interval=0.2)
    assert set(cluster.endpoints.ports) == {"amqp"}

    connection = pika.BlockingConnection(pika.URLParameters(cluster.connection_url()))
    try:
        channel = connection.channel()
        channel.queue_declare("events")
        for number in range(3):
            channel.basic_publish("", "events", f"event {number}".encode())
        received = []
        for _ in range(3):
            _, _, body = channel.basic_get("events", auto_ack=True)
            received.append(body)
    finally:
        connection.close()
    assert received == [b"event 0", b"event 1", b"event 2"]

    assert cluster.management_url is not None and cluster.password is not None
    overview = httpx.get(
        f"{cluster.management_url}/api/overview",
        auth=(cluster.username or "", cluster.password.get_secret_value()),
    )
    assert overview.status_code == 200 and overview.json()["management_version"]

    patterns = patterns_of(server, "rabbitmq", "events")
    assert len(leftover_servers(patterns)) == 2  # the node and its own EPMD
    client.backend.delete_streaming_cluster("rabbitmq", "events")
    assert not leftover_servers(patterns)


def test_a_cluster_ends_with_its_lifetime(server: EmulatorServer, client: FacilityClient) -> None:
    require_engine("redis")
    admin(server, lifetime_seconds=1.0)
    try:
        client.backend.create_streaming_cluster("redis", "short-lived")
        patterns = patterns_of(server, "redis", "short-lived")
        deadline = time.monotonic() + 60
        while any(c.name == "short-lived" for c in client.backend.list_streaming_clusters("redis")):
            assert time.monotonic() < deadline, "the cluster outlived its lifetime"
            time.sleep(0.1)
    finally:
        admin(server, lifetime_seconds=7 * 24 * 3600.0)
    deadline = time.monotonic() + 60
    while leftover_servers(patterns):  # the worker stops it right after forgetting it
        assert time.monotonic() < deadline, "the expired cluster's server still runs"
        time.sleep(0.1)


def test_stopping_the_emulator_stops_its_servers(tmp_path: Any) -> None:
    require_engine("redis")
    with EmulatorServer(EmulatorConfig(root=tmp_path)) as other:
        token = other.flavour_credentials("s3m")["token"]
        with FacilityClient.connect("s3m", base_url=other.url, auth=token) as client:
            for name in ("one", "two"):
                client.backend.create_streaming_cluster("redis", name)
            client.backend.wait_streaming_cluster("redis", "two", timeout=120, poll_interval=0.05)
            patterns = [p for name in ("one", "two") for p in patterns_of(other, "redis", name)]
    assert not leftover_servers(patterns)
    assert not (tmp_path / ".s3m-streaming").exists()


def test_a_revoked_token_is_refused_afterwards(server: EmulatorServer, client: FacilityClient) -> None:
    spare = httpx.post(f"{server.url}/_emulator/s3m/tokens").json()["token"]
    with FacilityClient.connect("s3m", base_url=server.url, auth=spare, retry={"attempts": 1}) as doomed:
        assert doomed.backend.introspect()["project"] == "demo"
        doomed.backend.revoke_token()
        with pytest.raises(AuthenticationError):
            doomed.backend.introspect()
        with pytest.raises(AuthenticationError):
            doomed.backend.list_streaming_clusters()
    assert client.backend.introspect()["permissions"] == ["compute-ace", "data-streaming"]


def test_valkey_server_stands_in_where_redis_server_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from facility_emulator.s3m import servers

    installed = {"valkey-server": "/usr/bin/valkey-server"}
    monkeypatch.setattr(servers, "_program", lambda name, *candidates: installed.get(name))
    assert servers.RedisServer._server_program() == "/usr/bin/valkey-server"
    assert servers.RedisServer.unavailable() is None
    installed.clear()
    assert "redis-server" in (servers.RedisServer.unavailable() or "")
