"""Token sources and the ``httpx.Auth`` that sends their tokens.

Every facility API takes a token in the ``Authorization`` header; they differ in where the token
comes from. A :class:`TokenSource` hides that difference behind one coroutine, ``token()``:

* :class:`StaticToken`: a fixed token (the user pasted it, or a test).
* :class:`TokenFile`: a token some other tool keeps fresh in a file (S3M, cron jobs).
* :class:`OIDCClientCredentials`: the OAuth2 client-credentials grant (FirecREST, Keycloak).
* :class:`PrivateKeyJWTClientCredentials`: the same grant with the client authenticated by a JWT
  assertion signed with its private key (RFC 7523; the NERSC Superfacility API).
* :class:`GlobusConfidentialClient`: Globus client credentials through ``globus-sdk``.
* :class:`GlobusRefreshToken`: a Globus native-app refresh token, explicit or read from the
  token storage that ALCF's login scripts write (IRI at ALCF).

All sources share one caching policy, implemented once in :class:`TokenSource`: a token is fetched
on first use, cached, and refreshed ahead of its expiry by a single caller while concurrent callers
either keep using the still-valid token or wait for the new one (no stampede on the token
endpoint). :class:`FacilityAuth` puts the token on each request and, on a 401, invalidates it and
retries once with a fresh one. :func:`resolve_auth` turns configuration (a string, a mapping from a
config file or an Airflow connection, a source, an ``httpx.Auth``) into the ``httpx.Auth`` an
``ApiSession`` takes.

Secrets are held in :class:`Secret` so that no ``repr``, ``str``, log line or exception built by
this module contains a token, refresh token or client secret. Blocking work (``globus-sdk`` uses
``requests``; token files are read from disk) runs in a worker thread so the event loop is never
blocked.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import dataclasses
import hmac
import json
import logging
import math
import os
import pathlib
import random
import re
import ssl
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import anyio
import anyio.to_thread
import httpx

from .errors import AuthenticationError, ConfigurationError, FacilityError, TransportError
from .http import check_base_url
from .tls import VerifySetting, certificate_failure, certificate_message, ssl_verify

if TYPE_CHECKING:
    import globus_sdk
    from globus_sdk.token_storage import TokenStorage, TokenStorageData
    from globus_sdk.transport import RetryConfig

__all__ = [
    "ALCF_FACILITY_API_CLIENT_ID",
    "ALCF_IRI_RESOURCE_SERVER",
    "ALCF_TOKENS_CLIENT_ID",
    "DEFAULT_STORAGE_PATHS",
    "FacilityAuth",
    "GlobusConfidentialClient",
    "GlobusRefreshToken",
    "OIDCClientCredentials",
    "PrivateKeyJWTClientCredentials",
    "Secret",
    "StaticToken",
    "TokenFile",
    "TokenSource",
    "default_storage_path",
    "resolve_auth",
]

logger = logging.getLogger("facility_common.auth")

#: Globus native-app client of ALCF's ``alcf_facility_api_globus_token.py`` script.
ALCF_FACILITY_API_CLIENT_ID = "8b84fc2d-49e9-49ea-b54d-b3a29a70cf31"
#: Globus native-app client of the ``alcf-tokens`` tool (PyPI ``alcf-tokens``).
ALCF_TOKENS_CLIENT_ID = "7f3e61f5-e0de-4e8f-9150-0a62c65dda63"
#: Globus resource server of the ALCF IRI (Facility) API; its scope ends in ``/filesystem``.
ALCF_IRI_RESOURCE_SERVER = "6be511f6-a071-471f-9bc0-02a0d0836723"
#: Where the two ALCF tools keep their tokens: globus-sdk's ``GlobusApp`` default location
#: ``~/.globus/app/<client id>/<app name>/tokens.json`` (a ``JSONTokenStorage`` file).
DEFAULT_STORAGE_PATHS: tuple[str, ...] = (
    f"~/.globus/app/{ALCF_FACILITY_API_CLIENT_ID}/alcf_facility_api_app/tokens.json",
    f"~/.globus/app/{ALCF_TOKENS_CLIENT_ID}/alcf_tokens/tokens.json",
)

#: Resource server of Globus Auth itself; GlobusApp storages always hold a token for it.
_GLOBUS_AUTH_RESOURCE_SERVER = "auth.globus.org"
_GLOBUS_AUTH_URL = "https://auth.globus.org/"

#: Token-endpoint answers worth asking again (the endpoint is busy or restarting).
TRANSIENT_TOKEN_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Tries of one token fetch while its endpoint is unreachable or busy, and the backoff between.
TOKEN_FETCH_ATTEMPTS = 5
TOKEN_RETRY_DELAY = 0.25
TOKEN_RETRY_MAX_DELAY = 2.0
DEFAULT_REFRESH_FRACTION = 0.1
DEFAULT_MAX_REFRESH_LEAD = 30.0
DEFAULT_TOKEN_TIMEOUT = 30.0


class Secret:
    """A string that never shows itself in ``repr``, ``str``, f-strings or log arguments.

    Tokens, refresh tokens and client secrets live in this wrapper from the moment they enter the
    module; only :meth:`get_secret_value` returns the text, and only where it goes on the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def get_secret_value(self) -> str:
        """The wrapped text; call it only to put the secret on the wire."""
        return self._value

    def matches(self, other: str) -> bool:
        """Compare with ``other`` in constant time."""
        return hmac.compare_digest(self._value.encode(), other.encode())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self.matches(other._value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


def _copy_error(error: FacilityError) -> FacilityError:
    """A fresh exception equal to ``error``, so concurrent waiters do not share one traceback."""
    copy = FacilityError.__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    return copy


def _host_of(url: str) -> str:
    """The host (and port) of ``url``, for messages that must name an endpoint but nothing more."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def _redact(text: str, *secrets: Secret | None) -> str:
    """Remove every secret from text that came from outside (an error body may echo a request)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret.get_secret_value(), "**********")
    return text


@dataclasses.dataclass(frozen=True)
class _Cached:
    """A fetched token and when to stop using it (monotonic clock; ``None`` = no known expiry)."""

    value: Secret
    expires_at: float | None
    refresh_at: float | None


@dataclasses.dataclass(frozen=True)
class _Fetched:
    """What a source's fetch returns: the token and its remaining lifetime in seconds, if known."""

    value: Secret
    lifetime: float | None


class TokenSource(abc.ABC):
    """Where an access token comes from; caches it and refreshes it ahead of expiry.

    Subclasses implement :meth:`_fetch`. This class decides when to call it: on first use, when
    the cached token reaches its refresh point (``expires - lead``, where the lead is
    ``refresh_fraction`` of the token's lifetime but at most ``max_refresh_lead`` seconds), when a
    subclass reports the token stale, and after :meth:`invalidate`. One caller fetches at a time;
    while it does, callers holding a still-valid token keep using it and callers without one wait.

    ``scheme`` is the word put before the token in ``Authorization`` ("Bearer"); an empty string
    sends the raw token, as some APIs expect.
    """

    scheme: str = "Bearer"
    #: True when :meth:`invalidate` can lead to a different token (worth retrying a 401).
    refreshable: bool = True

    def __init__(
        self,
        *,
        scheme: str = "Bearer",
        facility: str | None = None,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= refresh_fraction < 1:
            raise ConfigurationError("refresh_fraction must be in [0, 1)", facility=facility)
        if max_refresh_lead < 0:
            raise ConfigurationError("max_refresh_lead must not be negative", facility=facility)
        self.scheme = scheme
        self.facility = facility
        self.refresh_fraction = refresh_fraction
        self.max_refresh_lead = max_refresh_lead
        self._clock = clock
        self._cached: _Cached | None = None
        self._lock = anyio.Lock()
        self._attempts = 0
        self._failed: tuple[int, FacilityError] | None = None
        #: Successful fetches so far (for tests and benchmarks).
        self.fetch_count = 0

    @abc.abstractmethod
    async def _fetch(self) -> _Fetched:
        """Obtain a new token. Raise :class:`AuthenticationError` or :class:`ConfigurationError`."""

    def _stale(self) -> bool:
        """Whether the cached token should be replaced for a reason other than its age."""
        return False

    def _lead(self, lifetime: float) -> float:
        return min(lifetime * self.refresh_fraction, self.max_refresh_lead)

    def _fresh(self, cached: _Cached | None, now: float) -> bool:
        if cached is None:
            return False
        if cached.refresh_at is not None and now >= cached.refresh_at:
            return False
        return not self._stale()

    @staticmethod
    def _usable(cached: _Cached | None, now: float) -> bool:
        return cached is not None and (cached.expires_at is None or now < cached.expires_at)

    async def token(self) -> str:
        """Return a valid access token, fetching or refreshing it when needed."""
        cached = self._cached
        now = self._clock()
        if cached is not None and self._fresh(cached, now):
            return cached.value.get_secret_value()
        if cached is not None and self._lock.locked() and self._usable(cached, now):
            # Another caller is refreshing ahead of expiry; the current token is still good.
            return cached.value.get_secret_value()
        arrived_before = self._attempts
        async with self._lock:
            cached = self._cached
            if cached is not None and self._fresh(cached, self._clock()):
                return cached.value.get_secret_value()
            failed = self._failed
            if failed is not None and failed[0] > arrived_before:
                # A fetch that started while this caller waited has just failed: share its outcome
                # instead of sending every waiter to the token endpoint in turn.
                raise _copy_error(failed[1])
            self._attempts += 1
            started = self._clock()
            try:
                fetched = await self._fetch_patiently()
                if not fetched.value:
                    raise AuthenticationError(f"{self!r} produced an empty token", facility=self.facility)
            except FacilityError as exc:
                self._failed = (self._attempts, exc)
                raise
            self._failed = None
            self.fetch_count += 1
            if fetched.lifetime is None:
                self._cached = _Cached(fetched.value, None, None)
            else:
                # Counted from before the request: the server's clock started during the round trip.
                lifetime = max(0.0, fetched.lifetime)
                expires_at = started + lifetime
                self._cached = _Cached(fetched.value, expires_at, expires_at - self._lead(lifetime))
            return fetched.value.get_secret_value()

    async def _fetch_patiently(self) -> _Fetched:
        """:meth:`_fetch`, asked again while the token endpoint is unreachable or busy (429/5xx).

        Asking twice only issues another token, so every transient failure is safe to retry; a
        refusal of the credentials is raised at once.
        """
        for retry_number in range(TOKEN_FETCH_ATTEMPTS):
            try:
                return await self._fetch()
            except AuthenticationError as exc:
                if not exc.transient or retry_number + 1 >= TOKEN_FETCH_ATTEMPTS:
                    raise
                delay = min(TOKEN_RETRY_MAX_DELAY, TOKEN_RETRY_DELAY * 2**retry_number)
                logger.debug("token endpoint busy or unreachable (%s); again in %.2f s", self.facility, delay)
                await anyio.sleep(delay * (1 + random.random() / 4))
        raise AssertionError("unreachable")  # pragma: no cover

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after the API refused it, so the next :meth:`token` fetches anew.

        Only the cached token is forgotten, and only if it is still ``token``: when several
        requests fail with the same old token, the first invalidation wins and the others keep
        the replacement.
        """
        cached = self._cached
        if cached is not None and cached.value.matches(token):
            self._cached = None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release what the source holds (HTTP or Globus clients). The default holds nothing."""

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"


class StaticToken(TokenSource):
    """A fixed token. It never changes, so a 401 is final and surfaces as AuthenticationError."""

    refreshable = False

    def __init__(self, token: str | Secret, *, scheme: str = "Bearer", facility: str | None = None) -> None:
        super().__init__(scheme=scheme, facility=facility)
        secret = token if isinstance(token, Secret) else Secret(token)
        if not secret.get_secret_value().strip():
            raise ConfigurationError("token: the static token is empty", facility=facility)
        self._token = Secret(secret.get_secret_value().strip())

    async def _fetch(self) -> _Fetched:
        return _Fetched(self._token, None)

    def invalidate(self, token: str) -> None:
        """Nothing to do: a static token cannot be replaced."""

    def _describe(self) -> str:
        return f"scheme={self.scheme!r}"


class TokenFile(TokenSource):
    """A token kept in a file by another tool; re-read when the file changes or after a 401.

    The file holds the token alone (surrounding whitespace is stripped). Its modification time is
    checked at most every ``check_interval`` seconds; reading happens in a worker thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        scheme: str = "Bearer",
        facility: str | None = None,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(scheme=scheme, facility=facility, clock=clock)
        self.path = pathlib.Path(path).expanduser()
        self.check_interval = check_interval
        self._mtime_ns: int | None = None
        self._checked_at = -math.inf
        self._changed = False

    def _stale(self) -> bool:
        # Once a change is seen it stays seen until the next read, whatever the throttle says.
        if self._changed:
            return True
        now = self._clock()
        if now - self._checked_at < self.check_interval:
            return False
        self._checked_at = now
        try:
            self._changed = self.path.stat().st_mtime_ns != self._mtime_ns
        except OSError:
            self._changed = True
        return self._changed

    def _read(self) -> tuple[str, int]:
        try:
            stat = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(
                f"token_file: {self.path} does not exist", facility=self.facility
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"token_file: cannot read {self.path}: {type(exc).__name__}", facility=self.facility
            ) from None
        return text.strip(), stat.st_mtime_ns

    async def _fetch(self) -> _Fetched:
        text, mtime_ns = await anyio.to_thread.run_sync(self._read)
        if not text:
            raise ConfigurationError(f"token_file: {self.path} is empty", facility=self.facility)
        self._mtime_ns = mtime_ns
        self._checked_at = self._clock()
        self._changed = False
        logger.debug("read token from file %s", self.path)
        return _Fetched(Secret(text), None)

    def _describe(self) -> str:
        return f"path={str(self.path)!r}"


class OIDCClientCredentials(TokenSource):
    """The OAuth2 client-credentials grant against any OIDC/OAuth2 token endpoint.

    Sends ``grant_type=client_credentials`` (plus ``scope`` and ``audience`` when given) with the
    client authenticated by HTTP Basic (``client_secret_basic``, the RFC 6749 default) or by form
    fields (``client_secret_post``). The token's lifetime is the response's ``expires_in``; without
    one the token is kept until an API refuses it. A fresh ``httpx.AsyncClient`` is used per fetch
    (fetches are rare), so the source is not tied to one event loop; ``transport`` replaces the
    network for tests.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | Secret,
        scope: str | Sequence[str] | None = None,
        audience: str | None = None,
        verify: VerifySetting = True,
        auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic",
        *,
        scheme: str = "Bearer",
        facility: str | None = None,
        timeout: float = DEFAULT_TOKEN_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure_http: bool = False,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            scheme=scheme,
            facility=facility,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            clock=clock,
        )
        try:
            self.token_url = check_base_url(
                token_url,
                facility=facility or "auth",
                sends_credentials=True,
                allow_insecure_http=allow_insecure_http,
            )
        except ConfigurationError as exc:
            raise ConfigurationError(
                exc.message.replace("base_url", "token_url"), facility=facility
            ) from None
        if auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ConfigurationError(
                f"auth_method: {auth_method!r} is not client_secret_basic or client_secret_post",
                facility=facility,
            )
        if not client_id:
            raise ConfigurationError("client_id: a client id is required", facility=facility)
        self.client_id = client_id
        self._client_secret = client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
        self.scope = scope if scope is None or isinstance(scope, str) else " ".join(scope)
        self.audience = audience
        self.verify = verify
        self._ssl_context: ssl.SSLContext | None = None
        self._ssl_verify()  # a CA bundle that cannot be loaded is a configuration error, now
        self.auth_method = auth_method
        self.timeout = timeout
        self._transport = transport

    def _ssl_verify(self) -> bool | ssl.SSLContext:
        """``verify`` as httpx 0.28 wants it: a CA bundle path becomes an SSL context (made once)."""
        if self._ssl_context is None:
            verify = ssl_verify(self.verify, self.facility)
            if isinstance(verify, bool):
                return verify
            self._ssl_context = verify
        return self._ssl_context

    @property
    def host(self) -> str:
        """Host of the token endpoint, the only part of it that messages show."""
        return _host_of(self.token_url)

    def _fail(self, reason: str, status: int | None = None, transient: bool = False) -> AuthenticationError:
        return AuthenticationError(
            f"token request to {self.host} {reason}",
            facility=self.facility,
            status_code=status,
            transient=transient or status in TRANSIENT_TOKEN_STATUSES,
        )

    def _no_answer(self, exc: httpx.HTTPError) -> FacilityError:
        """No answer from the token endpoint; a failed certificate check says so (not retried:
        it is a configuration problem, not a refusal of the credentials)."""
        failure = certificate_failure(exc)
        if failure is not None:
            return TransportError(
                f"token request: {certificate_message(failure, self.host)}", facility=self.facility
            )
        return self._fail(f"got no answer: {type(exc).__name__}", transient=True)

    async def _fetch(self) -> _Fetched:
        form: dict[str, str] = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        headers = {"Accept": "application/json"}
        secret = self._client_secret.get_secret_value()
        if self.auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
            pair = f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = secret
        client = httpx.AsyncClient(
            verify=self._ssl_verify(), timeout=self.timeout, transport=self._transport, follow_redirects=False
        )
        try:
            response = await client.post(self.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise self._no_answer(exc) from None
        finally:
            if self._transport is None:
                await client.aclose()
        return self._parse(response)

    def _parse(self, response: httpx.Response) -> _Fetched:
        try:
            data: Any = response.json()
        except (ValueError, UnicodeDecodeError):
            data = None
        if response.status_code != 200:
            detail = ""
            if isinstance(data, dict):
                parts = [data.get("error"), data.get("error_description")]
                detail = ": " + " - ".join(str(p) for p in parts if p) if any(parts) else ""
            detail = _redact(detail, self._client_secret)[:300]
            raise self._fail(f"was refused: HTTP {response.status_code}{detail}", response.status_code)
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise self._fail("answered without an access_token", response.status_code)
        lifetime = _as_seconds(data.get("expires_in"))
        logger.debug(
            "client-credentials token from %s, expires in %s s",
            self.host,
            "?" if lifetime is None else f"{lifetime:.0f}",
        )
        return _Fetched(Secret(data["access_token"]), lifetime)

    def _describe(self) -> str:
        return (
            f"token_url={self.token_url!r}, client_id={self.client_id!r}, scope={self.scope!r}, "
            f"auth_method={self.auth_method!r}"
        )


#: Lifetime of a signed client assertion; the token endpoint only has to accept it once.
ASSERTION_LIFETIME = 300
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class _LoadedKey:
    """A private key ready to sign, its JWS algorithm and the client id its file named, if any."""

    key: Any
    algorithm: str
    client_id: str | None


def _check_private_file(path: pathlib.Path, facility: str | None) -> None:
    """Refuse a key file others can read: a leaked key lets anyone act as the client."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigurationError(f"key_path: {path} does not exist", facility=facility) from None
    except OSError as exc:
        raise ConfigurationError(
            f"key_path: cannot read {path}: {type(exc).__name__}", facility=facility
        ) from None
    if mode & 0o077:
        raise ConfigurationError(
            f"key_path: {path} is readable by others (mode {mode & 0o777:04o}); the private key must "
            f"be private: run chmod 600 {path}",
            facility=facility,
        )


def _load_private_key(text: str, facility: str | None, where: str) -> _LoadedKey:
    """Parse a PEM or JWK private key (as Iris hands them out) without ever echoing it.

    Accepted: a PEM block, optionally after a first line holding the client id (the layout
    ``sfapi_client`` reads); a JWK object; or ``{"client_id": ..., "secret": <JWK or PEM>}``.
    """
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, RSAKey, import_key

    client_id: str | None = None
    material: Any = None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise ConfigurationError(f"{where}: not valid JSON (expected a JWK)", facility=facility) from None
        if isinstance(data, dict) and "secret" in data:
            found = data.get("client_id")
            client_id = found.strip() if isinstance(found, str) and found.strip() else None
            material = data["secret"]
            if isinstance(material, str) and material.strip().startswith("{"):
                with contextlib.suppress(ValueError):
                    material = json.loads(material)
        else:
            material = data
    else:
        match = _PEM_BLOCK.search(text)
        if match is None:
            raise ConfigurationError(
                f"{where}: no PEM private key (-----BEGIN ... PRIVATE KEY-----) or JWK found",
                facility=facility,
            )
        first = text[: match.start()].strip().splitlines()
        if first and first[0].strip() and " " not in first[0].strip():
            client_id = first[0].strip()
        material = match.group(0)
    if isinstance(material, str):
        pem = _PEM_BLOCK.search(material)
        material = pem.group(0) if pem else material
    try:
        if isinstance(material, dict):
            key: Any = import_key(material, "EC" if material.get("kty") == "EC" else "RSA")
        else:
            try:
                key = import_key(material, "RSA")
            except (JoseError, ValueError, TypeError):
                key = import_key(material, "EC")
    except (JoseError, ValueError, TypeError, KeyError):
        raise ConfigurationError(f"{where}: the private key cannot be parsed", facility=facility) from None
    if not getattr(key, "is_private", False):
        raise ConfigurationError(f"{where}: holds a public key; a private key is needed", facility=facility)
    if isinstance(key, RSAKey):
        algorithm = "RS256"
    elif isinstance(key, ECKey):
        algorithm = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(str(key.curve_name), "ES256")
    else:
        raise ConfigurationError(f"{where}: only RSA and EC keys are supported", facility=facility)
    return _LoadedKey(key, algorithm, client_id)


class PrivateKeyJWTClientCredentials(OIDCClientCredentials):
    """The client-credentials grant with ``private_key_jwt`` client authentication (RFC 7523).

    This is how NERSC's Superfacility API clients authenticate: Iris gives the client an id and a
    private key (PEM or JWK); each token request carries a short-lived JWT (``iss`` = ``sub`` =
    client id, ``aud`` = token URL) signed with that key, built with ``authlib``. Tokens live about
    ten minutes and come without a refresh token, so the grant is simply run again ahead of expiry.

    The key comes from ``key_path`` (a file that must be private: any group or other permission
    bit raises :class:`ConfigurationError` at construction, before any request) or from
    ``private_key`` (the key text itself, e.g. from a secrets manager). The key is parsed at
    construction too, so a wrong or public key is a configuration error, not a failed job call.
    A client id may also come from the key file's first line (the layout ``sfapi_client`` reads).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str | None = None,
        *,
        key_path: str | os.PathLike[str] | None = None,
        private_key: str | Secret | None = None,
        scope: str | Sequence[str] | None = None,
        verify: VerifySetting = True,
        scheme: str = "Bearer",
        facility: str | None = None,
        timeout: float = DEFAULT_TOKEN_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure_http: bool = False,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if key_path is None and private_key is None:
            raise ConfigurationError(
                "key_path: a private key is required: give key_path or private_key", facility=facility
            )
        if key_path is not None and private_key is not None:
            raise ConfigurationError(
                "private_key: give either key_path or private_key, not both", facility=facility
            )
        self.key_path = pathlib.Path(key_path).expanduser() if key_path is not None else None
        if self.key_path is not None:
            _check_private_file(self.key_path, facility)
            try:
                text = self.key_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(
                    f"key_path: cannot read {self.key_path}: {type(exc).__name__}", facility=facility
                ) from None
            loaded = _load_private_key(text, facility, "key_path")
        else:
            assert private_key is not None
            secret = private_key if isinstance(private_key, Secret) else Secret(private_key)
            loaded = _load_private_key(secret.get_secret_value(), facility, "private_key")
        client_id = client_id.strip() if client_id else loaded.client_id
        if not client_id:
            raise ConfigurationError(
                "client_id: required (not given, and the key file does not start with one)",
                facility=facility,
            )
        super().__init__(
            token_url,
            client_id,
            Secret(""),
            scope=scope,
            verify=verify,
            scheme=scheme,
            facility=facility,
            timeout=timeout,
            transport=transport,
            allow_insecure_http=allow_insecure_http,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            clock=clock,
        )
        self._key = loaded.key
        self.algorithm = loaded.algorithm

    def _assertion(self) -> str:
        """A fresh signed client assertion (unique ``jti``, five minutes of validity)."""
        from authlib.oauth2.rfc7523 import private_key_jwt_sign

        now = int(time.time())
        assertion = private_key_jwt_sign(
            self._key,
            self.client_id,
            self.token_url,
            alg=self.algorithm,
            claims={"iat": now, "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex},
        )
        return assertion.decode("ascii") if isinstance(assertion, bytes) else str(assertion)

    async def _fetch(self) -> _Fetched:
        form: dict[str, str] = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self._assertion(),
        }
        if self.scope:
            form["scope"] = self.scope
        client = httpx.AsyncClient(
            verify=self._ssl_verify(), timeout=self.timeout, transport=self._transport, follow_redirects=False
        )
        try:
            response = await client.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self._no_answer(exc) from None
        finally:
            if self._transport is None:
                await client.aclose()
        return self._parse(response)

    def _parse(self, response: httpx.Response) -> _Fetched:
        try:
            return super()._parse(response)
        except AuthenticationError as exc:
            if exc.status_code in (400, 401):
                exc.args = (
                    exc.args[0] + " (check the client id and its key, and that the client has not "
                    "expired: red clients last 48 hours; create a new one in Iris)",
                )
                exc.message = exc.args[0]
            raise

    def _describe(self) -> str:
        where = f", key_path={str(self.key_path)!r}" if self.key_path is not None else ""
        return f"token_url={self.token_url!r}, client_id={self.client_id!r}{where}"


def _as_seconds(value: object) -> float | None:
    """Read an ``expires_in`` that may be a number or a numeric string; None when unusable."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _token_entries(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The top-level token of a Globus token response plus its ``other_tokens``."""
    entries: list[Mapping[str, Any]] = [data]
    others = data.get("other_tokens")
    if isinstance(others, list):
        entries.extend(item for item in others if isinstance(item, Mapping))
    return entries


_T = TypeVar("_T")


class _GlobusSource(TokenSource):
    """What the two Globus sources share: the Auth base URL, the worker thread, error mapping."""

    def __init__(
        self,
        *,
        auth_base_url: str | None,
        environment: str | None,
        allow_insecure_http: bool,
        scheme: str,
        facility: str | None,
        refresh_fraction: float,
        max_refresh_lead: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(
            scheme=scheme,
            facility=facility,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            clock=clock,
        )
        self.environment = environment
        if auth_base_url is not None:
            try:
                base = check_base_url(
                    auth_base_url,
                    facility=facility or "globus",
                    sends_credentials=True,
                    allow_insecure_http=allow_insecure_http,
                )
            except ConfigurationError as exc:
                raise ConfigurationError(
                    exc.message.replace("base_url", "auth_base_url"), facility=facility
                ) from None
            # globus-sdk joins "/v2/oauth2/token" onto the base; keep exactly one slash.
            self.auth_base_url: str | None = base + "/"
        else:
            self.auth_base_url = None
        self._client: globus_sdk.AuthLoginClient | None = None

    @property
    def host(self) -> str:
        """Host of the Globus Auth service used, for messages."""
        if self.auth_base_url is not None:
            return _host_of(self.auth_base_url)
        if self.environment:
            from globus_sdk.config import get_service_url

            return _host_of(get_service_url("auth", self.environment))
        return _host_of(_GLOBUS_AUTH_URL)

    async def _in_thread(self, func: Callable[[], _T]) -> _T:
        """Run blocking globus-sdk work in a worker thread, mapping its errors to ours."""
        import globus_sdk

        try:
            return await anyio.to_thread.run_sync(func)
        except FacilityError:
            raise
        except globus_sdk.GlobusAPIError as exc:
            body = exc.raw_json
            oauth_error = body.get("error") if isinstance(body, dict) else None
            code = exc.code if exc.code and exc.code != "Error" else oauth_error
            code = f" {code}" if isinstance(code, str) and code.isprintable() and len(code) < 80 else ""
            raise AuthenticationError(
                f"Globus token request to {self.host} was refused: HTTP {exc.http_status}{code}"
                + self._refusal_hint(),
                facility=self.facility,
                status_code=exc.http_status,
                transient=exc.http_status in TRANSIENT_TOKEN_STATUSES,
            ) from None
        except globus_sdk.NetworkError as exc:
            raise AuthenticationError(
                f"Globus token request to {self.host} got no answer: {type(exc).__name__}",
                facility=self.facility,
                transient=True,
            ) from None
        except (globus_sdk.GlobusError, ValueError, KeyError, TypeError) as exc:
            raise AuthenticationError(
                f"Globus token request to {self.host} failed: {type(exc).__name__}",
                facility=self.facility,
            ) from None

    def _refusal_hint(self) -> str:
        return ""

    @staticmethod
    def _retry_config() -> RetryConfig:
        from globus_sdk.transport import RetryConfig

        # A token call retries briefly; the API session above it has its own retry policy.
        return RetryConfig(max_retries=2, max_sleep=5)

    def _pick(
        self, data: Mapping[str, Any], resource_server: str | None
    ) -> tuple[Mapping[str, Any], float | None]:
        """Choose the token for ``resource_server`` from a Globus token response.

        Without a resource server the response must hold exactly one token (besides one for
        Globus Auth itself).
        """
        entries = [e for e in _token_entries(data) if isinstance(e.get("resource_server"), str)]
        if resource_server is not None:
            chosen = [e for e in entries if e["resource_server"] == resource_server]
        else:
            chosen = [e for e in entries if e["resource_server"] != _GLOBUS_AUTH_RESOURCE_SERVER] or entries
        if len(chosen) != 1:
            names = sorted({str(e["resource_server"]) for e in entries})
            wanted = f"resource server {resource_server!r}" if resource_server else "a single resource server"
            raise ConfigurationError(
                f"Globus answered tokens for {names}, not {wanted}; set resource_server",
                facility=self.facility,
            )
        entry = chosen[0]
        if not isinstance(entry.get("access_token"), str):
            raise AuthenticationError(
                f"Globus token response from {self.host} has no access_token", facility=self.facility
            )
        return entry, _as_seconds(entry.get("expires_in"))

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await anyio.to_thread.run_sync(client.close)


class GlobusConfidentialClient(_GlobusSource):
    """Globus client credentials: a confidential client acting as itself, via globus-sdk.

    ``scopes`` are requested with ``ConfidentialAppAuthClient.oauth2_client_credentials_tokens``
    and the token for ``resource_server`` is taken from the response's ``by_resource_server``
    (the only non-Auth token when ``resource_server`` is omitted). ``auth_base_url`` points
    globus-sdk at another Globus Auth (a local emulator: ``http://127.0.0.1:PORT/globus/``)
    through the client's ``base_url`` argument, without touching process-wide settings.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | Secret,
        scopes: str | Sequence[str],
        resource_server: str | None = None,
        auth_base_url: str | None = None,
        *,
        environment: str | None = None,
        allow_insecure_http: bool = False,
        scheme: str = "Bearer",
        facility: str | None = None,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            auth_base_url=auth_base_url,
            environment=environment,
            allow_insecure_http=allow_insecure_http,
            scheme=scheme,
            facility=facility,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            clock=clock,
        )
        if not client_id:
            raise ConfigurationError("client_id: a client id is required", facility=facility)
        if not scopes:
            raise ConfigurationError("scopes: at least one scope is required", facility=facility)
        self.client_id = client_id
        self._client_secret = client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
        self.scopes: tuple[str, ...] = (
            tuple(scopes.split()) if isinstance(scopes, str) else tuple(str(s) for s in scopes)
        )
        self.resource_server = resource_server

    def _blocking_fetch(self) -> dict[str, Any]:
        import globus_sdk

        if self._client is None:
            self._client = globus_sdk.ConfidentialAppAuthClient(
                self.client_id,
                self._client_secret.get_secret_value(),
                environment=self.environment,
                base_url=self.auth_base_url,
                retry_config=self._retry_config(),
            )
        client = self._client
        assert isinstance(client, globus_sdk.ConfidentialAppAuthClient)
        response = client.oauth2_client_credentials_tokens(list(self.scopes))
        # by_resource_server validates the response shape; the raw data keeps exact expires_in.
        response.by_resource_server  # noqa: B018
        return dict(response.data)

    async def _fetch(self) -> _Fetched:
        data = await self._in_thread(self._blocking_fetch)
        entry, lifetime = self._pick(data, self.resource_server)
        logger.debug(
            "Globus client-credentials token for %s from %s, expires in %s s",
            entry["resource_server"],
            self.host,
            "?" if lifetime is None else f"{lifetime:.0f}",
        )
        return _Fetched(Secret(entry["access_token"]), lifetime)

    def _refusal_hint(self) -> str:
        return " (check client_id, client_secret and scopes)"

    def _describe(self) -> str:
        return (
            f"client_id={self.client_id!r}, scopes={list(self.scopes)!r}, "
            f"resource_server={self.resource_server!r}, host={self.host!r}"
        )


def default_storage_path() -> pathlib.Path | None:
    """The first existing token storage of ALCF's tools (see :data:`DEFAULT_STORAGE_PATHS`)."""
    for candidate in DEFAULT_STORAGE_PATHS:
        path = pathlib.Path(candidate).expanduser()
        if path.is_file():
            return path
    return None


def _is_sqlite(path: pathlib.Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _client_id_from_path(path: pathlib.Path) -> str | None:
    """GlobusApp storages live at ``.../app/<client id>/<app name>/tokens.json``."""
    try:
        return str(uuid.UUID(path.parent.parent.name))
    except ValueError:
        return None


class _StorageFile:
    """One globus-sdk token storage file (JSON or SQLite), opened per use in the calling thread.

    SQLite connections may not cross threads and worker threads differ between calls, so nothing
    is kept open between operations.
    """

    def __init__(self, path: pathlib.Path, namespace: str) -> None:
        self.path = path
        self.namespace = namespace
        self.kind = "sqlite" if _is_sqlite(path) else "json"

    def _open(self) -> TokenStorage:
        from globus_sdk.token_storage import JSONTokenStorage, SQLiteTokenStorage

        if self.kind == "sqlite":
            return SQLiteTokenStorage(self.path, namespace=self.namespace)
        return JSONTokenStorage(self.path, namespace=self.namespace)

    def read_all(self) -> dict[str, TokenStorageData]:
        storage = self._open()
        try:
            return storage.get_token_data_by_resource_server()
        finally:
            storage.close()

    def write(self, data: TokenStorageData) -> None:
        storage = self._open()
        try:
            storage.store_token_data_by_resource_server({data.resource_server: data})
        finally:
            storage.close()


class GlobusRefreshToken(_GlobusSource):
    """A Globus refresh token exchanged for access tokens, as a native app (or confidential client).

    Build it from an explicit ``client_id`` and ``refresh_token``, or with :meth:`from_storage`
    from the globus-sdk token storage that ALCF's login tools write. With a storage, each refresh
    first re-reads the file (another process may have refreshed already), reuses a stored access
    token that is still valid for ``min_stored_validity`` seconds and was not refused, and
    otherwise refreshes and writes the new access token (and a rotated refresh token) back, as
    globus-sdk's ``RefreshTokenAuthorizer(on_refresh=...)`` would. ``on_refresh`` receives each
    refresh response, for callers keeping explicit tokens elsewhere. A rotated refresh token is
    always kept in memory.
    """

    def __init__(
        self,
        client_id: str,
        refresh_token: str | Secret | None = None,
        resource_server: str | None = None,
        auth_base_url: str | None = None,
        *,
        client_secret: str | Secret | None = None,
        on_refresh: Callable[[Mapping[str, Any]], None] | None = None,
        environment: str | None = None,
        allow_insecure_http: bool = False,
        scheme: str = "Bearer",
        facility: str | None = None,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        min_stored_validity: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        _storage: _StorageFile | None = None,
    ) -> None:
        super().__init__(
            auth_base_url=auth_base_url,
            environment=environment,
            allow_insecure_http=allow_insecure_http,
            scheme=scheme,
            facility=facility,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            clock=clock,
        )
        if not client_id:
            raise ConfigurationError("client_id: a client id is required", facility=facility)
        if refresh_token is None and _storage is None:
            raise ConfigurationError(
                "refresh_token: a refresh token (or a token storage file) is required", facility=facility
            )
        self.client_id = client_id
        self._refresh_token: Secret | None = (
            None
            if refresh_token is None
            else refresh_token
            if isinstance(refresh_token, Secret)
            else Secret(refresh_token)
        )
        self._client_secret = (
            None
            if client_secret is None
            else client_secret
            if isinstance(client_secret, Secret)
            else Secret(client_secret)
        )
        self.resource_server = resource_server
        self.on_refresh = on_refresh
        self.min_stored_validity = min_stored_validity
        self._storage = _storage
        self._rejected: Secret | None = None

    @classmethod
    def from_storage(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        client_id: str | None = None,
        resource_server: str | None = None,
        namespace: str = "DEFAULT",
        auth_base_url: str | None = None,
        client_secret: str | Secret | None = None,
        environment: str | None = None,
        allow_insecure_http: bool = False,
        scheme: str = "Bearer",
        facility: str | None = None,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        min_stored_validity: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> GlobusRefreshToken:
        """Use the tokens of a globus-sdk token storage file (JSON or SQLite).

        ``path`` defaults to the storage of ALCF's ``alcf_facility_api_globus_token.py`` script or,
        failing that, of ``alcf-tokens`` (:data:`DEFAULT_STORAGE_PATHS`). ``client_id`` defaults to
        the one in the GlobusApp path (``~/.globus/app/<client id>/<app>/tokens.json``). Without
        ``resource_server``, the ALCF IRI resource server is used if present, else the only
        non-Auth entry. The file is read here to report problems early; tokens are read again at
        each refresh.
        """
        if path is None:
            found = default_storage_path()
            if found is None:
                raise ConfigurationError(
                    "storage_path: no token storage found at "
                    + " or ".join(DEFAULT_STORAGE_PATHS)
                    + "; run ALCF's token script (authenticate) or pass the path",
                    facility=facility,
                )
            file_path = found
        else:
            file_path = pathlib.Path(path).expanduser()
        if not file_path.is_file():
            raise ConfigurationError(f"storage_path: {file_path} does not exist", facility=facility)
        client_id = client_id or _client_id_from_path(file_path)
        if not client_id:
            raise ConfigurationError(
                f"client_id: required, since {file_path} is not under ~/.globus/app/<client id>/",
                facility=facility,
            )
        storage = _StorageFile(file_path, namespace)
        try:
            records = storage.read_all()
        except Exception as exc:
            raise ConfigurationError(
                f"storage_path: {file_path} is not a globus-sdk token storage: {type(exc).__name__}",
                facility=facility,
            ) from None
        if resource_server is None:
            candidates = [rs for rs in records if rs != _GLOBUS_AUTH_RESOURCE_SERVER]
            if ALCF_IRI_RESOURCE_SERVER in records:
                resource_server = ALCF_IRI_RESOURCE_SERVER
            elif len(candidates) == 1:
                resource_server = candidates[0]
            else:
                raise ConfigurationError(
                    f"resource_server: {file_path} holds tokens for {sorted(records)}; say which one to use",
                    facility=facility,
                )
        record = records.get(resource_server)
        if record is None:
            raise ConfigurationError(
                f"resource_server: {file_path} has no tokens for {resource_server!r} "
                f"(namespace {namespace!r}); it holds {sorted(records)}",
                facility=facility,
            )
        if not record.refresh_token:
            raise ConfigurationError(
                f"storage_path: {file_path} has no refresh token for {resource_server!r}; "
                "log in again requesting refresh tokens",
                facility=facility,
            )
        return cls(
            client_id,
            None,
            resource_server,
            auth_base_url,
            client_secret=client_secret,
            environment=environment,
            allow_insecure_http=allow_insecure_http,
            scheme=scheme,
            facility=facility,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            min_stored_validity=min_stored_validity,
            clock=clock,
            _storage=storage,
        )

    @property
    def storage_path(self) -> pathlib.Path | None:
        """The token storage file in use, if any."""
        return self._storage.path if self._storage is not None else None

    def invalidate(self, token: str) -> None:
        cached = self._cached
        if cached is not None and cached.value.matches(token):
            # Remember the refusal so a storage still holding this token is not trusted again.
            self._rejected = cached.value
        super().invalidate(token)

    def _auth_client(self) -> globus_sdk.AuthLoginClient:
        import globus_sdk

        if self._client is None:
            client: globus_sdk.AuthLoginClient
            if self._client_secret is not None:
                client = globus_sdk.ConfidentialAppAuthClient(
                    self.client_id,
                    self._client_secret.get_secret_value(),
                    environment=self.environment,
                    base_url=self.auth_base_url,
                    retry_config=self._retry_config(),
                )
            else:
                client = globus_sdk.NativeAppAuthClient(
                    self.client_id,
                    environment=self.environment,
                    base_url=self.auth_base_url,
                    retry_config=self._retry_config(),
                )
            self._client = client
        return self._client

    def _blocking_fetch(self) -> tuple[Secret, float | None]:
        record: TokenStorageData | None = None
        if self._storage is not None:
            assert self.resource_server is not None
            record = self._storage.read_all().get(self.resource_server)
            if record is None or not record.refresh_token:
                raise AuthenticationError(
                    f"token storage {self._storage.path} no longer holds a refresh token for "
                    f"{self.resource_server!r}; log in again",
                    facility=self.facility,
                )
            remaining = record.expires_at_seconds - time.time()
            stored = Secret(record.access_token)
            if remaining > self.min_stored_validity and not (self._rejected and self._rejected == stored):
                logger.debug(
                    "using stored Globus token for %s from %s, expires in %.0f s",
                    self.resource_server,
                    self._storage.path,
                    remaining,
                )
                return stored, remaining
            refresh_token = Secret(record.refresh_token)
        else:
            assert self._refresh_token is not None
            refresh_token = self._refresh_token

        response = self._auth_client().oauth2_refresh_token(refresh_token.get_secret_value())
        data: dict[str, Any] = dict(response.data)
        entry, lifetime = self._pick(data, self.resource_server)
        access = Secret(entry["access_token"])
        rotated = entry.get("refresh_token")
        if isinstance(rotated, str) and rotated and not refresh_token.matches(rotated):
            logger.debug("Globus rotated the refresh token for %s", entry["resource_server"])
        new_refresh = Secret(rotated) if isinstance(rotated, str) and rotated else refresh_token
        if self._storage is None:
            self._refresh_token = new_refresh
        logger.debug(
            "refreshed Globus token for %s at %s, expires in %s s",
            entry["resource_server"],
            self.host,
            "?" if lifetime is None else f"{lifetime:.0f}",
        )
        if record is not None and self._storage is not None:
            self._write_back(record, entry, access, new_refresh, lifetime)
        if self.on_refresh is not None:
            self.on_refresh(data)
        return access, lifetime

    def _write_back(
        self,
        record: TokenStorageData,
        entry: Mapping[str, Any],
        access: Secret,
        refresh: Secret,
        lifetime: float | None,
    ) -> None:
        """Store the refreshed tokens where the login tool will find them next time."""
        from globus_sdk.token_storage import TokenStorageData

        assert self._storage is not None
        expires_at = int(time.time() + lifetime) if lifetime is not None else record.expires_at_seconds
        scope = entry.get("scope")
        token_type = entry.get("token_type")
        updated = TokenStorageData(
            resource_server=record.resource_server,
            identity_id=record.identity_id,
            scope=scope if isinstance(scope, str) and scope else record.scope,
            access_token=access.get_secret_value(),
            refresh_token=refresh.get_secret_value(),
            expires_at_seconds=expires_at,
            token_type=token_type if isinstance(token_type, str) else record.token_type,
            extra=record.extra,
        )
        try:
            self._storage.write(updated)
        except Exception as exc:
            # The token is good; failing to persist it only costs a refresh next time.
            logger.warning(
                "could not write refreshed Globus token to %s: %s", self._storage.path, type(exc).__name__
            )

    async def _fetch(self) -> _Fetched:
        value, lifetime = await self._in_thread(self._blocking_fetch)
        return _Fetched(value, lifetime)

    def _refusal_hint(self) -> str:
        return (
            "; the refresh token may have expired or been revoked (ALCF refresh tokens last 7 days): "
            "log in again"
        )

    def _describe(self) -> str:
        where = f", storage_path={str(self._storage.path)!r}" if self._storage is not None else ""
        return (
            f"client_id={self.client_id!r}, resource_server={self.resource_server!r}, "
            f"host={self.host!r}{where}"
        )


class FacilityAuth(httpx.Auth):
    """``httpx.Auth`` that sends a :class:`TokenSource`'s token and survives one token refusal.

    Each request gets ``Authorization: <scheme> <token>`` (the raw token when the scheme is
    empty). On a 401 the token is invalidated and the request is sent once more with a fresh
    token; a second 401 (or a first one when no other token can be had) is returned to the caller,
    which maps it to :class:`AuthenticationError`. A streamed request body cannot be replayed, so
    such a request is not retried. Only the async flow exists: the project's clients are async.
    """

    def __init__(self, source: TokenSource, *, facility: str | None = None) -> None:
        self.source = source
        self.facility = facility or source.facility

    def _header(self, token: str) -> str:
        scheme = self.source.scheme
        return f"{scheme} {token}" if scheme else token

    async def _token(self) -> str:
        try:
            return await self.source.token()
        except FacilityError:
            raise
        except Exception as exc:
            raise AuthenticationError(
                f"{self.source!r} could not provide a token: {type(exc).__name__}", facility=self.facility
            ) from None

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._token()
        request.headers["Authorization"] = self._header(token)
        response = yield request
        if response.status_code != 401 or not self.source.refreshable:
            return
        try:
            request.content  # noqa: B018 - raises when the body is an unread stream
        except httpx.RequestNotRead:
            return
        self.source.invalidate(token)
        fresh = await self._token()
        if hmac.compare_digest(fresh.encode(), token.encode()):
            return
        logger.debug("%s refused a token with 401; retrying once with a fresh one", request.url.host)
        request.headers["Authorization"] = self._header(fresh)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise ConfigurationError(
            "FacilityAuth works with httpx.AsyncClient only; use the async client or the "
            "FacilityClient facade",
            facility=self.facility,
        )
        yield request  # pragma: no cover - makes this a generator, as httpx expects

    def __repr__(self) -> str:
        return f"FacilityAuth({self.source!r})"


# Mapping keys of resolve_auth, per type: (required, optional). Secrets are never echoed.
_MAPPING_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "token": (frozenset({"token"}), frozenset({"scheme"})),
    "token_file": (frozenset({"path"}), frozenset({"scheme", "check_interval"})),
    "oidc_client_credentials": (
        frozenset({"token_url", "client_id", "client_secret"}),
        frozenset({"scope", "audience", "auth_method", "scheme", "verify", "allow_insecure_http"}),
    ),
    "private_key_jwt": (
        frozenset({"token_url"}),
        frozenset(
            {"client_id", "key_path", "private_key", "scope", "scheme", "verify", "allow_insecure_http"}
        ),
    ),
    "basic": (frozenset({"user", "token"}), frozenset()),
    "flux_shared_secret": (
        frozenset({"base_url", "user", "token", "secret_key"}),
        frozenset({"verify", "allow_insecure_http"}),
    ),
    "flux_password": (
        frozenset({"base_url", "user", "token"}),
        frozenset({"verify", "allow_insecure_http"}),
    ),
    "globus_confidential": (
        frozenset({"client_id", "client_secret", "scopes"}),
        frozenset({"resource_server", "auth_base_url", "environment", "scheme", "allow_insecure_http"}),
    ),
    "globus_refresh_token": (
        frozenset(),
        frozenset(
            {
                "client_id",
                "refresh_token",
                "storage_path",
                "client_secret",
                "resource_server",
                "auth_base_url",
                "environment",
                "namespace",
                "scheme",
                "allow_insecure_http",
            }
        ),
    ),
}
_SECRET_KEYS = frozenset({"token", "client_secret", "refresh_token", "private_key", "secret_key"})
_BOOL_KEYS = frozenset({"verify", "allow_insecure_http"})
_FLOAT_KEYS = frozenset({"check_interval"})
_LIST_KEYS = frozenset({"scopes", "scope"})


def _from_mapping(
    value: Mapping[str, Any], facility: str, verify: VerifySetting, allow_insecure_http: bool = False
) -> TokenSource | httpx.Auth:
    """Build a token source from a configuration mapping, validating keys and their types."""
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _MAPPING_KEYS:
        known = ", ".join(sorted(_MAPPING_KEYS))
        shown = repr(kind) if isinstance(kind, str) else "missing"
        raise ConfigurationError(f"auth.type: {shown} is not one of {known}", facility=facility)
    required, optional = _MAPPING_KEYS[kind]
    given = {k for k in value if k != "type"}
    unknown = sorted(str(k) for k in given - required - optional)
    if unknown:
        raise ConfigurationError(f"auth: unknown key(s) {unknown} for type {kind!r}", facility=facility)
    missing = sorted(required - given)
    if missing:
        raise ConfigurationError(f"auth.{missing[0]}: required for type {kind!r}", facility=facility)
    args: dict[str, Any] = {}
    for key in given:
        item = value[key]
        if item is None:
            if key in required:
                raise ConfigurationError(f"auth.{key}: required for type {kind!r}", facility=facility)
            continue
        if key in _BOOL_KEYS:
            if isinstance(item, str) and item.lower() in ("true", "false"):
                item = item.lower() == "true"
            if not isinstance(item, bool) and not (key == "verify" and isinstance(item, str)):
                raise ConfigurationError(f"auth.{key}: expected true or false", facility=facility)
        elif key in _FLOAT_KEYS:
            try:
                item = float(item)
            except (TypeError, ValueError):
                raise ConfigurationError(f"auth.{key}: expected a number", facility=facility) from None
        elif key in _LIST_KEYS:
            if isinstance(item, list | tuple) and all(isinstance(s, str) for s in item):
                item = " ".join(item)
            elif not isinstance(item, str):
                raise ConfigurationError(
                    f"auth.{key}: expected a string or a list of strings", facility=facility
                )
        elif not isinstance(item, str):
            raise ConfigurationError(f"auth.{key}: expected a string", facility=facility)
        if key in required and isinstance(item, str) and not item.strip() and key != "scheme":
            raise ConfigurationError(f"auth.{key}: must not be empty", facility=facility)
        args[key] = Secret(item) if key in _SECRET_KEYS else item

    if kind == "token":
        return StaticToken(args["token"], scheme=args.get("scheme", "Bearer"), facility=facility)
    if kind == "token_file":
        return TokenFile(
            args["path"],
            scheme=args.get("scheme", "Bearer"),
            facility=facility,
            check_interval=args.get("check_interval", 1.0),
        )
    if kind == "oidc_client_credentials":
        return OIDCClientCredentials(
            args["token_url"],
            args["client_id"],
            args["client_secret"],
            scope=args.get("scope"),
            audience=args.get("audience"),
            verify=args.get("verify", verify),
            auth_method=args.get("auth_method", "client_secret_basic"),
            scheme=args.get("scheme", "Bearer"),
            facility=facility,
            allow_insecure_http=args.get("allow_insecure_http", allow_insecure_http),
        )
    if kind == "private_key_jwt":
        return PrivateKeyJWTClientCredentials(
            args["token_url"],
            args.get("client_id"),
            key_path=args.get("key_path"),
            private_key=args.get("private_key"),
            scope=args.get("scope"),
            verify=args.get("verify", verify),
            scheme=args.get("scheme", "Bearer"),
            facility=facility,
            allow_insecure_http=args.get("allow_insecure_http", allow_insecure_http),
        )
    if kind in ("basic", "flux_shared_secret", "flux_password"):
        return _flux_auth(kind, args, verify, allow_insecure_http)
    if kind == "globus_confidential":
        return GlobusConfidentialClient(
            args["client_id"],
            args["client_secret"],
            args["scopes"],
            resource_server=args.get("resource_server"),
            auth_base_url=args.get("auth_base_url"),
            environment=args.get("environment"),
            allow_insecure_http=args.get("allow_insecure_http", allow_insecure_http),
            scheme=args.get("scheme", "Bearer"),
            facility=facility,
        )
    # globus_refresh_token
    common: dict[str, Any] = {
        "resource_server": args.get("resource_server"),
        "auth_base_url": args.get("auth_base_url"),
        "client_secret": args.get("client_secret"),
        "environment": args.get("environment"),
        "allow_insecure_http": args.get("allow_insecure_http", allow_insecure_http),
        "scheme": args.get("scheme", "Bearer"),
        "facility": facility,
    }
    if "refresh_token" in args:
        if "storage_path" in args:
            raise ConfigurationError(
                "auth: give either refresh_token or storage_path, not both", facility=facility
            )
        if "client_id" not in args:
            raise ConfigurationError(
                "auth.client_id: required with refresh_token for type 'globus_refresh_token'",
                facility=facility,
            )
        if "namespace" in args:
            raise ConfigurationError("auth.namespace: only applies with storage_path", facility=facility)
        return GlobusRefreshToken(args["client_id"], args["refresh_token"], **common)
    if "storage_path" not in args:
        raise ConfigurationError(
            "auth.refresh_token: type 'globus_refresh_token' needs refresh_token or storage_path",
            facility=facility,
        )
    path = args["storage_path"]
    return GlobusRefreshToken.from_storage(
        None if path == "default" else path,
        client_id=args.get("client_id"),
        namespace=args.get("namespace", "DEFAULT"),
        **common,
    )


def _flux_auth(
    kind: str, args: Mapping[str, Any], verify: VerifySetting, allow_insecure_http: bool
) -> httpx.Auth | TokenSource:
    """The Flux RESTful API's own flows (imported lazily: only Flux users need them)."""
    from .backends.flux.auth import FluxBasicAuth, FluxPasswordToken, FluxSharedSecretToken

    if kind == "basic":
        return FluxBasicAuth(args["user"], args["token"])
    options = {
        "verify": args.get("verify", verify),
        "allow_insecure_http": args.get("allow_insecure_http", allow_insecure_http),
    }
    if kind == "flux_shared_secret":
        return FluxSharedSecretToken(
            args["base_url"], args["user"], args["token"], args["secret_key"], **options
        )
    return FluxPasswordToken(args["base_url"], args["user"], args["token"], **options)


def resolve_auth(
    value: object, *, facility: str, verify: VerifySetting = True, allow_insecure_http: bool = False
) -> httpx.Auth | None:
    """Turn an auth setting into the ``httpx.Auth`` an ``ApiSession`` takes.

    Accepts ``None`` (no auth), a string (a static bearer token), a :class:`TokenSource`, any
    ``httpx.Auth`` (used as is) or a mapping with a ``type`` key, as written in config files and
    Airflow connection extras:

    * ``{"type": "token", "token", "scheme"?}``
    * ``{"type": "token_file", "path", "scheme"?, "check_interval"?}``
    * ``{"type": "oidc_client_credentials", "token_url", "client_id", "client_secret", "scope"?,
      "audience"?, "auth_method"?, "verify"?, "scheme"?, "allow_insecure_http"?}``
    * ``{"type": "basic", "user", "token"}`` (Flux RESTful API, basic user and token)
    * ``{"type": "flux_shared_secret", "base_url", "user", "token", "secret_key"}`` and
      ``{"type": "flux_password", "base_url", "user", "token"}`` (Flux RESTful API handshakes)
    * ``{"type": "private_key_jwt", "token_url", "client_id"?, "key_path" | "private_key",
      "scope"?, "verify"?, "scheme"?, "allow_insecure_http"?}`` (NERSC SF API; a key file must be
      mode 0600)
    * ``{"type": "globus_confidential", "client_id", "client_secret", "scopes",
      "resource_server"?, "auth_base_url"?, "environment"?, "scheme"?, "allow_insecure_http"?}``
    * ``{"type": "globus_refresh_token", "client_id" + "refresh_token" | "storage_path"
      ("default" for ALCF's tools' location), "resource_server"?, "auth_base_url"?,
      "client_secret"?, "namespace"?, "environment"?, "scheme"?, "allow_insecure_http"?}``

    ``verify`` is the TLS setting used for OIDC token endpoints unless the mapping sets its own;
    ``allow_insecure_http`` likewise (the client's own opt-in covers its token endpoints).
    Anything else raises :class:`ConfigurationError` naming the key and the facility, never a
    secret value.
    """
    if value is None:
        return None
    if isinstance(value, FacilityAuth):
        return value
    if isinstance(value, str):
        return FacilityAuth(StaticToken(value, facility=facility), facility=facility)
    if isinstance(value, Secret):
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
