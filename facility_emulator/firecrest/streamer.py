"""FirecREST's ``streamer`` transfers, for systems whose ``dataTransfer.serviceType`` is
``streamer``, served as the real FirecREST serves them.

``transfer/upload`` and ``transfer/download`` submit a transfer job (``IngressFileTransfer`` /
``OutgressFileTransfer``) that runs the ``firecrest-streamer`` package's own server
(``python -m streamer server --secret ... receive|send --path <file>``): one websocket server per
transfer, on the first free port of the system's ``portRange`` on 127.0.0.1, for one client that
presents the transfer's secret. The answer's ``transferDirectives.coordinates`` are the
base64url of ``{"ports", "ips", "secret"}``, as the real server builds them.

Checks the real server makes before submitting (with its SSH client): an upload whose target
exists is ``403 Target file '...' already exists.``; a download of a missing file is 404. The job
script also refuses both, as the real one does. Without the ``firecrest-streamer`` package
installed (the ``firecrest`` extra) these calls answer 503.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import secrets
import shlex
import sys
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from facility_emulator.firecrest.common import (
    FirecrestError,
    SystemConfig,
    field,
    json_response,
    sandbox_path,
)
from facility_emulator.firecrest.transfer_jobs import JobScript
from facility_emulator.state import EmulatorState

#: Ports the emulated systems' streamer jobs listen on (the first free one is taken).
PORT_RANGE = (45600, 45699)
HOST = "127.0.0.1"
#: How long a streamer job waits for its client before it gives up (seconds).
WAIT_TIMEOUT = 600
INBOUND_TRANSFER_LIMIT = 5 * 1024 * 1024 * 1024


def data_transfer_view() -> dict[str, Any]:
    """The ``dataOperation.data_transfer`` of a streamer system (``StreamerDataTransfer``)."""
    return {
        "serviceType": "streamer",
        "host": HOST,
        "publicIps": [HOST],
        "portRange": list(PORT_RANGE),
        "waitTimeout": WAIT_TIMEOUT,
        "inboundTransferLimit": INBOUND_TRANSFER_LIMIT,
        "pypiIndexUrl": None,
    }


def coordinates(secret: str) -> str:
    """What the client needs to reach the job: where it may listen and the secret it wants."""
    document = {"ports": list(PORT_RANGE), "ips": [HOST], "secret": secret}
    return base64.urlsafe_b64encode(json.dumps(document).encode("utf-8")).decode("utf-8")


def _q(value: object) -> str:
    return shlex.quote(str(value))


class StageJobs(Protocol):
    """What the streamer needs of the ``transfer`` routes: a staging directory for the job's logs
    and the transfer jobs (:class:`facility_emulator.firecrest.transfer.TransferRoutes`)."""

    state: EmulatorState

    def new_stage(self) -> Any: ...

    def run_job(self, system: SystemConfig, stage: Any, job: JobScript, body: dict[str, Any]) -> Any: ...

    def transfer_job(self, system: SystemConfig, started: Any) -> dict[str, Any]: ...


class StreamerTransfers:
    """The streamer side of the ``transfer`` routes (the staging directories and job helpers are
    the routes' own)."""

    def __init__(self, routes: StageJobs) -> None:
        self.routes = routes

    def _script(self, operation: str, path: str, secret: str) -> str:
        if operation == "receive":
            check = f'if [ -f {_q(path)} ]; then echo "Error: destination file already exist."; exit 1; fi'
        else:
            check = f'if [ ! -f {_q(path)} ]; then echo "Error: source file does not exist."; exit 1; fi'
        first, last = PORT_RANGE
        server = (
            f"{_q(sys.executable)} -m streamer server --secret {_q(secret)} --host {HOST} "
            f"--public-ips {HOST} --port-range {first} {last} --wait-timeout {WAIT_TIMEOUT} "
            f"--inbound-transfer-limit {INBOUND_TRANSFER_LIMIT} {operation} --path {_q(path)}"
        )
        return (
            'echo "$(date -u) Ingress/Outgress File Transfer Job (id:${SLURM_JOB_ID:-unknown})"\n'
            f"{check}\n"
            f'echo "$(date -u) Starting firecrest streamer in {operation} mode..."\n'
            f"PYTHONUNBUFFERED=1 exec {server}"
        )

    def _start(
        self, request: Request, system: SystemConfig, body: dict[str, Any], operation: str, path: str
    ) -> Response:
        if importlib.util.find_spec("streamer") is None:
            raise FirecrestError(503, "the streamer is not installed on this site (firecrest-streamer)")
        secret = secrets.token_urlsafe(16)
        stage = self.routes.new_stage()
        name = "IngressFileTransfer" if operation == "receive" else "OutgressFileTransfer"
        started = self.routes.run_job(
            system, stage, JobScript(name, self._script(operation, path, secret)), body
        )
        return json_response(
            {
                "transferJob": self.routes.transfer_job(system, started),
                "transferDirectives": {"transferMethod": "streamer", "coordinates": coordinates(secret)},
            },
            201,
        )

    def upload(self, request: Request, system: SystemConfig, body: dict[str, Any]) -> Response:
        raw_target = str(field(body, "sourcePath", "path", required=True))
        target = sandbox_path(self.routes.state, raw_target)
        if not target.parent.is_dir():
            raise FirecrestError(404, f"{target.parent}: No such file or directory")
        if target.exists():
            raise FirecrestError(403, f"Target file '{raw_target}' already exists.")
        return self._start(request, system, body, "receive", str(target))

    def download(self, request: Request, system: SystemConfig, body: dict[str, Any]) -> Response:
        raw_source = str(field(body, "sourcePath", "path", required=True))
        source = sandbox_path(self.routes.state, raw_source)
        if not source.exists():
            raise FirecrestError(404, f"{raw_source}: No such file or directory")
        if source.is_dir():
            raise FirecrestError(400, f"{raw_source}: Is a directory")
        return self._start(request, system, body, "send", str(source))
