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
token and repeats the request once with a fresh one, as the Flux project's own client does.
Credentials live in :class:`~facility_common.auth.Secret` and never reach a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Generator
from typing import Any

import httpx

from ...auth import (
    DEFAULT_TOKEN_TIMEOUT,
    TRANSIENT_TOKEN_STATUSES,
    FacilityAuth,
    Secret,
    StaticToken,
    TokenSource,
    _Fetched,
    _host_of,
)
from ...errors import AuthenticationError, ConfigurationError, TransportError
from ...http import check_base_url
from ...tls import VerifySetting, certificate_failure, certificate_message, ssl_verify

__all__ = [
    "FluxBasicAuth",
    "FluxPasswordToken",
    "FluxSharedSecretToken",
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


def jwt_lifetime(token: str, now: float | None = None) -> float | None:
    """Seconds until the ``exp`` claim of a JWT (read, not verified), or None if it has none.

    The token is the server's; only its expiry is read, to refresh ahead of it.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    return float(exp) - (time.time() if now is None else now)


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
    """A token issued by the Flux server itself; lifetime read from the token's ``exp``."""

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

    async def _fetch(self) -> _Fetched:
        """One request to the token endpoint.

        A failed certificate check is a :class:`TransportError` saying so (a setting to fix, not
        retried); no answer at all, 429 and 5xx are transient :class:`AuthenticationError` s,
        which :meth:`TokenSource._fetch_patiently` asks again a few times; any other refusal is final.
        """
        url = self.root + self.path
        try:
            async with httpx.AsyncClient(
                verify=ssl_verify(self.verify, "flux"), timeout=self.timeout, transport=self.transport
            ) as client:
                response = await client.post(url, **self._request())
        except httpx.HTTPError as exc:
            failure = certificate_failure(exc)
            if failure is not None:
                raise TransportError(
                    f"token request: {certificate_message(failure, _host_of(url))}", facility="flux"
                ) from None
            raise AuthenticationError(
                f"the Flux token endpoint /{self.path} got no answer: {type(exc).__name__}",
                facility="flux",
                transient=True,
            ) from None
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
        return _Fetched(Secret(token), jwt_lifetime(token))

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
