"""What the fault matrix needs besides the tests: the flavours, the emulator's admin routes, and
job specs stamped with a unique submit tag that the emulator's own records can be searched for.

Every flavour module of ``tests/conformance/flavours`` is used except the real-Slurm
``slurmrest`` one, which runs against a live slurmrestd where no fault can be injected.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from facility_common import FacilityClient, JobAttributes, JobSpec, ResourceSpec
from facility_common.http import RetryPolicy
from facility_emulator import EmulatorServer
from tests.conformance import flavours as flavour_modules
from tests.conformance.flavour import Flavour

TAG_VARIABLE = "FACILITY_SUBMIT_TAG"

#: Flavours that talk to something other than the emulator (no faults can be injected there).
NOT_EMULATED = frozenset({"slurmrest"})

#: Quick retries, enough of them to outlast a one-second restart of the emulator. The emulator's
#: Retry-After is whole seconds (a rule's 0.05 is sent as 1): the cap keeps each such wait short.
FAST_RETRY = RetryPolicy(attempts=10, backoff=0.05, max_backoff=0.4, jitter=0.1, max_retry_after=0.2)

#: A route glob (fnmatch on the request path) that matches each flavour's submit call.
SUBMIT_ROUTES = {
    "iri-v1": "POST */compute/job/*",
    "iri-v2": "POST */compute/job/*",
    "iri-v1-reference": "POST */compute/job/*",
    "iri-v2-reference": "POST */compute/job/*",
    "sfapi": "POST */compute/jobs/*",
    "firecrest": "POST /firecrest/compute/*/jobs",
    "firecrest-reference": "POST /firecrest/compute/*/jobs",
    "flux": "POST */jobs/submit",
    "s3m": "POST */job/submit",
}
DEFAULT_SUBMIT_ROUTE = "POST */job/submit"

#: APIs without an outage calendar the matrix can fill, and why.
NO_OUTAGES = {
    "flux": "the Flux RESTful API announces no outages",
}
#: APIs whose job listings do not show the submit tag (the environment): after a lost answer the
#: backend can only match a job by its name (the command's basename), submit time and counts, so
#: the matrix gives each of their jobs a command of its own name to keep rows apart.
TAGLESS_LISTINGS = frozenset({"flux"})
#: Flavours whose listing shows no submit tag and whose submit carries no idempotency key (IRI v1
#: as the reference server answers): a submit whose answer was lost can neither be found nor safely
#: sent again, so it ends with its outcome unknown, and never leaves two jobs.
BLIND_SUBMITS = frozenset({"iri-v1-reference"})
#: APIs whose token is a static secret: nothing can expire mid-run.
STATIC_TOKENS = frozenset({"s3m"})
#: Flavours whose server refuses a token close to its expiry (FirecREST: under 30 s left, even a
#: fresh one), with the token lifetime their rows get instead of the matrix's short one: 41 s keeps
#: tokens short-lived for a client that sends only tokens with 40 s left.
TOKEN_LIFETIMES = {"firecrest-reference": 41.0}
#: Flavours configured with a static token whose API also takes tokens from the emulator's OAuth
#: server: the token row uses those, which expire.
OIDC_CAPABLE = frozenset({"slurmrest-emulated"})


def discover_flavours() -> dict[str, Callable[[Any], Flavour]]:
    """Every ``FLAVOURS`` and ``REFERENCE_FLAVOURS`` mapping of ``tests/conformance/flavours``
    (as its conftest does)."""
    found: dict[str, Callable[[Any], Flavour]] = {}
    for info in pkgutil.iter_modules(flavour_modules.__path__):
        module = importlib.import_module(f"{flavour_modules.__name__}.{info.name}")
        found.update(module.FLAVOURS)
        found.update(getattr(module, "REFERENCE_FLAVOURS", {}))
    return {name: build for name, build in found.items() if name not in NOT_EMULATED}


def submit_route(name: str) -> str:
    """The route glob of ``name``'s submit call."""
    return SUBMIT_ROUTES.get(name, DEFAULT_SUBMIT_ROUTE)


class Admin:
    """The emulator's ``/_emulator`` routes, as the tests use them."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = httpx.request(method, f"{self.server.url}/_emulator/{path}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def inject(self, spec: str) -> dict[str, Any]:
        """Replace the active faults with ``spec`` (counters start at zero)."""
        return dict(self.call("PUT", "faults", {"spec": spec}))

    def clear(self) -> None:
        self.call("DELETE", "faults")

    def fired(self) -> int:
        """How many requests the active request faults have handled so far."""
        return sum(int(rule["fired"]) for rule in self.call("GET", "faults")["rules"])

    def fired_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rule in self.call("GET", "faults")["rules"]:
            counts[rule["kind"]] = counts.get(rule["kind"], 0) + int(rule["fired"])
        return counts

    def jobs_tagged(self, tag: str) -> list[dict[str, Any]]:
        """Every job the emulator ever created whose spec carries ``tag``."""
        return [job for job in self.call("GET", "jobs")["jobs"] if tag in json.dumps(job.get("spec"))]


def announce_outage(
    admin: Admin, name: str, resource: str, start: float, duration: float
) -> Callable[[], None]:
    """An outage of ``resource`` from ``start`` seconds from now, for ``duration`` seconds, in the
    form the flavour's API publishes it; returns what removes it again.

    FirecREST has no outage calendar: there, maintenance is a Slurm reservation on the system. The
    SF API publishes its own calendar of NERSC machines.
    """
    if name in ("firecrest", "firecrest-reference"):
        from facility_emulator.firecrest.site import site_of

        site = site_of(admin.server.state)
        now = datetime.now(UTC)
        reservation = site.add_reservation(
            resource, now + timedelta(seconds=start), now + timedelta(seconds=start + duration)
        )
        return lambda: site.remove_reservation(reservation.name) and None
    if name == "sfapi":
        from facility_emulator.sfapi.routes import outages_of

        calendar = outages_of(admin.server.state)
        now = datetime.now(UTC)
        outage_id = calendar.announce(
            resource, now + timedelta(seconds=start), now + timedelta(seconds=start + duration)
        )
        return lambda: calendar.withdraw(outage_id) and None
    ids = admin.inject(f"outage=resources:{resource}:start:{start}:duration:{duration}")["incident_ids"]

    def remove() -> None:
        for incident in ids:
            admin.call("DELETE", f"incidents/{incident}")

    return remove


def with_expiring_tokens(server: EmulatorServer, name: str, flavour: Flavour) -> Flavour:
    """``flavour`` with tokens that expire: OAuth client credentials where its own are static."""
    if name not in OIDC_CAPABLE:
        return flavour
    credentials = server.credentials
    auth = {
        "type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    return dataclasses.replace(flavour, auth=auth)


def revoke_tokens(admin: Admin, name: str) -> None:
    """Forget every access token issued (the Flux RESTful server keeps its own)."""
    admin.call("POST", "tokens/revoke")
    if name == "flux":
        admin.call("POST", "flux/shared-secret/revoke-tokens")


def token_requests(admin: Admin) -> int:
    """Requests to any token endpoint since the statistics were last reset."""
    routes = admin.call("GET", "stats")["routes"]
    return sum(int(count) for route, count in routes.items() if route and "token" in route.lower())


def connect(flavour: Flavour, **options: Any) -> FacilityClient:
    """A sync client of ``flavour`` with quick retries (``options`` override the flavour's)."""
    merged = {**flavour.options, "retry": FAST_RETRY, "submit_lookup_delays": (0.0, 0.3, 0.6), **options}
    return FacilityClient.connect(flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **merged)


def new_tag() -> str:
    return f"fm-{uuid.uuid4().hex[:16]}"


def shell_for(server: EmulatorServer, name: str, tag: str) -> str:
    """The shell a job of ``name`` runs: ``/bin/sh``, or for a flavour in
    :data:`TAGLESS_LISTINGS` a link to it named after ``tag`` in the sandbox."""
    if name not in TAGLESS_LISTINGS:
        return "/bin/sh"
    links = Path(server.credentials["home"]) / "fault-matrix-bin"
    links.mkdir(parents=True, exist_ok=True)
    link = links / tag
    if not link.exists():
        link.symlink_to("/bin/sh")
    return str(link)


def tagged_spec(tag: str, command: str = "echo ok", seconds: int = 120, shell: str = "/bin/sh") -> JobSpec:
    """A short shell job carrying ``tag`` the way a re-attaching caller (Airflow) stamps it."""
    return JobSpec(
        executable=shell,
        arguments=["-c", command],
        name=tag,
        environment={TAG_VARIABLE: tag},
        resources=ResourceSpec(node_count=1),
        attributes=JobAttributes(duration=timedelta(seconds=seconds), queue_name="debug", account="demo"),
    )
