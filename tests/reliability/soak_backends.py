"""The backends of the soak and how each side reaches them through one emulator.

Parsl gets a :class:`parsl_facility.FacilityProvider` per backend and Airflow an
``AIRFLOW_CONN_*`` connection per backend, both built from the conformance flavours
(tests/conformance/flavours), so the soak talks to each API exactly as the contract tests do.
"""

from __future__ import annotations

import json
from typing import Any

from facility_emulator import EmulatorServer
from parsl_facility import FacilityProvider

from ..conformance.flavour import Flavour
from ..conformance.flavours import firecrest, flux, iri, s3m, sfapi, slurmrest_emulated

FLAVOURS = {
    **iri.FLAVOURS,
    **sfapi.FLAVOURS,
    **firecrest.FLAVOURS,
    **flux.FLAVOURS,
    **s3m.FLAVOURS,
    **slurmrest_emulated.FLAVOURS,
}
BACKENDS: tuple[str, ...] = tuple(FLAVOURS)
"""Every API the emulator serves: iri-v1, iri-v2, sfapi, firecrest, flux, s3m, slurmrest-emulated."""

API_ROUTES: dict[str, str] = {
    "iri": "/iri/*",
    "sfapi": "/sfapi/api/*",
    "firecrest": "/firecrest/*",
    "flux": "/flux/v1/jobs*",
    "s3m": "/slurm/*",
    "slurmrest": "/slurmrestd/*",
}
"""The API routes of each flavour, as fault-rule path globs, without the token endpoints
(``/auth/token``, ``/sfapi/oidc/token``, ``/flux/v1/token``)."""

SUBMIT_ROUTES: dict[str, str] = {
    "iri": "POST /iri/api/*/compute/job/*",
    "sfapi": "POST /sfapi/api/*/compute/jobs/*",
    "firecrest": "POST /firecrest/compute/*/jobs",
    "flux": "POST /flux/v1/jobs/submit",
    "s3m": "POST /slurm/*/job/submit",
    "slurmrest": "POST /slurmrestd/slurm/*/job/submit",
}
"""The submit route of each API, as fault-rule route globs."""

WALLTIME_SECONDS = 120
"""Walltime of every soak job: far above what any of them needs, so none times out."""


def flavour(server: EmulatorServer, backend: str) -> Flavour:
    """The conformance flavour of ``backend`` pointed at ``server``."""
    return FLAVOURS[backend](server)


def make_provider(server: EmulatorServer, backend: str, **options: Any) -> FacilityProvider:
    """A provider for ``backend``, polled often (the soak's jobs take well under a second)."""
    found = flavour(server, backend)
    settings: dict[str, Any] = {
        "facility": found.facility,
        "base_url": found.base_url,
        "resource": found.compute,
        "auth": found.auth,
        "client_options": found.options,
        "walltime": WALLTIME_SECONDS,
        "status_polling_interval": 1,
        "cmd_timeout": 30,
    }
    settings.update(options)
    return FacilityProvider(**settings)


def conn_id(backend: str) -> str:
    """The Airflow connection id of ``backend``."""
    return "soak_" + backend.replace("-", "_")


def connection(server: EmulatorServer, backend: str) -> dict[str, Any]:
    """The Airflow connection of ``backend`` (JSON form of ``AIRFLOW_CONN_*``)."""
    found = flavour(server, backend)
    extra: dict[str, Any] = {"backend_options": json.loads(json.dumps(found.options))}
    value: dict[str, Any] = {"conn_type": f"facility_{found.facility}", "host": found.base_url}
    if isinstance(found.auth, str):
        value["password"] = found.auth
    elif found.auth is not None:
        extra["auth"] = found.auth
    value["extra"] = extra
    return value


def connection_env(server: EmulatorServer) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for every backend."""
    return {
        f"AIRFLOW_CONN_{conn_id(backend).upper()}": json.dumps(connection(server, backend))
        for backend in BACKENDS
    }


def resource(server: EmulatorServer, backend: str) -> str:
    """The compute resource the soak runs ``backend``'s jobs on."""
    return flavour(server, backend).compute
