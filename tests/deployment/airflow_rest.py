"""A small client of Airflow 3's public REST API (``/api/v2``), as an operator's script uses it:
a token from the simple auth manager, then runs, task instances, logs, clears and states."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

T = TypeVar("T")
FINISHED_RUN_STATES = {"success", "failed"}


class AirflowRest:
    """Calls to one api-server with one user's token."""

    def __init__(self, base_url: str, user: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        answer = httpx.post(
            f"{self.base_url}/auth/token", json={"username": user, "password": password}, timeout=30
        )
        answer.raise_for_status()
        token = answer.json()["access_token"]
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def close(self) -> None:
        self._http.close()

    def connection_forms(self) -> list[dict[str, Any]]:
        """What the UI's connection form is built from: every connection type's standard and
        extra fields, as the api-server's providers manager loaded them."""
        answer = self._http.get(f"{self.base_url}/ui/connections/hook_meta")
        if answer.is_error:
            raise AssertionError(f"GET /ui/connections/hook_meta: {answer.status_code} {answer.text[:500]}")
        return list(answer.json())

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._http.request(method, path, **kwargs)
        if answer.is_error:
            raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    # -- DAGs and runs ----------------------------------------------------------------------------

    def dag_errors(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/importErrors")["import_errors"])

    def has_dag(self, dag_id: str) -> bool:
        return self._http.get(f"/dags/{dag_id}").status_code == 200

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """A manual run without a logical date, as the UI's trigger button and the CLI make."""
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        return list(answer["task_instances"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return dict(self.call("GET", path))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.call("GET", path, params={"map_index": map_index})["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task log of one try as text (one JSON line per structured entry)."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.call(
            "GET",
            path,
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = answer.get("content", []) if isinstance(answer, dict) else answer
        if isinstance(content, str):
            return content
        return "\n".join(json.dumps(entry) if not isinstance(entry, str) else entry for entry in content)

    # -- user actions -----------------------------------------------------------------------------

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False}
        self.call("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)

    def set_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        self.call("PATCH", path, json={"new_state": state})


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, pause: float = 0.5) -> T:
    """``probe()``'s first truthy answer; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(pause)
