"""``facility ls``, ``get`` and ``put``: remote listings and transfers with progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from .common import ConnOption, JsonOption, open_client
from .output import console, err, fmt_time, print_json, table

__all__ = ["get", "ls", "put"]

ResourceArg = Annotated[str, typer.Argument(help="the resource whose file system to use (e.g. polaris)")]


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr, fed by the client's ``progress(done, total)`` callback."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def ls(
    resource: ResourceArg,
    path: Annotated[str, typer.Argument(help="remote path")],
    show_hidden: Annotated[bool, typer.Option("--all", "-a", help="show hidden entries")] = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a remote directory."""
    with open_client(conn) as (_, client):
        entries = client.ls(resource, path, show_hidden=show_hidden)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    table(
        None,
        ["name", "type", "size", "permissions", "modified"],
        [(e.name, e.type, e.size, e.permissions, fmt_time(e.modified_at)) for e in entries],
    )


def get(
    resource: ResourceArg,
    remote: Annotated[str, typer.Argument(help="remote file")],
    local: Annotated[Path | None, typer.Argument(help="local file (default: the remote name, here)")] = None,
    conn: ConnOption = None,
) -> None:
    """Download a remote file (written whole or not at all)."""
    target = local or Path(remote.rstrip("/").rpartition("/")[2])
    with open_client(conn) as (_, client), _progress(f"get {remote}") as progress:
        client.download(resource, remote, target, progress)
    console.print(f"downloaded {remote} to {target}", markup=False)


def put(
    resource: ResourceArg,
    local: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="local file")],
    remote: Annotated[str, typer.Argument(help="remote path")],
    conn: ConnOption = None,
) -> None:
    """Upload a local file."""
    with open_client(conn) as (_, client), _progress(f"put {local.name}") as progress:
        client.upload(resource, local, remote, progress)
    console.print(f"uploaded {local} to {remote}", markup=False)
