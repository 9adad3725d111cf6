"""Backend for CSCS FirecREST v2 (Alps: Daint, Eiger, Clariden, Santis; other FirecREST sites).

``base_url`` is the FirecREST root (``https://api.cscs.ch/hpc/firecrest/v2``). Every API call is
an :class:`~facility_common.http.ApiRequest` built by :mod:`.requests` and sent through one
:class:`~facility_common.http.ApiSession` (the shared retry policy, body limit and the auth's
refresh after a 401); answers are read by :mod:`.parsers`. Resources are FirecREST systems: their
id is their name. The operations live in :mod:`.jobs`, :mod:`.files` and :mod:`.transfers`.

How the API's gaps are filled (the spec is silent on these):

* **Health and outages.** A system is UP when all its ``servicesHealth`` entries are healthy,
  DOWN when its scheduler or SSH is not, DEGRADED when only storage is. FirecREST has no outage
  calendar: a system's Slurm/PBS reservations are its planned outages, and a DOWN system adds an
  unplanned, open-ended one.
* **Submit without duplicates.** The rendered (or given) script carries the tag as a comment line
  ``# facility-submit-tag: <tag>`` and the environment as ``FACILITY_SUBMIT_TAG``; submits run
  under the shared policy of :class:`~facility_common.backends.submit.SubmitGuard`. Its look-up
  lists the system's jobs and reads the metadata (the script) of those that could be the one;
  when the metadata of some cannot be read, the look-up fails, so the outcome stays unknown
  rather than the job being sent again. :meth:`find_job_by_tag` offers the look-up to callers.
* **Job not found** (Slurm needs a moment after ``sbatch``): ``get_job`` reports a job submitted
  here PENDING for ``visibility_grace`` seconds, any other as a clean :class:`NotFoundError`.
* **Output paths** come from ``GET .../jobs/{id}/metadata``, asked once per job and kept: the
  jobs ``get_job`` returns carry them, and so do finished jobs ``list_jobs`` is asked for by id
  (what ``wait`` returns). ``job_output`` reads them with ``ops/view`` (at most the system's
  ``max_ops_file_size``) or ``ops/tail``.
* **Transfers.** ``upload``/``download`` go direct up to the system's ``max_ops_file_size`` and
  through the staging area above it, streamed, so memory stays flat whatever the file size.
  ``cp``/``mv`` (and slow ``rm``/``compress``/``extract``) are transfer jobs, awaited here for at
  most ``transfer_timeout`` seconds. Presigned staging URLs never appear in an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from ...models import Outage, ResourceStatus
from .account import AccountMixin
from .core import FACILITY
from .files import FileMethods
from .jobs import JobMethods
from .parsers import parse_outages, parse_system
from .requests import build_reservations

__all__ = ["FACILITY", "FirecrestBackend"]


class FirecrestBackend(JobMethods, FileMethods, AccountMixin):
    """FirecREST v2 at one site.

    ``account`` and ``partition`` are used when a JobSpec names none; ``directory`` is the
    working directory of jobs that name none (default: the user's directory on the system's
    ``defaultWorkDir`` file system). No network call happens before the first operation.
    """

    name: ClassVar[str] = "firecrest"

    def describe(self) -> dict[str, Any]:
        """Connection facts safe to show (no credentials)."""
        return {
            **super().describe(),
            "base_url": self.base_url,
            "account": self.account,
            "partition": self.partition,
        }

    async def resources(self) -> list[ResourceStatus]:
        """:calls: GET /status/systems"""
        systems = await self._load_systems(force=True)
        return [parse_system(system) for system in systems.values()]

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """:calls: GET /status/systems"""
        await self._load_systems(force=True)
        return parse_system(self._systems[await self._system(name_or_id)])

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Reservations as planned outages; a DOWN system as an unplanned one.

        :calls: GET /status/systems, GET /status/{system}/reservations
        """
        systems = await self._load_systems(force=True)
        names = [await self._system(resource)] if resource else list(systems)
        found: list[Outage] = []
        for system in names:
            data = await self._call(build_reservations(system), system)
            reservations = data.get("reservations") if isinstance(data, dict) else None
            listed = [r for r in reservations or [] if isinstance(r, dict)]
            found += parse_outages(system, listed, parse_system(systems[system]))
        if start is not None or end is not None:
            low = start or datetime.min.replace(tzinfo=UTC)
            high = end or datetime.max.replace(tzinfo=UTC)
            found = [o for o in found if o.overlaps(low, high)]
        return found
