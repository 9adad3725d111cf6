"""The backends, one descriptor each: the single place that names them.

A :class:`BackendDescriptor` says everything the rest of the pack needs to know about an API
without importing its backend: its registry name and label, the Airflow connection type and hook
class, the auth types it accepts, its capabilities, its typed options, the emulator flavour that
serves it and its documentation page. The Airflow connection types, hooks and form fields, the
``facility`` command, the README's table and the tests' per-backend facts are all derived from
these descriptors, so adding an API is its package under ``backends/``, one entry in
:data:`BUILTIN_DESCRIPTORS` and its emulator flavour.

Backends are imported lazily (by dotted path), so importing :mod:`facility_common` costs nothing
for the APIs a user does not touch. Third-party packages add backends through the entry-point
group ``facility_common.backends``: the entry point names a :class:`BackendDescriptor` object (or,
for a minimal backend, the backend class itself).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
from typing import Any, ClassVar

from .errors import ConfigurationError

# The registry is a leaf of the import graph: backends and options import it, so it names their
# classes only as loaded objects (``type[Any]``), never by import.
FacilityBackend = Any
BackendOptions = Any

__all__ = [
    "BUILTIN_DESCRIPTORS",
    "ENTRY_POINT_GROUP",
    "BackendDescriptor",
    "Capability",
    "available_backends",
    "descriptor_for_conn_type",
    "descriptors",
    "forget_installed_backends",
    "get_backend_class",
    "get_descriptor",
    "register_backend",
]

ENTRY_POINT_GROUP = "facility_common.backends"


class Capability:
    """Names of the capability groups a backend declares."""

    STATUS = "status"
    """Resources and their state."""
    OUTAGES = "outages"
    """Planned and current outages."""
    JOBS = "jobs"
    """Submit, get, list, cancel."""
    JOB_OUTPUT = "job_output"
    """A job's stdout/stderr."""
    FILES = "files"
    """Remote file operations (ls, stat, mkdir, rm, mv, cp, chmod, view...)."""
    TRANSFER = "transfer"
    """Large uploads and downloads through a staged path (S3, Globus)."""
    TAGS = "tags"
    """``find_job_by_tag`` for jobs submitted by another client (a retried task)."""
    IDENTITY = "identity"
    """``whoami`` and ``projects``: whom the credentials stand for and what they may charge."""
    ALLOCATIONS = "allocations"
    """``allocations``: each project's grant and what its jobs have used."""

    ALL: ClassVar[frozenset[str]] = frozenset(
        {STATUS, OUTAGES, JOBS, JOB_OUTPUT, FILES, TRANSFER, TAGS, IDENTITY, ALLOCATIONS}
    )


@dataclasses.dataclass(frozen=True)
class BackendDescriptor:
    """Everything the pack knows about one API before importing its backend.

    ``backend`` and ``options`` are ``"module:attribute"`` paths. ``auth_types`` are the names of
    the auth types a connection of this API may use (see :mod:`facility_common.auth`), the first
    being the default; ``auth_module``, when set, is a module that defines auth types of this API's
    own (imported when one of them is used). ``emulator_flavour`` names the emulator flavour that
    serves the API (None for none). ``takes_script`` says whether the API runs a whole batch
    script (``JobSpec.script``); the others run an executable with arguments.
    ``unsupported_hint`` says what the API offers instead of an operation it lacks;
    ``identity_hint`` says it for ``whoami``, ``projects`` and ``allocations``.
    """

    name: str
    label: str
    backend: str
    options: str = "facility_common.options:BackendOptions"
    conn_type: str = ""
    hook_class: str = ""
    takes_script: bool = False
    auth_types: tuple[str, ...] = ("token",)
    auth_module: str | None = None
    capabilities: frozenset[str] = frozenset()
    emulator_flavour: str | None = None
    where: str = ""
    docs: str | None = None
    url_placeholder: str = "https://api.example.org"
    unsupported_hint: str = ""
    identity_hint: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.capabilities) - Capability.ALL)
        if unknown:
            raise ValueError(f"backend {self.name!r}: unknown capabilities {unknown}")
        if not self.auth_types:
            raise ValueError(f"backend {self.name!r}: at least one auth type is required")

    @property
    def default_auth_type(self) -> str:
        """The auth type connection forms preselect; a connection that names none uses
        :func:`facility_common.options.unnamed_auth_type`."""
        return self.auth_types[0]

    def backend_class(self) -> type[FacilityBackend]:
        """The backend class, imported on first use."""
        loaded: type[FacilityBackend] = _load(self.backend, self.name)
        return loaded

    def options_class(self) -> type[BackendOptions]:
        """The typed options of this API, imported on first use."""
        loaded: type[BackendOptions] = _load(self.options, self.name)
        return loaded


_STATUS_AND_JOBS = frozenset({Capability.STATUS, Capability.OUTAGES, Capability.JOBS, Capability.JOB_OUTPUT})
_GLOBUS_AND_OIDC = (
    "globus_refresh_token",
    "globus_confidential",
    "oidc_client_credentials",
    "token",
    "token_file",
)

# Keep sorted by name.
BUILTIN_DESCRIPTORS: tuple[BackendDescriptor, ...] = (
    BackendDescriptor(
        name="firecrest",
        label="FirecREST v2",
        backend="facility_common.backends.firecrest:FirecrestBackend",
        options="facility_common.backends.firecrest.options:FirecrestOptions",
        conn_type="facility_firecrest",
        hook_class="FirecrestHook",
        takes_script=True,
        auth_types=("oidc_client_credentials", "token", "token_file"),
        capabilities=Capability.ALL - {Capability.ALLOCATIONS},
        emulator_flavour="firecrest",
        where="CSCS Alps and other FirecREST sites",
        docs="docs/facility-cscs-firecrest.md",
        url_placeholder="https://api.cscs.ch/hpc/firecrest/v2",
        identity_hint=(
            "FirecREST tells the user, groups and accounts (whoami(), projects()) but not the "
            "accounts' usage: read it in the site's accounting portal or with sacct/sshare on a login node."
        ),
    ),
    BackendDescriptor(
        name="flux",
        label="Flux RESTful API",
        backend="facility_common.backends.flux:FluxBackend",
        options="facility_common.backends.flux.options:FluxOptions",
        conn_type="facility_flux",
        hook_class="FluxHook",
        takes_script=True,
        auth_types=("flux_shared_secret", "flux_password", "basic", "token"),
        auth_module="facility_common.backends.flux.auth",
        capabilities=frozenset({Capability.STATUS, Capability.JOBS, Capability.JOB_OUTPUT}),
        emulator_flavour="flux",
        where="Flux Operator clusters, LLNL",
        docs="docs/facility-flux.md",
        url_placeholder="https://flux.example.org",
        unsupported_hint=(
            "It offers job submit, status, cancel and output on one Flux instance; move files with "
            "scp/rsync, Globus or a file API of the facility (FirecREST, IRI), and read job output "
            "with job_output."
        ),
        identity_hint=(
            "A Flux instance knows only the Unix user that runs it, and no projects or allocations: "
            "ask the site's accounting (sacct/sshare on a Slurm login node, the facility's portal) "
            "or another API of the facility."
        ),
    ),
    BackendDescriptor(
        name="iri",
        label="IRI Facility API",
        backend="facility_common.backends.iri:IRIBackend",
        options="facility_common.backends.iri.options:IRIOptions",
        conn_type="facility_iri",
        hook_class="IRIHook",
        auth_types=_GLOBUS_AND_OIDC,
        capabilities=_STATUS_AND_JOBS
        | {Capability.FILES, Capability.TAGS, Capability.IDENTITY, Capability.ALLOCATIONS},
        emulator_flavour="iri",
        where="ALCF, NERSC, OLCF",
        docs="docs/facility-alcf-iri.md",
        url_placeholder="https://api.alcf.anl.gov/api/v1",
        unsupported_hint=(
            "It offers status, compute jobs and small (<= 5 MiB) file operations; use Globus for transfers."
        ),
    ),
    BackendDescriptor(
        name="s3m",
        label="OLCF S3M API",
        backend="facility_common.backends.s3m:S3MBackend",
        options="facility_common.backends.slurmrest.options:S3MOptions",
        conn_type="facility_s3m",
        hook_class="S3MHook",
        takes_script=True,
        auth_types=("token", "token_file"),
        capabilities=_STATUS_AND_JOBS | {Capability.TAGS, Capability.IDENTITY},
        emulator_flavour="s3m",
        where="OLCF",
        docs="docs/facility-olcf-s3m.md",
        url_placeholder="https://s3m.olcf.ornl.gov",
        unsupported_hint="S3M has no REST file operations; move data with S3M Storage (`s3m storage push/pull`).",
        identity_hint=(
            "S3M tells the token's user, project and expiry (whoami(), projects()) but not the "
            "project's usage: myOLCF shows its allocation."
        ),
    ),
    BackendDescriptor(
        name="sfapi",
        label="NERSC Superfacility API",
        backend="facility_common.backends.sfapi:SFAPIBackend",
        options="facility_common.backends.sfapi.options:SFAPIOptions",
        conn_type="facility_sfapi",
        hook_class="SuperfacilityHook",
        takes_script=True,
        auth_types=("private_key_jwt", "token", "token_file"),
        capabilities=_STATUS_AND_JOBS | {Capability.TAGS, Capability.IDENTITY, Capability.ALLOCATIONS},
        emulator_flavour="sfapi",
        where="NERSC Perlmutter",
        docs="docs/facility-nersc-sfapi.md",
        url_placeholder="https://api.nersc.gov/api/v1.2",
        unsupported_hint=(
            "It offers ls, small (<= 5 MiB) upload/download and `command` (run a shell command on the "
            "machine, e.g. SFAPIBackend.command(resource, 'mkdir -p /path')); move larger data with Globus."
        ),
    ),
    BackendDescriptor(
        name="slurmrest",
        label="Slurm REST API (slurmrestd)",
        backend="facility_common.backends.slurmrest:SlurmRestBackend",
        options="facility_common.backends.slurmrest.options:SlurmRestOptions",
        conn_type="facility_slurmrest",
        hook_class="SlurmRestHook",
        takes_script=True,
        auth_types=("token", "token_file"),
        capabilities=_STATUS_AND_JOBS | {Capability.TAGS, Capability.IDENTITY, Capability.ALLOCATIONS},
        emulator_flavour="slurmrestd",
        where="any Slurm cluster",
        docs="docs/facility-slurmrest.md",
        url_placeholder="https://slurmrestd.example.org",
        unsupported_hint="slurmrestd only schedules jobs; move files with the cluster's own tools (scp, Globus).",
    ),
)
assert [d.name for d in BUILTIN_DESCRIPTORS] == sorted(d.name for d in BUILTIN_DESCRIPTORS)

_registered: dict[str, BackendDescriptor] = {}


def _load(path: str, name: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"the {name!r} backend could not be imported ({exc}); "
            "install hpc-facility-providers with the extras it needs",
            facility=name,
        ) from exc
    return getattr(module, attribute)


def _from_class(name: str, target: str | type[FacilityBackend]) -> BackendDescriptor:
    """A minimal descriptor for a backend given only as a class or ``"module:Class"``."""
    if isinstance(target, str):
        return BackendDescriptor(name=name, label=name, backend=target)
    path = f"{target.__module__}:{target.__qualname__}"
    descriptor = BackendDescriptor(
        name=name,
        label=getattr(target, "facility_label", "") or name,
        backend=path,
        capabilities=frozenset(getattr(target, "capabilities", frozenset())),
    )
    _classes[name] = target
    return descriptor


_classes: dict[str, type[FacilityBackend]] = {}


def register_backend(name: str, target: BackendDescriptor | str | type[FacilityBackend]) -> None:
    """Register a backend at run time: a descriptor, a class or a ``"module:Class"`` path."""
    if isinstance(target, BackendDescriptor):
        _registered[name] = dataclasses.replace(target, name=name)
    else:
        _registered[name] = _from_class(name, target)


@functools.cache
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The installed backends' entry points, read once per process: scanning the installed
    distributions costs milliseconds, and every connection parsed (each Airflow trigger's start,
    each hook) asks for the available backends. A package installed while the process runs is
    seen after :func:`forget_installed_backends`."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def forget_installed_backends() -> None:
    """Read the installed backends' entry points again at the next look-up."""
    _entry_points.cache_clear()


def _from_entry_point(entry_point: importlib.metadata.EntryPoint) -> BackendDescriptor:
    if ":" not in entry_point.value:
        raise ConfigurationError(
            f"entry point {entry_point.name!r}: {entry_point.value!r} is not 'module:attribute'",
            facility=entry_point.name,
        )
    loaded = _load(entry_point.value, entry_point.name)
    if isinstance(loaded, BackendDescriptor):
        return dataclasses.replace(loaded, name=entry_point.name)
    return _from_class(entry_point.name, loaded)


_BUILTIN_BY_NAME = {descriptor.name: descriptor for descriptor in BUILTIN_DESCRIPTORS}


def available_backends() -> list[str]:
    """Every backend name that :func:`get_descriptor` accepts, sorted."""
    return sorted({*_BUILTIN_BY_NAME, *_entry_points(), *_registered})


def get_descriptor(name: str) -> BackendDescriptor:
    """The descriptor of the backend registered as ``name``."""
    descriptor = _registered.get(name) or _BUILTIN_BY_NAME.get(name)
    if descriptor is not None:
        return descriptor
    entry_point = _entry_points().get(name)
    if entry_point is None:
        raise ConfigurationError(
            f"api: unknown facility API {name!r}; available: {', '.join(available_backends())}",
            facility=name,
        )
    return _from_entry_point(entry_point)


def descriptors() -> list[BackendDescriptor]:
    """The descriptors of every available backend, sorted by name (entry points loaded)."""
    return [get_descriptor(name) for name in available_backends()]


def descriptor_for_conn_type(conn_type: str | None) -> BackendDescriptor | None:
    """The built-in or registered backend whose Airflow connection type is ``conn_type``."""
    for descriptor in (*BUILTIN_DESCRIPTORS, *_registered.values()):
        if conn_type and descriptor.conn_type == conn_type:
            return descriptor
    return None


def get_backend_class(name: str) -> type[FacilityBackend]:
    """The backend class registered as ``name``, imported on first use."""
    if name in _classes and name in _registered:
        return _classes[name]
    return get_descriptor(name).backend_class()
