"""``resolve_auth``: an auth setting (a string, a mapping from a config file or an Airflow
connection, a token source, an ``httpx.Auth``) made into the ``httpx.Auth`` an ``ApiSession``
takes. A mapping is checked against its type's description (:mod:`facility_common.auth.types`)
before anything is built, and errors name the key and the facility, never a secret value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..errors import ConfigurationError
from ..tls import VerifySetting
from .facility_auth import FacilityAuth
from .globus_confidential import GlobusConfidentialClient
from .globus_refresh import GlobusRefreshToken
from .oidc import OIDCClientCredentials
from .private_key_jwt import PrivateKeyJWTClientCredentials
from .secret import Secret
from .source import TokenSource
from .static import StaticToken, TokenFile
from .types import AuthTypeInfo, auth_type_info, find_auth_type

__all__ = ["checked_values", "resolve_auth"]

_Built = TokenSource | httpx.Auth


def _convert(info: AuthTypeInfo, key: str, item: Any, facility: str) -> Any:
    """One mapping value checked and converted per its key's kind."""
    kind = info.kind(key)
    if kind in ("flag", "verify"):
        if isinstance(item, str) and item.lower() in ("true", "false"):
            item = item.lower() == "true"
        if not isinstance(item, bool) and not (kind == "verify" and isinstance(item, str)):
            raise ConfigurationError(f"auth.{key}: expected true or false", facility=facility)
    elif kind == "number":
        try:
            item = float(item)
        except (TypeError, ValueError):
            raise ConfigurationError(f"auth.{key}: expected a number", facility=facility) from None
    elif kind == "words":
        if isinstance(item, list | tuple) and all(isinstance(s, str) for s in item):
            item = " ".join(item)
        elif not isinstance(item, str):
            raise ConfigurationError(f"auth.{key}: expected a string or a list of strings", facility=facility)
    elif not isinstance(item, str):
        raise ConfigurationError(f"auth.{key}: expected a string", facility=facility)
    return item


def checked_values(info: AuthTypeInfo, value: Mapping[str, Any], facility: str) -> dict[str, Any]:
    """The keys of an auth mapping of type ``info``, checked and converted.

    Unknown and missing keys, wrong kinds of values and empty required strings raise
    :class:`ConfigurationError` naming the key; secrets come back as :class:`Secret`; keys set to
    ``None`` are left out.
    """
    given = {k for k in value if k != "type"}
    unknown = sorted(str(k) for k in given - info.keys)
    if unknown:
        raise ConfigurationError(f"auth: unknown key(s) {unknown} for type {info.name!r}", facility=facility)
    missing = sorted(info.required - given)
    if missing:
        raise ConfigurationError(f"auth.{missing[0]}: required for type {info.name!r}", facility=facility)
    values: dict[str, Any] = {}
    for key in given:
        item = value[key]
        if item is None:
            if key in info.required:
                raise ConfigurationError(f"auth.{key}: required for type {info.name!r}", facility=facility)
            continue
        item = _convert(info, key, item, facility)
        if key in info.required and isinstance(item, str) and not item.strip() and key != "scheme":
            raise ConfigurationError(f"auth.{key}: must not be empty", facility=facility)
        values[key] = Secret(item) if key in info.secrets else item
    return values


def _token(a: Mapping[str, Any], facility: str, verify: VerifySetting, insecure: bool) -> _Built:
    return StaticToken(a["token"], scheme=a.get("scheme", "Bearer"), facility=facility)


def _token_file(a: Mapping[str, Any], facility: str, verify: VerifySetting, insecure: bool) -> _Built:
    return TokenFile(
        a["path"],
        scheme=a.get("scheme", "Bearer"),
        facility=facility,
        check_interval=a.get("check_interval", 1.0),
        allow_readable_secret_files=a.get("allow_readable_secret_files", False),
    )


def _oidc(a: Mapping[str, Any], facility: str, verify: VerifySetting, insecure: bool) -> _Built:
    return OIDCClientCredentials(
        a["token_url"],
        a["client_id"],
        a["client_secret"],
        scope=a.get("scope"),
        audience=a.get("audience"),
        verify=a.get("verify", verify),
        auth_method=a.get("auth_method", "client_secret_basic"),
        scheme=a.get("scheme", "Bearer"),
        facility=facility,
        allow_insecure_http=a.get("allow_insecure_http", insecure),
    )


def _private_key_jwt(a: Mapping[str, Any], facility: str, verify: VerifySetting, insecure: bool) -> _Built:
    return PrivateKeyJWTClientCredentials(
        a["token_url"],
        a.get("client_id"),
        key_path=a.get("key_path"),
        private_key=a.get("private_key"),
        scope=a.get("scope"),
        verify=a.get("verify", verify),
        scheme=a.get("scheme", "Bearer"),
        facility=facility,
        allow_insecure_http=a.get("allow_insecure_http", insecure),
        allow_readable_secret_files=a.get("allow_readable_secret_files", False),
    )


def _globus_confidential(
    a: Mapping[str, Any], facility: str, verify: VerifySetting, insecure: bool
) -> _Built:
    return GlobusConfidentialClient(
        a["client_id"],
        a["client_secret"],
        a["scopes"],
        resource_server=a.get("resource_server"),
        auth_base_url=a.get("auth_base_url"),
        environment=a.get("environment"),
        allow_insecure_http=a.get("allow_insecure_http", insecure),
        verify=a.get("verify", verify),
        scheme=a.get("scheme", "Bearer"),
        facility=facility,
    )


def _globus_refresh_token(
    a: Mapping[str, Any], facility: str, verify: VerifySetting, insecure: bool
) -> _Built:
    common: dict[str, Any] = {
        "resource_server": a.get("resource_server"),
        "auth_base_url": a.get("auth_base_url"),
        "client_secret": a.get("client_secret"),
        "environment": a.get("environment"),
        "allow_insecure_http": a.get("allow_insecure_http", insecure),
        "verify": a.get("verify", verify),
        "scheme": a.get("scheme", "Bearer"),
        "facility": facility,
    }
    if "refresh_token" in a:
        if "storage_path" in a:
            raise ConfigurationError(
                "auth: give either refresh_token or storage_path, not both", facility=facility
            )
        if "client_id" not in a:
            raise ConfigurationError(
                "auth.client_id: required with refresh_token for type 'globus_refresh_token'",
                facility=facility,
            )
        for only_with_storage in ("namespace", "allow_readable_secret_files"):
            if only_with_storage in a:
                raise ConfigurationError(
                    f"auth.{only_with_storage}: only applies with storage_path", facility=facility
                )
        return GlobusRefreshToken(a["client_id"], a["refresh_token"], **common)
    if "storage_path" not in a:
        raise ConfigurationError(
            "auth.refresh_token: type 'globus_refresh_token' needs refresh_token or storage_path",
            facility=facility,
        )
    path = a["storage_path"]
    return GlobusRefreshToken.from_storage(
        None if path == "default" else path,
        client_id=a.get("client_id"),
        namespace=a.get("namespace", "DEFAULT"),
        allow_readable_secret_files=a.get("allow_readable_secret_files", False),
        **common,
    )


#: How each built-in auth type is built from its checked values.
_BUILTIN_BUILDERS: dict[str, Callable[[Mapping[str, Any], str, VerifySetting, bool], _Built]] = {
    "token": _token,
    "token_file": _token_file,
    "oidc_client_credentials": _oidc,
    "private_key_jwt": _private_key_jwt,
    "globus_confidential": _globus_confidential,
    "globus_refresh_token": _globus_refresh_token,
}


def _from_mapping(
    value: Mapping[str, Any], facility: str, verify: VerifySetting, allow_insecure_http: bool
) -> _Built:
    """Build the auth of a configuration mapping, validating keys and their types first."""
    info = auth_type_info(value.get("type"), facility)
    found = find_auth_type(info.name)
    builder = found[1] if found is not None else None
    values = checked_values(info, value, facility)
    if builder is not None:
        return builder(
            info, values, facility=facility, verify=verify, allow_insecure_http=allow_insecure_http
        )
    return _BUILTIN_BUILDERS[info.name](values, facility, verify, allow_insecure_http)


def resolve_auth(
    value: object, *, facility: str, verify: VerifySetting = True, allow_insecure_http: bool = False
) -> httpx.Auth | None:
    """Turn an auth setting into the ``httpx.Auth`` an ``ApiSession`` takes.

    Accepts ``None`` (no auth), a string (a static bearer token), a :class:`TokenSource`, any
    ``httpx.Auth`` (used as is) or a mapping with a ``type`` key, as written in config files and
    Airflow connection extras:

    * ``{"type": "token", "token", "scheme"?}``
    * ``{"type": "token_file", "path", "scheme"?, "check_interval"?, "allow_readable_secret_files"?}``
    * ``{"type": "oidc_client_credentials", "token_url", "client_id", "client_secret", "scope"?,
      "audience"?, "auth_method"?, "verify"?, "scheme"?, "allow_insecure_http"?}``
    * ``{"type": "private_key_jwt", "token_url", "client_id"?, "key_path" | "private_key",
      "scope"?, "verify"?, "scheme"?, "allow_insecure_http"?, "allow_readable_secret_files"?}``
      (NERSC SF API; a key file must be mode 0600)
    * ``{"type": "globus_confidential", "client_id", "client_secret", "scopes",
      "resource_server"?, "auth_base_url"?, "environment"?, "verify"?, "scheme"?,
      "allow_insecure_http"?}``
    * ``{"type": "globus_refresh_token", "client_id" + "refresh_token" | "storage_path"
      ("default" for ALCF's tools' location), "resource_server"?, "auth_base_url"?,
      "client_secret"?, "namespace"?, "environment"?, "verify"?, "scheme"?,
      "allow_insecure_http"?, "allow_readable_secret_files"?}``
    * the types a backend defines in its auth module (:mod:`facility_common.auth.types`), such as
      Flux's ``basic``, ``flux_shared_secret`` and ``flux_password``.

    ``verify`` is the TLS setting used for token endpoints unless the mapping sets its own;
    ``allow_insecure_http`` likewise (the client's own opt-in covers its token endpoints).
    Anything else raises :class:`ConfigurationError` naming the key and the facility, never a
    secret value.
    """
    if value is None:
        return None
    if isinstance(value, FacilityAuth):
        return value
    if isinstance(value, str | Secret):
        return FacilityAuth(StaticToken(value, facility=facility), facility=facility)
    if isinstance(value, TokenSource):
        if value.facility is None:
            value.facility = facility
        return FacilityAuth(value, facility=facility)
    if isinstance(value, httpx.Auth):
        return value
    if isinstance(value, Mapping):
        built = _from_mapping(value, facility, verify, allow_insecure_http)
        return built if isinstance(built, httpx.Auth) else FacilityAuth(built, facility=facility)
    raise ConfigurationError(
        f"auth: expected a token string, a mapping with 'type', a TokenSource or an httpx.Auth, "
        f"not {type(value).__name__}",
        facility=facility,
    )
