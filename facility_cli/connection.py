"""Where the ``facility`` command finds its connection, and how it turns one into a client.

Every source is read as an Airflow-style connection (API, host, Login, Password, extras) by
:func:`facility_common.settings_from_connection`, the parser the Airflow hook uses, so a connection
means the same to the command as to Airflow. It comes from, in this order:

1. ``--conn VALUE``: the name of a connection in the config file, an Airflow connection URI
   (``facility-iri://:TOKEN@HOST...``) or an Airflow JSON connection (``{"conn_type": ...}``);
2. the ``FACILITY_CONN`` environment variable, read the same way;
3. ``FACILITY_URL`` with ``FACILITY_API`` and one of ``FACILITY_TOKEN``, ``FACILITY_TOKEN_FILE``
   or ``FACILITY_AUTH`` (a JSON auth mapping); ``FACILITY_PROJECT`` and ``FACILITY_RESOURCE``;
4. the config file's ``default`` connection, or its only one.

The config file is TOML at ``$FACILITY_CONFIG``, else ``$XDG_CONFIG_HOME/facility/connections.toml``
(``~/.config/facility/connections.toml``). In a ``[connections.NAME]`` table, ``api`` names the
API, ``url`` is the host, ``token`` the Password, ``token_file`` a token file, ``auth`` a whole
auth mapping, ``options`` a table of backend options; any other key (``auth_type``, ``token_url``,
``resource``, an option such as ``project`` or ``timeout``...) is the connection extra of that
name. Nothing here ever prints or logs a secret: :meth:`Connection.describe` shows the auth type
only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from facility_common import (
    ClientSettings,
    ConfigurationError,
    FacilityClient,
    available_backends,
    settings_from_connection,
)
from facility_common.connection_settings import connection_errors

__all__ = [
    "SECRET_KEYS",
    "Connection",
    "check_private",
    "config_path",
    "connection_from_airflow",
    "connection_from_table",
    "load_connection",
    "read_config",
    "secret_keys_in",
]

#: Keys of a config-file table that are not connection extras.
_TABLE_KEYS = frozenset({"api", "url", "token", "options"})


@dataclasses.dataclass(frozen=True)
class _Fields:
    """The fields of an Airflow-style connection, as :func:`settings_from_connection` reads them.

    ``extra`` is a mapping or its JSON text; text that is not a JSON object is refused when read,
    naming the connection's ``extra``.
    """

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    port: Any = None
    login: str | None = None
    password: str | None = None
    extra: Any = None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        value = self.extra
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else None
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError("extra: not a JSON object")
        return dict(value)


@dataclasses.dataclass(frozen=True)
class Connection:
    """A connection the command loaded: its client settings (``repr`` shows no credential).

    ``airflow_fields``: the connection was given as an Airflow connection, so configuration
    errors name its fields (``host``, ``password``, ``extra.timeout``).
    """

    settings: ClientSettings
    airflow_fields: bool = False

    @property
    def static_token(self) -> str | None:
        """The connection's static bearer token, if that is its auth (only ever inspected)."""
        auth = self.settings.auth
        if isinstance(auth, str):
            return auth
        if isinstance(auth, Mapping) and auth.get("type") == "token":
            return str(auth.get("token") or "") or None
        return None

    def describe(self) -> str:
        """One line naming the connection without any secret."""
        settings = self.settings
        return f"{settings.conn_id}: {settings.backend} at {settings.base_url} (auth: {settings.auth_type})"

    def client(self, overrides: Mapping[str, Any] | None = None, **defaults: Any) -> FacilityClient:
        """A blocking client for this connection (no network call is made here); ``defaults``
        are backend options used where the connection sets none, ``overrides`` replace the
        connection's."""
        settings = self.settings
        options = {**defaults, **settings.options, **(overrides or {})}
        named = (
            connection_errors(settings.conn_id, settings.backend)
            if self.airflow_fields
            else contextlib.nullcontext()
        )
        with named:
            return FacilityClient.connect(
                settings.backend, base_url=settings.base_url, auth=settings.auth, **options
            )


def config_path() -> Path:
    """The config file: ``$FACILITY_CONFIG`` or ``<user config dir>/facility/connections.toml``."""
    explicit = os.environ.get("FACILITY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "facility" / "connections.toml"


#: Keys whose values are secrets, wherever they appear in a config file.
SECRET_KEYS = frozenset(
    {"token", "password", "client_secret", "secret_key", "refresh_token", "private_key", "access_token"}
)


def secret_keys_in(value: Any, where: str = "") -> list[str]:
    """The dotted names of the secrets held in a parsed config file (never their values)."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if key in SECRET_KEYS and item:
                found.append(name)
            else:
                found.extend(secret_keys_in(item, name))
    return found


def check_private(path: Path, config: Mapping[str, Any]) -> None:
    """Refuse a config file that holds a secret and that other users may read."""
    secrets = secret_keys_in(config)
    if not secrets:
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(
            f"config file {path} holds secrets ({', '.join(secrets[:3])}"
            f"{', ...' if len(secrets) > 3 else ''}) but other users may read it (mode {mode:04o}): "
            f"run chmod 600 {path}"
        )


def read_config(path: Path) -> dict[str, Any]:
    """The parsed config file (empty when there is none); a file holding secrets must be private."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            config = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"config file {path}: {exc}") from None
    check_private(path, config)
    return config


def _token_file(extras: dict[str, Any], path: object, token: object) -> None:
    """A token file names its auth type unless a token (or another type) is given."""
    extras["token_file"] = str(Path(str(path)).expanduser())
    if not token:
        extras.setdefault("auth_type", "token_file")


def connection_from_table(name: str, table: Mapping[str, Any], path: Path) -> Connection:
    """A connection from one ``[connections.NAME]`` table of the config file."""
    api, url = table.get("api"), table.get("url")
    if not isinstance(api, str) or not isinstance(url, str):
        raise ConfigurationError(f"config file {path}: connection {name!r} needs 'api' and 'url'")
    extras = {key: value for key, value in table.items() if key not in _TABLE_KEYS}
    if "options" in table:
        if not isinstance(table["options"], Mapping):
            raise ConfigurationError(f"config file {path}: connection {name!r}, options: must be a table")
        extras["backend_options"] = dict(table["options"])
    token = table.get("token")
    if table.get("token_file"):
        _token_file(extras, table["token_file"], token)
    fields = _Fields(name, host=url, password=str(token) if token else None, extra=extras)
    return Connection(settings_from_connection(fields, backend=api))


def _from_config(name: str | None) -> Connection | None:
    path = config_path()
    config = read_config(path)
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
    return connection_from_table(name, tables[name], path)


def _from_env() -> Connection | None:
    url = os.environ.get("FACILITY_URL")
    if not url:
        return None
    api = os.environ.get("FACILITY_API")
    if not api:
        raise ConfigurationError(
            f"FACILITY_URL is set but FACILITY_API is not (one of {', '.join(available_backends())})"
        )
    extras: dict[str, Any] = {}
    if os.environ.get("FACILITY_AUTH"):
        try:
            extras["auth"] = json.loads(os.environ["FACILITY_AUTH"])
        except ValueError:
            raise ConfigurationError("FACILITY_AUTH must be a JSON object") from None
        if not isinstance(extras["auth"], Mapping):
            raise ConfigurationError("FACILITY_AUTH must be a JSON object")
    token = os.environ.get("FACILITY_TOKEN")
    if os.environ.get("FACILITY_TOKEN_FILE"):
        _token_file(extras, os.environ["FACILITY_TOKEN_FILE"], token)
    if os.environ.get("FACILITY_PROJECT"):
        extras["backend_options"] = {"project": os.environ["FACILITY_PROJECT"]}
    if os.environ.get("FACILITY_RESOURCE"):
        extras["resource"] = os.environ["FACILITY_RESOURCE"]
    fields = _Fields("environment", host=url, password=token or None, extra=extras)
    return Connection(settings_from_connection(fields, backend=api))


def _json_fields(value: str, name: str) -> _Fields:
    try:
        data = json.loads(value)
    except ValueError:
        raise ConfigurationError(f"{name}: not a valid JSON connection") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{name}: not a valid JSON connection (expected an object)")
    return _Fields(
        name,
        conn_type=str(data.get("conn_type") or ""),
        host=str(data.get("host") or ""),
        schema=data.get("schema"),
        port=data.get("port"),
        login=data.get("login"),
        password=data.get("password"),
        extra=data.get("extra"),
    )


def _uri_fields(value: str, name: str) -> _Fields:
    """The fields of an Airflow connection URI, percent-decoded as Airflow does, so a whole base
    URL fits in the host (``facility-iri://:TOKEN@https%3A%2F%2Fapi.example.org%2Fapi%2Fv1``)."""
    parts = urlsplit(value)
    encoded = "%" in parts.netloc
    host = unquote(parts.netloc.rpartition("@")[2]) if encoded else unquote(parts.hostname or "")
    if not encoded:
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError(f"connection {name!r}, port: expected a number") from None
        if port is not None:
            host = f"{host}:{port}"
    query = dict(parse_qsl(parts.query))
    extra: Any = query.pop("__extra__") if "__extra__" in query else query
    return _Fields(
        name,
        conn_type=parts.scheme.replace("-", "_"),
        host=host,
        schema=unquote(parts.path.lstrip("/")) or None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        extra=extra,
    )


def connection_from_airflow(value: str, name: str = "--conn") -> Connection:
    """A connection from an Airflow connection URI or its JSON form; ``name`` says where it was
    given (``--conn``, ``FACILITY_CONN``) in error messages.

    The connection type picks the API (``facility-iri://`` is ``facility_iri``), exactly as in
    Airflow; malformed fields are a :class:`ConfigurationError` naming the field.
    """
    is_json = value.lstrip().startswith("{")
    fields = _json_fields(value, name) if is_json else _uri_fields(value, name)
    return Connection(settings_from_connection(fields), airflow_fields=True)


def _parse(value: str, name: str) -> Connection:
    if "://" in value or value.lstrip().startswith("{"):
        return connection_from_airflow(value, name)
    found = _from_config(value)
    assert found is not None
    return found


def load_connection(conn: str | None) -> Connection:
    """The connection to use, from ``--conn``, the environment or the config file."""
    if conn:
        return _parse(conn, "--conn")
    if os.environ.get("FACILITY_CONN"):
        return _parse(os.environ["FACILITY_CONN"], "FACILITY_CONN")
    found = _from_env() or _from_config(None)
    if found is None:
        raise ConfigurationError(
            f"no connection: pass --conn, set FACILITY_URL and FACILITY_API, or write {config_path()}"
        )
    return found
