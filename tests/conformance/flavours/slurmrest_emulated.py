"""The slurmrest backend against the emulator's plain slurmrestd (data parser v0.0.43).

Slurm time limits are whole minutes, so the TIMEOUT test asks for one minute; the flavour makes
the emulated cluster's minute last ten seconds (``PUT /_emulator/slurmrestd``), which keeps that test
short and still leaves every other contract job (one-minute limits too) ample time to finish or
be cancelled. Jobs of this flavour therefore get a sixth of their duration in real time.
"""

from __future__ import annotations

from typing import Any

import httpx

from facility_common.backends.base import Capability

from ..flavour import Flavour

MINUTE_SECONDS = 10.0


def slurmrest_emulated_flavour(server: Any) -> Flavour:
    credentials = server.flavour_credentials("slurmrestd")
    answer = httpx.put(f"{server.url}/_emulator/slurmrestd", json={"minute_seconds": MINUTE_SECONDS})
    answer.raise_for_status()
    return Flavour(
        facility="slurmrest",
        base_url=server.api_url("slurmrestd", "root"),
        auth={"type": "token", "token": credentials["token"]},
        compute="polaris",
        compute_id="polaris",
        scratch=credentials["home"],
        options={
            "user_name": credentials["user_name"],
            "api_version": credentials["version"],
            "directory": credentials["home"],
            "local_output": True,
        },
        capabilities=frozenset(
            {
                Capability.STATUS,
                Capability.OUTAGES,
                Capability.JOBS,
                Capability.JOB_OUTPUT,
                Capability.IDENTITY,
                Capability.ALLOCATIONS,
            }
        ),
        walltime_seconds=60,
    )


FLAVOURS = {"slurmrest-emulated": slurmrest_emulated_flavour}
