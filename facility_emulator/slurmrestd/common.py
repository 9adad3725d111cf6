"""What the plain slurmrestd routes share: the token check, the scaled minute and Slurm's answers.

Plain slurmrestd (no gateway in front) authenticates each call with ``X-SLURM-USER-NAME`` and
``X-SLURM-USER-TOKEN`` (``rest_auth/jwt``); v0.0.40 and later also take ``Authorization: Bearer``.
Every answer carries ``meta``, ``errors`` and ``warnings`` next to the call's payload.
"""

from __future__ import annotations

import hmac
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from facility_emulator.tokens import TokenAuthority

VERSION = "v0.0.43"
CLUSTER = "emulated"
ESLURM_AUTH_CRED_INVALID = 6000
ESLURM_INVALID_PARTITION_NAME = 2000
ESLURM_INVALID_JOB_ID = 2017
ESLURM_ALREADY_DONE = 2021
ESLURM_REST_FAIL_PARSING = 9001


def no_val(number: float | int | None) -> dict[str, Any]:
    """Slurm's ``{"set", "infinite", "number"}`` struct (unset for None)."""
    if number is None:
        return {"set": False, "infinite": False, "number": 0}
    return {"set": True, "infinite": False, "number": int(number)}


def struct_number(value: Any) -> int | None:
    """A plain integer or a set, finite ``no_val`` struct as an int; None otherwise."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def environment(value: Any) -> dict[str, str]:
    """A job's environment, given as ``["K=V", ...]`` (v0.0.39+) or a map (v0.0.38)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        env = {}
        for item in value:
            key, sep, text = str(item).partition("=")
            if not sep or not key:
                raise ValueError(f"environment entry {item!r} is not KEY=VALUE")
            env[key] = text
        return env
    raise ValueError("environment must be a list of KEY=VALUE strings")


class SlurmAuth:
    """The daemon's accepted credentials: one user and its token.

    The flavour's own token never expires (a ``scontrol token`` with a long lifespan); any access
    token the emulator's token endpoint issued is accepted too, so the ``token_expiry`` fault and
    ``/_emulator/tokens/revoke`` apply to clients that fetch their tokens there.
    """

    def __init__(self, user_name: str, token: str, authority: TokenAuthority) -> None:
        self.user_name = user_name
        self.token = token
        self.authority = authority

    def __repr__(self) -> str:
        return f"SlurmAuth(user_name={self.user_name!r})"

    def _token_ok(self, token: str) -> bool:
        if not token:
            return False
        if hmac.compare_digest(token.encode(), self.token.encode()):
            return True
        return self.authority.lookup(token) is not None

    def check(self, request: Request) -> JSONResponse | None:
        """None when the request's headers carry a valid token (and, if named, this user)."""
        token = request.headers.get("x-slurm-user-token", "")
        if not token:
            header = request.headers.get("authorization", "")
            token = header.split(" ", 1)[1].strip() if header.lower().startswith("bearer ") else ""
        name = request.headers.get("x-slurm-user-name")
        if self._token_ok(token) and (name is None or name == self.user_name):
            return None
        return slurm_error(401, "Authentication failure", ESLURM_AUTH_CRED_INVALID, "rest_auth/jwt")


class SlurmClock:
    """How many real seconds one Slurm minute lasts (60 unless a test shortens it).

    Slurm's time limits are whole minutes; with ``minute_seconds`` at 1 a one-minute limit ends
    a job after one second, so time-limit tests stay short. Set with ``PUT /_emulator/slurmrestd``.
    """

    def __init__(self, minute_seconds: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._minute = minute_seconds

    @property
    def minute_seconds(self) -> float:
        with self._lock:
            return self._minute

    def set(self, minute_seconds: float) -> None:
        if not minute_seconds > 0:
            raise ValueError("minute_seconds must be positive")
        with self._lock:
            self._minute = float(minute_seconds)

    def scaled(self, seconds: float) -> float:
        """``seconds`` of Slurm time in real seconds."""
        return seconds * self.minute_seconds / 60.0


class ControllerSettings:
    """How the emulated slurmctld keeps jobs: ``min_job_age`` and the other users' jobs it shows.

    ``min_job_age`` is Slurm's ``MinJobAge`` in real seconds (default 300, Slurm's; 0 keeps jobs
    for ever, as in Slurm): a job finished longer ago than that is gone from the ``slurm``
    routes (as slurmctld purges it) and only the accounting routes (``slurmdb``) still know it. ``other_jobs`` is how many jobs
    of other users ``GET jobs`` lists besides the emulator's own (default 0): a busy cluster's
    listing, for benchmarks. Set with ``PUT /_emulator/slurmrestd``.
    """

    def __init__(self, min_job_age: float = 300.0, other_jobs: int = 0) -> None:
        self._lock = threading.Lock()
        self._min_job_age = min_job_age
        self._other_jobs = other_jobs

    @property
    def min_job_age(self) -> float:
        with self._lock:
            return self._min_job_age

    @property
    def other_jobs(self) -> int:
        with self._lock:
            return self._other_jobs

    def set(self, *, min_job_age: float | None = None, other_jobs: int | None = None) -> None:
        if min_job_age is not None and not min_job_age >= 0:
            raise ValueError("min_job_age must not be negative")
        if other_jobs is not None and (isinstance(other_jobs, bool) or not 0 <= other_jobs <= 1_000_000):
            raise ValueError("other_jobs must be an integer from 0 to 1000000")
        with self._lock:
            if min_job_age is not None:
                self._min_job_age = float(min_job_age)
            if other_jobs is not None:
                self._other_jobs = int(other_jobs)

    def purged(self, finished: float | None, now: float) -> bool:
        """Whether slurmctld has forgotten a job that finished at ``finished``."""
        age = self.min_job_age
        return finished is not None and age > 0 and now - finished > age


def meta(user_name: str) -> dict[str, Any]:
    return {
        "plugin": {
            "type": "openapi/slurmctld",
            "name": "Slurm OpenAPI slurmctld",
            "data_parser": f"data_parser/{VERSION}",
            "accounting_storage": "",
        },
        "client": {"source": "[127.0.0.1]", "user": user_name, "group": user_name},
        "command": [],
        "slurm": {
            "version": {"major": "25", "micro": "8", "minor": "05"},
            "release": "25.05.8",
            "cluster": CLUSTER,
        },
    }


def slurm_answer(
    body: dict[str, Any] | None = None,
    status: int = 200,
    errors: list[dict[str, Any]] | None = None,
    user_name: str = "",
) -> JSONResponse:
    """A slurmrestd answer: the payload plus ``meta``, ``errors`` and ``warnings``."""
    data: dict[str, Any] = {"meta": meta(user_name), "errors": errors or [], "warnings": []}
    data.update(body or {})
    return JSONResponse(data, status_code=status)


def slurm_error(
    status: int, description: str, error_number: int, source: str, body: dict[str, Any] | None = None
) -> JSONResponse:
    """A refusal in slurmrestd's shape, with the call's own (empty) payload in ``body`` where its
    document requires one."""
    error = {"description": description, "error_number": error_number, "error": description, "source": source}
    return slurm_answer(body, status=status, errors=[error])
