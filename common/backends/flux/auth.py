"""Authentication for the Flux RESTful API: HTTP Basic, the shared-secret handshake, password login.

The server (flux-restful 1.1.0, ``FLUX_AUTH_BACKEND``) authenticates in one of these ways:

* ``none``: nothing is sent.
* Legacy ``FLUX_REQUIRE_AUTH`` servers and the web views: HTTP Basic with the Flux user and token
  (:class:`FluxBasicAuth`).
* ``shared-secret``: the client signs ``{"user", "pass", "scope": "token"}`` as an HS256 JWT with
  the secret it shares with the server (``FLUX_SECRET_KEY``) and posts it as a bearer token to
  ``/v1/token``; the answer is an access token (:class:`FluxSharedSecretToken`).
* ``database``/``pam``: the OAuth2 password form at ``/v1/login/access-token``
  (:class:`FluxPasswordToken`).
* ``oidc`` or a token obtained elsewhere: a plain bearer token
  (:class:`~facility_common.auth.StaticToken`).

Access tokens expire (600 minutes by default) and the server answers an expired one with 401; the
token sources plug into :class:`~facility_common.auth.FacilityAuth`, which forgets the refused
token and repeats the request once with a fresh one, as the Flux project's own client does. A
token's lifetime is measured on the server's clock (``expires_in``, the token's ``exp - iat``, or
its ``exp`` against the answer's ``Date``), never against this machine's, which may be off.
Credentials live in :class:`~facility_common.auth.Secret` and never reach a message.

This module is the Flux backend's ``auth_module`` (see :mod:`facility_common.auth.types`): its
:data:`AUTH_TYPES` describe the auth mapping types ``basic``, ``flux_shared_secret`` and
``flux_password``, and :func:`build_auth` builds them for
:func:`~facility_common.auth.resolve_auth`.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
from collections.abc import Generator, Mapping
from typing import Any

import httpx

from ...auth import (
    DEFAULT_TOKEN_TIMEOUT,
    TRANSIENT_TOKEN_STATUSES,
    AuthTypeInfo,
    FacilityAuth,
    Fetched,
    Secret,
    StaticToken,
    TokenSource,
)
from ...auth.source import as_seconds
from ...errors import AuthenticationError, ConfigurationError, FacilityError, TransportError
from ...http import check_base_url, host_of, http_client
from ...tls import VerifySetting, certificate_failure, certificate_message

__all__ = [
    "AUTH_TYPES",
    "FluxBasicAuth",
    "FluxPasswordToken",
    "FluxSharedSecretToken",
    "build_auth",
    "encode_hs256",
    "flux_auth",
    "jwt_lifetime",
]

TOKEN_PATH = "v1/token"
LOGIN_PATH = "v1/login/access-token"
AUTH_METHODS = ("auto", "basic", "shared-secret", "password", "token")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_hs256(claims: dict[str, Any], key: str) -> str:
    """A compact HS256 JWT of ``claims`` signed with ``key`` (the handshake's only need)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def _claim(claims: object, name: str) -> float | None:
    value = claims.get(name) if isinstance(claims, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(value)


def jwt_lifetime(token: str, server_time: float | None = None) -> float | None:
    """How long a JWT lives, read from its claims (not verified), on the issuer's clock.

    ``exp - iat`` when the token has both; otherwise ``exp - server_time`` when the server's time
    is known (the ``Date`` of the answer that carried the token); otherwise None (the token is
    kept until an API refuses it). This machine's clock is never used: when it runs ahead of the
    server's, every token would look nearly expired and be fetched again on every call.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = _claim(claims, "exp")
    if exp is None:
        return None
    issued = _claim(claims, "iat")
    if issued is None:
        issued = server_time
    return None if issued is None else max(0.0, exp - issued)


def _server_time(response: httpx.Response) -> float | None:
    """The server's clock at its answer (the ``Date`` header), as a Unix time."""
    try:
        return email.utils.parsedate_to_datetime(response.headers.get("Date", "")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _api_root(base_url: str, facility: str) -> str:
    """The server root (the part before ``/v1``), with a trailing slash; the token endpoint's
    own URL is accepted too."""
    root = check_base_url(base_url, facility=facility, sends_credentials=False)
    for suffix in ("/" + TOKEN_PATH, "/" + LOGIN_PATH, "/v1"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
            break
    return root + "/"


class FluxBasicAuth(httpx.Auth):
    """HTTP Basic with the Flux user and token (``FLUX_USER``/``FLUX_TOKEN``).

    A refusal is final: the same user and token would be refused again.
    """

    def __init__(self, user: str, token: str | Secret) -> None:
        if not user:
            raise ConfigurationError("user: the Flux user is empty", facility="flux")
        secret = token if isinstance(token, Secret) else Secret(token)
        if not secret:
            raise ConfigurationError("token: the Flux token is empty", facility="flux")
        self.user = user
        self._token = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pair = f"{self.user}:{self._token.get_secret_value()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        yield request

    def __repr__(self) -> str:
        return f"FluxBasicAuth(user={self.user!r})"


class _FluxTokenSource(TokenSource):
    """A token issued by the Flux server itself; its lifetime measured on the server's clock."""

    path: str = TOKEN_PATH

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str | Secret,
        *,
        verify: VerifySetting = True,
        timeout: float = DEFAULT_TOKEN_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        super().__init__(facility="flux")
        if not user:
            raise ConfigurationError("user: the Flux user is empty", facility="flux")
        self._password = password if isinstance(password, Secret) else Secret(password)
        if not self._password:
            raise ConfigurationError("token: the Flux token (password) is empty", facility="flux")
        check_base_url(
            base_url, facility="flux", sends_credentials=True, allow_insecure_http=allow_insecure_http
        )
        self.root = _api_root(base_url, "flux")
        self.user = user
        self.verify = verify
        self.timeout = timeout
        self.transport = transport

    def _request(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _fetch(self) -> Fetched:
        """One request to the token endpoint.

        A failed certificate check is a :class:`TransportError` saying so (a setting to fix, not
        retried); no answer at all, 429 and 5xx are transient :class:`AuthenticationError` s,
        which :meth:`TokenSource._fetch_patiently` asks again a few times; any other refusal is final.
        The token's lifetime is the answer's ``expires_in`` or, failing that, read from the token
        on the server's clock (:func:`jwt_lifetime`).
        """
        url = self.root + self.path
        failure: FacilityError | None = None
        try:
            async with http_client(
                facility="flux",
                verify=self.verify,
                timeout=self.timeout,
                transport=self.transport,
                direct_to=(url,),
            ) as client:
                response = await client.post(url, **self._request())
        except httpx.HTTPError as exc:
            certificate = certificate_failure(exc)
            failure = (
                TransportError(
                    f"token request: {certificate_message(certificate, host_of(url))}", facility="flux"
                )
                if certificate is not None
                else AuthenticationError(
                    f"the Flux token endpoint /{self.path} got no answer: {type(exc).__name__}",
                    facility="flux",
                    transient=True,
                )
            )
        if failure is not None:
            raise failure  # outside the ``except``: the httpx error (and its request) stays behind
        if response.status_code in TRANSIENT_TOKEN_STATUSES:
            raise AuthenticationError(
                f"the Flux token endpoint /{self.path} is busy or failing: HTTP {response.status_code}",
                facility="flux",
                status_code=response.status_code,
                transient=True,
            )
        if response.status_code != 200:
            # The server answers bad credentials with 400 (not 401) at /v1/token.
            raise AuthenticationError(
                f"the Flux server refused user {self.user!r} at /{self.path}",
                facility="flux",
                status_code=response.status_code,
            )
        try:
            data = response.json()
            token = data["access_token"]
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError(
                f"/{self.path} answered without an access_token", facility="flux", status_code=200
            ) from None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"/{self.path} answered an empty access_token", facility="flux")
        lifetime = as_seconds(data.get("expires_in"))
        if lifetime is None:
            lifetime = jwt_lifetime(token, _server_time(response))
        return Fetched(Secret(token), lifetime)

    def _describe(self) -> str:
        return f"user={self.user!r}, url={self.root + self.path!r}"


class FluxSharedSecretToken(_FluxTokenSource):
    """The shared-secret handshake: a JWT signed with ``FLUX_SECRET_KEY`` buys an access token.

    :calls: POST /v1/token with ``Authorization: Bearer <HS256 {user, pass, scope: "token"}>``
    """

    path = TOKEN_PATH

    def __init__(
        self, base_url: str, user: str, token: str | Secret, secret_key: str | Secret, **options: Any
    ) -> None:
        super().__init__(base_url, user, token, **options)
        self._secret_key = secret_key if isinstance(secret_key, Secret) else Secret(secret_key)
        if not self._secret_key:
            raise ConfigurationError("secret_key: the Flux shared secret is empty", facility="flux")

    def _request(self) -> dict[str, Any]:
        claims = {"user": self.user, "pass": self._password.get_secret_value(), "scope": "token"}
        signed = encode_hs256(claims, self._secret_key.get_secret_value())
        return {"headers": {"Authorization": f"Bearer {signed}"}}


class FluxPasswordToken(_FluxTokenSource):
    """The OAuth2 password form of the ``database`` and ``pam`` auth backends.

    :calls: POST /v1/login/access-token (form ``username``, ``password``)
    """

    path = LOGIN_PATH

    def _request(self) -> dict[str, Any]:
        return {"data": {"username": self.user, "password": self._password.get_secret_value()}}


def flux_auth(
    base_url: str,
    *,
    auth: httpx.Auth | None = None,
    user: str | None = None,
    token: str | Secret | None = None,
    secret_key: str | Secret | None = None,
    auth_method: str = "auto",
    verify: VerifySetting = True,
    transport: httpx.AsyncBaseTransport | None = None,
    allow_insecure_http: bool = False,
) -> httpx.Auth | None:
    """The ``httpx.Auth`` for the backend options ``user``, ``token``, ``secret_key``.

    An explicit ``auth`` wins (it may not be combined with those options). ``auth_method``:
    ``auto`` picks the handshake when a ``secret_key`` is given, HTTP Basic for a user and token,
    a bearer token for a token alone; ``basic``, ``shared-secret``, ``password`` (login form) and
    ``token`` (bearer) force one.
    """
    if auth_method not in AUTH_METHODS:
        raise ConfigurationError(
            f"auth_method: {auth_method!r} is not one of {', '.join(AUTH_METHODS)}", facility="flux"
        )
    given = user is not None or token is not None or secret_key is not None
    if auth is not None:
        if given:
            raise ConfigurationError(
                "auth: give either auth or the user/token/secret_key options, not both", facility="flux"
            )
        return auth
    if not given:
        return None
    method = auth_method
    if method == "auto":
        method = "shared-secret" if secret_key else ("basic" if user else "token")
    if token is None:
        raise ConfigurationError(f"token: required for the {method!r} auth method", facility="flux")
    if method == "token":
        return FacilityAuth(StaticToken(token, facility="flux"), facility="flux")
    if not user:
        raise ConfigurationError(f"user: required for the {method!r} auth method", facility="flux")
    if method == "basic":
        return FluxBasicAuth(user, token)
    options: dict[str, Any] = {
        "verify": verify,
        "transport": transport,
        "allow_insecure_http": allow_insecure_http,
    }
    if method == "password":
        return FacilityAuth(FluxPasswordToken(base_url, user, token, **options), facility="flux")
    if not secret_key:
        raise ConfigurationError("secret_key: required for the 'shared-secret' auth method", facility="flux")
    return FacilityAuth(FluxSharedSecretToken(base_url, user, token, secret_key, **options), facility="flux")


_TLS = frozenset({"verify", "allow_insecure_http"})

#: The auth mapping types of the Flux RESTful API (read through the Flux descriptor's
#: ``auth_module`` by :mod:`facility_common.auth.types`).
AUTH_TYPES: Mapping[str, AuthTypeInfo] = {
    info.name: info
    for info in (
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


def build_auth(
    info: AuthTypeInfo,
    values: Mapping[str, Any],
    *,
    facility: str,
    verify: VerifySetting,
    allow_insecure_http: bool,
) -> httpx.Auth | TokenSource:
    """The auth of an auth mapping of one of the Flux types (``values`` already checked)."""
    if info.name == "basic":
        return FluxBasicAuth(values["user"], values["token"])
    options: dict[str, Any] = {
        "verify": values.get("verify", verify),
        "allow_insecure_http": values.get("allow_insecure_http", allow_insecure_http),
    }
    if info.name == "flux_shared_secret":
        return FluxSharedSecretToken(
            values["base_url"], values["user"], values["token"], values["secret_key"], **options
        )
    return FluxPasswordToken(values["base_url"], values["user"], values["token"], **options)
