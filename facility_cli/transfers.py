"""``facility transfer SRC DST`` and ``facility transfers``: data between facilities, by Globus.

``SRC`` and ``DST`` are ``CONN:STORAGE:PATH`` (a facility connection of the config file, one of
its storages, a Globus path on that storage's collection) or ``COLLECTION_ID:PATH``. Where each
storage's collection is comes from the connection (``globus_collections``) or its API (IRI v2).

The Globus credentials are a Globus connection, given as ``--globus`` (or ``--conn``, the
command's connection, also before the command name) or ``FACILITY_GLOBUS``:
Airflow's JSON form of a ``facility_globus`` connection, or the path of a file holding it
(``{"conn_type": "facility_globus", "login": "<client id>", "password": "<secret>"}``; see
``docs/transfers.md``). ``--route CONN`` sends the transfer through that facility's own Globus
routes with the connection's credentials instead (NERSC's Superfacility API).

``--wait`` shows the transfer's progress (files, bytes, rate) on stderr until it ends; the exit
code is 0 only if it succeeded (8 when it failed, 9 when ``--timeout`` passed).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import JsonOption, chosen_conn, wants_json

if TYPE_CHECKING:
    from facility_common.transfers import TransferClient, TransferTask

__all__ = ["transfer", "transfers"]

GLOBUS_VARIABLE = "FACILITY_GLOBUS"
_UUID_LENGTH = 36

GlobusOption = Annotated[
    str | None,
    typer.Option(
        "--globus",
        "--conn",
        "-c",
        help="the Globus connection: Airflow JSON of a facility_globus connection, or a file holding it "
        f"(default: the global --conn, or ${GLOBUS_VARIABLE})",
        show_default=False,
    ),
]
RouteOption = Annotated[
    str | None,
    typer.Option(
        "--route", help="send through this facility connection's own Globus routes", show_default=False
    ),
]


def _split(endpoint: str) -> tuple[str, str]:
    """``(endpoint for the client, Globus path)`` of ``CONN:STORAGE:PATH`` or ``COLLECTION:PATH``."""
    head, sep, path = endpoint.partition(":")
    if sep and len(head) == _UUID_LENGTH and head.count("-") == 4 and path.startswith("/"):
        return head, path
    storage, sep2, path = path.partition(":")
    if not sep or not sep2 or not head or not storage or not path.startswith("/"):
        raise typer.BadParameter(f"{endpoint!r}: write CONN:STORAGE:/PATH or COLLECTION_ID:/PATH")
    return f"{head}:{storage}", path


class _GlobusConnection:
    """The fields of an Airflow-style connection given as JSON (what the Globus settings read)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.conn_id = "--globus"
        self.conn_type = data.get("conn_type")
        self.host = data.get("host")
        self.schema = data.get("schema")
        self.port = data.get("port")
        self.login = data.get("login")
        self.password = data.get("password")
        extra = data.get("extra") or {}
        self.extra_dejson = json.loads(extra) if isinstance(extra, str) else dict(extra)


def _globus_connection(value: str) -> _GlobusConnection:
    from facility_common import ConfigurationError

    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"--globus: {value!r} is neither a JSON connection nor a file holding one"
            )
        text = path.read_text()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("extra") or {}, dict | str):
        raise ConfigurationError("--globus: not a JSON connection object")
    return _GlobusConnection(data)


@contextmanager
def _client(conns: list[str], globus: str | None, route: str | None) -> Iterator[TransferClient]:
    """The transfer client of the named facility connections and the Globus connection; any
    FacilityError inside becomes a message and an exit code."""
    from facility_common import FacilityError
    from facility_common.transfers import AsyncTransferClient, FacilitySite, TransferClient
    from facility_common.transfers.settings import globus_settings_from_connection

    from .connection import load_connection

    with _reported():
        given = chosen_conn(globus) or os.environ.get(GLOBUS_VARIABLE)
        options: dict[str, Any] = {}
        if given:
            options = globus_settings_from_connection(_globus_connection(given)).route_options()
        elif route is None:
            raise typer.BadParameter(
                f"give the Globus connection (--globus or {GLOBUS_VARIABLE}), or --route CONN for a "
                "facility's own Globus routes"
            )
        sites = [FacilitySite(name, load_connection(name).settings) for name in dict.fromkeys(conns)]
        client = TransferClient(AsyncTransferClient.connect(sites=sites, poll_interval=2.0, **options))
        try:
            yield client
        finally:
            with suppress(FacilityError):
                client.close()


@contextmanager
def _reported() -> Iterator[None]:
    from facility_common import (
        AuthenticationError,
        ConfigurationError,
        FacilityError,
        InvalidJobSpec,
        NotFoundError,
        WaitTimeout,
    )

    from .output import fail
    from .problems import EXIT

    try:
        yield
    except FacilityError as exc:
        code = (
            EXIT.CONFIG
            if isinstance(exc, ConfigurationError | InvalidJobSpec)
            else EXIT.BAD_CREDENTIALS
            if isinstance(exc, AuthenticationError)
            else EXIT.NOT_FOUND
            if isinstance(exc, NotFoundError)
            else EXIT.TIMEOUT
            if isinstance(exc, WaitTimeout)
            else EXIT.ERROR
        )
        raise fail(code, str(exc)) from None


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _line(task: TransferTask) -> str:
    files = (
        f"{task.files_transferred}/{task.files}" if task.files is not None else str(task.files_transferred)
    )
    expected = f"/{_size(task.bytes_expected)}" if task.bytes_expected else ""
    reason = f"  ({task.reason})" if task.reason and task.reason not in ("OK", "Accepted") else ""
    return (
        f"{task.id}  {task.state.value:<9} files {files}  {_size(task.bytes_transferred)}{expected}"
        f"  {_size(task.rate)}/s{reason}"
    )


def _payload(task: TransferTask) -> dict[str, Any]:
    data = task.to_dict()
    data.pop("raw", None)
    return data


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A live line on stderr (files, bytes, rate), or nothing when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():

        def quiet(task: TransferTask) -> None:
            if task.is_terminal:
                typer.echo(_line(task), err=True)

        yield quiet
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[files]}"),
        console=Console(stderr=True),
    ) as bar:
        row = bar.add_task("transfer", total=None, files="")

        def update(task: TransferTask) -> None:
            files = f"{task.files_transferred}/{task.files if task.files is not None else '?'} files"
            bar.update(
                row,
                description=task.state.value.lower(),
                completed=task.bytes_transferred,
                total=task.bytes_expected,
                files=files,
            )

        yield update


def transfer(
    source: Annotated[str, typer.Argument(help="CONN:STORAGE:/PATH or COLLECTION_ID:/PATH")],
    destination: Annotated[str, typer.Argument(help="CONN:STORAGE:/PATH or COLLECTION_ID:/PATH")],
    recursive: Annotated[bool, typer.Option("--recursive", "-R", help="move a directory tree")] = False,
    label: Annotated[str | None, typer.Option("--label", help="the transfer's label")] = None,
    sync: Annotated[
        str | None, typer.Option("--sync", help="skip files already there: exists, size, mtime or checksum")
    ] = None,
    verify: Annotated[bool, typer.Option("--verify-checksum", help="verify each file's checksum")] = False,
    preserve: Annotated[bool, typer.Option("--preserve-timestamp", help="keep modification times")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="show the progress and wait until it ends")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="with --wait: give up after seconds")
    ] = None,
    globus: GlobusOption = None,
    route: RouteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a file or (with -R) a directory from one facility to another with Globus."""
    from .output import fail, print_json
    from .problems import EXIT

    as_json = wants_json(as_json)
    (source_endpoint, source_path), (destination_endpoint, destination_path) = (
        _split(source),
        _split(destination),
    )
    conns = [e.partition(":")[0] for e in (source_endpoint, destination_endpoint) if ":" in e]
    conns += [route] if route else []
    with _client(conns, globus, route) as client, _reported():
        request = client.prepare(
            source_endpoint,
            destination_endpoint,
            [(source_path, destination_path, recursive)],
            label=label,
            sync_level=sync,
            verify_checksum=verify,
            preserve_timestamp=preserve,
            route=route,
        )
        task = client.submit(request)
        if not as_json:
            typer.echo(
                f"transfer {task.id}: {request.described_source} -> {request.described_destination}", err=True
            )
        if wait:
            with _progress(not as_json) as show:
                task = client.wait(task.id, route, timeout=timeout, on_update=show)
    if as_json:
        print_json(_payload(task))
    else:
        typer.echo(task.id)
    if wait and task.state.value != "SUCCEEDED":
        raise fail(
            EXIT.JOB_FAILED, f"transfer {task.id} ended {task.state.value}: {task.reason or 'no reason'}"
        )


def transfers(
    ids: Annotated[
        list[str] | None, typer.Argument(help="transfer ids to show (default: the newest)")
    ] = None,
    cancel: Annotated[str | None, typer.Option("--cancel", help="cancel this transfer")] = None,
    label: Annotated[str | None, typer.Option("--label", help="only transfers with this label")] = None,
    limit: Annotated[int, typer.Option("--limit", help="how many of the newest to list")] = 20,
    failed: Annotated[
        bool, typer.Option("--failed-files", help="with ids: the files they could not move")
    ] = False,
    globus: GlobusOption = None,
    route: RouteOption = None,
    as_json: JsonOption = False,
) -> None:
    """List transfers (the newest, or by id) with their progress, or cancel one."""
    from .output import print_json

    as_json = wants_json(as_json)
    with _client([route] if route else [], globus, route) as client, _reported():
        if cancel:
            found = [client.cancel(cancel, route)]
        elif ids:
            found = client.list_transfers(ids, route=route)
        else:
            found = client.list_transfers(route=route, label=label, limit=limit)
        lost = {task.id: client.failed_files(task.id, route) for task in found} if failed else {}
    if as_json:
        print_json(
            [
                {**_payload(t), **({"failed_files": [f.to_dict() for f in lost[t.id]]} if failed else {})}
                for t in found
            ]
        )
        return
    if not found:
        typer.echo("no transfers", err=True)
    for task in found:
        label_text = f"  {task.label}" if task.label else ""
        typer.echo(_line(task) + label_text)
        for item in lost.get(task.id, []):
            typer.echo(f"    {item.path} ({item.side}): {item.code}: {item.message}")
