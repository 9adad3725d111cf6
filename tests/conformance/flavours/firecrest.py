"""FirecREST v2 through the emulator, on the Slurm system ``daint``: as the spec says
(``FLAVOURS``) and as the FirecREST v2 server really answers (``REFERENCE_FLAVOURS``, run by the
contract suite and the fault matrix on an emulator with ``fidelity firecrest=reference``)."""

from __future__ import annotations

import functools
from typing import Any

from facility_common.backends.base import Capability

from ..flavour import Flavour

REFERENCE = "firecrest=reference"


def firecrest_flavour(server: Any, fidelity: str = "spec") -> Flavour:
    credentials = server.credentials
    return Flavour(
        facility="firecrest",
        base_url=server.api_url("firecrest"),
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        compute="daint",
        compute_id="daint",
        scratch=credentials["home"],
        options={"account": "demo"},
        fidelity=fidelity,
        capabilities=Capability.ALL - {Capability.ALLOCATIONS},
    )


FLAVOURS = {"firecrest": firecrest_flavour}
REFERENCE_FLAVOURS = {"firecrest-reference": functools.partial(firecrest_flavour, fidelity=REFERENCE)}
