"""The one parser from a connection to client settings.

:func:`settings_from_connection` turns an Airflow-style connection (conn type, host, login,
password, extras) into :class:`ClientSettings`; the Airflow hook and the ``facility`` command both
use it, so a connection means the same in both. The connection type names the API through its
descriptor (:mod:`facility_common.registry`), the auth-type table (:mod:`facility_common.auth`)
says which fields carry which keys, and the API's options class says which extras are options.
:func:`connection_errors` words a client's configuration errors in a connection's fields. The
auth-type table is exported from here too, for the connection forms built on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .auth.types import AUTH_TYPES, AuthTypeInfo, auth_type_info
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .registry import BackendDescriptor

__all__ = [
    "AUTH_TYPES",
    "COLLECTIONS_EXTRA",
    "AuthTypeInfo",
    "ClientSettings",
    "ConnectionLike",
    "auth_type_info",
    "connection_errors",
    "connection_field",
    "settings_from_connection",
    "unnamed_auth_type",
]


# -- connections ----------------------------------------------------------------------------------


class ConnectionLike(Protocol):
    """The fields of an Airflow ``Connection`` that describe a facility connection."""

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
    """Everything needed to build a client; ``repr`` never shows the credentials.

    ``options`` holds the connection's backend options as given (validated when the client is
    built, by the backend's options class); ``resource`` is the connection's default resource.
    """

    conn_id: str
    backend: str
    base_url: str
    auth: Any = dataclasses.field(repr=False)
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    job_url_template: str | None = None
    resource: str | None = None
    collections: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The connection's Globus collections by storage name (the ``globus_collections`` extra):
    a collection id, or ``{"id", "root"}`` where ``root`` is the collection's ``/`` on the
    facility's file system. Read by :mod:`facility_common.transfers`."""

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

    @property
    def auth_type(self) -> str:
        """The kind of credentials (``token``, ``oidc_client_credentials``...), never their value."""
        if self.auth is None:
            return "none"
        if isinstance(self.auth, Mapping):
            return str(self.auth.get("type", "unknown"))
        return "token"


#: The extra naming a connection's Globus collections (see :attr:`ClientSettings.collections`).
COLLECTIONS_EXTRA = "globus_collections"
#: Extras that describe the connection itself rather than a backend option or an auth key.
CONNECTION_EXTRAS = frozenset(
    {"auth", "auth_type", "backend_options", "job_url_template", "resource", COLLECTIONS_EXTRA}
)


def _extras(conn: ConnectionLike, facility: str) -> dict[str, Any]:
    try:
        extras = conn.extra_dejson
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, extra: must be a JSON object", facility=facility
        ) from None
    if not isinstance(extras, Mapping):
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, extra: must be a JSON object", facility=facility
        )
    return dict(extras)


def connection_base_url(conn: ConnectionLike, facility: str) -> str:
    """The base URL of ``conn``: a whole URL in its host, or host + schema + port."""
    host = (conn.host or "").strip()
    if not host:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, host: the base URL is empty", facility=facility
        )
    if "://" in host:
        return host.rstrip("/")
    scheme = (conn.schema or "https").strip() or "https"
    port = conn.port
    if port is not None and (isinstance(port, bool) or not str(port).isdigit()):
        raise ConfigurationError(f"connection {conn.conn_id!r}, port: expected a number", facility=facility)
    host_part, slash, path = host.partition("/")
    port_part = f":{port}" if port else ""
    return f"{scheme}://{host_part}{port_part}{slash}{path}".rstrip("/")


def _json_object(conn_id: str, name: str, value: Any, facility: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"connection {conn_id!r}, extra.{name}: must be a JSON object", facility=facility
        )
    return dict(value)


def unnamed_auth_type(descriptor: BackendDescriptor) -> str:
    """The auth type of a connection that names none: ``token`` (its Password is a bearer
    token) where the API takes tokens, else the API's default auth type."""
    return "token" if "token" in descriptor.auth_types else descriptor.default_auth_type


def connection_auth(conn: ConnectionLike, extras: Mapping[str, Any], facility: str, default_type: str) -> Any:
    """The auth setting of ``conn`` as :func:`facility_common.auth.resolve_auth` takes it.

    An ``auth`` extra (a JSON object) is used as is. Otherwise ``auth_type`` (default:
    ``default_type``) names the type; Login and Password fill the keys the type's description
    says, and its other keys come from extras of the same name.
    """
    explicit = extras.get("auth")
    if explicit:
        return _json_object(conn.conn_id, "auth", explicit, facility)
    kind = extras.get("auth_type") or default_type
    try:
        info = auth_type_info(kind, facility)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, extra.auth_type: {exc.message.partition(': ')[2]}",
            facility=facility,
        ) from None
    if info.name == "token" and not extras.get("token") and not conn.password:
        return None
    mapping: dict[str, Any] = {"type": info.name}
    for extra, key in info.extra_aliases:
        if extras.get(extra) not in (None, ""):
            mapping[key] = extras[extra]
    for key in sorted(info.keys):
        if extras.get(key) not in (None, ""):
            mapping[key] = extras[key]
    if info.login_key and conn.login:
        mapping[info.login_key] = conn.login
    if info.password_key and conn.password and not (info.name == "private_key_jwt" and "key_path" in mapping):
        mapping[info.password_key] = conn.password
    if "scopes" in info.keys and isinstance(mapping.get("scopes"), str):
        mapping["scopes"] = mapping["scopes"].split()
    return mapping


def settings_from_connection(conn: ConnectionLike, *, backend: str | None = None) -> ClientSettings:
    """The client settings of an Airflow-style facility connection.

    The connection type (``facility_iri``...) picks the API through the backend descriptors
    (``backend``, a registry name, picks it instead: the ``facility`` command's own sources);
    the host (with schema and port) is the base URL; the auth comes from Login, Password and
    extras (:func:`connection_auth`; without ``auth_type``, :func:`unnamed_auth_type`); every
    extra named like an option a form may set (the options class's ``form_fields()``) is that
    option, and ``backend_options`` (a JSON object) may carry any option.
    Raises :class:`ConfigurationError` naming the connection and the field.
    """
    from .registry import available_backends, get_descriptor

    descriptor = get_descriptor(backend) if backend is not None else _descriptor_for(conn)
    facility = descriptor.name
    if facility not in available_backends():
        raise ConfigurationError(
            f"connection {conn.conn_id!r} is a {descriptor.label} connection, but the {facility!r} backend "
            "is not available in this installation",
            facility=facility,
        )
    extras = _extras(conn, facility)
    named = extras.get("auth_type")
    if named and not extras.get("auth") and named not in descriptor.auth_types:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, extra.auth_type: {named!r} is not an auth type of the "
            f"{descriptor.label} (use one of {', '.join(descriptor.auth_types)})",
            facility=facility,
        )
    option_names = {name for name, _, _ in descriptor.options_class().form_fields()}
    options = {
        name: value
        for name, value in extras.items()
        if name in option_names and name not in CONNECTION_EXTRAS and value not in (None, "")
    }
    if extras.get("backend_options"):
        options.update(_json_object(conn.conn_id, "backend_options", extras["backend_options"], facility))
    base_url = connection_base_url(conn, facility)
    auth = connection_auth(conn, extras, facility, unnamed_auth_type(descriptor))
    template = extras.get("job_url_template")
    resource = extras.get("resource")
    collections = extras.get(COLLECTIONS_EXTRA)
    return ClientSettings(
        conn_id=conn.conn_id,
        backend=facility,
        base_url=base_url,
        auth=auth,
        options=options,
        job_url_template=str(template) if template else None,
        resource=str(resource) if resource else None,
        collections=_json_object(conn.conn_id, COLLECTIONS_EXTRA, collections, facility)
        if collections
        else {},
    )


def _descriptor_for(conn: ConnectionLike) -> BackendDescriptor:
    """The descriptor whose connection type is ``conn``'s: built-in, registered or installed."""
    from .registry import available_backends, descriptor_for_conn_type, get_descriptor

    found = descriptor_for_conn_type(conn.conn_type)
    installed: list[BackendDescriptor] = []
    if found is None:
        for name in available_backends():
            with contextlib.suppress(ConfigurationError):  # an installed backend that cannot load
                installed.append(get_descriptor(name))
        found = next((d for d in installed if conn.conn_type and d.conn_type == conn.conn_type), None)
    if found is None:
        known = ", ".join(sorted(d.conn_type for d in installed if d.conn_type))
        raise ConfigurationError(
            f"connection {conn.conn_id!r}, conn_type: {conn.conn_type!r} is not a facility connection "
            f"type (use one of {known})",
            facility=conn.conn_type or None,
        )
    return found


# -- errors in a connection's words ---------------------------------------------------------------

_LEADING_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]']*): ")
_CONNECTION_FIELDS = {
    "base_url": "host",
    "api": "conn_type",
    "auth": "extra.auth",
    "auth.type": "extra.auth_type",
}


def connection_field(name: str, facility: str | None = None) -> str | None:
    """The field of an Airflow-style connection that the client argument ``name`` comes from.

    ``base_url`` is the host; an option of ``facility`` is the extra of its name where forms
    show it, else a key of the ``backend_options`` extra; an auth key (``auth.client_id``, or
    bare as token sources name theirs) is the Login or the Password where auth types put it
    there, else the extra of its name (``auth.path`` is ``extra.token_file``). None for anything
    else.
    """
    if name in _CONNECTION_FIELDS:
        return _CONNECTION_FIELDS[name]
    if facility is not None and not name.startswith("auth."):
        from .registry import get_descriptor

        with contextlib.suppress(ConfigurationError):
            options = get_descriptor(facility).options_class()
            if name in {form_name for form_name, _, _ in options.form_fields()}:
                return f"extra.{name}"
            if name in {f.name for f in dataclasses.fields(options) if f.init}:
                return f"extra.backend_options.{name}"
    key = name.removeprefix("auth.")
    if key in {info.login_key for info in AUTH_TYPES.values()}:
        return "login"
    if key in {info.password_key for info in AUTH_TYPES.values()}:
        return "password"
    aliases = {target: extra for info in AUTH_TYPES.values() for extra, target in info.extra_aliases}
    if name.startswith("auth.") or any(key in info.keys for info in AUTH_TYPES.values()):
        return f"extra.{aliases.get(key, key)}"
    return None


@contextlib.contextmanager
def connection_errors(conn_id: str, facility: str | None = None) -> Iterator[None]:
    """Re-raise a :class:`ConfigurationError` naming the connection ``conn_id`` and its field.

    ``FacilityClient.connect`` names its own arguments (``base_url``, ``auth.client_secret``,
    ``timeout``); a connection's user knows ``host``, ``password`` and the extras, so the
    message says those (see :func:`connection_field`).
    """
    try:
        yield
    except ConfigurationError as exc:
        message = exc.message
        if message.startswith(f"connection {conn_id!r}"):
            raise
        match = _LEADING_FIELD.match(message)
        field = connection_field(match.group(1), exc.facility or facility) if match else None
        if match and field is not None:
            named = field if field == f"extra.{match.group(1)}" else f"{field} ({match.group(1)})"
            message = f"{named}: {message[match.end() :]}"
        raise ConfigurationError(
            f"connection {conn_id!r}, {message}", facility=exc.facility or facility
        ) from exc
