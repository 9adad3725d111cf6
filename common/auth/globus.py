"""What the Globus token flows share: the Auth service used, globus-sdk's client and transport
(run in a worker thread: globus-sdk is blocking), error mapping and picking the right token."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from ..endpoints import check_base_url, host_of, is_loopback_url
from ..errors import AuthenticationError, ConfigurationError, FacilityError, TransportError
from ..redaction import install_log_redaction
from ..tls import VerifySetting, ca_path, certificate_failure, certificate_message
from .source import TRANSIENT_TOKEN_STATUSES, TokenSource, as_seconds

if TYPE_CHECKING:
    import globus_sdk

    from .globus_transport import CredentialTransport

__all__ = ["GLOBUS_AUTH_RESOURCE_SERVER", "GLOBUS_AUTH_URL", "GlobusSource"]

logger = logging.getLogger("facility_common.auth")

#: Resource server of Globus Auth itself; GlobusApp storages always hold a token for it.
GLOBUS_AUTH_RESOURCE_SERVER = "auth.globus.org"
GLOBUS_AUTH_URL = "https://auth.globus.org/"

_T = TypeVar("_T")


def _token_entries(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The top-level token of a Globus token response plus its ``other_tokens``."""
    entries: list[Mapping[str, Any]] = [data]
    others = data.get("other_tokens")
    if isinstance(others, list):
        entries.extend(item for item in others if isinstance(item, Mapping))
    return entries


class GlobusSource(TokenSource):
    """The base of the two Globus sources: Auth base URL, TLS, worker thread, error mapping.

    ``verify`` (``True``, ``False`` or a CA bundle path, as for the API) reaches globus-sdk's
    transport, which also never follows a redirect and reaches a loopback Auth service directly
    (:mod:`~facility_common.auth.globus_transport`).
    """

    def __init__(
        self,
        *,
        auth_base_url: str | None,
        environment: str | None,
        allow_insecure_http: bool,
        verify: VerifySetting,
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
        self.verify = verify
        self._verify = ca_path(verify, facility)
        self._client: globus_sdk.AuthLoginClient | None = None
        self._transport: CredentialTransport | None = None

    @property
    def host(self) -> str:
        """Host of the Globus Auth service used, for messages."""
        return host_of(self._auth_url())

    def _auth_url(self) -> str:
        if self.auth_base_url is not None:
            return self.auth_base_url
        if self.environment:
            from globus_sdk.config import get_service_url

            return str(get_service_url("auth", self.environment))
        return GLOBUS_AUTH_URL

    def _client_options(self) -> dict[str, Any]:
        """What every globus-sdk client of this source is built with."""
        from .globus_transport import CredentialTransport, retry_config

        # globus-sdk imports its modules lazily: its client's loggers exist by now, filter them too.
        install_log_redaction()
        if self._transport is None:
            self._transport = CredentialTransport(
                verify=self._verify,
                direct=is_loopback_url(self._auth_url()),
                host=self.host,
                facility=self.facility,
            )
        return {
            "environment": self.environment,
            "base_url": self.auth_base_url,
            "transport": self._transport,
            "retry_config": retry_config(),
        }

    async def _in_thread(self, func: Callable[[], _T]) -> _T:
        """Run blocking globus-sdk work in a worker thread, mapping its errors to ours.

        The error is built inside the ``except`` and raised after it, so the globus-sdk exception
        (whose request body holds the refresh token or client secret) is not chained to it.
        """
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
            failure: FacilityError = AuthenticationError(
                f"Globus token request to {self.host} was refused: HTTP {exc.http_status}{code}"
                + self._refusal_hint(),
                facility=self.facility,
                status_code=exc.http_status,
                transient=exc.http_status in TRANSIENT_TOKEN_STATUSES,
            )
        except globus_sdk.NetworkError as exc:
            certificate = certificate_failure(exc)
            if certificate is not None:
                failure = TransportError(
                    f"Globus token request: {certificate_message(certificate, self.host)}",
                    facility=self.facility,
                )
            else:
                failure = AuthenticationError(
                    f"Globus token request to {self.host} got no answer: {type(exc).__name__}",
                    facility=self.facility,
                    transient=True,
                )
        except (globus_sdk.GlobusError, ValueError, KeyError, TypeError) as exc:
            failure = AuthenticationError(
                f"Globus token request to {self.host} failed: {type(exc).__name__}",
                facility=self.facility,
            )
        raise failure

    def _refusal_hint(self) -> str:
        return ""

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
            chosen = [e for e in entries if e["resource_server"] != GLOBUS_AUTH_RESOURCE_SERVER] or entries
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
        return entry, as_seconds(entry.get("expires_in"))

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        # The parent's connections are not ours to use or close.
        self._client = None
        self._transport = None

    async def aclose(self) -> None:
        client, self._client = self._client, None
        transport, self._transport = self._transport, None
        if client is not None:
            await anyio.to_thread.run_sync(client.close)
        if transport is not None:
            await anyio.to_thread.run_sync(transport.close)
