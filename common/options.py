"""Typed backend options, and the one parser from a connection to client settings.

Every backend takes its options as one frozen dataclass: :class:`BackendOptions` holds what all of
them share (timeouts, TLS, retries, body limits, the submit policy's windows), and each API adds
its own fields in a subclass named by its descriptor (:mod:`facility_common.registry`).
:meth:`BackendOptions.from_mapping` turns what users write (keyword arguments, a config file's
table, an Airflow connection's extras, where everything is text) into that object, with an error
naming the option and the facility for anything unknown or ill-typed. Nothing else in the pack
reads options by name.

:func:`settings_from_connection` turns an Airflow-style connection (conn type, host, login,
password, extras) into :class:`ClientSettings`; the Airflow hook and the ``facility`` command both
use it, so a connection means the same in both. :func:`connection_errors` words a client's
configuration errors in a connection's fields. The auth-type table the parser reads
(:data:`AUTH_TYPES`) is exported from here too, for the connection forms built on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import re
import ssl
import types
import typing
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

import httpx

from .auth.types import AUTH_TYPES, AuthTypeInfo, auth_type_info
from .errors import ConfigurationError
from .http import DEFAULT_MAX_BODY_BYTES, ApiSession, RetryPolicy
from .tls import VerifySetting, ssl_verify

if TYPE_CHECKING:
    from .registry import BackendDescriptor

__all__ = [
    "AUTH_TYPES",
    "AuthTypeInfo",
    "BackendOptions",
    "ClientSettings",
    "ConnectionLike",
    "about",
    "auth_type_info",
    "connection_errors",
    "connection_field",
    "settings_from_connection",
    "unnamed_auth_type",
]

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


def about(help: str, *, form: bool = True) -> dict[str, Any]:
    """The metadata of an options field: its help text, and whether connection forms show it
    (``form`` False for objects only Python callers can give, such as a transport)."""
    return {"help": help, "form": form}


def _fail(facility: str, name: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{name}: expected {expected}", facility=facility)


def _coerce(facility: str, name: str, value: Any, annotation: Any) -> Any:
    """``value`` as ``annotation`` says, accepting the text forms a connection carries."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in arguments:
            return None
        choices = [a for a in arguments if a is not type(None)]
        errors: list[ConfigurationError] = []
        for choice in choices:
            try:
                return _coerce(facility, name, value, choice)
            except ConfigurationError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else _fail(facility, name, _describe(annotation))
    if origin is Literal:
        if value in arguments:
            return value
        raise _fail(facility, name, "one of " + ", ".join(repr(a) for a in arguments))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _fail(facility, name, "true or false")
    if annotation is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(facility, name, "a whole number")
    if annotation is float:
        number = _number(value)
        if number is None:
            raise _fail(facility, name, "a number")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _fail(facility, name, "a string")
    if origin is tuple:
        return _tuple(facility, name, value, arguments)
    if origin in (dict, Mapping) or annotation is Mapping:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise _fail(facility, name, "a JSON object") from None
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            if arguments and arguments[1] is str and not all(isinstance(v, str) for v in value.values()):
                raise _fail(facility, name, "an object of strings")
            return dict(value)
        raise _fail(facility, name, "an object")
    if annotation is RetryPolicy:
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, Mapping):
            try:
                return RetryPolicy(**value)
            except TypeError as exc:
                raise _fail(facility, name, f"RetryPolicy fields ({exc})") from None
        raise _fail(facility, name, "a RetryPolicy or a mapping of its fields")
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise _fail(facility, name, f"a {annotation.__name__}")
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _tuple(facility: str, name: str, value: Any, arguments: tuple[Any, ...]) -> tuple[Any, ...]:
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    if not isinstance(value, list | tuple):
        raise _fail(facility, name, "a list")
    item_type = arguments[0] if arguments else Any
    return tuple(_coerce(facility, f"{name}[{index}]", item, item_type) for index, item in enumerate(value))


def _describe(annotation: Any) -> str:
    names = [getattr(a, "__name__", str(a)) for a in typing.get_args(annotation) if a is not type(None)]
    return " or ".join(names) or str(annotation)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackendOptions:
    """Options every backend takes. Subclasses add an API's own, as fields made with
    :func:`dataclasses.field` and :func:`about`, so forms and error messages can describe them."""

    timeout: float = dataclasses.field(
        default=30.0, metadata=about("Timeout of one HTTP request, in seconds.")
    )
    verify: VerifySetting = dataclasses.field(
        default=True,
        metadata=about("Verify the server's TLS certificate: true, false, or the path of a CA bundle."),
    )
    ca_bundle: str | None = dataclasses.field(
        default=None, metadata=about("Path of a CA bundle to verify the server with (instead of verify).")
    )
    allow_insecure_http: bool = dataclasses.field(
        default=False,
        metadata=about(
            "Send credentials over plain HTTP to a host other than this machine (test deployments)."
        ),
    )
    retry: RetryPolicy | None = dataclasses.field(
        default=None, metadata=about("How often and how patiently to retry failed calls.", form=False)
    )
    max_body_bytes: int = dataclasses.field(
        default=DEFAULT_MAX_BODY_BYTES, metadata=about("Largest answer body read, in bytes.")
    )
    transport: httpx.AsyncBaseTransport | None = dataclasses.field(
        default=None, metadata=about("An httpx transport to send requests through (tests).", form=False)
    )
    submit_lookup_delays: tuple[float, ...] = dataclasses.field(
        default=(0.0, 1.0),
        metadata=about("Pauses (s) before each look for a job whose submit answer was lost."),
    )
    settle_window: float = dataclasses.field(
        default=10.0,
        metadata=about(
            "Seconds after a doubtful submit during which a listing without its job proves nothing."
        ),
    )
    visibility_grace: float = dataclasses.field(
        default=120.0,
        metadata=about("Seconds a just-submitted job the API does not list yet is reported PENDING."),
    )

    NON_NEGATIVE: ClassVar[frozenset[str]] = frozenset(
        {"timeout", "settle_window", "visibility_grace", "max_body_bytes"}
    )
    """Numeric options that must not be negative (``timeout`` and ``max_body_bytes``: positive)."""

    facility: ClassVar[str] = ""

    @classmethod
    def from_mapping(cls, facility: str, values: Mapping[str, Any] | None = None) -> Self:
        """The options of ``values`` (keyword arguments, a config table, connection extras).

        Unknown names, ill-typed or out-of-range values raise :class:`ConfigurationError`
        naming the option and ``facility``. Text is read as connections carry it: ``"true"``,
        ``"30"``, ``"0,1"`` for a list, JSON for an object.
        """
        values = dict(values or {})
        known = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigurationError(
                f"{unknown[0]}: not an option of the {facility!r} backend "
                f"(its options: {', '.join(sorted(known))})",
                facility=facility,
            )
        hints = typing.get_type_hints(cls)
        arguments: dict[str, Any] = {}
        for name, value in values.items():
            if value is None and _optional(hints[name]):
                arguments[name] = None
                continue
            if name == "verify":
                arguments[name] = _verify(facility, value)
                continue
            arguments[name] = _coerce(facility, name, value, hints[name])
        try:
            options = cls(**arguments)
        except TypeError as exc:
            raise ConfigurationError(f"options: {exc}", facility=facility) from None
        options.check(facility)
        return options

    def check(self, facility: str) -> None:
        """Range checks; subclasses extend (and call this)."""
        for name in self.NON_NEGATIVE:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigurationError(f"{name}: must not be negative", facility=facility)
        if self.timeout <= 0:
            raise ConfigurationError("timeout: must be a positive number of seconds", facility=facility)
        if self.max_body_bytes <= 0:
            raise ConfigurationError("max_body_bytes: must be a positive integer", facility=facility)
        if any(delay < 0 for delay in self.submit_lookup_delays):
            raise ConfigurationError("submit_lookup_delays: must not be negative", facility=facility)
        if self.ca_bundle is not None and self.verify is not True:
            raise ConfigurationError(
                "ca_bundle: give either verify or ca_bundle, not both", facility=facility
            )

    def tls(self, facility: str) -> bool | ssl.SSLContext:
        """The TLS setting for httpx: ``verify`` or ``ca_bundle`` made into a bool or SSL context."""
        return ssl_verify(self.ca_bundle if self.ca_bundle is not None else self.verify, facility)

    def session(
        self,
        facility: str,
        base_url: str,
        auth: httpx.Auth | None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> ApiSession:
        """An :class:`ApiSession` configured by these options."""
        return ApiSession(
            facility=facility,
            base_url=base_url,
            auth=auth,
            retry=self.retry,
            timeout=self.timeout if timeout is None else timeout,
            verify=self.tls(facility),
            transport=self.transport,
            headers=headers,
            max_body_bytes=self.max_body_bytes,
            allow_insecure_http=self.allow_insecure_http,
        )

    def with_values(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (already typed values)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def form_fields(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) of the options a connection form may set."""
        return [
            (f.name, f.default, str(f.metadata.get("help", "")))
            for f in dataclasses.fields(cls)
            if f.init and f.metadata.get("form", True)
        ]


def _optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (types.UnionType, typing.Union) and type(None) in typing.get_args(
        annotation
    )


def _verify(facility: str, value: Any) -> VerifySetting:
    if isinstance(value, bool | ssl.SSLContext):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        return value
    if hasattr(value, "__fspath__"):
        return typing.cast(VerifySetting, value)
    raise _fail(facility, "verify", "true, false or the path of a CA bundle")


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


#: Extras that describe the connection itself rather than a backend option or an auth key.
CONNECTION_EXTRAS = frozenset({"auth", "auth_type", "backend_options", "job_url_template", "resource"})


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
    return ClientSettings(
        conn_id=conn.conn_id,
        backend=facility,
        base_url=base_url,
        auth=auth,
        options=options,
        job_url_template=str(template) if template else None,
        resource=str(resource) if resource else None,
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
