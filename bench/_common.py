"""Shared pieces of the benchmark scripts: an emulator in a child process, request counting, and
connection settings of the flavours the peers speak to.

The emulator runs in its own process so that the client under test does not share an interpreter
(and its GIL) with the server: latency and CPU figures are then those of the client alone. Request
counts come from the emulator's ``GET /_emulator/stats`` (``DELETE`` zeroes them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

MIB = 1024 * 1024

# Routes that are not API calls of the operation measured: token issue and the emulator's own.
_NOT_COUNTED = ("/auth/token", "/oauth2/token", "/_emulator/")


def _serve(pipe: Connection, root: str, options: dict[str, Any]) -> None:
    """Child process: run the emulator until the parent says stop."""
    from facility_emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(root=Path(root), record_exchanges=False, **options)) as server:
        iri_v1 = server.iri_url("v1")
        polaris = httpx.get(f"{iri_v1}/status/resources", params={"name": "polaris"}).json()[0]["id"]
        pipe.send(
            {
                "url": server.url,
                "iri": iri_v1,
                "sfapi": server.api_url("sfapi"),
                "firecrest": server.api_url("firecrest"),
                "polaris_id": str(polaris),
                "sfapi_credentials": server.flavour_credentials("sfapi"),
                "transfer_url": f"{server.url}/transfer/",
                "collections": {
                    name: dict(item)
                    for name, item in server.flavour_credentials("globus")["collections"].items()
                },
                **server.credentials,
            }
        )
        pipe.recv()


@dataclass
class Emulator:
    """What a benchmark needs to know of the running emulator."""

    info: dict[str, Any]
    root: Path

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def reset_stats(self) -> None:
        """Zero the request counters."""
        httpx.delete(f"{self.url}/_emulator/stats").raise_for_status()

    def snapshot(self) -> dict[str, Any]:
        """The emulator's counters since the last reset (per route, per status)."""
        answer = httpx.get(f"{self.url}/_emulator/stats")
        answer.raise_for_status()
        return dict(answer.json())

    def routes(self) -> dict[str, int]:
        """Requests per route since the last reset."""
        return dict(self.snapshot()["routes"])

    def refusals(self) -> int:
        """Responses 401 (token refused) since the last reset."""
        return int(self.snapshot()["statuses"].get("401", 0))

    def api_requests(self) -> int:
        """API requests since the last reset, token and emulator routes left out."""
        return sum(n for key, n in self.routes().items() if not any(s in key for s in _NOT_COUNTED))

    def token_requests(self) -> int:
        """Token requests since the last reset."""
        return sum(n for key, n in self.routes().items() if "token" in key and "introspect" not in key)

    def oidc_auth(self) -> dict[str, Any]:
        """The shared OIDC client, as an ``auth`` mapping of facility_common."""
        return {
            "type": "oidc_client_credentials",
            "token_url": self.info["token_url"],
            "client_id": self.info["client_id"],
            "client_secret": self.info["client_secret"],
        }

    def sfapi_auth(self) -> dict[str, Any]:
        """The SF API client (private-key JWT), as an ``auth`` mapping of facility_common."""
        creds = self.info["sfapi_credentials"]
        return {
            "type": "private_key_jwt",
            "token_url": creds["token_url"],
            "client_id": creds["client_id"],
            "private_key": creds["private_key"],
        }

    def sfapi_key_file(self) -> Path:
        """A NERSC-style key file (client id, then PEM key; mode 0600) for ``sfapi_client``."""
        creds = self.info["sfapi_credentials"]
        path = self.root / "sfapi-clientid.pem"
        path.write_text(f"{creds['client_id']}\n{creds['private_key']}")
        path.chmod(0o600)
        return path

    def globus_auth(self) -> dict[str, Any]:
        """The emulator's Globus confidential client, as an ``auth`` mapping of facility_common."""
        return {
            "type": "globus_confidential",
            "client_id": self.info["client_id"],
            "client_secret": self.info["client_secret"],
            "auth_base_url": f"{self.url}/globus/",
        }

    def globus_rate(self, bytes_per_second: float) -> None:
        """Limit every Globus copy of the emulator (0: no limit)."""
        answer = httpx.put(f"{self.url}/_emulator/globus", json={"bytes_per_second": bytes_per_second})
        answer.raise_for_status()

    def connect_args(self, facility: str) -> dict[str, Any]:
        """Keyword arguments of ``AsyncFacilityClient.connect`` for one emulated API."""
        if facility == "iri":
            return {"base_url": self.info["iri"], "auth": self.oidc_auth(), "task_poll_interval": 0.02}
        if facility == "sfapi":
            return {
                "base_url": self.info["sfapi"],
                "auth": self.sfapi_auth(),
                "task_poll_interval": 0.02,
                "submit_lookup_delays": (0.0, 0.2),
            }
        if facility == "firecrest":
            return {"base_url": self.info["firecrest"], "auth": self.oidc_auth(), "account": "demo"}
        raise ValueError(facility)


# The compute resource each flavour is measured on.
RESOURCE = {"iri": "polaris", "sfapi": "perlmutter", "firecrest": "daint"}


@contextmanager
def emulator(**options: Any) -> Iterator[Emulator]:
    """Run the emulator in a child process with the given EmulatorConfig options."""
    with tempfile.TemporaryDirectory(prefix="facility-bench-") as tmp:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, str(Path(tmp) / "facility"), options), daemon=True
        )
        process.start()
        try:
            yield Emulator(parent.recv(), Path(tmp))
        finally:
            parent.send("stop")
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()


def add_latency_option(parser: argparse.ArgumentParser) -> None:
    """``--latency 30ms``: the emulator waits that long before answering each request, so the
    figures show what a user at a remote facility sees (``EmulatorConfig.latency``)."""
    from facility_emulator.cli import duration

    parser.add_argument(
        "--latency",
        type=duration,
        default=0.0,
        help="emulated facility latency per request: 30ms, 0.03s or 0.03 (default 0)",
    )


def latency_heading(seconds: float) -> str:
    """The line a script prints first, naming the emulated latency of its figures."""
    return f"# emulated facility latency: {seconds * 1000:g} ms per request"


def median_ms(samples: list[float]) -> float:
    """Median of durations in seconds, in milliseconds."""
    return statistics.median(samples) * 1000.0


def ratio_line(what: str, value: float, baseline: float, goal: str = "") -> str:
    """One printed ratio line: ``ratio <what>: <value/baseline>`` with the goal when given."""
    text = f"ratio {what}: {value / baseline:.2f}" if baseline else f"ratio {what}: n/a"
    return f"{text}   (goal {goal})" if goal else text
