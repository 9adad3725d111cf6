"""The Flux RESTful API through the emulator, authenticated by the shared-secret handshake."""

from __future__ import annotations

from typing import Any

from facility_common.backends.base import Capability

from ..flavour import Flavour


def flux_flavour(server: Any) -> Flavour:
    credentials = server.flavour_credentials("flux")
    return Flavour(
        facility="flux",
        base_url=server.api_url("flux"),
        auth=None,
        compute="flux",
        compute_id="flux",
        scratch=server.credentials["home"],
        options={
            "user": credentials["user"],
            "token": credentials["token"],
            "secret_key": credentials["secret_key"],
            # The contract's specs name the queue "debug" and the account "demo": accept them as
            # this instance's own.
            "queue": "debug",
            "account": "demo",
        },
        capabilities=frozenset({Capability.STATUS, Capability.JOBS, Capability.JOB_OUTPUT}),
        walltime_seconds=1,
    )


FLAVOURS = {"flux": flux_flavour}
