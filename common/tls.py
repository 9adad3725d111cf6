"""TLS settings shared by API sessions and token clients.

``verify`` is what a user writes in a connection: ``True`` (the system's CA store, the default),
``False`` (no verification; only for test deployments), or the path of a CA bundle file or of a
directory of hashed CA certificates. httpx 0.28 deprecates paths for ``verify``, so a path is
turned here into an :class:`ssl.SSLContext` once, with a clear error when it cannot be loaded.
"""

from __future__ import annotations

import functools
import os
import ssl

from .errors import ConfigurationError

__all__ = ["VerifySetting", "ssl_verify"]

VerifySetting = bool | str | os.PathLike[str] | ssl.SSLContext
"""What ``verify`` options accept."""

_TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "0", "off"})


@functools.lru_cache(maxsize=32)
def _context_for(path: str, mtime_ns: int) -> ssl.SSLContext:
    # Keyed by the file's modification time as well, so a replaced bundle is read again.
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


def ssl_verify(verify: object, facility: str | None) -> bool | ssl.SSLContext:
    """Return ``verify`` in the form httpx takes: a bool or an SSL context.

    Accepts a bool, an :class:`ssl.SSLContext` (returned as is), the words ``true``/``false``
    (as connection extras carry them) or a CA bundle path (``str`` or ``os.PathLike``). Raises
    :class:`ConfigurationError` naming ``verify`` and the facility for anything else, or when the
    bundle cannot be loaded.
    """
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if not isinstance(verify, str):
        raise ConfigurationError(
            f"verify: expected true, false or a CA bundle path, not {type(verify).__name__}",
            facility=facility,
        )
    word = verify.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    path = os.path.expanduser(verify.strip())
    if not path:
        raise ConfigurationError("verify: an empty CA bundle path", facility=facility)
    try:
        return _context_for(path, os.stat(path).st_mtime_ns)
    except FileNotFoundError:
        raise ConfigurationError(
            f"verify: cannot load CA certificates from {path}: no such file", facility=facility
        ) from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(
            f"verify: cannot load CA certificates from {path}: {type(exc).__name__}", facility=facility
        ) from None


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check failure behind a connection error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def certificate_message(failure: ssl.SSLCertVerificationError, host: str) -> str:
    """Say that TLS verification refused ``host``, why, and what to do about it."""
    reason = failure.verify_message or failure.reason or "verification failed"
    return (
        f"TLS certificate verification failed for {host}: {reason}; if the facility uses a private "
        "CA, pass its bundle as verify=<path> (or ca_bundle=<path>)"
    )
