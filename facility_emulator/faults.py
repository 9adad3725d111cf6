"""Fault injection: make the emulator misbehave on purpose, deterministically.

Faults are given as a SPEC string (``--faults`` on the command line) or as JSON at runtime
(``PUT /_emulator/faults``). They never apply to ``/_emulator/*`` routes.

SPEC grammar::

    SPEC  := ITEM (',' ITEM)*
    ITEM  := KIND ['=' ARGS] ['@' ROUTE]
    ARGS  := VALUE | KEY ':' VALUE (':' KEY ':' VALUE)*
    ROUTE := [METHOD ' '] PATH_GLOB          (fnmatch glob on the request path; METHOD may be '*')

Request faults (``KIND`` with ``KEY:VALUE`` arguments):

* ``latency=SECONDS`` or ``latency=seconds:S`` -- add S seconds before every matching request.
* ``429`` -- answer 429 with a ``Retry-After`` header (``retry_after:S``, default 1).
* ``500``, ``502``, ``503``, ``504`` -- answer that status (``retry_after`` optional).
* ``drop_before`` -- drop the connection before the app sees the request: the response starts
  with a Content-Length, a truncated body is sent and the connection is closed.
* ``drop_after`` -- let the app perform the request fully (e.g. a submit creates the job), then
  send the response truncated in the same way.
* ``504_after`` -- let the app perform the request fully, then answer 504 as a gateway whose
  upstream was too slow does: the job exists, the client is told nothing.

A request delayed by ``latency`` is read whole before the delay, so the app still performs it
after a client that timed out has gone (as a server does with a request it already received).

Bad-server faults (the answer is complete but unusable):

* ``bad_json`` -- answer 200 ``application/json`` with a body that is not JSON.
* ``html`` -- answer 502 with an HTML error page, as a proxy in front of a dead service does.
* ``wrong_types`` -- let the app answer, then replace every string in its JSON with a number and
  every number with a list (the status and headers stay).
* ``huge=bytes:N`` (or ``huge=N``) -- answer 200 ``application/json`` with a body of N bytes
  (default 64 MiB), streamed in 1 MiB pieces.
* ``echo`` -- answer ``status`` (default 400) with a JSON error whose ``detail`` and ``message``
  repeat the request line and every request header, as a misconfigured server or a web
  application firewall does (the client must not show the credentials it sent).

Keys shared by request faults: ``every:N`` and ``burst:K`` -- of the matching requests, N pass,
then K are faulted, and so on (defaults N=0, K=1: every matching request is faulted);
``count:M`` -- fire at most M times in total (default unlimited). Rules are tried in order and
the first one that fires handles the request.

Global faults:

* ``token_expiry=FRACTION`` -- tokens really expire after FRACTION of their advertised lifetime.
* ``invisible=SECONDS`` -- a newly submitted job is invisible (404 on GET, missing from lists)
  for that long after submit.
* ``outage=resources:polaris+aurora:start:S:duration:D[:type:planned]`` -- an incident that
  starts S seconds from now (default 0) and lasts D seconds (default 3600); affected resources
  report ``down`` while it is active.

Example::

    latency=0.05,429=every:5:burst:2:retry_after:1,drop_after=count:1@POST */compute/job/*

JSON form (``PUT /_emulator/faults``): either ``{"spec": "<SPEC>"}`` or
``{"rules": [{"kind": "429", "every": 5, "burst": 2, "count": null, "retry_after": 1,
"status": 429, "seconds": 0, "route": "POST */compute/job/*"}], "token_expiry": 1.0,
"invisible": 0, "outages": [{"resources": ["polaris"], "start": 0, "duration": 60,
"type": "planned"}]}``. A PUT replaces all faults; outages are added as incidents.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

REQUEST_KINDS = {
    "latency",
    "429",
    "500",
    "502",
    "503",
    "504",
    "5xx",
    "drop_before",
    "drop_after",
    "504_after",
    "bad_json",
    "html",
    "wrong_types",
    "huge",
    "echo",
}
DEFAULT_HUGE_BYTES = 64 * 1024 * 1024


class FaultSpecError(ValueError):
    """The fault specification could not be parsed."""


@dataclass
class FaultRule:
    """One request fault and its counters."""

    kind: str
    every: int = 0
    burst: int = 1
    count: int | None = None
    retry_after: float | None = None
    status: int = 0
    seconds: float = 0.0
    bytes: int = 0
    route: str | None = None
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in REQUEST_KINDS:
            raise FaultSpecError(f"unknown fault kind {self.kind!r}")
        if self.kind == "5xx":
            self.status = self.status or 503
        elif self.kind.isdigit():
            self.status = int(self.kind)
        elif self.kind == "504_after":
            self.status = 504
        if self.kind == "echo":
            self.status = self.status or 400
        if self.kind == "huge" and self.bytes <= 0:
            self.bytes = DEFAULT_HUGE_BYTES
        if self.kind == "429" and self.retry_after is None:
            self.retry_after = 1.0
        if self.every < 0 or self.burst < 1:
            raise FaultSpecError("every must be >= 0 and burst >= 1")

    def matches(self, method: str, path: str) -> bool:
        """Whether a request falls under this rule's route restriction."""
        if not self.route:
            return True
        want_method, _, glob = self.route.strip().rpartition(" ")
        if want_method and want_method != "*" and want_method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, glob)

    def tick(self) -> bool:
        """Count one matching request; return whether the fault fires for it."""
        index = self.seen
        self.seen += 1
        if self.count is not None and self.fired >= self.count:
            return False
        if index % (self.every + self.burst) < self.every:
            return False
        self.fired += 1
        return True


@dataclass
class OutageSpec:
    """A planned outage to load as an incident."""

    resources: list[str]
    start: float = 0.0
    duration: float = 3600.0
    type: str = "planned"


@dataclass
class FaultSet:
    """All configured faults."""

    rules: list[FaultRule] = field(default_factory=list)
    token_expiry: float = 1.0
    invisible: float = 0.0
    outages: list[OutageSpec] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly view, with counters."""
        return asdict(self)


def _parse_args(kind: str, args: str) -> dict[str, Any]:
    """Parse ``VALUE`` or ``KEY:VALUE:...`` into keyword arguments."""
    if not args:
        return {}
    parts = args.split(":")
    if len(parts) == 1:
        single = {"latency": "seconds", "token_expiry": "fraction", "invisible": "seconds", "huge": "bytes"}
        if kind not in single:
            raise FaultSpecError(f"{kind} takes KEY:VALUE arguments, got {args!r}")
        return {single[kind]: parts[0]}
    if len(parts) % 2:
        raise FaultSpecError(f"odd number of KEY:VALUE parts in {args!r}")
    return dict(zip(parts[::2], parts[1::2], strict=True))


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"{name} must be a number, got {value!r}") from exc


def rule_from_mapping(kind: str, data: dict[str, Any], route: str | None) -> FaultRule:
    """Build a rule from parsed arguments (strings or JSON values)."""
    known = {"every", "burst", "count", "retry_after", "status", "seconds", "bytes"}
    unknown = set(data) - known
    if unknown:
        raise FaultSpecError(f"unknown argument(s) for {kind}: {sorted(unknown)}")
    count = data.get("count")
    retry = data.get("retry_after")
    return FaultRule(
        kind=kind,
        every=int(_number(data.get("every", 0), "every")),
        burst=int(_number(data.get("burst", 1), "burst")),
        count=None if count is None else int(_number(count, "count")),
        retry_after=None if retry is None else _number(retry, "retry_after"),
        status=int(_number(data.get("status", 0), "status")),
        seconds=_number(data.get("seconds", 0), "seconds"),
        bytes=int(_number(data.get("bytes", 0), "bytes")),
        route=route,
    )


def outage_from_mapping(data: dict[str, Any]) -> OutageSpec:
    """Build an outage from parsed arguments; resources may be a list or 'a+b'."""
    resources = data.get("resources", ["polaris"])
    if isinstance(resources, str):
        resources = [r for r in resources.split("+") if r]
    return OutageSpec(
        resources=list(resources),
        start=_number(data.get("start", 0), "start"),
        duration=_number(data.get("duration", 3600), "duration"),
        type=str(data.get("type", "planned")),
    )


def parse_spec(spec: str) -> FaultSet:
    """Parse a SPEC string (see module docstring)."""
    faults = FaultSet()
    for raw_item in spec.split(","):
        item = raw_item.strip()
        if not item:
            continue
        body, _, route = item.partition("@")
        kind, _, args = body.partition("=")
        kind = kind.strip()
        parsed = _parse_args(kind, args.strip())
        if kind == "token_expiry":
            faults.token_expiry = _number(parsed.get("fraction"), "token_expiry")
        elif kind == "invisible":
            faults.invisible = _number(parsed.get("seconds"), "invisible")
        elif kind == "outage":
            faults.outages.append(outage_from_mapping(parsed))
        elif kind in REQUEST_KINDS:
            faults.rules.append(rule_from_mapping(kind, parsed, route.strip() or None))
        else:
            raise FaultSpecError(f"unknown fault kind {kind!r}")
    return faults


def parse_json(data: Any) -> FaultSet:
    """Parse the JSON form (see module docstring)."""
    if not isinstance(data, dict):
        raise FaultSpecError("fault document must be a JSON object")
    if "spec" in data:
        return parse_spec(str(data["spec"]))
    faults = FaultSet(
        token_expiry=_number(data.get("token_expiry", 1.0), "token_expiry"),
        invisible=_number(data.get("invisible", 0.0), "invisible"),
    )
    for rule in data.get("rules", []):
        if not isinstance(rule, dict) or "kind" not in rule:
            raise FaultSpecError("each rule needs a kind")
        args = {
            k: v for k, v in rule.items() if k not in {"kind", "route", "seen", "fired"} and v is not None
        }
        faults.rules.append(rule_from_mapping(str(rule["kind"]), args, rule.get("route")))
    for outage in data.get("outages", []):
        faults.outages.append(outage_from_mapping(outage))
    return faults


@dataclass
class Decision:
    """What to do with one request."""

    delay: float = 0.0
    rule: FaultRule | None = None


class FaultInjector:
    """Holds the active faults and decides, per request, which one applies."""

    def __init__(self, faults: FaultSet | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = faults or FaultSet()

    @property
    def faults(self) -> FaultSet:
        """The active fault set."""
        return self._faults

    def replace(self, faults: FaultSet) -> None:
        """Install a new fault set (counters start from zero)."""
        with self._lock:
            self._faults = faults

    def clear(self) -> None:
        """Remove all faults."""
        self.replace(FaultSet())

    @property
    def token_expiry_fraction(self) -> float:
        """Fraction of the advertised lifetime tokens really live."""
        return self._faults.token_expiry

    @property
    def invisible_seconds(self) -> float:
        """How long new jobs stay invisible."""
        return self._faults.invisible

    def decide(self, method: str, path: str) -> Decision:
        """Count the request against the rules and say what to inject."""
        decision = Decision()
        if path.startswith("/_emulator"):
            return decision
        with self._lock:
            for rule in self._faults.rules:
                if not rule.matches(method, path):
                    continue
                if rule.kind == "latency":
                    if rule.tick():
                        decision.delay += rule.seconds
                    continue
                if decision.rule is None and rule.tick():
                    decision.rule = rule
        return decision
