"""The client's remote-file methods, as a mixin of :class:`~facility_common.AsyncFacilityClient`.

Each method checks its arguments (paths, modes, compression) before any request and hands the
call to the backend; answers the backend cannot read become :class:`APIError` naming the facility.
"""

from __future__ import annotations

import os

import anyio

from .backends.base import FacilityBackend, ProgressCallback
from .checks import answers_checked, check_compression, check_path
from .errors import InvalidJobSpec
from .models import FileEntry

__all__ = ["FileMethods"]


class FileMethods:
    """Remote file operations of a facility client (``backend`` and ``facility`` come from the
    client class)."""

    backend: FacilityBackend

    @property
    def facility(self) -> str:
        return self.backend.name

    @answers_checked
    async def ls(self, resource: str, path: str, show_hidden: bool = False) -> list[FileEntry]:
        """The entries of a remote directory (or the file itself)."""
        return await self.backend.ls(
            resource, check_path("path", path, self.facility), show_hidden=show_hidden
        )

    @answers_checked
    async def stat(self, resource: str, path: str) -> FileEntry:
        """Facts about one remote path."""
        return await self.backend.stat(resource, check_path("path", path, self.facility))

    @answers_checked
    async def mkdir(self, resource: str, path: str, parents: bool = False) -> None:
        """Create a remote directory (and its parents with ``parents=True``)."""
        await self.backend.mkdir(resource, check_path("path", path, self.facility), parents)

    @answers_checked
    async def rm(self, resource: str, path: str) -> None:
        """Remove a remote file or directory tree."""
        await self.backend.rm(resource, check_path("path", path, self.facility))

    @answers_checked
    async def mv(self, resource: str, source: str, target: str) -> None:
        """Move or rename a remote path."""
        await self.backend.mv(
            resource,
            check_path("source", source, self.facility),
            check_path("target", target, self.facility),
        )

    @answers_checked
    async def cp(self, resource: str, source: str, target: str) -> None:
        """Copy a remote path."""
        await self.backend.cp(
            resource,
            check_path("source", source, self.facility),
            check_path("target", target, self.facility),
        )

    @answers_checked
    async def chmod(self, resource: str, path: str, mode: str | int) -> None:
        """Change a remote path's mode; ``mode`` is octal text (``"750"``) or an int (``0o750``)."""
        text = format(mode, "o") if isinstance(mode, int) and not isinstance(mode, bool) else mode
        if (
            not isinstance(text, str)
            or not text.isdigit()
            or any(c not in "01234567" for c in text)
            or len(text) > 4
        ):
            raise InvalidJobSpec(f"mode: {mode!r} is not an octal mode", field="mode", facility=self.facility)
        await self.backend.chmod(resource, check_path("path", path, self.facility), text)

    @answers_checked
    async def chown(
        self, resource: str, path: str, owner: str | None = None, group: str | None = None
    ) -> None:
        """Change a remote path's owner and/or group."""
        if owner is None and group is None:
            raise InvalidJobSpec(
                "owner: give an owner, a group or both", field="owner", facility=self.facility
            )
        await self.backend.chown(resource, check_path("path", path, self.facility), owner, group)

    @answers_checked
    async def symlink(self, resource: str, target: str, link_path: str) -> None:
        """Create the symbolic link ``link_path`` pointing at ``target``."""
        await self.backend.symlink(
            resource,
            check_path("target", target, self.facility),
            check_path("link_path", link_path, self.facility),
        )

    @answers_checked
    async def checksum(self, resource: str, path: str) -> str:
        """The remote file's checksum as ``"<algorithm>:<hex digest>"``."""
        return await self.backend.checksum(resource, check_path("path", path, self.facility))

    @answers_checked
    async def file_type(self, resource: str, path: str) -> str:
        """What the ``file`` command says of a remote path."""
        return await self.backend.file_type(resource, check_path("path", path, self.facility))

    @answers_checked
    async def compress(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Pack ``source`` into the archive ``target`` at the facility."""
        check_compression(compression, self.facility)
        await self.backend.compress(
            resource,
            check_path("source", source, self.facility),
            check_path("target", target, self.facility),
            compression,
        )

    @answers_checked
    async def extract(self, resource: str, source: str, target: str, compression: str = "gzip") -> None:
        """Unpack the archive ``source`` into the directory ``target`` at the facility."""
        check_compression(compression, self.facility)
        await self.backend.extract(
            resource,
            check_path("source", source, self.facility),
            check_path("target", target, self.facility),
            compression,
        )

    @answers_checked
    async def view(self, resource: str, path: str, offset: int = 0, size: int | None = None) -> str:
        """Text of a remote file from ``offset``, at most ``size`` bytes."""
        return await self.backend.view(resource, check_path("path", path, self.facility), offset, size)

    @answers_checked
    async def head(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The first lines (default 10) or bytes of a remote file."""
        return await self.backend.head(resource, check_path("path", path, self.facility), lines, nbytes)

    @answers_checked
    async def tail(
        self, resource: str, path: str, lines: int | None = None, nbytes: int | None = None
    ) -> str:
        """The last lines (default 10) or bytes of a remote file."""
        return await self.backend.tail(resource, check_path("path", path, self.facility), lines, nbytes)

    @answers_checked
    async def upload(
        self,
        resource: str,
        local_path: str | os.PathLike[str],
        remote_path: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Upload a local file to ``remote_path``."""
        if not await anyio.Path(local_path).is_file():
            raise InvalidJobSpec(
                f"local_path: {os.fspath(local_path)!r} is not a readable file",
                field="local_path",
                facility=self.facility,
            )
        await self.backend.upload(
            resource, local_path, check_path("remote_path", remote_path, self.facility), progress
        )

    @answers_checked
    async def download(
        self,
        resource: str,
        remote_path: str,
        local_path: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Download ``remote_path`` to a local file, written whole or not at all."""
        await self.backend.download(
            resource, check_path("remote_path", remote_path, self.facility), local_path, progress
        )
