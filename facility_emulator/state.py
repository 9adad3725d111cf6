"""The shared state of one emulator: every flavour's routes work on this object.

It bundles the token authority, sandbox, scheduler, task queue, facility catalog, ledger, fault
injector, statistics and exchange log, and knows how to check a bearer token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from facility_emulator.config import EmulatorConfig
from facility_emulator.facility import Facility
from facility_emulator.faults import FaultInjector, FaultSet, parse_spec
from facility_emulator.fidelity import Fidelity, FidelitySpec
from facility_emulator.idempotency import IdempotencyStore
from facility_emulator.ledger import Ledger
from facility_emulator.problems import ProblemError
from facility_emulator.sandbox import Sandbox
from facility_emulator.scheduler import make_scheduler
from facility_emulator.stats import ExchangeLog, RequestStats
from facility_emulator.tasks import TaskQueue
from facility_emulator.tokens import TokenAuthority


class EmulatorState:
    """All mutable state of one emulator instance."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.faults = FaultInjector()
        self.tokens = TokenAuthority(config.token_lifetime, lambda: self.faults.token_expiry_fraction)
        self.tokens.configure(config)
        self.sandbox = Sandbox(config.root, config.user)
        self.scheduler = make_scheduler(config.scheduler, config.queue_delay, config.kill_grace)
        self.tasks = TaskQueue(config.task_delay)
        self.facility = Facility()
        self.ledger = Ledger(config.user, self.scheduler)
        self.stats = RequestStats()
        self.idempotency = IdempotencyStore()
        self.exchanges = ExchangeLog(config.max_exchanges, config.record_exchanges)
        self._fidelity = Fidelity.parse(config.fidelity)
        self.shutdown_hooks: list[Callable[[], None]] = []
        """Called by :meth:`shutdown`: flavours stop what they started (servers, threads)."""
        if config.faults:
            self.install_faults(parse_spec(config.faults))

    def install_faults(self, faults: FaultSet) -> list[str]:
        """Activate a fault set; its outages become incidents. Returns the new incident ids."""
        self.faults.replace(faults)
        ids = []
        for outage in faults.outages:
            incident = self.facility.add_outage(outage.resources, outage.start, outage.duration, outage.type)
            ids.append(incident.id)
        return ids

    def fidelity(self, flavour: str) -> str:
        """The behaviour ``flavour`` follows now: ``"spec"`` or ``"reference"``."""
        return self._fidelity.of(flavour)

    @property
    def fidelity_setting(self) -> Fidelity:
        """The whole fidelity setting in force."""
        return self._fidelity

    def set_fidelity(self, setting: FidelitySpec | Fidelity) -> Fidelity:
        """Replace the fidelity setting (admin); raises ``FidelityError`` for a bad one."""
        self._fidelity = Fidelity.parse(setting)
        return self._fidelity

    def require_auth(self, request: Request) -> None:
        """Raise a 401 problem unless the request carries a valid bearer token."""
        ok, reason = self.tokens.validate(request.headers.get("authorization"))
        if not ok:
            error = "invalid_request" if reason.startswith("missing") else "invalid_token"
            raise ProblemError(
                401, reason, {"WWW-Authenticate": f'Bearer realm="facility-emulator", error="{error}"'}
            )

    def credentials(self, base_url: str) -> dict[str, Any]:
        """Everything a client needs to talk to this emulator."""
        creds = self.tokens.credentials
        return {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "native_client_id": creds.native_client_id,
            "refresh_token": creds.refresh_token,
            "static_token": creds.static_token,
            "token_url": f"{base_url}/auth/token",
            "globus_token_url": f"{base_url}/globus/v2/oauth2/token",
            "token_lifetime": self.config.token_lifetime,
            "user": self.config.user,
            "root": str(self.sandbox.root),
            "home": str(self.sandbox.home),
        }

    def shutdown(self) -> None:
        """Kill running jobs, stop the task workers and whatever the flavours started."""
        self.scheduler.shutdown()
        self.tasks.shutdown()
        for hook in self.shutdown_hooks:
            hook()
