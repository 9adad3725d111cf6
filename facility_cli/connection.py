"""Where the ``facility`` command finds its connection, and how it turns one into a client.

A connection names an API (a backend of :mod:`facility_common.registry`), a base URL, an auth
setting as :func:`facility_common.auth.resolve_auth` accepts it, backend options and an optional
default resource. It comes from, in this order:

1. ``--conn VALUE``: the name of a connection in the config file, an Airflow-style connection URI
   (``facility-iri://:TOKEN@HOST...``) or an Airflow JSON connection (``{"conn_type": ...}``);
2. the ``FACILITY_CONN`` environment variable, read the same way;
3. ``FACILITY_URL`` with ``FACILITY_API`` and one of ``FACILITY_TOKEN``, ``FACILITY_TOKEN_FILE``
   or ``FACILITY_AUTH`` (a JSON auth mapping); ``FACILITY_PROJECT`` and ``FACILITY_RESOURCE``;
4. the config file's ``default`` connection, or its only one.

The config file is TOML at ``$FACILITY_CONFIG``, else ``$XDG_CONFIG_HOME/facility/connections.toml``
(``~/.config/facility/connections.toml``). Nothing here ever prints or logs a secret:
:meth:`Connection.describe` shows the auth type only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from facility_common import ConfigurationError, FacilityClient

__all__ = ["Connection", "config_path", "connection_from_airflow", "load_connection"]

BACKEND_OPTIONS = (
    "project",
    "api_version",
    "timeout",
    "verify",
    "ca_bundle",
    "allow_insecure_http",
    "task_poll_interval",
)
"""Airflow extras that are backend options (the same list as the Airflow hook reads)."""
FLUX_HANDSHAKES = ("flux_shared_secret", "flux_password")
"""Auth types that need the API's base URL, which defaults to the connection's."""


@dataclasses.dataclass(frozen=True)
class Connection:
    """Everything needed to build a client; ``repr`` never shows the credentials."""

    name: str
    api: str
    base_url: str
    auth: Any = dataclasses.field(default=None, repr=False)
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    resource: str | None = None

    @property
    def auth_type(self) -> str:
        """The kind of credentials (``token``, ``oidc_client_credentials``...), never their value."""
        if self.auth is None:
            return "none"
        if isinstance(self.auth, Mapping):
            return str(self.auth.get("type", "unknown"))
        return "token"

    def describe(self) -> str:
        """One line naming the connection without any secret."""
        return f"{self.name}: {self.api} at {self.base_url} (auth: {self.auth_type})"

    def client(self, **defaults: Any) -> FacilityClient:
        """A blocking client for this connection (no network call is made here); ``defaults``
        are backend options used where the connection sets none."""
        auth = self.auth
        if isinstance(auth, Mapping) and auth.get("type") in FLUX_HANDSHAKES and "base_url" not in auth:
            auth = {**auth, "base_url": self.base_url}
        options = {**defaults, **self.options}
        return FacilityClient.connect(self.api, base_url=self.base_url, auth=auth, **options)


def config_path() -> Path:
    """The config file: ``$FACILITY_CONFIG`` or ``<user config dir>/facility/connections.toml``."""
    explicit = os.environ.get("FACILITY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "facility" / "connections.toml"


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"config file {path}: {exc}") from None


def _from_table(name: str, table: Mapping[str, Any], path: Path) -> Connection:
    """A connection from one ``[connections.NAME]`` table of the config file."""
    api, url = table.get("api"), table.get("url")
    if not isinstance(api, str) or not isinstance(url, str):
        raise ConfigurationError(f"config file {path}: connection {name!r} needs 'api' and 'url'")
    auth: Any = table.get("auth")
    if auth is None and table.get("token"):
        auth = str(table["token"])
    if auth is None and table.get("token_file"):
        auth = {"type": "token_file", "path": str(Path(str(table["token_file"])).expanduser())}
    options = dict(table.get("options") or {})
    for key in BACKEND_OPTIONS:
        if key in table:
            options[key] = table[key]
    return Connection(name, api, url.rstrip("/"), auth, options, table.get("resource"))


def _from_config(name: str | None) -> Connection | None:
    path = config_path()
    config = _read_config(path)
    tables = config.get("connections") or {}
    if name is None:
        name = config.get("default")
        if name is None and len(tables) == 1:
            name = next(iter(tables))
        if name is None:
            return None
    if name not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ConfigurationError(f"no connection {name!r} in {path} (connections there: {known})")
    return _from_table(name, tables[name], path)


def _from_env() -> Connection | None:
    url = os.environ.get("FACILITY_URL")
    if not url:
        return None
    api = os.environ.get("FACILITY_API")
    if not api:
        raise ConfigurationError("FACILITY_URL is set but FACILITY_API is not (iri, sfapi, firecrest...)")
    auth: Any = None
    if os.environ.get("FACILITY_AUTH"):
        try:
            auth = json.loads(os.environ["FACILITY_AUTH"])
        except ValueError:
            raise ConfigurationError("FACILITY_AUTH must be a JSON object") from None
    elif os.environ.get("FACILITY_TOKEN"):
        auth = os.environ["FACILITY_TOKEN"]
    elif os.environ.get("FACILITY_TOKEN_FILE"):
        auth = {"type": "token_file", "path": os.environ["FACILITY_TOKEN_FILE"]}
    options: dict[str, Any] = {}
    if os.environ.get("FACILITY_PROJECT"):
        options["project"] = os.environ["FACILITY_PROJECT"]
    return Connection("environment", api, url.rstrip("/"), auth, options, os.environ.get("FACILITY_RESOURCE"))


def _airflow_base_url(host: str, schema: str | None, port: int | None) -> str:
    """The base URL as the Airflow hook reads it: a whole URL in host, or host + schema + port."""
    if "://" in host:
        return host.rstrip("/")
    scheme = (schema or "https").strip() or "https"
    host_part, slash, path = host.partition("/")
    return f"{scheme}://{host_part}{f':{port}' if port else ''}{slash}{path}".rstrip("/")


def _airflow_auth(login: str | None, password: str | None, extras: Mapping[str, Any]) -> Any:
    """The auth mapping of an Airflow facility connection (same rules as the Airflow hook)."""
    explicit = extras.get("auth")
    if explicit:
        return json.loads(explicit) if isinstance(explicit, str) else explicit
    kind = extras.get("auth_type") or "token"
    if kind == "token":
        return password or extras.get("token") or None
    mapping: dict[str, Any] = {"type": kind}
    if kind == "token_file":
        mapping["path"] = extras.get("token_file") or extras.get("path")
    elif kind in ("oidc_client_credentials", "globus_confidential"):
        mapping["client_id"] = login or extras.get("client_id")
        mapping["client_secret"] = password or extras.get("client_secret")
        if kind == "oidc_client_credentials":
            mapping["token_url"] = extras.get("token_url")
            if extras.get("scope"):
                mapping["scope"] = extras["scope"]
        elif extras.get("scope"):
            mapping["scopes"] = str(extras["scope"]).split()
    elif kind in ("basic", "flux_shared_secret", "flux_password"):
        mapping.update(user=login or extras.get("user"), token=password or extras.get("token"))
        if kind == "flux_shared_secret":
            mapping["secret_key"] = extras.get("secret_key")
    elif kind == "private_key_jwt":
        mapping.update(token_url=extras.get("token_url"), client_id=login or extras.get("client_id"))
        if extras.get("key_path"):
            mapping["key_path"] = extras["key_path"]
        else:
            mapping["private_key"] = password or extras.get("private_key")
    elif kind == "globus_refresh_token":
        mapping["client_id"] = login or extras.get("client_id")
        if password or extras.get("refresh_token"):
            mapping["refresh_token"] = password or extras.get("refresh_token")
        if extras.get("storage_path"):
            mapping["storage_path"] = extras["storage_path"]
    else:
        raise ConfigurationError(f"connection: auth_type {kind!r} is not known")
    if extras.get("resource_server") and kind.startswith("globus"):
        mapping["resource_server"] = extras["resource_server"]
    return mapping


def connection_from_airflow(value: str) -> Connection:
    """A connection from an Airflow connection URI or its JSON form.

    The connection type picks the API: ``facility_iri`` (URI scheme ``facility-iri``) is ``iri``.
    URI fields are percent-decoded as Airflow does, so a whole base URL fits in the host
    (``facility-iri://:TOKEN@https%3A%2F%2Fapi.example.org%2Fapi%2Fv1``).
    """
    if value.lstrip().startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            raise ConfigurationError("--conn: not a valid JSON connection") from None
        conn_type, host = str(data.get("conn_type", "")), str(data.get("host") or "")
        login, password, schema = data.get("login"), data.get("password"), data.get("schema")
        port = data.get("port")
        extras = data.get("extra") or {}
        if isinstance(extras, str):
            extras = json.loads(extras)
    else:
        parts = urlsplit(value)
        conn_type = parts.scheme.replace("-", "_")
        host = (
            unquote(parts.hostname or "")
            if "%" not in parts.netloc
            else unquote(parts.netloc.rpartition("@")[2])
        )
        if "%" not in parts.netloc and parts.port is not None:
            host = f"{host}:{parts.port}"
        login = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        schema, port = unquote(parts.path.lstrip("/")) or None, None
        query = dict(parse_qsl(parts.query))
        extras = json.loads(query.pop("__extra__")) if "__extra__" in query else query
    if not conn_type.startswith("facility_"):
        raise ConfigurationError(
            f"--conn: connection type {conn_type!r} is not a facility type (facility_iri, facility_sfapi...)"
        )
    if not host:
        raise ConfigurationError("--conn: the connection has no host (base URL)")
    options = {key: extras[key] for key in BACKEND_OPTIONS if extras.get(key) not in (None, "")}
    passthrough = extras.get("backend_options") or {}
    options.update(json.loads(passthrough) if isinstance(passthrough, str) else passthrough)
    if isinstance(options.get("verify"), str):
        # A true/false word, or the path of a CA bundle (kept: the client loads it).
        word = options["verify"].strip().lower()
        if word in ("false", "0", "no", "off", "true", "1", "yes", "on"):
            options["verify"] = word in ("true", "1", "yes", "on")
    if "timeout" in options:
        options["timeout"] = float(options["timeout"])
    auth = _airflow_auth(login, password, extras)
    base_url = _airflow_base_url(host, schema, port)
    return Connection(
        "--conn", conn_type.removeprefix("facility_"), base_url, auth, options, extras.get("resource")
    )


def _parse(value: str) -> Connection:
    if "://" in value or value.lstrip().startswith("{"):
        return connection_from_airflow(value)
    found = _from_config(value)
    assert found is not None
    return found


def load_connection(conn: str | None) -> Connection:
    """The connection to use, from ``--conn``, the environment or the config file."""
    if conn:
        return _parse(conn)
    if os.environ.get("FACILITY_CONN"):
        return _parse(os.environ["FACILITY_CONN"])
    found = _from_env() or _from_config(None)
    if found is None:
        raise ConfigurationError(
            f"no connection: pass --conn, set FACILITY_URL and FACILITY_API, or write {config_path()}"
        )
    return found
