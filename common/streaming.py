"""The model of message-streaming clusters a facility provisions on request (OLCF S3M's RabbitMQ
and Redis clusters): what kinds it offers, and one cluster with its endpoints and credentials.

Like the other models these are frozen dataclasses with ``to_dict()``/``from_dict()`` producing
plain JSON, so a cluster can sit in XCom. A cluster's password and its URL with credentials are
:class:`~facility_common.auth.Secret` values: they never show in ``repr``, and ``to_dict()``
leaves them out. Only :meth:`StreamingCluster.connection_url` hands them out, for the caller who
connects to the cluster.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .auth.secret import Secret
from .errors import InvalidJobSpec, UnsupportedOperation
from .models import _dt_from_json, _dt_to_json

__all__ = [
    "StreamingBackend",
    "StreamingCluster",
    "StreamingClusterState",
    "StreamingEndpoints",
    "StreamingFeatureFlag",
    "StreamingResourceOption",
    "public_url",
]


class StreamingClusterState(enum.Enum):
    """Where a streaming cluster is in its life, from the API's health word."""

    PROVISIONING = "provisioning"
    """Asked for and not serving yet (the API provisions in the background)."""
    READY = "ready"
    """Healthy: clients can connect."""
    DEGRADED = "degraded"
    """The API reports it unhealthy."""
    UNKNOWN = "unknown"
    """The API said nothing, or a word we do not know (kept in ``health_status``)."""


@dataclasses.dataclass(frozen=True)
class StreamingResourceOption:
    """A resource setting a kind of cluster takes (``cpus``, ``ram-gbs``...), with its bounds."""

    key: str
    description: str = ""
    minimum: int | None = None
    maximum: int | None = None
    default: int | None = None

    def check(self, value: object, *, field: str, facility: str | None = None) -> None:
        """Raise InvalidJobSpec naming ``field`` unless ``value`` is an integer within bounds."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidJobSpec(
                f"{field}: must be an integer, got {type(value).__name__}", field=field, facility=facility
            )
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise InvalidJobSpec(
                f"{field}: {value} is outside {self.minimum}..{self.maximum}", field=field, facility=facility
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamingResourceOption:
        return cls(
            key=str(data["key"]),
            description=str(data.get("description") or ""),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            default=data.get("default"),
        )


@dataclasses.dataclass(frozen=True)
class StreamingFeatureFlag:
    """An on/off feature a kind of cluster offers, with its default."""

    key: str
    description: str = ""
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamingFeatureFlag:
        return cls(str(data["key"]), str(data.get("description") or ""), bool(data.get("default")))


@dataclasses.dataclass(frozen=True)
class StreamingBackend:
    """One kind of cluster the API provisions: an ``engine`` (``redis``, ``rabbitmq``) and a
    ``kind`` of it (``valkey-general``), with the settings and features it takes."""

    engine: str
    kind: str
    description: str = ""
    resource_options: tuple[StreamingResourceOption, ...] = ()
    feature_flags: tuple[StreamingFeatureFlag, ...] = ()

    def check_settings(
        self,
        resources: Mapping[str, object],
        features: Mapping[str, object],
        *,
        facility: str | None = None,
    ) -> None:
        """Raise InvalidJobSpec naming the first setting or feature this kind does not take, or
        a value out of its bounds (``resources['cpus']``), before anything is provisioned."""
        options = {option.key: option for option in self.resource_options}
        for key, value in resources.items():
            field = f"resources[{key!r}]"
            if key not in options:
                known = ", ".join(sorted(options)) or "none"
                raise InvalidJobSpec(
                    f"{field}: {self.engine} kind {self.kind!r} takes no such setting (known: {known})",
                    field=field,
                    facility=facility,
                )
            options[key].check(value, field=field, facility=facility)
        flags = {flag.key for flag in self.feature_flags}
        for key, value in features.items():
            field = f"features[{key!r}]"
            if key not in flags:
                known = ", ".join(sorted(flags)) or "none"
                raise InvalidJobSpec(
                    f"{field}: {self.engine} kind {self.kind!r} has no such feature (known: {known})",
                    field=field,
                    facility=facility,
                )
            if not isinstance(value, bool):
                raise InvalidJobSpec(
                    f"{field}: must be true or false, got {type(value).__name__}",
                    field=field,
                    facility=facility,
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "kind": self.kind,
            "description": self.description,
            "resource_options": [option.to_dict() for option in self.resource_options],
            "feature_flags": [flag.to_dict() for flag in self.feature_flags],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamingBackend:
        return cls(
            engine=str(data["engine"]),
            kind=str(data["kind"]),
            description=str(data.get("description") or ""),
            resource_options=tuple(
                StreamingResourceOption.from_dict(o) for o in data.get("resource_options") or ()
            ),
            feature_flags=tuple(StreamingFeatureFlag.from_dict(f) for f in data.get("feature_flags") or ()),
        )


@dataclasses.dataclass(frozen=True)
class StreamingEndpoints:
    """Where a cluster listens: its host names or addresses and its ports by protocol
    (``{"redis": 443}``, ``{"amqps": 443}``)."""

    addresses: tuple[str, ...] = ()
    ports: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"addresses": list(self.addresses), "ports": dict(self.ports)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamingEndpoints:
        return cls(
            tuple(str(a) for a in data.get("addresses") or ()),
            {str(k): int(v) for k, v in (data.get("ports") or {}).items()},
        )


def public_url(url: str) -> str:
    """``url`` without its user name and password (``redis://host:443``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclasses.dataclass(frozen=True)
class StreamingCluster:
    """A streaming cluster as the API reports it.

    ``url`` (the connection URL with the user name and password in it) and ``password`` are
    present only in the answers that carry credentials (provisioning and getting one cluster, not
    listings). ``public_url`` is the same URL without them; ``endpoints`` its addresses and ports.
    ``expires_at`` is when the facility deletes the cluster unless its life is extended.
    """

    engine: str
    name: str
    kind: str = ""
    state: StreamingClusterState = StreamingClusterState.UNKNOWN
    health_status: str | None = None
    sync_status: str | None = None
    endpoints: StreamingEndpoints = dataclasses.field(default_factory=StreamingEndpoints)
    public_url: str | None = None
    management_url: str | None = None
    username: str | None = None
    password: Secret | None = None
    url: Secret | None = None
    provisioned_at: datetime | None = None
    extended_at: datetime | None = None
    expires_at: datetime | None = None
    lifetime_seconds: int | None = None
    resource_settings: Mapping[str, int] = dataclasses.field(default_factory=dict)
    feature_flags: Mapping[str, bool] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.state, StreamingClusterState):
            raise TypeError(f"StreamingCluster.state: expected a StreamingClusterState, got {self.state!r}")
        for field in ("password", "url"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, Secret):
                raise TypeError(f"StreamingCluster.{field}: expected a Secret")

    @property
    def is_ready(self) -> bool:
        return self.state is StreamingClusterState.READY

    @property
    def has_credentials(self) -> bool:
        """Whether this answer carried the cluster's credentials."""
        return self.url is not None

    def connection_url(self) -> str:
        """The URL to connect with, user name and password included: hand it to the Redis or AMQP
        client and nowhere else (not to a log, XCom or a rendered template)."""
        if self.url is None:
            raise UnsupportedOperation(
                f"{self.engine} cluster {self.name!r}: this answer carries no credentials (listings "
                "never do); get the cluster by name"
            )
        return self.url.get_secret_value()

    def with_credentials(self, other: StreamingCluster) -> StreamingCluster:
        """This answer, with the credentials and URLs of ``other`` where it has none."""
        return dataclasses.replace(
            self,
            username=self.username or other.username,
            password=self.password or other.password,
            url=self.url or other.url,
            public_url=self.public_url or other.public_url,
            management_url=self.management_url or other.management_url,
            endpoints=self.endpoints if self.endpoints.addresses else other.endpoints,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON without the secrets (``password`` and ``url`` are left out)."""
        return {
            "engine": self.engine,
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "health_status": self.health_status,
            "sync_status": self.sync_status,
            "endpoints": self.endpoints.to_dict(),
            "public_url": self.public_url,
            "management_url": self.management_url,
            "username": self.username,
            "provisioned_at": _dt_to_json(self.provisioned_at),
            "extended_at": _dt_to_json(self.extended_at),
            "expires_at": _dt_to_json(self.expires_at),
            "lifetime_seconds": self.lifetime_seconds,
            "resource_settings": dict(self.resource_settings),
            "feature_flags": dict(self.feature_flags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamingCluster:
        return cls(
            engine=str(data["engine"]),
            name=str(data["name"]),
            kind=str(data.get("kind") or ""),
            state=StreamingClusterState(data.get("state") or "unknown"),
            health_status=data.get("health_status"),
            sync_status=data.get("sync_status"),
            endpoints=StreamingEndpoints.from_dict(data.get("endpoints") or {}),
            public_url=data.get("public_url"),
            management_url=data.get("management_url"),
            username=data.get("username"),
            provisioned_at=_dt_from_json(data.get("provisioned_at")),
            extended_at=_dt_from_json(data.get("extended_at")),
            expires_at=_dt_from_json(data.get("expires_at")),
            lifetime_seconds=data.get("lifetime_seconds"),
            resource_settings=dict(data.get("resource_settings") or {}),
            feature_flags=dict(data.get("feature_flags") or {}),
        )
