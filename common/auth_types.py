"""The auth types a connection can name, described once: keys, secrets, form fields, help.

An auth type is what a connection's ``auth`` mapping says in its ``type`` key (``token``,
``oidc_client_credentials``...). This table says, for each, which keys are required and optional,
which hold secrets, which connection fields carry them (an Airflow connection's Login and
Password), and a line of help. The auth mapping validator, the settings parser
(:func:`facility_common.options.settings_from_connection`), the Airflow connection forms and the
``facility`` command all read it, so they cannot disagree.

Types specific to one API (Flux's handshakes) are described here too, but built by the module
its backend descriptor names (``auth_module``), so this package never imports a backend.
"""

from __future__ import annotations

import dataclasses

from .errors import ConfigurationError

__all__ = ["AUTH_TYPES", "AuthTypeInfo", "auth_type_info"]


@dataclasses.dataclass(frozen=True)
class AuthTypeInfo:
    """One auth type of the ``auth`` mapping.

    ``login_key`` and ``password_key`` name the mapping keys an Airflow connection's Login and
    Password fill; every other key is read from the connection's extras under its own name (or
    one of ``extra_aliases``). ``needs_base_url`` types take the API's base URL as their
    ``base_url`` key when the mapping gives none.
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

    @property
    def keys(self) -> frozenset[str]:
        return self.required | self.optional


_TLS = frozenset({"verify", "allow_insecure_http"})
_GLOBUS_COMMON = frozenset(
    {"resource_server", "auth_base_url", "environment", "scheme", "allow_insecure_http"}
)

AUTH_TYPES: dict[str, AuthTypeInfo] = {
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
            "A file holding the token, kept fresh by another tool; read again when it changes.",
            required=frozenset({"path"}),
            optional=frozenset({"scheme", "check_interval"}),
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
            optional=frozenset({"client_id", "key_path", "private_key", "scope", "scheme"}) | _TLS,
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
            optional=frozenset({"client_id", "refresh_token", "storage_path", "client_secret", "namespace"})
            | _GLOBUS_COMMON,
            secrets=frozenset({"refresh_token", "client_secret"}),
            login_key="client_id",
            password_key="refresh_token",
        ),
        AuthTypeInfo(
            "basic",
            "Flux user and token",
            "Login is the Flux user, Password its token (HTTP basic authentication).",
            required=frozenset({"user", "token"}),
            secrets=frozenset({"token"}),
            login_key="user",
            password_key="token",
        ),
        AuthTypeInfo(
            "flux_shared_secret",
            "Flux shared-secret handshake",
            "Login is the Flux user, Password its token; secret_key is the server's shared secret.",
            required=frozenset({"base_url", "user", "token", "secret_key"}),
            optional=_TLS,
            secrets=frozenset({"token", "secret_key"}),
            login_key="user",
            password_key="token",
            needs_base_url=True,
        ),
        AuthTypeInfo(
            "flux_password",
            "Flux password handshake",
            "Login is the Flux user, Password its token, exchanged for an access token.",
            required=frozenset({"base_url", "user", "token"}),
            optional=_TLS,
            secrets=frozenset({"token"}),
            login_key="user",
            password_key="token",
            needs_base_url=True,
        ),
    )
}


def auth_type_info(name: object, facility: str | None = None) -> AuthTypeInfo:
    """The description of auth type ``name``; :class:`ConfigurationError` naming the known ones."""
    info = AUTH_TYPES.get(name) if isinstance(name, str) else None
    if info is None:
        shown = repr(name) if isinstance(name, str) else "missing"
        raise ConfigurationError(
            f"auth.type: {shown} is not one of {', '.join(sorted(AUTH_TYPES))}", facility=facility
        )
    return info
