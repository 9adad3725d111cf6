"""FirecREST v2 through the emulator, on the Slurm system ``daint``."""

from __future__ import annotations

from typing import Any

from facility_common.backends.base import Capability

from ..flavour import Flavour


def firecrest_flavour(server: Any) -> Flavour:
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
        capabilities=Capability.ALL - {Capability.ALLOCATIONS},
    )


FLAVOURS = {"firecrest": firecrest_flavour}
