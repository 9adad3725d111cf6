"""``facility get`` and ``facility put``: files and (with ``-R``) directory trees, with progress.

The progress bar is drawn on stderr when it is a terminal; its speed is the average since the
transfer began (APIs that move a file in one request report only its start and end). Downloaded
files get the mode a new file gets here (the umask), or keep the mode of the file they replace.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import ConnOption, JsonOption, ResourceOption, wants_json
from .output import fail, human_size, out, print_json

if TYPE_CHECKING:
    from .session import Session

__all__ = ["get", "put"]

RecursiveOption = Annotated[bool, typer.Option("--recursive", "-R", help="copy a directory tree")]


@dataclasses.dataclass
class _Item:
    """One file to move: where from, where to, and its size when known."""

    source: str
    target: str
    size: int | None


class _Meter:
    """Bytes moved across a transfer's files, shown as a bar on a terminal."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.done_before = 0  # bytes of the files already finished
        self.started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    @contextmanager
    def showing(self) -> Iterator[_Meter]:
        if not sys.stderr.isatty():
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn
        from rich.text import Text

        meter = self

        class AverageSpeed(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(meter.speed())

        columns: list[Any] = [TextColumn("{task.description}")]
        if self.total:
            columns.append(BarColumn())
        columns += [DownloadColumn(), AverageSpeed()]
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            self._bar = bar
            self._task = bar.add_task(self.label, total=self.total or None)
            yield self

    def speed(self) -> str:
        elapsed = time.monotonic() - self.started
        moved = self.done_before
        if self._task is not None and self._bar is not None:
            moved = int(self._bar.tasks[0].completed)
        return f"{human_size(int(moved / elapsed))}/s" if elapsed > 0.05 and moved else ""

    def file_progress(self, done: int, total: int | None) -> None:
        """The client's ``progress(done, total)`` callback for the current file."""
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done_before + done)

    def file_done(self, size: int) -> None:
        self.done_before += size
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done_before)

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = f", {human_size(int(self.done_before / elapsed))}/s" if elapsed > 0.05 else ""
        return f"{human_size(self.done_before)} in {elapsed:.1f} s{rate}"


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _remote_tree(session: Session, resource: str, root: str, local_root: Path) -> list[_Item]:
    """Every file under the remote directory ``root``, with where it goes under ``local_root``."""
    items: list[_Item] = []
    pending = [(root.rstrip("/") or "/", local_root)]
    while pending:
        directory, local = pending.pop()
        local.mkdir(parents=True, exist_ok=True)
        for entry in session.client.ls(resource, directory, show_hidden=True):
            if entry.name in (".", ".."):
                continue
            remote = f"{directory.rstrip('/')}/{entry.name}"
            if entry.type == "directory":
                pending.append((remote, local / entry.name))
            elif entry.type != "symlink":
                items.append(_Item(remote, str(local / entry.name), entry.size))
    return items


def _download(session: Session, resource: str, items: list[_Item], meter: _Meter) -> None:
    mode = _new_file_mode()
    for item in items:
        target = Path(item.target)
        kept = target.stat().st_mode & 0o7777 if target.is_file() else None
        session.client.download(resource, item.source, target, meter.file_progress)
        target.chmod(kept if kept is not None else mode)
        meter.file_done(target.stat().st_size)


def get(
    remote: Annotated[str, typer.Argument(help="remote file (or directory, with -R)", metavar="REMOTE")],
    local: Annotated[
        Path | None,
        typer.Argument(help="local file or directory (default: the remote name, here)", metavar="LOCAL"),
    ] = None,
    resource: ResourceOption = None,
    recursive: RecursiveOption = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download a remote file (each file written whole or not at all); -R for a directory."""
    from .problems import EXIT
    from .session import open_session

    name = remote.rstrip("/").rpartition("/")[2] or remote
    with open_session(conn) as session:
        chosen = session.resource(resource)
        entry = session.client.stat(chosen, remote)
        if entry.type == "directory":
            if not recursive:
                raise fail(EXIT.CONFIG, f"{remote} is a directory", hint="give -R to download the tree")
            root = local if local is not None else Path(name)
            items = _remote_tree(session, chosen, remote, root)
        else:
            target = local if local is not None else Path(name)
            if target.is_dir():
                target = target / name
            items = [_Item(remote, str(target), entry.size)]
        total = sum(item.size or 0 for item in items)
        meter = _Meter(f"get {name}", total)
        with meter.showing():
            _download(session, chosen, items, meter)
    if wants_json(as_json):
        print_json({"files": [dataclasses.asdict(item) for item in items], "bytes": meter.done_before})
    else:
        where = items[0].target if len(items) == 1 and entry.type != "directory" else str(root)
        out(f"downloaded {remote} to {where} ({len(items)} file{'s' * (len(items) != 1)}, {meter.summary()})")


def _local_tree(root: Path, remote_root: str) -> tuple[list[str], list[_Item]]:
    """The directories to create and the files to upload for the local tree ``root``."""
    directories = [remote_root]
    items: list[_Item] = []
    for current, subdirs, files in os.walk(root):
        relative = Path(current).relative_to(root)
        remote_dir = remote_root if relative == Path(".") else f"{remote_root}/{relative.as_posix()}"
        directories.extend(f"{remote_dir}/{name}" for name in sorted(subdirs))
        for name in sorted(files):
            path = Path(current) / name
            if path.is_file():
                items.append(_Item(str(path), f"{remote_dir}/{name}", path.stat().st_size))
    return directories, items


def put(
    local: Annotated[
        Path, typer.Argument(exists=True, help="local file (or directory, with -R)", metavar="LOCAL")
    ],
    remote: Annotated[
        str, typer.Argument(help="remote path (ending in / : into that directory)", metavar="REMOTE")
    ],
    resource: ResourceOption = None,
    recursive: RecursiveOption = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a local file; -R for a directory tree."""
    from .problems import EXIT
    from .session import open_session

    target = f"{remote}{local.name}" if remote.endswith("/") else remote
    if local.is_dir() and not recursive:
        raise fail(EXIT.CONFIG, f"{local} is a directory", hint="give -R to upload the tree")
    if local.is_dir():
        directories, items = _local_tree(local, target.rstrip("/"))
    else:
        directories, items = [], [_Item(str(local), target, local.stat().st_size)]
    meter = _Meter(f"put {local.name}", sum(item.size or 0 for item in items))
    with open_session(conn) as session:
        chosen = session.resource(resource)
        for directory in directories:
            session.client.mkdir(chosen, directory, parents=True)
        with meter.showing():
            for item in items:
                session.client.upload(chosen, item.source, item.target, meter.file_progress)
                meter.file_done(item.size or 0)
    if wants_json(as_json):
        print_json({"files": [dataclasses.asdict(item) for item in items], "bytes": meter.done_before})
    else:
        out(f"uploaded {local} to {target} ({len(items)} file{'s' * (len(items) != 1)}, {meter.summary()})")
