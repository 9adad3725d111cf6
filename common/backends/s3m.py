"""Backend for OLCF's S3M (Secure Scientific Service Mesh): Slurm REST v0.0.43/v0.0.44 behind a
gateway with its own status and token services.

``base_url`` is the gateway's root (``https://s3m.olcf.ornl.gov``). Job calls go to
``path_template`` (default ``slurm/{enclave}/{version}/{resource}``, OLCF's current form; older
documents write ``olcf/v1/slurm/{enclave}/{version}/{resource}``) and are those of
:class:`~.slurmrest.SlurmRestBackend`; here a resource is a **cluster** (``defiant``, ``odo``) and
the partition comes from ``attributes.queue_name`` or the ``partition`` option. Its options,
:class:`S3MOptions`, live beside slurmrestd's in :mod:`.slurmrest.options`.

What S3M changes:

* **Auth**: the token is sent raw in ``Authorization`` (no ``Bearer``), as S3M's documents do. S3M
  tokens carry no ``exp``; :meth:`S3MBackend.token_expiry` asks the token service
  (``GET olcf/v1/token/ctls/introspect``) for its ``plannedExpiration``, and ``whoami`` and
  ``projects`` read the token's user and project there (:mod:`.s3m_identity`).
* **Job fields**: the gateway accepts only its ``JobDescription`` subset of Slurm's job
  description; a spec that needs another field (GPUs, a custom attribute S3M lacks) is refused
  before any request, naming the field.
* **Status**: resources are ``GET olcf/v1alpha/status`` (``OPERATIONAL``/``UNAVAILABLE``); outages
  are the current and upcoming downtimes (planned when ``attributes.scheduled``).
* **Jobs**: a status round asks ``job/{id}`` per job, as for slurmrestd; S3M's ``job/{id}``
  answers in the accounting shape, so finished jobs stay known and there is no ``slurmdb`` route
  to fall back on.
* **Streaming**: RabbitMQ and Redis clusters on request (``streaming_backends``,
  ``create_streaming_cluster``...), from :mod:`.s3m_streaming`.
* **Token**: ``revoke_token`` revokes the token in use (``DELETE olcf/v1/token/ctls/revoke``).
* **Files**: S3M has no REST file operations; file calls raise UnsupportedOperation naming S3M
  Storage. ``job_output`` works only with ``local_output=True``, as for slurmrestd.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from ..auth import FacilityAuth, Secret
from ..errors import ConfigurationError, InvalidJobSpec, NotFoundError
from ..http import ApiRequest
from ..models import JobSpec, Outage, ResourceState, ResourceStatus
from ..options import BackendOptions
from ..url_paths import path_segment
from .s3m_identity import S3MIdentity
from .s3m_streaming import S3MStreaming
from .slurm_script import SbatchOption
from .slurmrest.backend import SlurmRestBackend
from .slurmrest.options import S3MOptions
from .slurmrest.status import filter_outages
from .slurmrest.versions import normalise_version

__all__ = ["S3M_JOB_FIELDS", "S3MBackend", "S3MOptions", "S3MTokenAuth"]

FACILITY = "s3m"
S3M_VERSIONS = frozenset({"v0.0.43", "v0.0.44"})
STATUS_PATH = "olcf/v1alpha/status"
INTROSPECT_PATH = "olcf/v1/token/ctls/introspect"
REVOKE_PATH = "olcf/v1/token/ctls/revoke"

S3M_JOB_FIELDS = frozenset(
    {
        "account", "begin_time", "comment", "environment", "licenses", "name", "tasks", "partition",
        "distribution_plane_size", "priority", "qos", "reservation", "script", "time_limit",
        "time_minimum", "wait_all_nodes", "current_working_directory", "cpus_per_task",
        "minimum_cpus", "maximum_cpus", "nodes", "minimum_nodes", "maximum_nodes",
        "minimum_boards_per_node", "minimum_sockets_per_board", "sockets_per_node",
        "threads_per_core", "tasks_per_node", "tasks_per_socket", "tasks_per_core",
        "tasks_per_board", "ntasks_per_tres", "minimum_cpus_per_node", "memory_per_cpu",
        "memory_per_node", "standard_input", "standard_output", "standard_error",
    }
)  # fmt: skip
"""The fields of S3M's ``JobSubmitReq.JobDescription`` (s3m-apis v0.3.5)."""

# Which JobSpec field produced a Slurm field the gateway refuses, for the error message.
_SPEC_FIELD_OF = {"tres_per_task": "resources.gpu_cores_per_process"}


class S3MTokenAuth(FacilityAuth):
    """Sends the token raw in ``Authorization``, as S3M expects (fresh once after a 401)."""

    def write(self, request: httpx.Request, token: Secret) -> None:
        request.headers["Authorization"] = token.get_secret_value()

    def __repr__(self) -> str:
        return f"S3MTokenAuth({self.source!r})"


def _build_status() -> ApiRequest:
    """:calls: GET olcf/v1alpha/status"""
    return ApiRequest("GET", STATUS_PATH)


def _build_downtimes(upcoming: bool) -> ApiRequest:
    """:calls: GET olcf/v1alpha/status/downtimes | GET olcf/v1alpha/status/downtimes/upcoming"""
    return ApiRequest("GET", f"{STATUS_PATH}/downtimes" + ("/upcoming" if upcoming else ""))


def _build_introspect() -> ApiRequest:
    """:calls: GET olcf/v1/token/ctls/introspect"""
    return ApiRequest("GET", INTROSPECT_PATH)


def _build_revoke() -> ApiRequest:
    """:calls: DELETE olcf/v1/token/ctls/revoke"""
    return ApiRequest("DELETE", REVOKE_PATH)


def _field(data: Mapping[str, Any], camel: str, snake: str) -> Any:
    """The gateway's JSON uses camelCase; gRPC-derived clients snake_case: accept both."""
    return data.get(camel, data.get(snake))


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _parse_status(data: Any) -> list[ResourceStatus]:
    """``GET olcf/v1alpha/status`` as resources (id and name are the resource's name)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("resources"), list):
        raise ValueError("expected an object with a 'resources' list")
    resources = []
    for item in data["resources"]:
        name = str(item.get("name") or "")
        if not name:
            raise ValueError("a resource without a name")
        native = str(item.get("status") or "")
        state = {"OPERATIONAL": ResourceState.UP, "UNAVAILABLE": ResourceState.DOWN}.get(
            native.upper(), ResourceState.UNKNOWN
        )
        resources.append(
            ResourceStatus(
                id=name,
                name=name,
                state=state,
                resource_type=_field(item, "systemType", "system_type") or "compute",
                description=item.get("description"),
                group=_field(item, "securityEnclave", "security_enclave"),
                updated_at=_when(_field(item, "retrievedAt", "retrieved_at")),
                native_state=native or None,
                raw=dict(item),
            )
        )
    return resources


def _parse_downtimes(data: Any) -> list[Outage]:
    """``{"downtimes": [...]}`` as outages, planned when ``attributes.scheduled``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("downtimes", []), list):
        raise ValueError("expected an object with a 'downtimes' list")
    outages = []
    for item in data.get("downtimes") or []:
        resource = str(_field(item, "resourceName", "resource_name") or "")
        start = _when(item.get("start"))
        end = _when(item.get("end"))
        attributes = item.get("attributes") or {}
        outage_id = f"{resource}@{start.isoformat() if start else '?'}"
        outages.append(
            Outage(
                id=outage_id,
                name=f"{resource} downtime",
                start=start,
                end=end,
                planned=bool(attributes.get("scheduled", True)),
                status="down" if str(item.get("status", "")).upper() == "UNAVAILABLE" else item.get("status"),
                description=item.get("description"),
                resources=(resource,) if resource else (),
                raw=dict(item),
            )
        )
    return outages


def _parse_introspect(data: Any) -> dict[str, Any]:
    """The ``token`` object of an introspection, with ``plannedExpiration`` as a datetime under
    ``planned_expiration``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("token"), Mapping):
        raise ValueError("expected an object with a 'token' object")
    token = dict(data["token"])
    token["planned_expiration"] = _when(_field(token, "plannedExpiration", "planned_expiration"))
    return token


def _refuse_fields(job: Mapping[str, Any]) -> None:
    refused = sorted(set(job) - S3M_JOB_FIELDS)
    if not refused:
        return
    named = [_SPEC_FIELD_OF.get(f, f"attributes.custom_attributes[{f!r}]") for f in refused]
    raise InvalidJobSpec(
        f"{named[0]}: S3M does not accept the Slurm job field(s) {', '.join(refused)}; it accepts only "
        f"{', '.join(sorted(S3M_JOB_FIELDS))}",
        field=named[0],
        facility=FACILITY,
    )


class S3MBackend(S3MIdentity, S3MStreaming, SlurmRestBackend):
    """OLCF S3M: Slurm REST v0.0.43/v0.0.44 per cluster, status downtimes, token introspection
    and revocation, the token's identity (:class:`~.s3m_identity.S3MIdentity`), streaming clusters
    (:class:`~.s3m_streaming.S3MStreaming`)."""

    name: ClassVar[str] = "s3m"
    Options: ClassVar[type[BackendOptions]] = S3MOptions
    options: S3MOptions

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        options: S3MOptions | None = None,
        **values: Any,
    ) -> None:
        opts: S3MOptions = self.typed_options(options, values)
        version = normalise_version(opts.api_version or "", facility=FACILITY)
        if version not in S3M_VERSIONS:
            raise ConfigurationError(
                f"api_version: S3M serves v0.0.43 and v0.0.44, not {opts.api_version!r}", facility=FACILITY
            )
        for key in ("{resource}", "{version}"):
            if key not in opts.path_template:
                raise ConfigurationError(f"path_template: must contain {key}", facility=FACILITY)
        self.enclave = opts.enclave
        self.path_template = opts.path_template.strip("/")
        try:
            opts.streaming_path.format(enclave=opts.enclave)
        except (KeyError, IndexError, ValueError):
            raise ConfigurationError(
                "streaming_path: only {enclave} may be filled in", facility=FACILITY
            ) from None
        self.streaming_path = opts.streaming_path.strip("/")
        super().__init__(base_url=base_url, auth=auth, options=opts.with_values(api_version=version))

    def _wrap_auth(self, auth: httpx.Auth | None) -> httpx.Auth | None:
        if isinstance(auth, FacilityAuth):
            return S3MTokenAuth(auth.source, facility=FACILITY)
        return auth

    def describe(self) -> dict[str, Any]:
        facts = super().describe()
        facts.update({"enclave": self.enclave, "path_template": self.path_template})
        facts.pop("socket", None)
        facts.pop("user_name", None)
        return facts

    def _prefix(self, version: str, resource: str | None) -> str:
        """``path_template`` filled in, the cluster and the enclave each written as one segment."""
        if not resource:
            raise ConfigurationError("S3M calls need a resource (cluster) name", facility=FACILITY)
        return self.path_template.format(
            enclave=path_segment(self.enclave, field="enclave", facility=FACILITY),
            version=version,
            resource=path_segment(resource, field="resource", facility=FACILITY),
        )

    def _accounting_prefix(self, version: str, resource: str | None) -> str | None:
        """None: S3M maps no accounting routes; its ``job/{id}`` answers from accounting itself."""
        return None

    def _partition_for(self, resource: str) -> str | None:
        return self.partition

    def _render(
        self, version: str, options: Sequence[SbatchOption], spec: JobSpec, tag: str
    ) -> dict[str, Any]:
        job = super()._render(version, options, spec, tag)
        _refuse_fields(job)
        return job

    # -- status ---------------------------------------------------------------------------------

    async def resources(self) -> list[ResourceStatus]:
        """S3M's resources and whether each is operational.

        :calls: GET olcf/v1alpha/status
        """
        data = await self._session.call(_build_status())
        try:
            return _parse_status(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET status", exc, None) from None

    async def resource(self, name_or_id: str) -> ResourceStatus:
        """One resource by name.

        :calls: GET olcf/v1alpha/status
        """
        for status in await self.resources():
            if name_or_id in (status.name, status.id):
                return status
        raise NotFoundError(f"S3M has no resource {name_or_id!r}", facility=FACILITY, resource=name_or_id)

    async def outages(
        self, resource: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[Outage]:
        """Current and upcoming downtimes overlapping ``start..end``, of ``resource`` or all.

        :calls: GET olcf/v1alpha/status/downtimes, GET olcf/v1alpha/status/downtimes/upcoming
        """
        found: dict[str, Outage] = {}
        for upcoming in (False, True):
            data = await self._session.call(_build_downtimes(upcoming), resource=resource)
            try:
                for outage in _parse_downtimes(data):
                    found.setdefault(outage.id, outage)
            except (KeyError, TypeError, ValueError) as exc:
                raise self._bad_answer("GET status/downtimes", exc, resource) from None
        return filter_outages(list(found.values()), resource, start, end)

    async def introspect(self) -> dict[str, Any]:
        """The token's details (``username``, ``project``, ``permissions``, ``plannedExpiration``,
        ``securityEnclave``...), with ``planned_expiration`` added as a datetime.

        :calls: GET olcf/v1/token/ctls/introspect
        """
        data = await self._session.call(_build_introspect())
        try:
            return _parse_introspect(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("GET token/ctls/introspect", exc, None) from None

    async def token_expiry(self) -> datetime | None:
        """When the token stops working (S3M tokens carry no ``exp``; the token service knows).

        :calls: GET olcf/v1/token/ctls/introspect
        """
        expiry: datetime | None = (await self.introspect())["planned_expiration"]
        return expiry

    async def revoke_token(self) -> None:
        """Revoke the token this client uses: S3M refuses it from then on (for every client).

        :calls: DELETE olcf/v1/token/ctls/revoke
        """
        await self._session.call(_build_revoke())
