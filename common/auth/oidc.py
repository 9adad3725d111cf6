"""The OAuth2 client-credentials grant against any OIDC/OAuth2 token endpoint (FirecREST, Keycloak)."""

from __future__ import annotations

import base64
import dataclasses
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx

from ..endpoints import check_base_url, host_of, http_client
from ..errors import AuthenticationError, ConfigurationError, FacilityError, TransportError
from ..redaction import redact
from ..tls import VerifySetting, certificate_failure, certificate_message, ssl_verify
from .secret import Secret
from .source import (
    DEFAULT_MAX_REFRESH_LEAD,
    DEFAULT_REFRESH_FRACTION,
    DEFAULT_TOKEN_TIMEOUT,
    TRANSIENT_TOKEN_STATUSES,
    Fetched,
    TokenSource,
    as_seconds,
)

__all__ = ["OIDCClientCredentials"]

logger = logging.getLogger("facility_common.auth")


@dataclasses.dataclass(frozen=True)
class _Answer:
    """What a token endpoint answered, read whole: no reference to the request that was sent."""

    status: int
    data: Any

    @classmethod
    def of(cls, response: httpx.Response) -> _Answer:
        try:
            data: Any = response.json()
        except (ValueError, UnicodeDecodeError):
            data = None
        return cls(response.status_code, data)


class OIDCClientCredentials(TokenSource):
    """The OAuth2 client-credentials grant against any OIDC/OAuth2 token endpoint.

    Sends ``grant_type=client_credentials`` (plus ``scope`` and ``audience`` when given) with the
    client authenticated by HTTP Basic (``client_secret_basic``, the RFC 6749 default) or by form
    fields (``client_secret_post``). The token's lifetime is the response's ``expires_in``; without
    one the token is kept until an API refuses it. A fresh client
    (:func:`~facility_common.http.http_client`: no redirects, loopback never proxied) is used per
    fetch (fetches are rare), so the source is not tied to one event loop; ``transport`` replaces
    the network for tests.
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
        return host_of(self.token_url)

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

    def _form(self) -> dict[str, str]:
        """The grant's form, without client authentication."""
        form: dict[str, str] = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        return form

    def _authenticate(self, form: dict[str, str], headers: dict[str, str]) -> None:
        """Add the client's credentials to a token request (``client_secret_basic`` or ``_post``)."""
        secret = self._client_secret.get_secret_value()
        if self.auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
            pair = f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = secret

    async def _exchange(self) -> _Answer | FacilityError:
        """Post the grant once. The credentials live in this frame only, which is gone by the time
        anything is raised: a failure is returned, not raised."""
        form = self._form()
        headers = {"Accept": "application/json"}
        self._authenticate(form, headers)
        client = http_client(
            facility=self.facility,
            verify=self._ssl_verify(),
            timeout=self.timeout,
            transport=self._transport,
            direct_to=(self.token_url,),
        )
        try:
            response = await client.post(self.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            return self._no_answer(exc)
        finally:
            if self._transport is None:
                await client.aclose()
        return _Answer.of(response)

    async def _fetch(self) -> Fetched:
        outcome = self._parse(await self._exchange())
        if isinstance(outcome, FacilityError):
            raise outcome
        return outcome

    def _parse(self, answer: _Answer | FacilityError) -> Fetched | FacilityError:
        if isinstance(answer, FacilityError):
            return answer
        data = answer.data
        if answer.status != 200:
            detail = ""
            if isinstance(data, dict):
                parts = [data.get("error"), data.get("error_description")]
                detail = ": " + " - ".join(str(p) for p in parts if p) if any(parts) else ""
            detail = redact(detail, self._client_secret)[:300]
            return self._fail(f"was refused: HTTP {answer.status}{detail}", answer.status)
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            return self._fail("answered without an access_token", answer.status)
        lifetime = as_seconds(data.get("expires_in"))
        logger.debug(
            "client-credentials token from %s, expires in %s s",
            self.host,
            "?" if lifetime is None else f"{lifetime:.0f}",
        )
        return Fetched(Secret(data["access_token"]), lifetime)

    def _describe(self) -> str:
        return (
            f"token_url={self.token_url!r}, client_id={self.client_id!r}, scope={self.scope!r}, "
            f"auth_method={self.auth_method!r}"
        )
