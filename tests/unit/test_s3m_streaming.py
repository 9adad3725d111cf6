"""S3M streaming: request builders, parsers on the documented and recorded answers, the model's
secrets, and the checks made before anything is sent."""

from __future__ import annotations

import json
import logging
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from facility_common import (
    ConfigurationError,
    InvalidJobSpec,
    StreamingCluster,
    StreamingClusterState,
    UnsupportedOperation,
)
from facility_common.backends.s3m import S3MBackend
from facility_common.backends.s3m_streaming import (
    build_delete_cluster,
    build_extend_cluster,
    build_get_cluster,
    build_list_backends,
    build_list_clusters,
    build_provision_cluster,
    check_cluster_name,
    check_engine,
    parse_backends,
    parse_cluster,
    parse_clusters,
    parse_lifetime,
    parse_provisioned,
)
from facility_common.redaction import redact

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "s3m"
PREFIX = "olcf/open/v1alpha/streaming"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def test_the_requests_follow_the_documented_paths() -> None:
    assert build_list_backends(PREFIX).label == f"GET {PREFIX}/list_backends"
    provision = build_provision_cluster(PREFIX, "redis", "mycluster", "valkey-general", {"cpus": 2}, {})
    assert provision.label == f"POST {PREFIX}/redis/provision_cluster"
    assert provision.json == {"kind": "valkey-general", "name": "mycluster", "resourceSettings": {"cpus": 2}}
    assert provision.idempotent is None  # a POST: never re-sent blindly
    assert build_list_clusters(PREFIX, "rabbitmq").label == f"GET {PREFIX}/rabbitmq/list_clusters"
    assert build_get_cluster(PREFIX, "redis", "a-b").label == f"GET {PREFIX}/redis/cluster/a-b"
    extend = build_extend_cluster(PREFIX, "redis", "a")
    assert extend.label == f"POST {PREFIX}/redis/extend/a" and extend.idempotent is True
    assert build_delete_cluster(PREFIX, "rabbitmq", "a").label == f"DELETE {PREFIX}/rabbitmq/cluster/a"


def test_the_streaming_path_is_an_option_with_the_enclave_in_it() -> None:
    backend = S3MBackend(base_url="https://s3m.example", enclave="moderate")
    assert backend._streaming_prefix() == "olcf/moderate/v1alpha/streaming"
    older = S3MBackend(base_url="https://s3m.example", streaming_path="/olcf/v1alpha/streaming/")
    assert older._streaming_prefix() == "olcf/v1alpha/streaming"
    with pytest.raises(ConfigurationError, match="streaming_path"):
        S3MBackend(base_url="https://s3m.example", streaming_path="olcf/{project}/streaming")


def test_list_backends_as_documented() -> None:
    (redis,) = parse_backends(load("streaming_list_backends.json"))
    assert (redis.engine, redis.kind) == ("redis", "valkey-general")
    cpus, ram = redis.resource_options
    assert (cpus.key, cpus.minimum, cpus.maximum, cpus.default) == ("cpus", 1, 4, 2)
    assert ram.key == "ram-gbs" and redis.feature_flags == ()
    redis.check_settings({"cpus": 4, "ram-gbs": 1}, {})
    with pytest.raises(InvalidJobSpec, match=r"resources\['cpus'\]: 5 is outside 1..4") as caught:
        redis.check_settings({"cpus": 5}, {}, facility="s3m")
    assert caught.value.field == "resources['cpus']" and caught.value.facility == "s3m"
    with pytest.raises(InvalidJobSpec, match=r"no such setting .*known: cpus, ram-gbs"):
        redis.check_settings({"nodes": 2}, {})
    with pytest.raises(InvalidJobSpec, match="must be an integer"):
        redis.check_settings({"cpus": True}, {})
    with pytest.raises(InvalidJobSpec, match="no such feature"):
        redis.check_settings({}, {"tls": True})


def test_a_provisioned_redis_cluster_keeps_its_credentials_secret() -> None:
    answer = load("streaming_redis_provisioned.json")
    now = datetime(2026, 7, 1, tzinfo=UTC)
    cluster = parse_provisioned("redis", "mycluster", "valkey-general", answer, {"cpus": 2}, {}, now)
    assert cluster.state is StreamingClusterState.PROVISIONING
    assert (
        cluster.public_url
        == "redis://redis-stf040-api-mycluster.io.s3m-streams.apps.olivine.ccs.ornl.gov:443"
    )
    assert cluster.endpoints.addresses == (
        "redis-stf040-api-mycluster.io.s3m-streams.apps.olivine.ccs.ornl.gov",
    )
    assert cluster.endpoints.ports == {"redis": 443}
    assert cluster.expires_at == now + timedelta(days=7)
    assert cluster.connection_url() == answer["url"]
    password = answer["password"]
    for shown in (repr(cluster), str(cluster), json.dumps(cluster.to_dict()), f"{cluster}"):
        assert password not in shown
    assert "password" not in cluster.to_dict() and "url" not in cluster.to_dict()
    again = StreamingCluster.from_dict(json.loads(json.dumps(cluster.to_dict())))
    assert again.public_url == cluster.public_url and not again.has_credentials
    with pytest.raises(UnsupportedOperation, match="no credentials"):
        again.connection_url()
    assert password not in repr(pickle.loads(pickle.dumps(cluster.to_dict())))


def test_a_provisioned_rabbitmq_cluster_has_its_management_url() -> None:
    cluster = parse_provisioned(
        "rabbitmq", "mycluster", "general", load("streaming_rabbitmq_provisioned.json"), {}, {}
    )
    assert (
        cluster.public_url == "amqps://rmq-stf040-api-mycluster.io.s3m-streams.apps.olivine.ccs.ornl.gov:443"
    )
    assert cluster.endpoints.ports == {"amqps": 443}
    assert (
        cluster.management_url
        == "https://rmq-stf040-api-mycluster.mgmt.s3m-streams.apps.olivine.ccs.ornl.gov"
    )


def test_a_cluster_with_endpoints_and_an_extended_life() -> None:
    data = load("streaming_rabbitmq_cluster_endpoints.json")["cluster"]
    cluster = parse_cluster("rabbitmq", data)
    assert cluster.state is StreamingClusterState.READY  # "Healthy": compared without case
    assert cluster.endpoints.addresses == ("rmq-0.s3m-streams.example", "rmq-1.s3m-streams.example")
    assert cluster.extended_at == datetime(2026, 7, 3, 8, 30, tzinfo=UTC)
    assert cluster.expires_at == datetime(2026, 7, 10, 8, 30, tzinfo=UTC)
    assert cluster.resource_settings == {"cpus": 2, "ram-gbs": 4, "nodes": 2}
    assert data["password"] not in repr(cluster)


def test_recorded_redis_answers() -> None:
    cluster = parse_cluster("redis", load("streaming_redis_cluster.json")["cluster"])
    assert cluster.is_ready and cluster.username == "demo-api"
    assert cluster.endpoints.ports == {"redis": 40123}
    (summary,) = parse_clusters("redis", load("streaming_redis_clusters.json"))
    assert summary.state is StreamingClusterState.PROVISIONING and not summary.has_credentials
    assert summary.sync_status == "syncing"
    merged = summary.with_credentials(cluster)
    assert merged.connection_url() == cluster.connection_url() and merged.state is summary.state


def test_lifetime_without_start_falls_back_to_the_remaining_seconds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_lifetime({"secondsRemaining": "60"}, now)[3] == now + timedelta(minutes=1)
    assert parse_lifetime(None) == (None, None, None, None)
    with pytest.raises(ValueError, match="secondsLifetime"):
        parse_lifetime({"secondsLifetime": "forever"})


def test_unknown_health_is_unknown_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    data = {"name": "x", "kind": "general", "healthStatus": "Suspended-For-Testing"}
    with caplog.at_level(logging.WARNING):
        first = parse_cluster("rabbitmq", data)
        parse_cluster("rabbitmq", data)
    assert first.state is StreamingClusterState.UNKNOWN and first.health_status == "Suspended-For-Testing"
    assert sum("Suspended-For-Testing" in r.getMessage() for r in caplog.records) == 1


def test_a_malformed_url_fails_without_showing_it() -> None:
    data = {"name": "x", "redisUrl": "redis://demo:hunter22secret@host:notaport"}
    with pytest.raises(ValueError) as caught:
        parse_cluster("redis", data)
    assert "hunter22secret" not in str(caught.value)


def test_engine_and_name_are_checked_before_any_request() -> None:
    assert check_engine("rabbitmq") == "rabbitmq"
    with pytest.raises(InvalidJobSpec, match="engine: S3M provisions redis and rabbitmq") as caught:
        check_engine("kafka")
    assert caught.value.field == "engine"
    for good in ("a", "my-cluster-2", "x" * 40):
        assert check_cluster_name(good) == good
    for bad in ("", "My", "-a", "a-", "a_b", "a.b", "x" * 41, 7, "a/b"):
        with pytest.raises(InvalidJobSpec, match="name:"):
            check_cluster_name(bad)


def test_url_passwords_are_redacted_from_texts() -> None:
    text = "connect to redis://stf040-api:SNTaPeBOpdurUEqy@host:443 or amqps://u:p4ssw0rd@h:443/%2F"
    cleaned = redact(text)
    assert "SNTaPeBOpdurUEqy" not in cleaned and "p4ssw0rd" not in cleaned
    assert "redis://stf040-api:**********@host:443" in cleaned
    assert redact("https://example.org:8443/a@b") == "https://example.org:8443/a@b"
