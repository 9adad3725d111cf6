"""``FacilityStaging``: Parsl data staging for files that live at a facility.

A ``File("facility://<site>/<storage>/<path>")`` names a file on a facility's storage: ``site``
is a site of the :class:`~facility_common.transfers.TransferClient` given to the provider (a
facility connection, or a table of its Globus collections), ``storage`` one of its storages and
``path`` the file's Globus path on that storage's collection. An app taking such a file as an
input gets it staged in: moved by the transfer layer to the storage its executor's pilots see
(``stage_at``), the app's ``File.local_path`` pointing there. An output such a file is written
there by the app and staged out after it. So an app running on one facility's pilot takes inputs
from another facility and leaves outputs at a third.

``stage_at`` is ``"<site>:<storage>:<directory>"`` (one for every executor, or a mapping of
executor label to it): a Globus directory on a collection whose root on the facility's file
system is known (its API reports it, as IRI v2's storage access endpoints do, or the site's
``globus_collections`` entry gives ``root``). Files land as ``<directory>/<file name>``.

Staging runs as Parsl apps on the DataFlowKernel's ``_parsl_internal`` executor, as Parsl's own
Globus staging does; their waits go through the transfer client's shared poller, so many staged
files cost one status request per interval on the Globus route.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from parsl.app.app import python_app
from parsl.data_provider.files import File
from parsl.data_provider.staging import Staging
from parsl.utils import RepresentationMixin

from facility_common import FacilityError
from facility_common.transfers import TransferClient, TransferState

__all__ = ["FACILITY_SCHEME", "FacilityStaging"]

logger = logging.getLogger(__name__)

FACILITY_SCHEME = "facility"


class StagingError(RuntimeError):
    """A file could not be staged; the message names the file and the transfer's reason."""


def _spot(text: str) -> tuple[str, str, str]:
    site, _, rest = text.partition(":")
    storage, _, directory = rest.partition(":")
    if not site or not storage or not directory.startswith("/"):
        raise ValueError(f"stage_at {text!r}: write <site>:<storage>:<absolute Globus directory>")
    return site, storage, directory.rstrip("/") or "/"


class FacilityStaging(Staging, RepresentationMixin):
    """Stage ``facility://`` files in and out through the transfer layer (see the module).

    :param transfers: the transfer client (its Globus route and sites).
    :param stage_at: where pilots see staged files: ``"<site>:<storage>:<directory>"``, or a
        mapping of executor label to one.
    :param route: the transfer route (default: the Globus route).
    :param timeout: seconds a staging transfer may take before the app fails (None: no bound).
    :param poll_interval: seconds between status rounds of the staging waits.
    """

    def __init__(
        self,
        transfers: TransferClient,
        stage_at: str | Mapping[str, str],
        route: str | None = None,
        timeout: float | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        self.transfers = transfers
        self.stage_at = stage_at
        self.route = route
        self.timeout = timeout
        self.poll_interval = poll_interval
        spots = stage_at.values() if isinstance(stage_at, Mapping) else [stage_at]
        for spot in spots:
            _spot(spot)  # a malformed spot fails now, not at the first staged file
        self._local_dirs: dict[str, str] = {}
        self._made: set[str] = set()

    def can_stage_in(self, file: File) -> bool:
        return file.scheme == FACILITY_SCHEME

    def can_stage_out(self, file: File) -> bool:
        return file.scheme == FACILITY_SCHEME

    # -- where things are --------------------------------------------------------------------

    def _spot_of(self, executor: str) -> tuple[str, str, str]:
        if isinstance(self.stage_at, Mapping):
            if executor not in self.stage_at:
                raise StagingError(f"no stage_at for executor {executor!r} (known: {sorted(self.stage_at)})")
            return _spot(self.stage_at[executor])
        return _spot(self.stage_at)

    def _local_dir(self, site: str, storage: str, directory: str) -> str:
        """The directory as the pilots see it (the collection's root on the facility + the dir)."""
        key = f"{site}:{storage}:{directory}"
        if key not in self._local_dirs:
            _, _, collection = self.transfers.resolve(f"{site}:{storage}", self.route)
            local = collection.facility_path(directory) if collection is not None else None
            if local is None:
                raise StagingError(
                    f"stage_at {key}: the root of {site}:{storage}'s collection on the facility is "
                    "unknown; give it as globus_collections.<storage>.root on the site"
                )
            self._local_dirs[key] = local.rstrip("/")
        return self._local_dirs[key]

    def _ensure_directory(self, endpoint: str, directory: str) -> None:
        """Make the staging directory an app writes its outputs to, once (a failure is only
        logged: the directory may exist, or the route may offer no mkdir)."""
        key = f"{endpoint}:{directory}"
        if key in self._made:
            return
        try:
            self.transfers.mkdir(endpoint, directory, self.route)
            self._made.add(key)
        except FacilityError as exc:
            logger.warning("could not make the staging directory %s on %s: %s", directory, endpoint, exc)

    @staticmethod
    def _remote(file: File) -> tuple[str, str]:
        """``("<site>:<storage>", Globus path)`` of a ``facility://`` file."""
        storage, _, path = file.path.lstrip("/").partition("/")
        if not file.netloc or not storage or not path:
            raise StagingError(f"{file.url}: write facility://<site>/<storage>/<path>")
        return f"{file.netloc}:{storage}", "/" + path

    def _place(self, executor: str, file: File) -> tuple[str, str]:
        """Set ``file.local_path`` for ``executor``; returns (endpoint, Globus path) of the spot."""
        site, storage, directory = self._spot_of(executor)
        file.local_path = posixpath.join(self._local_dir(site, storage, directory), file.filename)
        return f"{site}:{storage}", posixpath.join(directory, file.filename)

    # -- staging -------------------------------------------------------------------------------

    def move(self, source: str, source_path: str, destination: str, destination_path: str, what: str) -> None:
        """Move one file and wait for it; raises :class:`StagingError` naming ``what``."""
        try:
            task = self.transfers.transfer(
                source,
                destination,
                [(source_path, destination_path)],
                route=self.route,
                label=f"parsl {what}",
            )
            done = self.transfers.wait(
                task.id, self.route, timeout=self.timeout, poll_interval=self.poll_interval
            )
        except FacilityError as exc:
            raise StagingError(f"staging {what} failed: {exc}") from None
        if done.state is not TransferState.SUCCEEDED:
            raise StagingError(f"staging {what} ended {done.state.value}: {done.reason or 'no reason given'}")
        logger.debug("staged %s (%d bytes) with transfer %s", what, done.bytes_transferred, task.id)

    def stage_in(self, dm: Any, executor: str, file: File, parent_fut: Future[Any] | None) -> Any:
        source, source_path = self._remote(file)
        destination, destination_path = self._place(executor, file)
        app = python_app(executors=["_parsl_internal"], data_flow_kernel=dm.dfk)(_stage_in)
        future = app(
            self, source, source_path, destination, destination_path, file.url,
            outputs=[file], _parsl_staging_inhibit=True, parent_fut=parent_fut,
        )  # fmt: skip
        return future._outputs[0]

    def stage_out(self, dm: Any, executor: str, file: File, app_fu: Future[Any]) -> Future[Any]:
        destination, destination_path = self._remote(file)
        source, source_path = self._place(executor, file)
        self._ensure_directory(source, posixpath.dirname(source_path))
        app = python_app(executors=["_parsl_internal"], data_flow_kernel=dm.dfk)(_stage_out)
        future: Future[Any] = app(
            self, app_fu, source, source_path, destination, destination_path, file.url,
            inputs=[file], _parsl_staging_inhibit=True,
        )  # fmt: skip
        return future


def _stage_in(
    staging: FacilityStaging,
    source: str,
    source_path: str,
    destination: str,
    destination_path: str,
    url: str,
    parent_fut: Future[Any] | None = None,
    outputs: list[File] | None = None,
    _parsl_staging_inhibit: bool = True,
) -> None:
    staging.move(source, source_path, destination, destination_path, f"in {url}")


def _stage_out(
    staging: FacilityStaging,
    app_fu: Future[Any],
    source: str,
    source_path: str,
    destination: str,
    destination_path: str,
    url: str,
    inputs: list[File] | None = None,
    _parsl_staging_inhibit: bool = True,
) -> None:
    """Runs once ``app_fu`` (the app that wrote the file) is done: it is an input dependency."""
    staging.move(source, source_path, destination, destination_path, f"out {url}")
