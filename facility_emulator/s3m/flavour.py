"""The OLCF S3M flavour: status, token control, slurmrestd v0.0.43 job routes and streaming
clusters (real Redis and RabbitMQ servers, see :mod:`.streaming`).

``GET|PUT /_emulator/s3m`` ``{"minute_seconds": S}`` sets how long a Slurm minute of its jobs
lasts, as for the slurmrestd flavour. Clients reach it at the emulator's root (S3M's gateway host); ``prefixes`` name the status
service, the current job path form and the older ``/olcf/v1`` one. The flavour's credentials hold
its one static token (sent raw in ``Authorization``), the enclave and the user's home.
"""

from __future__ import annotations

import secrets
from typing import Any

from facility_emulator.flavours import Flavour
from facility_emulator.s3m.clusters import ClusterManager
from facility_emulator.s3m.common import ENCLAVE, S3MToken
from facility_emulator.s3m.slurm import slurm_routes
from facility_emulator.s3m.status import status_routes
from facility_emulator.s3m.streaming import streaming_routes
from facility_emulator.slurmrestd.common import SlurmClock
from facility_emulator.slurmrestd.flavour import clock_route
from facility_emulator.state import EmulatorState

PROJECT = "demo"


def build(state: EmulatorState) -> Flavour:
    token = S3MToken(secrets.token_urlsafe(32), PROJECT, state.config.token_lifetime)
    clock = SlurmClock()
    clusters = ClusterManager(state.sandbox.root)
    state.shutdown_hooks.append(clusters.shutdown)

    def credentials(root_url: str) -> dict[str, Any]:
        return {
            "token": token.value,
            "enclave": ENCLAVE,
            "project": PROJECT,
            "home": str(state.sandbox.home),
            "resources": [r.name for r in state.facility.resource_list() if r.resource_type == "compute"],
        }

    return Flavour(
        name="s3m",
        routes=[
            *status_routes(state, token),
            *slurm_routes(state, token, clock),
            clock_route(clock, "/_emulator/s3m"),
            *streaming_routes(clusters, token),
        ],
        prefixes={
            "root": "",
            "status": "/olcf/v1alpha/status",
            "slurm": f"/slurm/{ENCLAVE}/v0.0.43",
            "streaming": f"/olcf/{ENCLAVE}/v1alpha/streaming",
        },
        credentials=credentials,
    )
