"""Globus client credentials: a confidential client acting as itself, through globus-sdk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigurationError
from ..tls import VerifySetting
from .globus import GlobusSource
from .secret import Secret
from .source import DEFAULT_MAX_REFRESH_LEAD, DEFAULT_REFRESH_FRACTION, Fetched

__all__ = ["GlobusConfidentialClient"]

logger = logging.getLogger("facility_common.auth")


class GlobusConfidentialClient(GlobusSource):
    """Globus client credentials: a confidential client acting as itself, via globus-sdk.

    ``scopes`` are requested with ``ConfidentialAppAuthClient.oauth2_client_credentials_tokens``
    and the token for ``resource_server`` is taken from the response's ``by_resource_server``
    (the only non-Auth token when ``resource_server`` is omitted). ``auth_base_url`` points
    globus-sdk at another Globus Auth (a local emulator: ``http://127.0.0.1:PORT/globus/``)
    through the client's ``base_url`` argument, without touching process-wide settings; ``verify``
    is the TLS setting for it.
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
        verify: VerifySetting = True,
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
            verify=verify,
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
                self.client_id, self._client_secret.get_secret_value(), **self._client_options()
            )
        client = self._client
        assert isinstance(client, globus_sdk.ConfidentialAppAuthClient)
        response = client.oauth2_client_credentials_tokens(list(self.scopes))
        # by_resource_server validates the response shape; the raw data keeps exact expires_in.
        response.by_resource_server  # noqa: B018
        return dict(response.data)

    async def _fetch(self) -> Fetched:
        data = await self._in_thread(self._blocking_fetch)
        entry, lifetime = self._pick(data, self.resource_server)
        logger.debug(
            "Globus client-credentials token for %s from %s, expires in %s s",
            entry["resource_server"],
            self.host,
            "?" if lifetime is None else f"{lifetime:.0f}",
        )
        return Fetched(Secret(entry["access_token"]), lifetime)

    def _refusal_hint(self) -> str:
        return " (check client_id, client_secret and scopes)"

    def _describe(self) -> str:
        return (
            f"client_id={self.client_id!r}, scopes={list(self.scopes)!r}, "
            f"resource_server={self.resource_server!r}, host={self.host!r}"
        )
