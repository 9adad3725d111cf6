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
import weakref

from .errors import ConfigurationError

__all__ = ["VerifySetting", "ca_path", "ssl_verify"]

VerifySetting = bool | str | os.PathLike[str] | ssl.SSLContext
"""What ``verify`` options accept."""

_TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "0", "off"})


#: The CA bundle path each context made by :func:`ssl_verify` was loaded from.
_PATHS: weakref.WeakKeyDictionary[ssl.SSLContext, str] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=32)
def _context_for(path: str, mtime_ns: int) -> ssl.SSLContext:
    # Keyed by the file's modification time as well, so a replaced bundle is read again.
    if os.path.isdir(path):
        context = ssl.create_default_context(capath=path)
    else:
        context = ssl.create_default_context(cafile=path)
    _PATHS[context] = path
    return context


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


def ca_path(verify: object, facility: str | None) -> bool | str:
    """``verify`` as a bool or a CA bundle path, for clients built on ``requests`` (globus-sdk),
    which take no SSL context. A context made here from a path gives that path back; any other
    context is a :class:`ConfigurationError` asking for a path."""
    checked = ssl_verify(verify, facility)
    if isinstance(checked, bool):
        return checked
    path = _PATHS.get(checked)
    if path is None:
        raise ConfigurationError(
            "verify: this client needs true, false or a CA bundle path, not an SSL context",
            facility=facility,
        )
    return path


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check failure behind a connection error, if that is what it was.

    Looks through chained exceptions, and through the ``reason``, ``underlying_exception`` and
    arguments that urllib3, requests and globus-sdk wrap their causes in.
    """
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))
        pending.append(getattr(current, "underlying_exception", None))
        pending.extend(current.args)
    return None


def certificate_message(failure: ssl.SSLCertVerificationError, host: str) -> str:
    """Say that TLS verification refused ``host``, why, and what to do about it."""
    reason = failure.verify_message or failure.reason or "verification failed"
    return (
        f"TLS certificate verification failed for {host}: {reason}; if the facility uses a private "
        "CA, pass its bundle as verify=<path> (or ca_bundle=<path>)"
    )
