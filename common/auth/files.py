"""The one check every file holding a secret passes before it is used.

Token files, private key files, globus-sdk token storages (and the command line's configuration
file) hold credentials: a file that other users can read (or change) gives the credential away.
:func:`check_secret_file` refuses such a file with a :class:`ConfigurationError` naming the file
and the fix (``chmod 600``). Where a shared, group-readable file is deliberate, the check is
turned off explicitly: ``allow_readable=True`` (the auth mapping's ``allow_readable_secret_files``)
or the environment variable ``FACILITY_ALLOW_READABLE_SECRETS=1``.
"""

from __future__ import annotations

import os
import pathlib
import stat

from ..errors import ConfigurationError

__all__ = ["READABLE_SECRETS_ENV", "check_secret_file", "readable_secrets_allowed"]

#: Environment variable that accepts secret files other users can read (``1``/``true``).
READABLE_SECRETS_ENV = "FACILITY_ALLOW_READABLE_SECRETS"
_YES = frozenset({"1", "true", "yes", "on"})


def readable_secrets_allowed() -> bool:
    """Whether :data:`READABLE_SECRETS_ENV` accepts secret files open to other users."""
    return os.environ.get(READABLE_SECRETS_ENV, "").strip().lower() in _YES


def check_secret_file(
    path: str | os.PathLike[str],
    *,
    field: str,
    facility: str | None = None,
    allow_readable: bool = False,
) -> pathlib.Path:
    """Return ``path`` (``~`` expanded) if it is a file only its owner can use.

    Raises :class:`ConfigurationError` naming ``field`` and the file when it does not exist, is
    not a regular file, or has any group or other permission bit (a secret others can read or
    replace), unless ``allow_readable`` or :data:`READABLE_SECRETS_ENV` says to accept that.
    """
    checked = pathlib.Path(path).expanduser()
    try:
        mode = checked.stat().st_mode
    except FileNotFoundError:
        raise ConfigurationError(f"{field}: {checked} does not exist", facility=facility) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{field}: cannot read {checked}: {type(exc).__name__}", facility=facility
        ) from None
    if not stat.S_ISREG(mode):
        raise ConfigurationError(f"{field}: {checked} is not a file", facility=facility)
    if mode & 0o077 and not (allow_readable or readable_secrets_allowed()):
        raise ConfigurationError(
            f"{field}: {checked} is open to other users (mode {mode & 0o777:04o}) but holds a secret: "
            f"run chmod 600 {checked} (or accept it with allow_readable_secret_files=true or "
            f"{READABLE_SECRETS_ENV}=1)",
            facility=facility,
        )
    return checked
