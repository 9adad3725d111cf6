"""The Globus connection: one parser from an Airflow-style connection to the Globus route's settings.

Globus credentials belong to a person or a client, not to a facility: one Transfer token (with the
``data_access`` consent of each collection) moves data between any two facilities. So they live
in a connection of their own, type ``facility_globus``, that Airflow and the ``facility`` command
read the same way:

* Host: the Transfer API (empty for Globus's own, ``https://transfer.api.globus.org/``);
* ``auth_type``: ``globus_confidential`` (the default; Login the client id, Password its secret;
  without ``scopes`` the route asks for the collections' consents itself),
  ``globus_refresh_token`` (``storage_path`` of a globus-sdk token storage, ``default`` for
  ALCF's script's, or Login the native client id and Password a refresh token), or ``token``
  (Password a Transfer access token);
* extras ``auth_base_url`` (another Globus Auth, such as the emulator's), ``verify``,
  ``allow_insecure_http``, ``ids_per_request`` (task ids per ``task_list`` request).

Where each storage's collection is belongs to the facility: the facility connections carry it
(``globus_collections``), or their API reports it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from ..connection_settings import ConnectionLike, connection_auth
from ..errors import ConfigurationError
from ..options import _verify
from ..tls import VerifySetting
from .globus_auth import GLOBUS_FACILITY
from .globus_route import GLOBUS_TRANSFER_URL, IDS_PER_REQUEST

__all__ = ["GLOBUS_AUTH_TYPES", "GLOBUS_CONN_TYPE", "GlobusSettings", "globus_settings_from_connection"]

GLOBUS_CONN_TYPE = "facility_globus"
#: The auth types a Globus connection may use, the first the default.
GLOBUS_AUTH_TYPES = ("globus_confidential", "globus_refresh_token", "token")
_TRUE = {"true", "1", "yes", "on"}


@dataclasses.dataclass(frozen=True)
class GlobusSettings:
    """What the Globus route is built from; ``repr`` never shows the credentials."""

    conn_id: str
    base_url: str = GLOBUS_TRANSFER_URL
    auth: Any = dataclasses.field(default=None, repr=False)
    verify: VerifySetting = True
    allow_insecure_http: bool = False
    ids_per_request: int = IDS_PER_REQUEST

    @property
    def fingerprint(self) -> str:
        """A digest of the settings (credentials included) revealing none of them."""
        payload = json.dumps(dataclasses.astuple(self), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def auth_type(self) -> str:
        if isinstance(self.auth, dict):
            return str(self.auth.get("type", "unknown"))
        return "none" if self.auth is None else "token"

    def route_options(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`AsyncTransferClient.connect` for this route."""
        return {
            "globus_auth": self.auth,
            "globus_url": self.base_url,
            "verify": self.verify,
            "allow_insecure_http": self.allow_insecure_http,
            "ids_per_request": self.ids_per_request,
        }


def globus_settings_from_connection(conn: ConnectionLike) -> GlobusSettings:
    """The Globus route settings of a ``facility_globus`` connection (see the module).

    Raises :class:`ConfigurationError` naming the connection and the field.
    """
    where = f"connection {conn.conn_id!r}"
    try:
        extras = dict(conn.extra_dejson or {})
    except (ValueError, TypeError):
        raise ConfigurationError(f"{where}, extra: must be a JSON object", facility=GLOBUS_FACILITY) from None
    kind = extras.get("auth_type") or GLOBUS_AUTH_TYPES[0]
    if not extras.get("auth") and kind not in GLOBUS_AUTH_TYPES:
        raise ConfigurationError(
            f"{where}, extra.auth_type: {kind!r} is not a Globus auth type (use one of "
            f"{', '.join(GLOBUS_AUTH_TYPES)})",
            facility=GLOBUS_FACILITY,
        )
    auth = connection_auth(conn, extras, GLOBUS_FACILITY, GLOBUS_AUTH_TYPES[0])
    if auth is None:
        raise ConfigurationError(f"{where}, password: a Transfer token is required", facility=GLOBUS_FACILITY)
    host = (conn.host or "").strip()
    base_url = host if "://" in host else (f"https://{host}" if host else GLOBUS_TRANSFER_URL)
    ids = extras.get("ids_per_request", IDS_PER_REQUEST)
    try:
        ids_per_request = int(ids)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{where}, extra.ids_per_request: expected a number", facility=GLOBUS_FACILITY
        ) from None
    insecure = extras.get("allow_insecure_http", False)
    return GlobusSettings(
        conn_id=conn.conn_id,
        base_url=base_url,
        auth=auth,
        verify=_verify(GLOBUS_FACILITY, extras.get("verify", True)),
        allow_insecure_http=insecure if isinstance(insecure, bool) else str(insecure).lower() in _TRUE,
        ids_per_request=ids_per_request,
    )
