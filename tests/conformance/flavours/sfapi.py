"""NERSC Superfacility API v1.2 through the emulator, authenticated with a private-key JWT.

The API itself offers ls, small upload/download and `command`; the backend's opt-in
``shell_file_operations`` runs the other file operations through `command` and `download`, which
is what lets this flavour claim the whole file contract. Without the option those operations raise
UnsupportedOperation (tests/unit/test_sfapi_backend.py).
"""

from __future__ import annotations

from typing import Any

from facility_common.backends.base import Capability

from ..flavour import Flavour


def sfapi_flavour(server: Any) -> Flavour:
    extra = server.flavour_credentials("sfapi")
    return Flavour(
        facility="sfapi",
        base_url=server.api_url("sfapi"),
        auth={
            "type": "private_key_jwt",
            "token_url": extra["token_url"],
            "client_id": extra["client_id"],
            "private_key": extra["private_key"],
        },
        compute="perlmutter",
        compute_id="perlmutter",
        scratch=server.credentials["home"],
        options={
            "task_poll_interval": 0.05,
            "submit_lookup_delays": (0.0, 0.2),
            "shell_file_operations": True,
        },
        capabilities=frozenset(
            {
                Capability.STATUS,
                Capability.OUTAGES,
                Capability.JOBS,
                Capability.JOB_OUTPUT,
                Capability.FILES,
                Capability.IDENTITY,
                Capability.ALLOCATIONS,
            }
        ),
        walltime_seconds=2,
    )


FLAVOURS = {"sfapi": sfapi_flavour}
