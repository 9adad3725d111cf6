"""Run the emulator in-process: uvicorn in a background thread on a free port.

Usage::

    with EmulatorServer(EmulatorConfig(token_lifetime=2)) as server:
        httpx.get(server.iri_url("v1") + "/facility")
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from facility_emulator.app import build_app
from facility_emulator.config import EmulatorConfig
from facility_emulator.flavours import load_flavours
from facility_emulator.iri.common import prefix
from facility_emulator.state import EmulatorState
from facility_emulator.stats import Exchange


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmulatorServer:
    """One emulator served on 127.0.0.1 from a background thread."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = EmulatorState(self.config)
        self.flavours = {flavour.name: flavour for flavour in load_flavours(self.state)}
        self.app = build_app(self.state, list(self.flavours.values()))
        self.port = self.config.port or _free_port(self.config.host)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Start serving and wait until the socket accepts connections."""
        if self._server is not None:
            return self
        uv_config = uvicorn.Config(
            self.app,
            host=self.config.host,
            port=self.port,
            log_level="critical",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            ssl_certfile=str(self.config.ssl_certfile) if self.config.ssl_certfile else None,
            ssl_keyfile=str(self.config.ssl_keyfile) if self.config.ssl_keyfile else None,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=self._server.run, name="facility-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"emulator failed to start on {self.config.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and kill running jobs."""
        self._stop_serving()
        self.state.shutdown()

    def restart(self, downtime: float = 1.0, *, forget_tokens: bool = False) -> None:
        """Restart the API service while the facility goes on: jobs keep running.

        The listening socket closes (open connections are cut, new ones are refused) for
        ``downtime`` seconds, then the same port serves again with the same jobs, files, faults
        and statistics. ``forget_tokens`` also drops every issued access token, as a service that
        keeps its sessions in memory does; clients must authenticate again.
        """
        self._stop_serving()
        if forget_tokens:
            self.state.tokens.revoke_all()
        time.sleep(downtime)
        self.start()

    def _stop_serving(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:8123`` (``https`` when serving TLS)."""
        return f"{self.config.scheme}://{self.config.host}:{self.port}"

    def iri_url(self, version: str = "v1") -> str:
        """Base URL of an IRI API version."""
        return f"{self.url}{prefix(version)}"

    def api_url(self, flavour: str, label: str | None = None) -> str:
        """Base URL of an emulated API (``label`` picks a version where a flavour has several)."""
        urls = self.flavours[flavour].base_urls(self.url)
        return urls[label] if label is not None else next(iter(urls.values()))

    def flavour_credentials(self, flavour: str) -> dict[str, Any]:
        """What a client of ``flavour`` needs beyond the shared credentials."""
        return self.flavours[flavour].extra_credentials(self.url)

    @property
    def credentials(self) -> dict[str, Any]:
        """Client credentials, token URLs, user, sandbox root and home."""
        return self.state.credentials(self.url)

    def describe(self) -> dict[str, Any]:
        """Everything the CLI prints: URLs and credentials."""
        described: dict[str, Any] = {"url": self.url}
        for name, flavour in self.flavours.items():
            described[name] = flavour.base_urls(self.url)
        described["admin"] = f"{self.url}/_emulator"
        described["credentials"] = self.credentials
        for name in self.flavours:
            extra = self.flavour_credentials(name)
            if extra:
                described["credentials"][name] = extra
        return described

    # -- test helpers --------------------------------------------------------------------

    def exchanges(self) -> list[Exchange]:
        """Recorded API exchanges (oldest first; admin and token routes are not recorded)."""
        return self.state.exchanges.items()

    def clear_exchanges(self) -> None:
        """Empty the exchange log."""
        self.state.exchanges.clear()
