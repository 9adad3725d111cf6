"""Turn an Airflow connection into the arguments of ``FacilityClient.connect``.

Pure functions of the connection's fields, so they are the same in a worker and in the triggerer
and can be tested without a metadata database. Secrets come only from the connection (its password
or extras); nothing here reads the process environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from facility_common import ConfigurationError, available_backends

from ..connections import AUTH_TYPES, api_for_conn_type

__all__ = ["ClientSettings", "ConnectionLike", "client_settings", "connection_errors"]

BACKEND_OPTIONS = (
    "project",
    "api_version",
    "timeout",
    "verify",
    "ca_bundle",
    "allow_insecure_http",
    "task_poll_interval",
)
"""Extras passed to the backend as options (when set). Any other backend option goes in the
``backend_options`` extra, a JSON object passed through as is."""


class ConnectionLike(Protocol):
    """The part of an Airflow ``Connection`` this module reads."""

    @property
    def conn_id(self) -> str: ...
    @property
    def conn_type(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def schema(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """Everything needed to build a client; ``repr`` never shows the credentials."""

    conn_id: str
    backend: str
    base_url: str
    auth: Any = dataclasses.field(repr=False)
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    job_url_template: str | None = None

    @property
    def fingerprint(self) -> str:
        """A digest of the settings (credentials included) that reveals none of them; two
        connections with the same fingerprint can share one client."""
        payload = json.dumps(
            [self.conn_id, self.backend, self.base_url, self.auth, dict(self.options)],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


# Where a client option or auth key comes from in an Airflow connection, for error messages.
_CONNECTION_FIELDS = {
    "base_url": "host",
    "api": "conn_type",
    "auth.client_id": "login",
    "client_id": "login",
    "auth.user": "login",
    "auth.client_secret": "password",
    "auth.token": "password",
    "auth.private_key": "password",
    "private_key": "password",
    "auth.refresh_token": "password",
    "auth.token_url": "extra.token_url",
    "token_url": "extra.token_url",
    "auth.key_path": "extra.key_path",
    "key_path": "extra.key_path",
    "auth.path": "extra.token_file",
    "token_file": "extra.token_file",
    "auth.secret_key": "extra.secret_key",
    "verify": "extra.verify",
    "allow_insecure_http": "extra.allow_insecure_http",
}
_LEADING_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]']*): ")


@contextlib.contextmanager
def connection_errors(conn_id: str, facility: str | None = None) -> Iterator[None]:
    """Re-raise a client's :class:`ConfigurationError` naming the connection and its field.

    ``FacilityClient.connect`` names its own arguments (``base_url``, ``auth.client_secret``);
    a connection's user knows ``host``, ``password`` and the extras, so the message says those.
    """
    try:
        yield
    except ConfigurationError as exc:
        message = exc.message
        if message.startswith(f"connection {conn_id!r}"):
            raise
        match = _LEADING_FIELD.match(message)
        if match and match.group(1) in _CONNECTION_FIELDS:
            field = _CONNECTION_FIELDS[match.group(1)]
            message = f"{field} ({match.group(1)}): {message[match.end() :]}"
        raise ConfigurationError(
            f"connection {conn_id!r}, {message}", facility=exc.facility or facility
        ) from exc


def _base_url(conn: ConnectionLike, facility: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, host: the base URL is empty", facility=facility
        )
    if "://" in host:
        return host.rstrip("/")
    scheme = (conn.schema or "https").strip() or "https"
    port = f":{conn.port}" if conn.port else ""
    host_part, slash, path = host.partition("/")
    return f"{scheme}://{host_part}{port}{slash}{path}".rstrip("/")


def _auth(conn: ConnectionLike, extras: Mapping[str, Any], facility: str) -> Any:
    explicit = extras.get("auth")
    if explicit:
        if isinstance(explicit, str):
            try:
                explicit = json.loads(explicit)
            except ValueError:
                raise ConfigurationError(
                    f"connection {conn.conn_id!r}, extra.auth: must be a JSON object", facility=facility
                ) from None
        return explicit
    auth_type = extras.get("auth_type") or "token"
    if auth_type not in AUTH_TYPES:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, extra.auth_type: {auth_type!r} is not one of "
            f"{', '.join(AUTH_TYPES)}",
            facility=facility,
        )
    if auth_type == "token":
        return conn.password or extras.get("token") or None
    mapping: dict[str, Any] = {"type": auth_type}
    if auth_type == "token_file":
        mapping["path"] = extras.get("token_file") or extras.get("path")
    elif auth_type == "oidc_client_credentials":
        mapping.update(
            token_url=extras.get("token_url"),
            client_id=conn.login or extras.get("client_id"),
            client_secret=conn.password or extras.get("client_secret"),
        )
        if extras.get("scope"):
            mapping["scope"] = extras["scope"]
    elif auth_type == "globus_confidential":
        mapping.update(
            client_id=conn.login or extras.get("client_id"),
            client_secret=conn.password or extras.get("client_secret"),
        )
        if extras.get("scope"):
            mapping["scopes"] = str(extras["scope"]).split()
    elif auth_type in ("basic", "flux_shared_secret", "flux_password"):
        mapping.update(user=conn.login or extras.get("user"), token=conn.password or extras.get("token"))
        if auth_type == "flux_shared_secret":
            mapping["secret_key"] = extras.get("secret_key")
    elif auth_type == "private_key_jwt":
        mapping.update(token_url=extras.get("token_url"), client_id=conn.login or extras.get("client_id"))
        if extras.get("key_path"):
            mapping["key_path"] = extras["key_path"]
        else:
            mapping["private_key"] = conn.password or extras.get("private_key")
    else:  # globus_refresh_token
        mapping["client_id"] = conn.login or extras.get("client_id")
        refresh_token = conn.password or extras.get("refresh_token")
        if refresh_token:
            mapping["refresh_token"] = refresh_token
        if extras.get("storage_path"):
            mapping["storage_path"] = extras["storage_path"]
    if extras.get("resource_server") and auth_type.startswith("globus"):
        mapping["resource_server"] = extras["resource_server"]
    return mapping


def client_settings(conn: ConnectionLike) -> ClientSettings:
    """The client settings of ``conn``; raises ConfigurationError naming what is wrong."""
    api = api_for_conn_type(conn.conn_type)
    if api is None:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, conn_type: {conn.conn_type!r} is not a facility "
            "connection type (use facility_iri, facility_sfapi, facility_s3m, facility_slurmrest, "
            "facility_flux or facility_firecrest)",
            facility=conn.conn_type or None,
        )
    if api.backend not in available_backends():
        raise ConfigurationError(
            f"connection {conn.conn_id!r} is a {api.label} connection ({api.conn_type}), but the "
            f"{api.backend!r} backend is not available in this installation; available backends: "
            f"{', '.join(available_backends())}",
            facility=api.backend,
        )
    extras = conn.extra_dejson
    options = {key: extras[key] for key in BACKEND_OPTIONS if extras.get(key) not in (None, "")}
    passthrough = extras.get("backend_options") or {}
    if isinstance(passthrough, str):
        try:
            passthrough = json.loads(passthrough)
        except ValueError:
            passthrough = None
    if not isinstance(passthrough, dict):
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, extra.backend_options: must be a JSON object",
            facility=api.backend,
        )
    options.update(passthrough)
    for key in ("verify", "allow_insecure_http"):
        # Extras arrive as text from forms and URIs; a CA bundle path stays a path.
        if isinstance(options.get(key), str):
            word = options[key].strip().lower()
            if word in ("false", "0", "no", "off"):
                options[key] = False
            elif word in ("true", "1", "yes", "on"):
                options[key] = True
            elif key == "allow_insecure_http":
                raise ConfigurationError(
                    f"connection {conn.conn_id!r}, extra.{key}: expected true or false",
                    facility=api.backend,
                )
    if "timeout" in options:
        try:
            options["timeout"] = float(options["timeout"])
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"connection {conn.conn_id!r}, extra.timeout: expected a number of seconds",
                facility=api.backend,
            ) from None
    base_url = _base_url(conn, api.backend)
    auth = _auth(conn, extras, api.backend)
    if isinstance(auth, dict) and auth.get("type") in ("flux_shared_secret", "flux_password"):
        auth.setdefault("base_url", base_url)
    return ClientSettings(
        conn_id=conn.conn_id,
        backend=api.backend,
        base_url=base_url,
        auth=auth,
        options=options,
        job_url_template=extras.get("job_url_template") or None,
    )
