"""Tokens that are given, not fetched: a fixed token, and a token file another tool keeps fresh."""

from __future__ import annotations

import logging
import math
import os
import pathlib
import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from ..errors import ConfigurationError
from .files import check_secret_file
from .secret import Secret
from .source import Fetched, TokenSource

__all__ = ["StaticToken", "TokenFile"]

logger = logging.getLogger("facility_common.auth")


class StaticToken(TokenSource):
    """A fixed token. It never changes, so a 401 is final and surfaces as AuthenticationError."""

    refreshable = False

    def __init__(self, token: str | Secret, *, scheme: str = "Bearer", facility: str | None = None) -> None:
        super().__init__(scheme=scheme, facility=facility)
        secret = token if isinstance(token, Secret) else Secret(token)
        if not secret.get_secret_value().strip():
            raise ConfigurationError("token: the static token is empty", facility=facility)
        self._token = Secret(secret.get_secret_value().strip())

    async def _fetch(self) -> Fetched:
        return Fetched(self._token, None)

    def invalidate(self, token: str) -> None:
        """Nothing to do: a static token cannot be replaced."""

    def _describe(self) -> str:
        return f"scheme={self.scheme!r}"


class TokenFile(TokenSource):
    """A token kept in a file by another tool; re-read when the file changes or after a 401.

    The file holds the token alone (surrounding whitespace is stripped). Its modification time is
    checked at most every ``check_interval`` seconds; reading happens in a worker thread. Each
    read first checks that only the file's owner can use it
    (:func:`~facility_common.auth.check_secret_file`; ``allow_readable_secret_files`` accepts a
    file others can read).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        scheme: str = "Bearer",
        facility: str | None = None,
        check_interval: float = 1.0,
        allow_readable_secret_files: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(scheme=scheme, facility=facility, clock=clock)
        self.path = pathlib.Path(path).expanduser()
        self.check_interval = check_interval
        self.allow_readable_secret_files = allow_readable_secret_files
        self._mtime_ns: int | None = None
        self._checked_at = -math.inf
        self._changed = False

    def _stale(self) -> bool:
        # Once a change is seen it stays seen until the next read, whatever the throttle says.
        if self._changed:
            return True
        now = self._clock()
        if now - self._checked_at < self.check_interval:
            return False
        self._checked_at = now
        try:
            self._changed = self.path.stat().st_mtime_ns != self._mtime_ns
        except OSError:
            self._changed = True
        return self._changed

    def _read(self) -> tuple[Secret, int]:
        check_secret_file(
            self.path,
            field="token_file",
            facility=self.facility,
            allow_readable=self.allow_readable_secret_files,
        )
        try:
            stat = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(
                f"token_file: {self.path} does not exist", facility=self.facility
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"token_file: cannot read {self.path}: {type(exc).__name__}", facility=self.facility
            ) from None
        return Secret(text.strip()), stat.st_mtime_ns

    async def _fetch(self) -> Fetched:
        token, mtime_ns = await anyio.to_thread.run_sync(self._read)
        if not token:
            raise ConfigurationError(f"token_file: {self.path} is empty", facility=self.facility)
        self._mtime_ns = mtime_ns
        self._checked_at = self._clock()
        self._changed = False
        logger.debug("read token from file %s", self.path)
        return Fetched(token, None)

    def _describe(self) -> str:
        return f"path={str(self.path)!r}"
