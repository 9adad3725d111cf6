"""Every streaming and token exchange between the S3M backend and the emulator follows S3M's own
message definitions.

No OpenAPI document covers S3M's streaming service (S3M's OpenAPI document is not public, and the
slurmrestd documents the Slurm calls are checked against have no streaming paths). What is public
is the ``streaming.v1alpha`` package of s3m-apis v0.3.5, whose messages are saved in
``specs/olcf-s3m/s3m-apis-messages-v0.3.5.json``. The gRPC gateway writes a message as JSON with
each field's lowerCamelCase name, 32-bit integers as numbers, 64-bit ones as strings, timestamps
as RFC 3339 text, maps as objects; errors are ``google.rpc.Status`` (``code``, ``message``,
``details``). This test records the exchanges of every streaming call the backend makes and checks
each request and answer body against the message of its RPC, field by field. The token calls
(introspection and ``revoke_token``) are checked the same way against the ``tms.v1`` package's
``TokenControl`` messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from facility_common import FacilityClient, InvalidJobSpec, NotFoundError
from facility_emulator import EmulatorConfig, EmulatorServer

from ..streaming_support import require_engine

MESSAGES = Path(__file__).resolve().parents[2] / "specs" / "olcf-s3m" / "s3m-apis-messages-v0.3.5.json"
PACKAGE = "streaming.v1alpha"

#: (method, path after the streaming prefix) -> (request message, answer message), per engine.
_RPCS = {
    ("GET", r"list_backends"): ("ListBackendsRequest", "ListBackendsResponse"),
    ("POST", r"(?P<e>redis|rabbitmq)/provision_cluster"): ("Provision{E}ClusterRequest", "Provision{E}ClusterResponse"),
    ("GET", r"(?P<e>redis|rabbitmq)/list_clusters"): ("List{E}ClustersRequest", "List{E}ClustersResponse"),
    ("GET", r"(?P<e>redis|rabbitmq)/cluster/[^/]+"): ("Get{E}ClusterRequest", "Get{E}ClusterResponse"),
    ("POST", r"(?P<e>redis|rabbitmq)/extend/[^/]+"): ("Extend{E}ClusterLifeRequest", "Extend{E}ClusterLifeResponse"),
    ("DELETE", r"(?P<e>redis|rabbitmq)/cluster/[^/]+"): ("Delete{E}ClusterRequest", "Delete{E}ClusterResponse"),
}  # fmt: skip
_ENGINE_NAMES = {"redis": "Redis", "rabbitmq": "RabbitMq"}
_PREFIX = re.compile(r"^/olcf/(?:[a-z]+/)?v1alpha/streaming/(.*)$")

pytestmark = pytest.mark.skipif(not MESSAGES.is_file(), reason=f"{MESSAGES.name} is not in specs/olcf-s3m")


def messages(package: str = PACKAGE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MESSAGES.read_text())["packages"][package]["messages"]
    return data


def json_name(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def rpc_of(method: str, path: str) -> tuple[str, str, str] | None:
    """(rpc, request message, answer message) of a recorded streaming call, None for others."""
    match = _PREFIX.match(path)
    if match is None:
        return None
    for (verb, pattern), (request, answer) in _RPCS.items():
        found = re.fullmatch(pattern, match.group(1))
        if verb == method and found:
            engine = _ENGINE_NAMES[found.group("e")] if "e" in found.groupdict() else ""
            return f"{verb} {pattern}", request.format(E=engine), answer.format(E=engine)
    raise AssertionError(f"{method} {path} is not a streaming call of s3m-apis v0.3.5")


def _is_timestamp(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return False


def _type_errors(where: str, python_type: str, value: Any, known: dict[str, Any]) -> list[str]:
    """What is wrong with ``value`` as a field of the introspected Python type ``python_type``."""
    for wrapper in ("Optional[", "List["):
        if python_type.startswith(wrapper):
            inner = python_type[len(wrapper) : -1]
            if wrapper == "List[":
                if not isinstance(value, list):
                    return [f"{where}: expected a list"]
                return [
                    e
                    for i, item in enumerate(value)
                    for e in _type_errors(f"{where}[{i}]", inner, item, known)
                ]
            return [] if value is None else _type_errors(where, inner, value, known)
    if python_type.startswith("Dict["):
        _, value_type = python_type[5:-1].split(", ")
        if not isinstance(value, dict):
            return [f"{where}: expected an object (a map)"]
        return [e for k, v in value.items() for e in _type_errors(f"{where}.{k}", value_type, v, known)]
    checks: dict[str, Any] = {
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: (
            (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v.isdigit())
        ),
        "datetime": _is_timestamp,
    }
    if python_type in checks:
        return [] if checks[python_type](value) else [f"{where}: {value!r} is not a {python_type}"]
    if python_type in known:
        return message_errors(where, python_type, value, known)
    return [f"{where}: unknown type {python_type}"]


def message_errors(where: str, name: str, value: Any, known: dict[str, Any] | None = None) -> list[str]:
    """Everything in ``value`` that the message ``name`` does not allow (unknown fields, types)."""
    known = known if known is not None else messages()
    if not isinstance(value, dict):
        return [f"{where}: expected an object ({name})"]
    fields = {json_name(field): spec for field, spec in known[name].items()}
    errors = []
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{where}.{key}: not a field of {name} ({', '.join(sorted(fields))})")
            continue
        errors += _type_errors(f"{where}.{key}", fields[key]["type"], item, known)
    return errors


def status_errors(where: str, value: Any) -> list[str]:
    """A gateway error must be a ``google.rpc.Status``."""
    if not isinstance(value, dict) or set(value) - {"code", "message", "details"}:
        return [f"{where}: not a google.rpc.Status: {value!r}"]
    if not isinstance(value.get("code"), int) or not isinstance(value.get("message"), str):
        return [f"{where}: code and message are required"]
    return []


def exchange_errors(exchange: Any) -> list[str]:
    rpc = rpc_of(exchange.method, exchange.path)
    assert rpc is not None
    _, request_message, answer_message = rpc
    where = f"{exchange.method} {exchange.path} -> {exchange.status}"
    errors = []
    if exchange.request_body:
        errors += message_errors(f"request {where}", request_message, json.loads(exchange.request_body))
    answer = json.loads(exchange.response_body)
    if exchange.status == 200:
        errors += message_errors(f"answer {where}", answer_message, answer)
    else:
        errors += status_errors(f"answer {where}", answer)
    return errors


@pytest.fixture(scope="module")
def recording_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("s3m-streaming-spec"), queue_delay=0.05)
    with EmulatorServer(config) as server:
        yield server


def exercise(server: EmulatorServer, streaming_path: str) -> None:
    """Every streaming call of the backend, for both engines, as a user would make them."""
    token = server.flavour_credentials("s3m")["token"]
    with FacilityClient.connect(
        "s3m", base_url=server.url, auth=token, streaming_path=streaming_path
    ) as client:
        streaming = client.backend
        assert {b.engine for b in streaming.streaming_backends()} == {"redis", "rabbitmq"}
        for engine in ("redis", "rabbitmq"):
            streaming.create_streaming_cluster(engine, "spec", resources={"cpus": 1})
            streaming.get_streaming_cluster(engine, "spec")
            streaming.list_streaming_clusters(engine)
            streaming.extend_streaming_cluster(engine, "spec")
            streaming.delete_streaming_cluster(engine, "spec")
            with pytest.raises(NotFoundError):
                streaming.get_streaming_cluster(engine, "spec")
        with pytest.raises(InvalidJobSpec):
            streaming.create_streaming_cluster("redis", "spec", resources={"cpus": 99})


@pytest.mark.parametrize("streaming_path", ["olcf/{enclave}/v1alpha/streaming", "olcf/v1alpha/streaming"])
def test_every_streaming_exchange_follows_the_s3m_messages(
    recording_emulator: EmulatorServer, streaming_path: str
) -> None:
    require_engine("redis")
    require_engine("rabbitmq")
    recording_emulator.clear_exchanges()
    exercise(recording_emulator, streaming_path)
    exchanges = [e for e in recording_emulator.exchanges() if _PREFIX.match(e.path)]
    rpcs = {rpc_of(e.method, e.path) for e in exchanges}
    assert len(rpcs) == 11, rpcs  # list_backends and the five cluster calls of each engine
    failures = [message for exchange in exchanges for message in exchange_errors(exchange)]
    assert not failures, json.dumps(failures[:20], indent=1)


def test_the_checker_finds_what_the_messages_do_not_allow() -> None:
    good = {"username": "u", "password": "p", "url": "redis://u:p@h:1"}
    assert not message_errors("x", "ProvisionRedisClusterResponse", good)
    assert message_errors("x", "ProvisionRedisClusterResponse", {**good, "redisUrl": "..."})
    lifetime = {"provisionedAt": "2026-01-01T00:00:00Z", "secondsLifetime": "many"}
    assert message_errors("x", "ExtendRedisClusterLifeResponse", {"lifetime": lifetime})
    assert message_errors("x", "ListBackendsResponse", {"backends": [{"resourceOptions": {}}]})


#: The token calls of the S3M backend -> (TokenControl RPC's request message, answer message).
_TOKEN_RPCS = {
    ("GET", "/olcf/v1/token/ctls/introspect"): ("IntrospectAuthTokenRequest", "IntrospectAuthTokenResponse"),
    ("DELETE", "/olcf/v1/token/ctls/revoke"): ("RevokeAuthTokenRequest", "RevokeAuthTokenResponse"),
}  # fmt: skip


def test_token_introspection_and_revocation_follow_the_tms_messages(
    recording_emulator: EmulatorServer,
) -> None:
    import httpx

    recording_emulator.clear_exchanges()
    spare = httpx.post(f"{recording_emulator.url}/_emulator/s3m/tokens").json()["token"]
    with FacilityClient.connect(
        "s3m", base_url=recording_emulator.url, auth=spare, retry={"attempts": 1}
    ) as client:
        assert client.whoami().projects == ("demo",)
        client.backend.revoke_token()
    known = messages("tms.v1")
    exchanges = [e for e in recording_emulator.exchanges() if (e.method, e.path) in _TOKEN_RPCS]
    assert {(e.method, e.path) for e in exchanges} == set(_TOKEN_RPCS)
    failures = []
    for exchange in exchanges:
        request_message, answer_message = _TOKEN_RPCS[(exchange.method, exchange.path)]
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        assert exchange.status == 200, where
        if exchange.request_body:
            failures += message_errors(
                f"request {where}", request_message, json.loads(exchange.request_body), known
            )
        failures += message_errors(
            f"answer {where}", answer_message, json.loads(exchange.response_body), known
        )
    assert not failures, json.dumps(failures, indent=1)
