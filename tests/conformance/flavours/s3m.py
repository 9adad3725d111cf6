"""OLCF S3M through the emulator (raw static token, v0.0.43 job routes, no file operations)."""

from __future__ import annotations

from typing import Any

from facility_common.backends.base import Capability

from ..flavour import Flavour


def s3m_flavour(server: Any) -> Flavour:
    credentials = server.flavour_credentials("s3m")
    return Flavour(
        facility="s3m",
        base_url=server.api_url("s3m", "root"),
        auth=credentials["token"],
        compute="polaris",
        compute_id="polaris",
        scratch=credentials["home"],
        options={"directory": credentials["home"], "local_output": True},
        capabilities=frozenset(
            {Capability.STATUS, Capability.OUTAGES, Capability.JOBS, Capability.JOB_OUTPUT}
        ),
        walltime_seconds=60,
    )


FLAVOURS = {"s3m": s3m_flavour}
