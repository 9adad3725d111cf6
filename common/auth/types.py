"""The auth types a connection can name, described once: keys, secrets, form fields, help.

An auth type is what a connection's ``auth`` mapping says in its ``type`` key (``token``,
``oidc_client_credentials``...). An :class:`AuthTypeInfo` says which keys are required and
optional, which hold secrets, what kind of value each key takes, which connection fields carry them
(an Airflow connection's Login and Password), and a line of help. The auth mapping validator
(:func:`facility_common.auth.resolve_auth`), the settings parser
(:func:`facility_common.options.settings_from_connection`), the Airflow connection forms and the
``facility`` command all read these descriptions, so they cannot disagree.

**Built-in types** (:data:`BUILTIN_AUTH_TYPES`) are the flows of this package. **Types of one API**
(Flux's handshakes) are defined by that API's backend, never here: the backend's descriptor
(:class:`facility_common.registry.BackendDescriptor`) names an ``auth_module`` that provides

* ``AUTH_TYPES``: a mapping of type name to :class:`AuthTypeInfo`, and
* ``build_auth(info, values, *, facility, verify, allow_insecure_http)``: returns the
  ``httpx.Auth`` or :class:`~facility_common.auth.TokenSource` for a mapping of that type;
  ``values`` holds the mapping's keys checked and converted per the description (secrets as
  :class:`~facility_common.auth.Secret`, flags as bools, numbers as floats, word lists as one
  space-separated string), ``verify`` and ``allow_insecure_http`` are the client's settings.

:func:`find_auth_type` looks a name up among the built-in types first, then in the auth modules
of the descriptors that list the name in their ``auth_types`` (imported then, not before), then in
every descriptor's auth module. :data:`AUTH_TYPES` is a read-only mapping view of all of them.
This package imports no backend: it reaches an auth module only through its descriptor's path.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from ..errors import ConfigurationError

if TYPE_CHECKING:
    import httpx

    from ..tls import VerifySetting
    from .source import TokenSource

__all__ = [
    "AUTH_TYPES",
    "BUILTIN_AUTH_TYPES",
    "AuthBuilder",
    "AuthTypeInfo",
    "AuthTypeModule",
    "KeyKind",
    "auth_type_info",
    "find_auth_type",
]

KeyKind = Literal["text", "flag", "verify", "number", "words"]
"""What a key takes: a string (``text``), true/false (``flag``), true/false or a CA bundle path
(``verify``), a number, or a string or list of strings (``words``, joined with spaces)."""

#: The kinds of the keys shared by several types; a type may add its own (``AuthTypeInfo.kinds``).
COMMON_KEY_KINDS: Mapping[str, KeyKind] = {
    "verify": "verify",
    "allow_insecure_http": "flag",
    "allow_readable_secret_files": "flag",
    "check_interval": "number",
    "scope": "words",
    "scopes": "words",
}


@dataclasses.dataclass(frozen=True)
class AuthTypeInfo:
    """One auth type of the ``auth`` mapping.

    ``login_key`` and ``password_key`` name the mapping keys an Airflow connection's Login and
    Password fill; every other key is read from the connection's extras under its own name (or
    one of ``extra_aliases``). ``needs_base_url`` types take the API's base URL as their
    ``base_url`` key when the mapping gives none. ``kinds`` gives the kind of keys not in
    :data:`COMMON_KEY_KINDS` that are not plain text.
    """

    name: str
    label: str
    help: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()
    login_key: str | None = None
    password_key: str | None = None
    extra_aliases: tuple[tuple[str, str], ...] = ()
    """(extra name, mapping key) pairs read besides the keys' own names."""
    needs_base_url: bool = False
    kinds: tuple[tuple[str, KeyKind], ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        return self.required | self.optional

    def kind(self, key: str) -> KeyKind:
        """The kind of value ``key`` takes."""
        own = dict(self.kinds)
        return own.get(key) or COMMON_KEY_KINDS.get(key, "text")


class AuthBuilder(Protocol):
    """An auth module's ``build_auth``: the auth of one mapping of one of its types."""

    def __call__(
        self,
        info: AuthTypeInfo,
        values: Mapping[str, Any],
        *,
        facility: str,
        verify: VerifySetting,
        allow_insecure_http: bool,
    ) -> httpx.Auth | TokenSource: ...


class AuthTypeModule(Protocol):
    """What a backend descriptor's ``auth_module`` provides."""

    AUTH_TYPES: Mapping[str, AuthTypeInfo]
    build_auth: AuthBuilder


_TLS = frozenset({"verify", "allow_insecure_http"})
_GLOBUS_COMMON = frozenset(
    {"resource_server", "auth_base_url", "environment", "scheme", "verify", "allow_insecure_http"}
)

BUILTIN_AUTH_TYPES: Mapping[str, AuthTypeInfo] = {
    info.name: info
    for info in (
        AuthTypeInfo(
            "token",
            "Bearer token",
            "Password is a bearer token (or an API's own raw token, such as an S3M or Slurm JWT).",
            required=frozenset({"token"}),
            optional=frozenset({"scheme"}),
            secrets=frozenset({"token"}),
            password_key="token",
        ),
        AuthTypeInfo(
            "token_file",
            "Token file",
            "A file holding the token (mode 0600), kept fresh by another tool; read again when it changes.",
            required=frozenset({"path"}),
            optional=frozenset({"scheme", "check_interval", "allow_readable_secret_files"}),
            extra_aliases=(("token_file", "path"),),
        ),
        AuthTypeInfo(
            "oidc_client_credentials",
            "OIDC client credentials",
            "Login is the client id, Password the client secret; the token URL is the OIDC token endpoint.",
            required=frozenset({"token_url", "client_id", "client_secret"}),
            optional=frozenset({"scope", "audience", "auth_method", "scheme"}) | _TLS,
            secrets=frozenset({"client_secret"}),
            login_key="client_id",
            password_key="client_secret",
        ),
        AuthTypeInfo(
            "private_key_jwt",
            "Private-key JWT client credentials",
            "Login is the client id; Password the PEM private key, or give the key file's path "
            "(mode 0600) as key_path.",
            required=frozenset({"token_url"}),
            optional=frozenset(
                {"client_id", "key_path", "private_key", "scope", "scheme", "allow_readable_secret_files"}
            )
            | _TLS,
            secrets=frozenset({"private_key"}),
            login_key="client_id",
            password_key="private_key",
        ),
        AuthTypeInfo(
            "globus_confidential",
            "Globus confidential client",
            "Login is the Globus client id, Password its secret; scopes are space-separated.",
            required=frozenset({"client_id", "client_secret", "scopes"}),
            optional=_GLOBUS_COMMON,
            secrets=frozenset({"client_secret"}),
            login_key="client_id",
            password_key="client_secret",
            extra_aliases=(("scope", "scopes"),),
        ),
        AuthTypeInfo(
            "globus_refresh_token",
            "Globus refresh token",
            "Login is the native-app client id, Password an optional refresh token; or give the "
            "token storage file ALCF's login script writes as storage_path.",
            required=frozenset(),
            optional=frozenset(
                {
                    "client_id",
                    "refresh_token",
                    "storage_path",
                    "client_secret",
                    "namespace",
                    "allow_readable_secret_files",
                }
            )
            | _GLOBUS_COMMON,
            secrets=frozenset({"refresh_token", "client_secret"}),
            login_key="client_id",
            password_key="refresh_token",
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """The auth types of one backend's auth module, and its builder."""

    types: Mapping[str, AuthTypeInfo]
    build: AuthBuilder


_modules: dict[str, _Loaded] = {}


def _load(module_name: str, backend: str) -> _Loaded:
    """Import an ``auth_module`` once and check that it provides the hook's two names."""
    loaded = _modules.get(module_name)
    if loaded is not None:
        return loaded
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"the auth types of the {backend!r} backend could not be imported ({exc}); "
            "install hpc-facility-providers with the extras it needs",
            facility=backend,
        ) from exc
    types = getattr(module, "AUTH_TYPES", None)
    build = getattr(module, "build_auth", None)
    if not isinstance(types, Mapping) or not callable(build):
        raise ConfigurationError(
            f"{module_name} (auth_module of {backend!r}) must define AUTH_TYPES and build_auth",
            facility=backend,
        )
    for name, info in types.items():
        if not isinstance(info, AuthTypeInfo) or info.name != name:
            raise ConfigurationError(
                f"{module_name}: AUTH_TYPES[{name!r}] is not an AuthTypeInfo named {name!r}",
                facility=backend,
            )
    loaded = _Loaded(types, cast("AuthBuilder", build))
    _modules[module_name] = loaded
    return loaded


def _auth_modules(name: str | None) -> Iterator[_Loaded]:
    """The auth modules of the backends: first those whose descriptor lists ``name`` among its
    auth types, then the others (built-in descriptors first, then registered and installed ones)."""
    from ..registry import BUILTIN_DESCRIPTORS, descriptors

    seen: set[str] = set()
    for listing_only in (True, False):
        for group in (BUILTIN_DESCRIPTORS, None):
            for descriptor in group if group is not None else descriptors():
                module = descriptor.auth_module
                if module is None or module in seen:
                    continue
                if listing_only and name not in descriptor.auth_types:
                    continue
                seen.add(module)
                yield _load(module, descriptor.name)


def find_auth_type(name: object) -> tuple[AuthTypeInfo, AuthBuilder | None] | None:
    """The description of auth type ``name`` and its backend's builder (``None`` for a built-in
    type, which :func:`~facility_common.auth.resolve_auth` builds itself); ``None`` if unknown."""
    if not isinstance(name, str):
        return None
    builtin = BUILTIN_AUTH_TYPES.get(name)
    if builtin is not None:
        return builtin, None
    for loaded in _auth_modules(name):
        info = loaded.types.get(name)
        if info is not None:
            return info, loaded.build
    return None


class _AllAuthTypes(Mapping[str, AuthTypeInfo]):
    """Every auth type: the built-in ones and those of the backends' auth modules (loaded when a
    name is not built in, or when the whole table is listed)."""

    def __getitem__(self, name: str) -> AuthTypeInfo:
        found = find_auth_type(name)
        if found is None:
            raise KeyError(name)
        return found[0]

    def __iter__(self) -> Iterator[str]:
        names = dict.fromkeys(BUILTIN_AUTH_TYPES)
        for loaded in _auth_modules(None):
            names.update(dict.fromkeys(loaded.types))
        return iter(names)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"AUTH_TYPES({sorted(self)})"


AUTH_TYPES: Mapping[str, AuthTypeInfo] = _AllAuthTypes()
"""Every auth type by name, built-in or defined by a backend's auth module."""


def auth_type_info(name: object, facility: str | None = None) -> AuthTypeInfo:
    """The description of auth type ``name``; :class:`ConfigurationError` naming the known ones."""
    found = find_auth_type(name)
    if found is None:
        shown = repr(name) if isinstance(name, str) else "missing"
        raise ConfigurationError(
            f"auth.type: {shown} is not one of {', '.join(sorted(AUTH_TYPES))}", facility=facility
        )
    return found[0]
