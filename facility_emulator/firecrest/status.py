"""FirecREST ``/status`` routes: systems with their services' health, nodes, partitions,
reservations, user info and liveness.

Decisions where the spec is silent:

* A system is unhealthy (its ``scheduler`` and ``ssh`` services report ``healthy: false`` with a
  message) while a maintenance reservation of the site (:mod:`.site`) is under way or after it was
  set down there.
* Reservations carry epoch ``startTime``/``endTime``, ``state`` ``ACTIVE``/``INACTIVE`` and
  ``features`` ``maintenance`` for maintenance windows.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facility_emulator.facility import iso
from facility_emulator.firecrest.common import (
    PREFIX,
    SYSTEMS,
    SystemConfig,
    endpoint,
    json_response,
    system_of,
)
from facility_emulator.firecrest.site import site_of
from facility_emulator.firecrest.streamer import data_transfer_view
from facility_emulator.state import EmulatorState


class StatusRoutes:
    """The ``/status`` routes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        wrap = endpoint(self.state)
        p = f"{PREFIX}/status"
        return [
            Route(f"{p}/systems", wrap(self.systems), methods=["GET"]),
            Route(f"{p}/liveness/", endpoint(self.state, auth=False)(self.liveness), methods=["GET"]),
            Route(f"{p}/{{system_name}}/nodes", wrap(self.nodes), methods=["GET"]),
            Route(f"{p}/{{system_name}}/partitions", wrap(self.partitions), methods=["GET"]),
            Route(f"{p}/{{system_name}}/reservations", wrap(self.reservations), methods=["GET"]),
            Route(f"{p}/{{system_name}}/userinfo", wrap(self.userinfo), methods=["GET"]),
        ]

    # -- helpers -------------------------------------------------------------------------

    def health_problem(self, system: SystemConfig) -> str | None:
        """Why the system is unhealthy now, or None."""
        return site_of(self.state).health_problem(system.name)

    def system_view(self, system: SystemConfig) -> dict[str, object]:
        now = iso(datetime.now(UTC))
        problem = self.health_problem(system)
        healthy = problem is None
        home = str(self.state.sandbox.home.parent)
        scratch = str(self.state.sandbox.root)
        return {
            "name": system.name,
            "ssh": {"host": f"{system.name}.emulated.cscs.ch", "port": 22},
            "scheduler": {"type": system.scheduler, "version": "24.05.4", "connectionMode": "ssh"},
            "probing": {"intervalCheck": 120},
            "fileSystems": [
                {"path": home, "dataType": "users", "defaultWorkDir": True},
                {"path": scratch, "dataType": "scratch", "defaultWorkDir": False},
            ],
            "dataOperation": {
                "max_ops_file_size": system.max_ops_file_size,
                "datatransfer_jobs_directives": [],
                "data_transfer": data_transfer_view()
                if system.transfer_service == "streamer"
                else {
                    "serviceType": "s3",
                    "name": "emulated-s3",
                    "privateUrl": "http://127.0.0.1/",
                    "publicUrl": "http://127.0.0.1/",
                    "accessKeyId": "emulator",
                    "secretAccessKey": "emulator",
                    "region": "local",
                    "ttl": 604800,
                    "multipart": {"max_part_size": system.max_part_size, "parallel_runs": 3},
                },
            },
            "servicesHealth": [
                {
                    "serviceType": "scheduler",
                    "healthy": healthy,
                    "lastChecked": now,
                    "latency": 0.01,
                    "message": problem,
                },
                {
                    "serviceType": "ssh",
                    "healthy": healthy,
                    "lastChecked": now,
                    "latency": 0.01,
                    "message": problem,
                },
                {
                    "serviceType": "filesystem",
                    "healthy": True,
                    "lastChecked": now,
                    "latency": 0.01,
                    "message": None,
                    "path": home,
                },
                {"serviceType": "s3", "healthy": True, "lastChecked": now, "latency": 0.01, "message": None},
            ],
            "lastHealthCheck": now,
        }

    # -- handlers ------------------------------------------------------------------------

    async def systems(self, request: Request) -> Response:
        return json_response({"systems": [self.system_view(s) for s in SYSTEMS.values()]})

    async def liveness(self, request: Request) -> Response:
        return json_response(
            {"healthcheckRuns": {name: int(time.time()) for name in SYSTEMS}, "lastUpdate": int(time.time())}
        )

    async def nodes(self, request: Request) -> Response:
        system = system_of(request)
        state = ["IDLE"] if self.health_problem(system) is None else ["DOWN", "MAINTENANCE"]
        nodes = [
            {
                "name": f"nid{n:06d}",
                "cpus": os.cpu_count() or 1,
                "state": state,
                "partitions": list(system.partitions),
                "hostname": f"nid{n:06d}",
            }
            for n in range(2)
        ]
        return json_response({"nodes": nodes})

    async def partitions(self, request: Request) -> Response:
        system = system_of(request)
        return json_response(
            {
                "partitions": [
                    {"name": name, "partition": ["UP"], "cpus": 2 * (os.cpu_count() or 1), "totalNodes": 2}
                    for name in system.partitions
                ]
            }
        )

    async def reservations(self, request: Request) -> Response:
        system = system_of(request)
        now = datetime.now(UTC)
        answer = [
            {
                "name": r.name,
                "nodeList": "nid[000000-000001]",
                "startTime": int(r.start.timestamp()),
                "endTime": int(r.end.timestamp()),
                "state": "ACTIVE" if r.active(now) else "INACTIVE",
                "features": "maintenance" if r.maintenance else None,
            }
            for r in site_of(self.state).reservations(system.name)
        ]
        return json_response({"reservations": answer})

    async def userinfo(self, request: Request) -> Response:
        system_of(request)
        user = self.state.config.user
        ledger = self.state.ledger
        return json_response(
            {
                "user": {"id": str(os.getuid()), "name": user},
                "group": {"id": str(os.getgid()), "name": user},
                "groups": [{"id": str(os.getgid()), "name": user}],
                "accounts": [
                    {"name": name, "default": name == ledger.default_project} for name in ledger.projects
                ],
            }
        )
