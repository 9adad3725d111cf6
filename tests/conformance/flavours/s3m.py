"""OLCF S3M through the emulator (raw static token, v0.0.43 job routes, no file operations).

The flavour makes the emulated Slurm minute last ten seconds, so its jobs get a sixth of their
duration in real time.
"""

from __future__ import annotations

from typing import Any

import httpx

from facility_common.backends.base import Capability

from ..flavour import Flavour

#: Real seconds of one Slurm minute of the emulated S3M jobs: keeps the one-minute TIMEOUT case
#: short while every other contract job (one-minute limits too) has ample time.
MINUTE_SECONDS = 10.0


def s3m_flavour(server: Any) -> Flavour:
    credentials = server.flavour_credentials("s3m")
    # The emulator's own admin knob on loopback (its certificate, when serving TLS, is a test CA's).
    answer = httpx.put(f"{server.url}/_emulator/s3m", json={"minute_seconds": MINUTE_SECONDS}, verify=False)
    answer.raise_for_status()
    return Flavour(
        facility="s3m",
        base_url=server.api_url("s3m", "root"),
        auth=credentials["token"],
        compute="polaris",
        compute_id="polaris",
        scratch=credentials["home"],
        options={"directory": credentials["home"], "local_output": True},
        capabilities=frozenset(
            {
                Capability.STATUS,
                Capability.OUTAGES,
                Capability.JOBS,
                Capability.JOB_OUTPUT,
                Capability.IDENTITY,
            }
        ),
        walltime_seconds=60,
    )


FLAVOURS = {"s3m": s3m_flavour}
