"""Typed backend options: what every backend takes, checked once.

Every backend takes its options as one frozen dataclass: :class:`BackendOptions` holds what all of
them share (timeouts, TLS, retries, body limits, the submit policy's windows), and each API adds
its own fields in a subclass named by its descriptor (:mod:`facility_common.registry`).
:meth:`BackendOptions.from_mapping` turns what users write (keyword arguments, a config file's
table, an Airflow connection's extras, where everything is text) into that object, with an error
naming the option and the facility for anything unknown or ill-typed. Nothing else in the pack
reads options by name.

How a connection (Airflow's, or the ``facility`` command's) becomes settings and options is
:mod:`facility_common.connection_settings`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import ssl
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import httpx

from .errors import ConfigurationError
from .http import DEFAULT_MAX_BODY_BYTES, ApiSession, RetryPolicy
from .tls import VerifySetting, ssl_verify

if TYPE_CHECKING:
    pass

__all__ = ["BackendOptions", "about"]

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
