"""slurmrestd (v0.0.38, Debian's Slurm 22.05) on the real local Slurm of scripts/slurm-local.sh.

Skipped with the reason when that Slurm is not running (its settings file is absent). Slurm time
limits are whole minutes, so the TIMEOUT test uses a one-minute walltime.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from facility_common.backends.base import Capability

from ..flavour import Flavour

ENV_FILE = Path(os.environ.get("SLURM_LOCAL_ENV", "/tmp/slurm-local/env"))


def _answers(url: str) -> bool:
    """Whether something listens at ``url``'s host and port (a settings file can outlive a reboot)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=2):
            return True
    except OSError:
        return False


def slurm_settings() -> dict[str, str] | None:
    """The settings scripts/slurm-local.sh wrote, or None when local Slurm is not running."""
    if not ENV_FILE.is_file():
        return None
    settings = {}
    for line in ENV_FILE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip()
    if not _answers(settings.get("SLURMREST_URL", "")):
        return None
    return settings


def slurmrest_flavour(server: Any) -> Flavour:
    settings = slurm_settings()
    if settings is None:
        pytest.skip(f"local Slurm is not running ({ENV_FILE} is absent; run scripts/slurm-local.sh start)")
    scratch = Path(settings.get("SLURM_LOCAL_DIR", "/tmp/slurm-local")) / "work"
    scratch.mkdir(parents=True, exist_ok=True)
    return Flavour(
        facility="slurmrest",
        base_url=settings["SLURMREST_URL"],
        auth={"type": "token", "token": settings["SLURM_JWT"]},
        compute=settings.get("SLURM_PARTITION", "debug"),
        compute_id=settings.get("SLURM_PARTITION", "debug"),
        scratch=str(scratch),
        options={"user_name": settings["SLURM_USER"], "directory": str(scratch), "local_output": True},
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


FLAVOURS = {"slurmrest": slurmrest_flavour}
