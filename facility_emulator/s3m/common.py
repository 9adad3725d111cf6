"""What the S3M routes share: the static token check and slurmrestd-style answers."""

from __future__ import annotations

import hmac
import secrets
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

SLURM_VERSION = "v0.0.43"
ENCLAVE = "open"
SLURM_META = {
    "plugin": {
        "type": "openapi/slurmctld",
        "name": "Slurm OpenAPI slurmctld",
        "data_parser": "data_parser/v0.0.43",
    },
    "client": {"source": "s3m-gateway", "user": "demo_auser", "group": "demo_auser"},
    "command": [],
    "slurm": {
        "version": {"major": "25", "micro": "8", "minor": "05"},
        "release": "25.05.8",
        "cluster": "emulated",
    },
}


class S3MToken:
    """The flavour's tokens: one static token (S3M tokens are made in myOLCF and never refreshed),
    more issued by the admin route, each refused from its revocation on."""

    def __init__(self, value: str, project: str, lifetime: float) -> None:
        self.value = value
        self.project = project
        self.lifetime = lifetime
        self._valid = {value}
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new valid token of the same project (``POST /_emulator/s3m/tokens``)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._valid.add(token)
        return token

    def revoke(self, token: str) -> None:
        """Refuse ``token`` from now on (``DELETE /olcf/v1/token/ctls/revoke``)."""
        with self._lock:
            self._valid.discard(token)

    @staticmethod
    def presented(request: Request) -> str:
        """The token a request carries (raw, or after ``Bearer``)."""
        header = request.headers.get("authorization", "")
        return header.split(" ", 1)[1] if header.lower().startswith("bearer ") else header

    def check(self, request: Request) -> JSONResponse | None:
        """None when the raw ``Authorization`` header carries a valid token, else a 401 answer."""
        token = self.presented(request)
        with self._lock:
            valid = list(self._valid)
        if token and any(hmac.compare_digest(token.encode(), v.encode()) for v in valid):
            return None
        return JSONResponse(
            {"code": 16, "message": "unauthenticated", "public_message": "invalid or missing S3M token"},
            status_code=401,
        )


def slurm_answer(
    body: dict[str, Any] | None = None, status: int = 200, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A slurmrestd answer: the payload plus ``meta``, ``errors`` and ``warnings``."""
    data: dict[str, Any] = {"meta": SLURM_META, "errors": errors or [], "warnings": []}
    data.update(body or {})
    return JSONResponse(data, status_code=status)


def slurm_error(
    status: int,
    description: str,
    error_number: int = 9001,
    source: str = "s3m",
    body: dict[str, Any] | None = None,
) -> JSONResponse:
    """A refusal in slurmrestd's shape (``errors[{description, error_number, error, source}]``),
    with the call's own (empty) payload in ``body`` where its document requires one."""
    error = {"description": description, "error_number": error_number, "error": description, "source": source}
    return slurm_answer(body, status=status, errors=[error])
