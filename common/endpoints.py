"""Where requests go: base URL checks, loopback, and the one constructor of httpx clients.

Credentials may travel over plain HTTP without an opt-in only to loopback, because those bytes
stay on the machine. That holds only if nothing sends them elsewhere, so every httpx client of the
package is built by :func:`http_client`, which never follows a redirect and reaches loopback hosts
directly whatever proxy the environment names (``http_proxy``, ``HTTPS_PROXY``, ``ALL_PROXY``).
:func:`check_base_url` is the check of each base URL and token endpoint before anything is sent.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import ConfigurationError
from .tls import VerifySetting, ssl_verify

__all__ = [
    "LOOPBACK_HOSTS",
    "check_base_url",
    "direct_mounts",
    "host_of",
    "http_client",
    "is_loopback",
    "is_loopback_url",
    "sync_http_client",
]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str | httpx.URL) -> bool:
    """True when ``url`` names a loopback host: its traffic stays on this machine (it is never
    sent through a proxy, see :func:`http_client`)."""
    host = url.host if isinstance(url, httpx.URL) else urlsplit(url).hostname
    return bool(host) and is_loopback(str(host))


#: Loopback names always reached directly, whatever the proxy settings of the environment.
LOOPBACK_HOSTS = ("localhost", "localhost.localdomain", "127.0.0.1", "[::1]")
DEFAULT_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20)


def direct_mounts(urls: Iterable[str] = ()) -> dict[str, None]:
    """httpx mounts that send loopback hosts (and the loopback hosts of ``urls``) past any proxy.

    A ``None`` mount means "the client's own transport": a more specific pattern than the proxy
    mounts httpx builds from ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, so it wins over them.
    """
    hosts = set(LOOPBACK_HOSTS)
    for url in urls:
        host = urlsplit(url).hostname
        if host and is_loopback(host):
            hosts.add(f"[{host}]" if ":" in host else host)
    return {f"all://{host}": None for host in sorted(hosts)}


def _client_settings(
    *,
    facility: str | None,
    verify: VerifySetting,
    timeout: float | httpx.Timeout,
    base_url: str,
    auth: httpx.Auth | None,
    headers: Mapping[str, str] | None,
    limits: httpx.Limits,
    direct_to: Iterable[str],
) -> dict[str, Any]:
    """What every client of the package is built with (see :func:`http_client`)."""
    tls: bool | ssl.SSLContext = ssl_verify(verify, facility)
    return {
        "base_url": base_url,
        "auth": auth,
        "timeout": timeout,
        "verify": tls,
        "headers": dict(headers or {}),
        "follow_redirects": False,
        "limits": limits,
        "mounts": direct_mounts([base_url, *direct_to] if base_url else direct_to),
    }


def http_client(
    *,
    facility: str | None,
    verify: VerifySetting = True,
    timeout: float | httpx.Timeout = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = "",
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
    direct_to: Iterable[str] = (),
) -> httpx.AsyncClient:
    """The one way the package builds an ``httpx.AsyncClient`` (API sessions and token clients).

    * Redirects are never followed: a request carrying a credential must not be re-sent to
      wherever a ``Location`` header points.
    * Loopback hosts (``localhost``, ``127.0.0.1``, ``::1``, and the loopback hosts of
      ``base_url`` and ``direct_to``) are always reached directly: the environment's proxy
      variables apply to other hosts only. Plain HTTP may carry credentials to loopback without
      an opt-in (:func:`check_base_url`) only because those bytes never leave the machine.
    * ``verify`` is turned into what httpx takes (:func:`facility_common.tls.ssl_verify`).
    """
    settings = _client_settings(
        facility=facility,
        verify=verify,
        timeout=timeout,
        base_url=base_url,
        auth=auth,
        headers=headers,
        limits=limits,
        direct_to=direct_to,
    )
    return httpx.AsyncClient(transport=transport, **settings)


def sync_http_client(
    *,
    facility: str | None,
    verify: VerifySetting = True,
    timeout: float | httpx.Timeout = 30.0,
    transport: httpx.BaseTransport | None = None,
    base_url: str = "",
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
    direct_to: Iterable[str] = (),
) -> httpx.Client:
    """The ``httpx.Client`` twin of :func:`http_client`, built with the same settings: the
    synchronous transport of an :class:`~facility_common.http.ApiSession`."""
    settings = _client_settings(
        facility=facility,
        verify=verify,
        timeout=timeout,
        base_url=base_url,
        auth=auth,
        headers=headers,
        limits=limits,
        direct_to=direct_to,
    )
    return httpx.Client(transport=transport, **settings)


def check_base_url(
    base_url: str, *, facility: str, sends_credentials: bool, allow_insecure_http: bool = False
) -> str:
    """Validate ``base_url`` and return it without a trailing slash.

    Raises :class:`ConfigurationError` for anything but an absolute http(s) URL, and for plain
    HTTP to a non-loopback host when credentials would be sent, unless ``allow_insecure_http``.
    Loopback is exempt because clients built by :func:`http_client` never proxy it.
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError("base_url: a base URL is required", facility=facility)
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in base_url):
        raise ConfigurationError(
            f"base_url: {_without_userinfo(base_url)!r} contains spaces or control characters",
            facility=facility,
        )
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url: {_without_userinfo(base_url)!r} is not an absolute http(s) URL "
            "(scheme://host[:port]/path)",
            facility=facility,
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ConfigurationError(
            f"base_url: {_without_userinfo(base_url)!r} has an invalid port", facility=facility
        ) from None
    if parts.username or parts.password:
        raise ConfigurationError(
            "base_url: credentials in the URL are not accepted; pass them as auth", facility=facility
        )
    if (
        parts.scheme == "http"
        and sends_credentials
        and not allow_insecure_http
        and not is_loopback(parts.hostname)
    ):
        raise ConfigurationError(
            f"base_url: refusing to send credentials over plain HTTP to {parts.hostname}; "
            "use https or pass allow_insecure_http=True",
            facility=facility,
        )
    return base_url.rstrip("/")


def host_of(url: str) -> str:
    """The host (and port) of ``url``, for messages that must name an endpoint but nothing more."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def _without_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` part, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
