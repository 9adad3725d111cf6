"""OLCF S3M's streaming service: RabbitMQ and Redis clusters on request, for up to 7 days.

The calls (package ``streaming.v1alpha`` of s3m-apis v0.3.5; REST paths from OLCF's S3M
documents), under ``streaming_path`` (default ``olcf/{enclave}/v1alpha/streaming``)::

    GET    list_backends                   Streaming.ListBackends
    POST   {engine}/provision_cluster      {Redis,RabbitMQ}Streaming.Provision...Cluster
    GET    {engine}/list_clusters          ...List...Clusters
    GET    {engine}/cluster/{name}         ...Get...Cluster
    POST   {engine}/extend/{name}          ...Extend...ClusterLife
    DELETE {engine}/cluster/{name}         ...Delete...Cluster

``engine`` is ``redis`` or ``rabbitmq``. Bodies use the gRPC gateway's JSON names (camelCase);
snake_case is read too. A provisioned cluster is not usable at once: its ``healthStatus`` says when
it is (:meth:`S3MStreaming.wait_streaming_cluster`). Clusters live 7 days from provisioning or
from their last extension, then the facility deletes them.

Inferred where S3M's documents are silent: the health words (``healthy``, ``progressing``,
``degraded``: Argo CD's vocabulary, compared without case), and ``endpoints``/``brokerEndpoints``
(``{addresses, ports}``, the ``AppEndpoints`` message) which newer gateways may add; the
endpoints are otherwise read from the cluster's URL.

Credentials (``username``, ``password`` and the URL that holds both) become
:class:`~facility_common.auth.Secret` values on :class:`~facility_common.StreamingCluster`; no
parser puts a value of the answer into an error message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import anyio

from ..auth.secret import Secret
from ..errors import APIError, InvalidJobSpec, NotFoundError, ServerError, TransportError, WaitTimeout
from ..http import ApiRequest, ApiSession
from ..streaming import (
    StreamingBackend,
    StreamingCluster,
    StreamingClusterState,
    StreamingEndpoints,
    StreamingFeatureFlag,
    StreamingResourceOption,
    public_url,
)

__all__ = [
    "CLUSTER_LIFETIME",
    "DEFAULT_STREAMING_PATH",
    "ENGINES",
    "S3MStreaming",
    "build_delete_cluster",
    "build_extend_cluster",
    "build_get_cluster",
    "build_list_backends",
    "build_list_clusters",
    "build_provision_cluster",
    "check_cluster_name",
    "check_engine",
    "parse_backends",
    "parse_cluster",
    "parse_clusters",
    "parse_lifetime",
    "parse_provisioned",
]

logger = logging.getLogger(__name__)

FACILITY = "s3m"
ENGINES = ("redis", "rabbitmq")
DEFAULT_STREAMING_PATH = "olcf/{enclave}/v1alpha/streaming"
CLUSTER_LIFETIME = timedelta(days=7)
"""How long a cluster lives after provisioning or its last extension (S3M's documents)."""

#: A cluster name becomes part of host names (``redis-<user>-<name>.io...``): a DNS label.
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")

_HEALTH: dict[str, StreamingClusterState] = {
    "healthy": StreamingClusterState.READY,
    "progressing": StreamingClusterState.PROVISIONING,
    "missing": StreamingClusterState.PROVISIONING,
    "pending": StreamingClusterState.PROVISIONING,
    "degraded": StreamingClusterState.DEGRADED,
    "unhealthy": StreamingClusterState.DEGRADED,
}
_warned_health: set[str] = set()

# The URL field of each engine: in a cluster answer, and in the provisioning answer.
_CLUSTER_URL = {"redis": ("redisUrl", "redis_url"), "rabbitmq": ("amqpsUrl", "amqps_url")}
_PROVISION_URL = {"redis": ("url", "url"), "rabbitmq": ("amqpsUrl", "amqps_url")}
_ENDPOINTS = {"redis": ("endpoints", "endpoints"), "rabbitmq": ("brokerEndpoints", "broker_endpoints")}


def check_engine(engine: object) -> str:
    """``engine`` if it is one S3M streams with, else InvalidJobSpec naming it."""
    if engine not in ENGINES:
        raise InvalidJobSpec(
            f"engine: S3M provisions {' and '.join(ENGINES)} clusters, not {engine!r}",
            field="engine",
            facility=FACILITY,
        )
    return str(engine)


def check_cluster_name(name: object) -> str:
    """``name`` if it can name a cluster (a DNS label: lowercase letters, digits and ``-``, at
    most 40 characters, starting with a letter), else InvalidJobSpec naming it."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidJobSpec(
            "name: a cluster name is 1 to 40 lowercase letters, digits and '-', starting with a "
            f"letter and not ending with '-' (got {name!r})",
            field="name",
            facility=FACILITY,
        )
    return name


def _segment(value: str) -> str:
    return quote(value, safe="")


def build_list_backends(prefix: str) -> ApiRequest:
    """:calls: GET olcf/{enclave}/v1alpha/streaming/list_backends"""
    return ApiRequest("GET", f"{prefix}/list_backends")


def build_provision_cluster(
    prefix: str,
    engine: str,
    name: str,
    kind: str,
    resources: Mapping[str, int],
    features: Mapping[str, bool],
) -> ApiRequest:
    """:calls: POST olcf/{enclave}/v1alpha/streaming/{engine}/provision_cluster"""
    body: dict[str, Any] = {"kind": kind, "name": name}
    if resources:
        body["resourceSettings"] = dict(resources)
    if features:
        body["featureFlags"] = dict(features)
    return ApiRequest("POST", f"{prefix}/{engine}/provision_cluster", json=body)


def build_list_clusters(prefix: str, engine: str) -> ApiRequest:
    """:calls: GET olcf/{enclave}/v1alpha/streaming/{engine}/list_clusters"""
    return ApiRequest("GET", f"{prefix}/{engine}/list_clusters")


def build_get_cluster(prefix: str, engine: str, name: str) -> ApiRequest:
    """:calls: GET olcf/{enclave}/v1alpha/streaming/{engine}/cluster/{name}"""
    return ApiRequest("GET", f"{prefix}/{engine}/cluster/{_segment(name)}")


def build_extend_cluster(prefix: str, engine: str, name: str) -> ApiRequest:
    """:calls: POST olcf/{enclave}/v1alpha/streaming/{engine}/extend/{name}

    Idempotent: extending resets the countdown to the full lifetime from now, however often."""
    return ApiRequest("POST", f"{prefix}/{engine}/extend/{_segment(name)}", idempotent=True)


def build_delete_cluster(prefix: str, engine: str, name: str) -> ApiRequest:
    """:calls: DELETE olcf/{enclave}/v1alpha/streaming/{engine}/cluster/{name}"""
    return ApiRequest("DELETE", f"{prefix}/{engine}/cluster/{_segment(name)}")


# -- parsers -------------------------------------------------------------------------------------


def _get(data: Mapping[str, Any], camel: str, snake: str) -> Any:
    return data.get(camel, data.get(snake))


def _object(data: Any, key: str | None = None) -> Mapping[str, Any]:
    value = data.get(key) if key is not None and isinstance(data, Mapping) else data
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object{f' under {key!r}' if key else ''}")
    return value


def _int(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected an integer")
    try:
        return int(value)  # proto3 JSON writes 64-bit integers as strings
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected an integer") from None


def _time(value: Any, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what}: expected an RFC 3339 time") from None


def parse_backends(data: Any) -> list[StreamingBackend]:
    """``{"backends": [{engine, kind, description, resourceOptions[], featureFlags[]}]}``."""
    items = _object(data).get("backends") or []
    if not isinstance(items, list):
        raise ValueError("'backends' is not a list")
    backends = []
    for item in items:
        item = _object(item)
        options = tuple(
            StreamingResourceOption(
                key=str(option["key"]),
                description=str(option.get("description") or ""),
                minimum=_int(option.get("min"), "min"),
                maximum=_int(option.get("max"), "max"),
                default=_int(option.get("default"), "default"),
            )
            for option in _get(item, "resourceOptions", "resource_options") or []
        )
        flags = tuple(
            StreamingFeatureFlag(
                key=str(flag["key"]),
                description=str(flag.get("description") or ""),
                default=bool(flag.get("default")),
            )
            for flag in _get(item, "featureFlags", "feature_flags") or []
        )
        backends.append(
            StreamingBackend(
                engine=str(item["engine"]),
                kind=str(item["kind"]),
                description=str(item.get("description") or ""),
                resource_options=options,
                feature_flags=flags,
            )
        )
    return backends


def parse_lifetime(
    data: Any, now: datetime | None = None
) -> tuple[datetime | None, datetime | None, int | None, datetime | None]:
    """``Lifetime`` as (provisioned_at, extended_at, lifetime_seconds, expires_at).

    The expiry is the last extension (or the provisioning) plus the lifetime; without those,
    now plus ``secondsRemaining``."""
    if not data:
        return None, None, None, None
    lifetime = _object(data)
    provisioned = _time(_get(lifetime, "provisionedAt", "provisioned_at"), "provisionedAt")
    extended = _time(_get(lifetime, "extendedAt", "extended_at"), "extendedAt")
    seconds = _int(_get(lifetime, "secondsLifetime", "seconds_lifetime"), "secondsLifetime")
    remaining = _int(_get(lifetime, "secondsRemaining", "seconds_remaining"), "secondsRemaining")
    start = extended or provisioned
    if start is not None and seconds is not None:
        expires: datetime | None = start + timedelta(seconds=seconds)
    elif remaining is not None:
        expires = (now or datetime.now(UTC)) + timedelta(seconds=remaining)
    else:
        expires = None
    return provisioned, extended, seconds, expires


def _state(health: str | None) -> StreamingClusterState:
    if not health:
        return StreamingClusterState.UNKNOWN
    state = _HEALTH.get(health.lower())
    if state is None:
        if health not in _warned_health:
            _warned_health.add(health)
            logger.warning("S3M reported the unknown cluster health %r; treating it as unknown", health)
        return StreamingClusterState.UNKNOWN
    return state


def _endpoints(engine: str, data: Mapping[str, Any], url: str | None) -> StreamingEndpoints:
    """``endpoints``/``brokerEndpoints`` where the answer has them, else the URL's host and port."""
    given = _get(data, *_ENDPOINTS[engine])
    if isinstance(given, Mapping):
        addresses = tuple(str(a) for a in given.get("addresses") or ())
        ports = {str(k): int(v) for k, v in (given.get("ports") or {}).items()}
        return StreamingEndpoints(addresses, ports)
    if not url:
        return StreamingEndpoints()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the cluster's URL does not parse") from None
    if not parts.hostname:
        raise ValueError("the cluster's URL names no host")
    return StreamingEndpoints((parts.hostname,), {parts.scheme: port} if port else {})


def _secret(value: Any) -> Secret | None:
    return Secret(str(value)) if value else None


def parse_cluster(engine: str, data: Any, now: datetime | None = None) -> StreamingCluster:
    """A ``RedisCluster``/``RabbitMqCluster`` (or its ``...Summary`` in a listing) object."""
    cluster = _object(data)
    url = _get(cluster, *_CLUSTER_URL[engine]) or None
    provisioned, extended, seconds, expires = parse_lifetime(cluster.get("lifetime"), now)
    health = _get(cluster, "healthStatus", "health_status") or None
    settings = _get(cluster, "resourceSettings", "resource_settings") or {}
    flags = _get(cluster, "featureFlags", "feature_flags") or {}
    return StreamingCluster(
        engine=engine,
        name=str(cluster["name"]),
        kind=str(cluster.get("kind") or ""),
        state=_state(health),
        health_status=health,
        sync_status=_get(cluster, "syncStatus", "sync_status") or None,
        endpoints=_endpoints(engine, cluster, url),
        public_url=public_url(url) if url else None,
        management_url=_get(cluster, "mgmtUrl", "mgmt_url") or None,
        username=cluster.get("username") or None,
        password=_secret(cluster.get("password")),
        url=_secret(url),
        provisioned_at=provisioned,
        extended_at=extended,
        expires_at=expires,
        lifetime_seconds=seconds,
        resource_settings={str(k): int(v) for k, v in _object(settings).items()},
        feature_flags={str(k): bool(v) for k, v in _object(flags).items()},
    )


def parse_clusters(engine: str, data: Any, now: datetime | None = None) -> list[StreamingCluster]:
    """``{"clusters": [summary...]}``."""
    items = _object(data).get("clusters") or []
    if not isinstance(items, list):
        raise ValueError("'clusters' is not a list")
    return [parse_cluster(engine, item, now) for item in items]


def parse_provisioned(
    engine: str,
    name: str,
    kind: str,
    data: Any,
    resources: Mapping[str, int],
    features: Mapping[str, bool],
    now: datetime | None = None,
) -> StreamingCluster:
    """The provisioning answer (``{username, password, url}`` for Redis, ``{username, password,
    amqpsUrl, mgmtUrl}`` for RabbitMQ): a cluster that is still provisioning, with its
    credentials and the documented 7-day lifetime from now."""
    answer = _object(data)
    url = _get(answer, *_PROVISION_URL[engine]) or None
    started = now or datetime.now(UTC)
    return StreamingCluster(
        engine=engine,
        name=name,
        kind=kind,
        state=StreamingClusterState.PROVISIONING,
        endpoints=_endpoints(engine, answer, url),
        public_url=public_url(url) if url else None,
        management_url=_get(answer, "mgmtUrl", "mgmt_url") or None,
        username=answer.get("username") or None,
        password=_secret(answer.get("password")),
        url=_secret(url),
        provisioned_at=started,
        expires_at=started + CLUSTER_LIFETIME,
        lifetime_seconds=int(CLUSTER_LIFETIME.total_seconds()),
        resource_settings=dict(resources),
        feature_flags=dict(features),
    )


# -- the backend's calls -------------------------------------------------------------------------


class S3MStreaming:
    """The streaming calls of :class:`~facility_common.backends.s3m.S3MBackend` (a mixin: it
    uses the backend's session, enclave and ``streaming_path`` option)."""

    _session: ApiSession
    enclave: str
    streaming_path: str

    def _streaming_prefix(self) -> str:
        return self.streaming_path.format(enclave=self.enclave).strip("/")

    def _answer_error(self, what: str, exc: Exception) -> APIError:
        return APIError(f"{what}: unusable answer ({exc})", facility=FACILITY)

    async def streaming_backends(self) -> list[StreamingBackend]:
        """The kinds of cluster S3M provisions: engine, kind, resource settings with their bounds,
        feature flags.

        :calls: GET olcf/{enclave}/v1alpha/streaming/list_backends
        """
        data = await self._session.call(build_list_backends(self._streaming_prefix()))
        try:
            return parse_backends(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._answer_error("GET streaming/list_backends", exc) from None

    async def _backend_for(self, engine: str, kind: str | None) -> StreamingBackend:
        offered = [b for b in await self.streaming_backends() if b.engine == engine]
        if not offered:
            raise InvalidJobSpec(
                f"engine: this S3M offers no {engine} clusters", field="engine", facility=FACILITY
            )
        if kind is None:
            return offered[0]
        for backend in offered:
            if backend.kind == kind:
                return backend
        kinds = ", ".join(b.kind for b in offered)
        raise InvalidJobSpec(
            f"kind: S3M offers the {engine} kinds {kinds}, not {kind!r}", field="kind", facility=FACILITY
        )

    async def create_streaming_cluster(
        self,
        engine: str,
        name: str,
        *,
        kind: str | None = None,
        resources: Mapping[str, int] | None = None,
        features: Mapping[str, bool] | None = None,
    ) -> StreamingCluster:
        """Provision a ``redis`` or ``rabbitmq`` cluster called ``name`` (unique per engine) and
        return it with its credentials, still provisioning.

        ``kind`` defaults to the first S3M lists for the engine; ``resources`` (``{"cpus": 2,
        "ram-gbs": 4}``) and ``features`` are checked against what that kind takes before the
        cluster is asked for. If the answer is lost (no answer, or a 5xx), the cluster is looked
        up by its name before the error is raised: a name cannot be provisioned twice.

        :calls: GET olcf/{enclave}/v1alpha/streaming/list_backends,
            POST olcf/{enclave}/v1alpha/streaming/{engine}/provision_cluster
        """
        engine = check_engine(engine)
        name = check_cluster_name(name)
        resources = dict(resources or {})
        features = dict(features or {})
        backend = await self._backend_for(engine, kind)
        backend.check_settings(resources, features, facility=FACILITY)
        request = build_provision_cluster(
            self._streaming_prefix(), engine, name, backend.kind, resources, features
        )
        try:
            data = await self._session.call(request)
        except (TransportError, ServerError):
            try:
                return await self.get_streaming_cluster(engine, name)
            except NotFoundError:
                pass
            raise
        try:
            return parse_provisioned(engine, name, backend.kind, data, resources, features)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._answer_error(f"POST streaming/{engine}/provision_cluster", exc) from None

    async def get_streaming_cluster(self, engine: str, name: str) -> StreamingCluster:
        """One cluster with its state, lifetime, endpoints and credentials.

        :calls: GET olcf/{enclave}/v1alpha/streaming/{engine}/cluster/{name}
        """
        engine = check_engine(engine)
        name = check_cluster_name(name)
        data = await self._session.call(build_get_cluster(self._streaming_prefix(), engine, name))
        try:
            return parse_cluster(engine, _object(data, "cluster"))
        except (KeyError, TypeError, ValueError) as exc:
            raise self._answer_error(f"GET streaming/{engine}/cluster/{name}", exc) from None

    async def list_streaming_clusters(self, engine: str | None = None) -> list[StreamingCluster]:
        """The project's clusters of ``engine``, or of both engines (no credentials in listings).

        :calls: GET olcf/{enclave}/v1alpha/streaming/{engine}/list_clusters
        """
        engines = ENGINES if engine is None else (check_engine(engine),)
        found: list[StreamingCluster] = []
        for each in engines:
            data = await self._session.call(build_list_clusters(self._streaming_prefix(), each))
            try:
                found += parse_clusters(each, data)
            except (KeyError, TypeError, ValueError) as exc:
                raise self._answer_error(f"GET streaming/{each}/list_clusters", exc) from None
        return found

    async def extend_streaming_cluster(self, engine: str, name: str) -> datetime | None:
        """Reset the cluster's countdown to its full lifetime (7 days) from now; returns when it
        now expires.

        :calls: POST olcf/{enclave}/v1alpha/streaming/{engine}/extend/{name}
        """
        engine = check_engine(engine)
        name = check_cluster_name(name)
        data = await self._session.call(build_extend_cluster(self._streaming_prefix(), engine, name))
        try:
            return parse_lifetime(_object(data).get("lifetime"))[3]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._answer_error(f"POST streaming/{engine}/extend/{name}", exc) from None

    async def delete_streaming_cluster(self, engine: str, name: str, *, missing_ok: bool = False) -> bool:
        """Delete a cluster (its data goes with it). Returns False when it did not exist and
        ``missing_ok`` (a teardown that may run twice); otherwise NotFoundError.

        :calls: DELETE olcf/{enclave}/v1alpha/streaming/{engine}/cluster/{name}
        """
        engine = check_engine(engine)
        name = check_cluster_name(name)
        try:
            await self._session.call(build_delete_cluster(self._streaming_prefix(), engine, name))
        except NotFoundError:
            if missing_ok:
                return False
            raise
        return True

    async def wait_streaming_cluster(
        self, engine: str, name: str, *, timeout: float = 600.0, poll_interval: float = 5.0
    ) -> StreamingCluster:
        """Ask for the cluster every ``poll_interval`` seconds until it is ready, and return it
        (with its credentials). WaitTimeout after ``timeout`` seconds; an APIError when S3M
        reports it degraded.

        :calls: GET olcf/{enclave}/v1alpha/streaming/{engine}/cluster/{name} (repeatedly)
        """
        deadline = anyio.current_time() + timeout
        while True:
            cluster = await self.get_streaming_cluster(engine, name)
            if cluster.state is StreamingClusterState.READY:
                return cluster
            if cluster.state is StreamingClusterState.DEGRADED:
                raise APIError(
                    f"{engine} cluster {name!r} is unhealthy ({cluster.health_status})", facility=FACILITY
                )
            if anyio.current_time() + poll_interval > deadline:
                raise WaitTimeout(
                    f"{engine} cluster {name!r} was not ready within {timeout:g} s "
                    f"(health {cluster.health_status or 'unknown'})",
                    facility=FACILITY,
                )
            await anyio.sleep(poll_interval)
