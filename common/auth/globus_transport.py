"""The globus-sdk transport of the Globus token flows: the same rules as :func:`~facility_common.http.http_client`.

globus-sdk sends its requests with ``requests``, which by default follows redirects (re-sending a
refresh token or client secret to wherever a ``Location`` header points), reads the environment's
proxy variables for every host, verifies TLS with its own CA store, and retries network errors,
a failed certificate check included. :class:`CredentialTransport` sends nothing after a redirect,
reaches loopback hosts directly, takes the client's ``verify`` setting, and does not retry a
certificate failure (the source then says what is wrong at once).

Imported only when a Globus source first talks to Globus Auth (globus-sdk is heavy).
"""

from __future__ import annotations

from typing import Any

import requests
from globus_sdk.transport import (
    RequestCallerInfo,
    RequestsTransport,
    RetryCheckResult,
    RetryConfig,
    RetryContext,
)

from ..errors import AuthenticationError
from ..redaction import install_log_redaction
from ..tls import certificate_failure

__all__ = ["CredentialTransport", "retry_config"]

install_log_redaction()  # globus-sdk's and urllib3's loggers exist now


class CredentialTransport(RequestsTransport):
    """A ``RequestsTransport`` for requests that carry credentials to a Globus service (Globus
    Auth; the Transfer API, with ``purpose`` and ``hint`` naming it in the redirect refusal)."""

    def __init__(
        self,
        *,
        verify: bool | str,
        direct: bool,
        host: str,
        facility: str | None,
        purpose: str = "Globus token request",
        hint: str = "set auth_base_url to the address that answers",
    ) -> None:
        super().__init__(verify_ssl=verify)
        self._host = host
        self._facility = facility
        self._purpose = purpose
        self._hint = hint
        if direct:
            # Loopback: no proxy from the environment (nor anything else it would add).
            self.session.trust_env = False

    def request(
        self,
        method: str,
        url: str,
        *,
        caller_info: RequestCallerInfo,
        query_params: dict[str, Any] | None = None,
        data: dict[str, Any] | list[Any] | str | bytes | None = None,
        headers: dict[str, str] | None = None,
        encoding: str | None = None,
        allow_redirects: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """Send as globus-sdk does, but never follow a redirect: refuse it."""
        response = super().request(
            method,
            url,
            caller_info=caller_info,
            query_params=query_params,
            data=data,
            headers=headers,
            encoding=encoding,
            allow_redirects=False,
            stream=stream,
        )
        if 300 <= response.status_code < 400:
            response.close()
            raise AuthenticationError(
                f"{self._purpose} to {self._host} was answered with a redirect "
                f"(HTTP {response.status_code}); credentials are never sent on to another address: "
                f"{self._hint}",
                facility=self._facility,
                status_code=response.status_code,
            )
        return response


def _certificate_is_final(context: RetryContext) -> RetryCheckResult:
    """A failed certificate check fails the same way every time: do not retry it."""
    if context.exception is not None and certificate_failure(context.exception) is not None:
        return RetryCheckResult.do_not_retry
    return RetryCheckResult.no_decision


def retry_config() -> RetryConfig:
    """Brief retries for a token call (the API session above it has its own policy), never of a
    certificate failure."""
    config = RetryConfig(max_retries=2, max_sleep=5)
    config.checks.register_check(_certificate_is_final)
    return config
