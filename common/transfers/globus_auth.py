"""The Transfer token: the Globus flows of :mod:`facility_common.auth`, with the consents GCSv5
collections require.

A Transfer token acts on a GCSv5 mapped collection only if it carries that collection's
``data_access`` scope as a dependent of the Transfer scope::

    urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/<id>/data_access]

:class:`TransferCredentials` takes the pack's auth settings:

* a confidential client (``{"type": "globus_confidential", "client_id", "client_secret"}``)
  without ``scopes``: the scope is managed here. Each token is requested with the ``data_access``
  of every collection the route has touched; a transfer to a new collection asks once for a
  token that adds it (a client acting as itself needs no person's consent);
* a confidential client with its own ``scopes``, a refresh token
  (``{"type": "globus_refresh_token", "storage_path": "default"}``, resource server
  ``transfer.api.globus.org`` unless given), a static token or a ready
  :class:`~facility_common.auth.TokenSource`: the consents are whatever the login asked for; a
  missing one is a :class:`~facility_common.transfers.ConsentRequired` naming the collection
  and the scope to log in with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import anyio

from ..auth import FacilityAuth, Secret, TokenSource, resolve_auth
from ..errors import ConfigurationError
from ..tls import VerifySetting

__all__ = [
    "GLOBUS_FACILITY",
    "TRANSFER_RESOURCE_SERVER",
    "TRANSFER_SCOPE",
    "TransferCredentials",
    "data_access_scope",
    "transfer_scope",
]

#: How errors and logs of the Globus route name the service.
GLOBUS_FACILITY = "globus"
TRANSFER_RESOURCE_SERVER = "transfer.api.globus.org"
TRANSFER_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all"
_MANAGED_TYPES = frozenset({"globus_confidential"})
_TRANSFER_TYPES = frozenset({"globus_confidential", "globus_refresh_token", "token", "token_file"})


def data_access_scope(collection_id: str) -> str:
    """The ``data_access`` scope of a GCSv5 mapped collection."""
    return f"https://auth.globus.org/scopes/{collection_id}/data_access"


def transfer_scope(collection_ids: Iterable[str] = ()) -> str:
    """The Transfer scope with each collection's ``data_access`` as an optional dependent (the
    form globus-sdk's ``TransferScopes.all.with_dependencies`` writes)."""
    ids = sorted({c.strip().lower() for c in collection_ids if c and c.strip()})
    if not ids:
        return TRANSFER_SCOPE
    return TRANSFER_SCOPE + "[" + " ".join(f"*{data_access_scope(c)}" for c in ids) + "]"


class TransferCredentials:
    """The Transfer token of one Globus route, and the collections it carries consent for."""

    def __init__(self, auth: Any, *, verify: VerifySetting = True, allow_insecure_http: bool = False) -> None:
        self.verify = verify
        self.allow_insecure_http = allow_insecure_http
        self._mapping: dict[str, Any] | None = None
        self._source: TokenSource | None = None
        self._consents: frozenset[str] = frozenset()
        self._lock: anyio.Lock | None = None
        if isinstance(auth, Mapping):
            mapping = dict(auth)
            kind = mapping.get("type")
            if kind not in _TRANSFER_TYPES:
                raise ConfigurationError(
                    f"auth.type: a Globus Transfer token comes from {', '.join(sorted(_TRANSFER_TYPES))}, "
                    f"not {kind!r}",
                    facility=GLOBUS_FACILITY,
                )
            if kind == "globus_refresh_token":
                mapping.setdefault("resource_server", TRANSFER_RESOURCE_SERVER)
            if kind in _MANAGED_TYPES and not mapping.get("scopes"):
                mapping["resource_server"] = mapping.get("resource_server") or TRANSFER_RESOURCE_SERVER
                self._mapping = mapping
                # Built now (without consents) so a bad key is reported before any request.
                self._source = self._build(frozenset())
                return
            self._source = self._resolve(mapping)
        elif auth is None:
            raise ConfigurationError(
                "auth: the Globus route needs a Transfer token (a confidential client, a refresh "
                "token or a token)",
                facility=GLOBUS_FACILITY,
            )
        else:
            self._source = self._resolve(auth)

    def _resolve(self, auth: Any) -> TokenSource:
        if isinstance(auth, TokenSource | str | Secret | Mapping):
            resolved = resolve_auth(
                auth,
                facility=GLOBUS_FACILITY,
                verify=self.verify,
                allow_insecure_http=self.allow_insecure_http,
            )
            if isinstance(resolved, FacilityAuth):
                return resolved.source
        raise ConfigurationError(
            f"auth: expected a token, a Globus auth mapping or a TokenSource, not {type(auth).__name__}",
            facility=GLOBUS_FACILITY,
        )

    def _build(self, consents: frozenset[str]) -> TokenSource:
        assert self._mapping is not None
        return self._resolve({**self._mapping, "scopes": transfer_scope(consents)})

    @property
    def managed(self) -> bool:
        """Whether this route asks for the ``data_access`` consents itself (a confidential client
        without scopes of its own)."""
        return self._mapping is not None

    @property
    def consents(self) -> frozenset[str]:
        """The collections the managed scope carries (empty when not managed)."""
        return self._consents

    @property
    def source(self) -> TokenSource:
        assert self._source is not None
        return self._source

    async def token(self, collections: Iterable[str] = ()) -> str:
        """A Transfer token; when managed, one whose scope carries ``collections``' consents."""
        if self._mapping is not None:
            wanted = frozenset(c.lower() for c in collections if c)
            if not wanted <= self._consents:
                if self._lock is None:
                    self._lock = anyio.Lock()
                async with self._lock:
                    if not wanted <= self._consents:
                        await self._widen(wanted)
        return await self.source.token()

    async def _widen(self, wanted: frozenset[str]) -> None:
        old = self._source
        self._consents = self._consents | wanted
        self._source = self._build(self._consents)
        if old is not None:
            await old.aclose()

    def invalidate(self, token: str) -> None:
        """The token was refused (401): the next call gets a fresh one."""
        self.source.invalidate(token)

    def __repr__(self) -> str:
        kind = "managed consents" if self.managed else "fixed consents"
        return f"TransferCredentials({self.source!r}, {kind})"

    async def aclose(self) -> None:
        if self._source is not None:
            await self._source.aclose()
