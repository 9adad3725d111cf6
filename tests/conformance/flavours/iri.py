"""IRI Facility API v1 and v2 through the emulator, as the spec says (``FLAVOURS``) and as the IRI
reference server really answers (``REFERENCE_FLAVOURS``, run by the contract suite and the fault
matrix on an emulator with ``fidelity iri=reference``)."""

from __future__ import annotations

import functools
from typing import Any

from facility_common.backends.base import Capability

from ...conftest import resource_id
from ..flavour import Flavour

REFERENCE = "iri=reference"

#: What the reference server cannot give back: it reports no job_spec, so neither the output
#: paths of a job nor the submit tags in its environment can be read.
_HIDDEN_BY_THE_REFERENCE_SERVER = frozenset({Capability.JOB_OUTPUT, Capability.TAGS})


def iri_flavour(server: Any, version: str, fidelity: str = "spec") -> Flavour:
    credentials = server.credentials
    options: dict[str, Any] = {"task_poll_interval": 0.02}
    if version == "v2":
        options["project"] = "demo"
    capabilities = (
        Capability.ALL - _HIDDEN_BY_THE_REFERENCE_SERVER if fidelity == REFERENCE else Capability.ALL
    )
    if version == "v1":
        capabilities -= {Capability.IDENTITY}  # v1 has projects but no whoami
    return Flavour(
        facility="iri",
        base_url=server.iri_url(version),
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        compute="polaris",
        compute_id=resource_id(server, "polaris"),
        scratch=credentials["home"],
        options=options,
        capabilities=capabilities,
        fidelity=fidelity,
    )


FLAVOURS = {
    "iri-v1": functools.partial(iri_flavour, version="v1"),
    "iri-v2": functools.partial(iri_flavour, version="v2"),
}
REFERENCE_FLAVOURS = {
    "iri-v1-reference": functools.partial(iri_flavour, version="v1", fidelity=REFERENCE),
    "iri-v2-reference": functools.partial(iri_flavour, version="v2", fidelity=REFERENCE),
}
