"""S3M's streaming service: RabbitMQ and Redis clusters, provisioned for real on loopback.

Routes, under ``/olcf/{enclave}/v1alpha/streaming`` (OLCF's API reference) and
``/olcf/v1alpha/streaming`` (its streaming pages), with the token::

    GET    list_backends
    POST   {redis|rabbitmq}/provision_cluster   {"kind", "name", "resourceSettings"?, "featureFlags"?}
    GET    {redis|rabbitmq}/list_clusters
    GET    {redis|rabbitmq}/cluster/{name}
    POST   {redis|rabbitmq}/extend/{name}
    DELETE {redis|rabbitmq}/cluster/{name}

Bodies follow the ``streaming.v1alpha`` messages of s3m-apis v0.3.5 with the gRPC gateway's JSON
names (camelCase; 64-bit integers would be strings, these are 32-bit). Errors are the gateway's
``{"code", "message", "details"}`` with gRPC codes (3 invalid argument 400, 5 not found 404,
6 already exists 409, 14 unavailable 503).

Decisions where S3M is silent: a cluster name is a DNS label of at most 40 characters; the user
is ``{project}-api`` (OLCF's examples show ``stf040-api``); ``healthStatus`` goes
``progressing`` -> ``healthy`` (or ``degraded`` when the server could not start) and
``syncStatus`` ``syncing`` -> ``synced``; a RabbitMQ cluster is one node whatever ``nodes`` says;
the URLs are plain ``redis://`` and ``amqp://`` on 127.0.0.1 (S3M's are TLS on port 443), and
``mgmtUrl`` is the node's management plugin over plain HTTP. ``GET /_emulator/s3m/streaming``
shows the clusters (directories, ports, pids, no password); ``PUT`` it with
``{"lifetime_seconds": S, "start_timeout": S}`` to change those for new clusters and extensions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.facility import iso
from facility_emulator.s3m.clusters import ClusterExists, ClusterManager, ClusterRecord, EngineUnavailable
from facility_emulator.s3m.common import ENCLAVE, S3MToken
from facility_emulator.s3m.servers import RabbitMQServer

__all__ = ["BACKENDS", "streaming_routes"]

PREFIXES = ("/olcf/{enclave}/v1alpha/streaming", "/olcf/v1alpha/streaming")
ENGINES = ("redis", "rabbitmq")
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")

BACKENDS: list[dict[str, Any]] = [
    {
        "engine": "redis",
        "kind": "valkey-general",
        "description": "Valkey cluster (Redis-compatible)",
        "resourceOptions": [
            {"key": "cpus", "description": "CPUs per node/replica", "min": 1, "max": 4, "default": 2},
            {
                "key": "ram-gbs",
                "description": "RAM per node/replica in GBs",
                "min": 1,
                "max": 4,
                "default": 2,
            },
        ],
        "featureFlags": [],
    },
    {
        "engine": "rabbitmq",
        "kind": "general",
        "description": "RabbitMQ cluster",
        "resourceOptions": [
            {"key": "cpus", "description": "CPUs per node", "min": 1, "max": 16, "default": 2},
            {"key": "ram-gbs", "description": "RAM per node in GBs", "min": 1, "max": 32, "default": 4},
            {"key": "nodes", "description": "Number of nodes", "min": 1, "max": 3, "default": 1},
        ],
        "featureFlags": [],
    },
]
"""What ``list_backends`` answers: OLCF's documented Redis answer, and the RabbitMQ kind and
settings of its documents' examples (their bounds are the emulator's choice)."""

Handler = Callable[[Request], Awaitable[Response]]


def grpc_error(status: int, code: int, message: str) -> JSONResponse:
    """The gateway's error body."""
    return JSONResponse({"code": code, "message": message, "details": []}, status_code=status)


def _lifetime(record: ClusterRecord) -> dict[str, Any]:
    lifetime: dict[str, Any] = {
        "provisionedAt": iso(record.provisioned_at),
        "secondsLifetime": int(record.lifetime),
        "secondsRemaining": int(record.remaining()),
    }
    if record.extended_at is not None:
        lifetime["extendedAt"] = iso(record.extended_at)
    return lifetime


def _summary(record: ClusterRecord) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "name": record.name,
        "syncStatus": "synced" if record.health != "progressing" else "syncing",
        "healthStatus": record.health,
        "lifetime": _lifetime(record),
    }


def _cluster(record: ClusterRecord) -> dict[str, Any]:
    """A ``RedisCluster``/``RabbitMqCluster``: the summary, settings and credentials."""
    body = {
        **_summary(record),
        "resourceSettings": dict(record.resource_settings),
        "featureFlags": dict(record.feature_flags),
        "username": record.username,
        "password": record.server.password,
    }
    server = record.server
    if server.ports:
        if isinstance(server, RabbitMQServer):
            body["amqpsUrl"] = server.url()
            body["mgmtUrl"] = server.management_url()
        else:
            body["redisUrl"] = server.url()
    return body


def _check_provision(engine: str, body: Any) -> tuple[str, str, dict[str, int], dict[str, bool]] | str:
    """(kind, name, settings, flags) of a valid request, else what is wrong with it."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    unknown = sorted(set(body) - {"kind", "name", "resourceSettings", "featureFlags"})
    if unknown:
        return f"unknown field {unknown[0]!r}"
    offered = {b["kind"]: b for b in BACKENDS if b["engine"] == engine}
    kind, name = body.get("kind"), body.get("name")
    if kind not in offered:
        return f"kind must be one of {sorted(offered)}, not {kind!r}"
    if not isinstance(name, str) or not _NAME.match(name):
        return "name must be a DNS label: lowercase letters, digits and '-', at most 40 characters"
    options = {o["key"]: o for o in offered[kind]["resourceOptions"]}
    settings = body.get("resourceSettings") or {}
    flags = body.get("featureFlags") or {}
    if not isinstance(settings, dict) or not isinstance(flags, dict):
        return "resourceSettings and featureFlags must be objects"
    for key, value in settings.items():
        option = options.get(key)
        if option is None:
            return f"resourceSettings: unknown setting {key!r}"
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not option["min"] <= value <= option["max"]
        ):
            return f"resourceSettings.{key} must be an integer from {option['min']} to {option['max']}"
    known_flags = {f["key"] for f in offered[kind]["featureFlags"]}
    for key, value in flags.items():
        if key not in known_flags or not isinstance(value, bool):
            return f"featureFlags: unknown flag {key!r}"
    defaults = {key: option["default"] for key, option in options.items()}
    return str(kind), name, {**defaults, **settings}, dict(flags)


class StreamingRoutes:
    """The streaming calls over one :class:`ClusterManager`."""

    def __init__(self, manager: ClusterManager, token: S3MToken) -> None:
        self.manager = manager
        self.token = token

    @property
    def username(self) -> str:
        return f"{self.token.project.lower()}-api"

    def routes(self) -> list[Route]:
        calls: list[tuple[str, Handler, str]] = [
            ("/list_backends", self.list_backends, "GET"),
            ("/{engine}/provision_cluster", self.provision, "POST"),
            ("/{engine}/list_clusters", self.list_clusters, "GET"),
            ("/{engine}/cluster/{name}", self.get_cluster, "GET"),
            ("/{engine}/extend/{name}", self.extend, "POST"),
            ("/{engine}/cluster/{name}", self.delete, "DELETE"),
        ]
        routes = [Route(p + path, self._guarded(h), methods=[m]) for p in PREFIXES for path, h, m in calls]
        routes.append(Route("/_emulator/s3m/streaming", self.admin, methods=["GET", "PUT"]))
        return routes

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            refusal = self.token.check(request)
            if refusal is not None:
                return refusal
            enclave = request.path_params.get("enclave", ENCLAVE)
            if enclave != ENCLAVE:
                return grpc_error(404, 5, f"no enclave {enclave}")
            engine = request.path_params.get("engine")
            if engine is not None and engine not in ENGINES:
                return grpc_error(404, 5, f"no streaming engine {engine}")
            return await handler(request)

        return guarded

    async def list_backends(self, request: Request) -> Response:
        return JSONResponse({"backends": BACKENDS})

    async def provision(self, request: Request) -> Response:
        engine = request.path_params["engine"]
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return grpc_error(400, 3, "the body is not JSON")
        checked = _check_provision(engine, body)
        if isinstance(checked, str):
            return grpc_error(400, 3, checked)
        kind, name, settings, flags = checked
        try:
            record = await anyio.to_thread.run_sync(
                self.manager.provision, engine, name, kind, self.username, settings, flags
            )
        except ClusterExists as exc:
            return grpc_error(409, 6, str(exc))
        except EngineUnavailable as exc:
            return grpc_error(503, 14, f"{engine} clusters cannot be provisioned here: {exc}")
        answer: dict[str, Any] = {"username": record.username, "password": record.server.password}
        if record.server.ports:
            if isinstance(record.server, RabbitMQServer):
                answer["amqpsUrl"] = record.server.url()
                answer["mgmtUrl"] = record.server.management_url()
            else:
                answer["url"] = record.server.url()
        return JSONResponse(answer)

    async def list_clusters(self, request: Request) -> Response:
        records = await anyio.to_thread.run_sync(self.manager.list, request.path_params["engine"])
        return JSONResponse({"clusters": [_summary(r) for r in records]})

    async def _record(self, request: Request) -> ClusterRecord | Response:
        engine, name = request.path_params["engine"], request.path_params["name"]
        record = await anyio.to_thread.run_sync(self.manager.get, engine, name)
        if record is None:
            return grpc_error(404, 5, f"{engine} cluster {name} not found")
        return record

    async def get_cluster(self, request: Request) -> Response:
        record = await self._record(request)
        if isinstance(record, Response):
            return record
        return JSONResponse({"cluster": _cluster(record)})

    async def extend(self, request: Request) -> Response:
        engine, name = request.path_params["engine"], request.path_params["name"]
        record = await anyio.to_thread.run_sync(self.manager.extend, engine, name)
        if record is None:
            return grpc_error(404, 5, f"{engine} cluster {name} not found")
        return JSONResponse({"lifetime": _lifetime(record)})

    async def delete(self, request: Request) -> Response:
        engine, name = request.path_params["engine"], request.path_params["name"]
        if not await anyio.to_thread.run_sync(self.manager.delete, engine, name):
            return grpc_error(404, 5, f"{engine} cluster {name} not found")
        return JSONResponse({"success": True})

    async def admin(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return JSONResponse({"detail": "the body is not JSON"}, status_code=422)
            for key in ("lifetime_seconds", "start_timeout"):
                value = body.get(key) if isinstance(body, dict) else None
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
                ):
                    return JSONResponse({"detail": f"{key} must be a positive number"}, status_code=422)
            if body.get("lifetime_seconds") is not None:
                self.manager.set_lifetime(float(body["lifetime_seconds"]))
            if body.get("start_timeout") is not None:
                self.manager.start_timeout = float(body["start_timeout"])
        records = await anyio.to_thread.run_sync(self.manager.list)
        return JSONResponse(
            {
                "lifetime_seconds": self.manager.lifetime,
                "start_timeout": self.manager.start_timeout,
                "clusters": [r.admin_view() for r in records],
                "checked_at": iso(datetime.now().astimezone()),
            }
        )


def streaming_routes(manager: ClusterManager, token: S3MToken) -> list[Route]:
    return StreamingRoutes(manager, token).routes()
