"""Where a download lands: checked before any request, written whole under its name or not at all.

Every backend's ``download`` goes through :class:`DownloadTarget`:

* :meth:`DownloadTarget.check` runs before the first request. The local directory must exist, be
  a directory and be writable, the target must not be a directory, and its name must fit the file
  system's limit (``NAME_MAX``, usually 255 bytes). A failure is :class:`InvalidJobSpec` naming
  ``local_path`` and the facility, so a download that cannot land is refused before the facility
  is asked, never found out after the transfer.
* :meth:`DownloadTarget.writing` and :meth:`DownloadTarget.write_bytes` write into a temporary
  file in the same directory with a short hidden name (``.<random>.part``, whatever the length of
  the final name) and rename it onto the target only once the whole body is written and flushed.
  On any failure, a cancellation included, the temporary file is removed: the target is either
  the complete download or what it was before. A local write failure (a full disk) is
  :class:`InvalidJobSpec` naming ``local_path`` too; errors of the transfer itself pass as they are.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from .errors import InvalidJobSpec

__all__ = ["DownloadTarget"]

#: Used when the file system does not say how long a name may be.
DEFAULT_NAME_MAX = 255


class DownloadTarget:
    """A checked local destination of one download (build it with :meth:`check`)."""

    def __init__(self, path: str, facility: str | None) -> None:
        self.path = path
        self.directory = os.path.dirname(path)
        self.facility = facility

    def __repr__(self) -> str:
        return f"DownloadTarget({self.path!r})"

    @classmethod
    async def check(cls, local_path: str | os.PathLike[str], *, facility: str | None) -> DownloadTarget:
        """The target at ``local_path`` once it is known to be writable (see the module docstring);
        raises :class:`InvalidJobSpec` naming ``local_path`` and ``facility`` otherwise."""
        return await anyio.to_thread.run_sync(cls._checked, os.fspath(local_path), facility)

    @classmethod
    def _checked(cls, local_path: str, facility: str | None) -> DownloadTarget:
        target = cls(os.path.abspath(local_path), facility)
        target._check()
        return target

    def _refuse(self, why: str) -> InvalidJobSpec:
        return InvalidJobSpec(f"local_path: {self.path!r} {why}", field="local_path", facility=self.facility)

    def _check(self) -> None:
        name = os.path.basename(self.path)
        if not name:
            raise self._refuse("names no file")
        if not os.path.isdir(self.directory):
            what = "is not a directory" if os.path.exists(self.directory) else "does not exist"
            raise self._refuse(f"cannot be written: its directory {self.directory!r} {what}")
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise self._refuse(f"cannot be written: its directory {self.directory!r} is not writable")
        if os.path.isdir(self.path):
            raise self._refuse("is a directory; give the name of the file to write")
        limit = _name_max(self.directory)
        if len(os.fsencode(name)) > limit:
            raise self._refuse(
                f"has a name of {len(os.fsencode(name))} bytes; this file system takes {limit}"
            )

    def _open_temporary(self) -> tuple[int, str]:
        """A new, empty, hidden file beside the target: ``(descriptor, path)``."""
        for _ in range(100):
            candidate = os.path.join(self.directory, f".{secrets.token_hex(6)}.part")
            try:
                return os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), candidate
            except FileExistsError:
                continue
        raise FileExistsError(errno.EEXIST, "no free temporary name", self.directory)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        """A file to write the download into; it becomes the target when the block ends without
        an error, and is removed otherwise."""
        try:
            descriptor, temporary = await anyio.to_thread.run_sync(self._open_temporary)
        except OSError as exc:
            raise self._refuse(f"cannot be written: {exc.strerror or exc}") from None
        failure: InvalidJobSpec | None = None
        replaced = False
        try:
            async with anyio.wrap_file(os.fdopen(descriptor, "wb")) as handle:
                try:
                    yield handle
                    await handle.flush()
                    await anyio.to_thread.run_sync(os.fsync, handle.wrapped.fileno())
                except OSError as exc:  # the local side: a full disk, a quota
                    failure = self._refuse(f"could not be written: {exc.strerror or exc}")
            if failure is None:
                await anyio.to_thread.run_sync(os.replace, temporary, self.path)
                replaced = True
        except OSError as exc:
            failure = self._refuse(f"could not be written: {exc.strerror or exc}")
        finally:
            if not replaced:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
        if failure is not None:
            raise failure

    async def write_bytes(self, data: bytes) -> None:
        """Write ``data`` as the target's whole content (see :meth:`writing`)."""
        async with self.writing() as handle:
            await handle.write(data)


def _name_max(directory: str) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return DEFAULT_NAME_MAX
