"""Token sources and the ``httpx.Auth`` that sends their tokens.

Every facility API takes a token in the ``Authorization`` header; they differ in where the token
comes from. A :class:`TokenSource` (:mod:`.source`) hides that difference behind one coroutine,
``token()``, and implements the one caching policy they all share: fetched on first use, cached,
refreshed ahead of expiry by a single caller while concurrent callers keep the valid token or wait
(no stampede), transient token-endpoint failures asked again, a forked child starting clean.

One module per flow:

* :mod:`.static`: :class:`StaticToken` (a fixed token) and :class:`TokenFile` (a token some other
  tool keeps fresh in a file: S3M, cron jobs).
* :mod:`.oidc`: :class:`OIDCClientCredentials`, the OAuth2 client-credentials grant (FirecREST,
  Keycloak).
* :mod:`.private_key_jwt`: :class:`PrivateKeyJWTClientCredentials`, the same grant with the
  client authenticated by a JWT assertion signed with its private key (RFC 7523; NERSC SF API).
* :mod:`.globus_confidential`: :class:`GlobusConfidentialClient`, Globus client credentials.
* :mod:`.globus_refresh` and :mod:`.globus_storage`: :class:`GlobusRefreshToken`, a Globus
  native-app refresh token, explicit or read from the token storage ALCF's login scripts write.

:class:`FacilityAuth` (:mod:`.facility_auth`) puts the token on each request and, on a 401,
retries once with a fresh one. :func:`resolve_auth` (:mod:`.resolve`) turns configuration into
the ``httpx.Auth`` an ``ApiSession`` takes, checking mappings against the table of auth types
(:mod:`.types`), which backends extend with types of their own through their descriptor's
``auth_module``. :func:`check_secret_file` (:mod:`.files`) is the one permission check of every
file holding a secret.

Secrets are held in :class:`Secret` so that no ``repr``, ``str``, log line or exception built by
this package contains a token, refresh token or client secret; token requests go through
:func:`facility_common.http.http_client` (no redirects, loopback never proxied) or, for globus-sdk,
a transport with the same rules. Blocking work (globus-sdk uses ``requests``; token files are read
from disk) runs in a worker thread so the event loop is never blocked.
"""

from .facility_auth import FacilityAuth
from .files import READABLE_SECRETS_ENV, check_secret_file
from .globus_confidential import GlobusConfidentialClient
from .globus_refresh import GlobusRefreshToken
from .globus_storage import (
    ALCF_FACILITY_API_CLIENT_ID,
    ALCF_IRI_RESOURCE_SERVER,
    ALCF_TOKENS_CLIENT_ID,
    DEFAULT_STORAGE_PATHS,
    default_storage_path,
)
from .oidc import OIDCClientCredentials
from .private_key_jwt import PrivateKeyJWTClientCredentials
from .resolve import resolve_auth
from .secret import Secret
from .source import (
    DEFAULT_MAX_REFRESH_LEAD,
    DEFAULT_REFRESH_FRACTION,
    DEFAULT_TOKEN_TIMEOUT,
    TRANSIENT_TOKEN_STATUSES,
    Fetched,
    TokenSource,
)
from .static import StaticToken, TokenFile
from .types import AUTH_TYPES, AuthTypeInfo, auth_type_info

__all__ = [
    "ALCF_FACILITY_API_CLIENT_ID",
    "ALCF_IRI_RESOURCE_SERVER",
    "ALCF_TOKENS_CLIENT_ID",
    "AUTH_TYPES",
    "DEFAULT_MAX_REFRESH_LEAD",
    "DEFAULT_REFRESH_FRACTION",
    "DEFAULT_STORAGE_PATHS",
    "DEFAULT_TOKEN_TIMEOUT",
    "READABLE_SECRETS_ENV",
    "TRANSIENT_TOKEN_STATUSES",
    "AuthTypeInfo",
    "FacilityAuth",
    "Fetched",
    "GlobusConfidentialClient",
    "GlobusRefreshToken",
    "OIDCClientCredentials",
    "PrivateKeyJWTClientCredentials",
    "Secret",
    "StaticToken",
    "TokenFile",
    "TokenSource",
    "auth_type_info",
    "check_secret_file",
    "default_storage_path",
    "resolve_auth",
]
