"""Command line entry point: ``python -m facility_emulator``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from facility_emulator.config import CREDENTIALS_ENV, EmulatorConfig
from facility_emulator.faults import FaultSpecError, parse_spec
from facility_emulator.fidelity import Fidelity, FidelityError
from facility_emulator.server import EmulatorServer

FAULTS_HELP = (
    "fault spec, comma separated ITEMs: KIND[=ARGS][@[METHOD ]PATH_GLOB]. Kinds: latency=S; "
    "429|500|502|503|504|drop_before|drop_after with every:N:burst:K:count:M:retry_after:S; "
    "token_expiry=FRACTION; invisible=S; outage=resources:polaris+aurora:start:S:duration:D. "
    "Example: 'latency=0.05,429=every:5:burst:2:retry_after:1,drop_after=count:1@POST */compute/job/*'"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command line options."""
    parser = argparse.ArgumentParser(
        prog="python -m facility_emulator",
        description="Local stand-in for HPC facility APIs (DOE IRI v1/v2) with real jobs and real auth.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--root", type=Path, default=None, help="sandbox directory (default: a temp dir)")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="seconds")
    parser.add_argument("--queue-delay", type=float, default=0.2, help="seconds a job stays queued")
    parser.add_argument("--task-delay", type=float, default=0.05, help="seconds a filesystem task takes")
    parser.add_argument("--faults", default="", help=FAULTS_HELP)
    parser.add_argument(
        "--scheduler",
        choices=["local", "slurm"],
        default="local",
        help="run jobs as local processes, or as real jobs of the local Slurm (scripts/slurm-local.sh)",
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        default=os.environ.get(CREDENTIALS_ENV) or None,
        metavar="FILE",
        help="JSON file fixing client_id, client_secret, native_client_id, refresh_token, static_token "
        f"and token_prefix instead of random ones (default: ${CREDENTIALS_ENV})",
    )
    parser.add_argument(
        "--token-prefix", default="", help="prefix of every issued access token (makes them easy to spot)"
    )
    parser.add_argument(
        "--fidelity",
        action="append",
        default=[],
        metavar="[FLAVOUR=]LEVEL",
        help="'spec' (default: follow the published specs) or 'reference' (reproduce what the real "
        "servers were observed to do), for every API or one: '--fidelity reference', "
        "'--fidelity iri=reference'; repeat or separate with commas",
    )
    parser.add_argument(
        "--no-idempotency-store",
        dest="idempotency_store",
        action="store_false",
        help="IRI v2 keeps no Idempotency-Key store: a keyed submit or update answers 501",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line with URLs and credentials")
    return parser.parse_args(argv)


def _human(info: dict[str, Any]) -> str:
    """The printout for people: every API's base URL, then the credentials."""
    creds = dict(info["credentials"])
    lines = [f"facility emulator serving at {info['url']}"]
    for name, urls in info.items():
        if name in ("url", "admin", "credentials"):
            continue
        for label, url in urls.items():
            lines.append(f"  {name} {label}:".ljust(21) + url)
    lines += [
        f"  admin:             {info['admin']}",
        f"  OIDC token URL:    {creds.pop('token_url')}",
        f"  Globus token URL:  {creds.pop('globus_token_url')}",
        f"  client id:         {creds.pop('client_id')}",
        f"  client secret:     {creds.pop('client_secret')}",
        f"  native client id:  {creds.pop('native_client_id')}",
        f"  refresh token:     {creds.pop('refresh_token')}",
        f"  static token:      {creds.pop('static_token')}",
        f"  user / home:       {creds.pop('user')} / {creds.pop('home')}",
    ]
    for name, value in creds.items():
        if isinstance(value, dict):
            for key, item in value.items():
                lines.append(f"  {name} {key}:".ljust(21) + str(item))
    lines.append("press Ctrl-C to stop")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM, then kill running jobs."""
    args = parse_args(argv)
    try:
        parse_spec(args.faults)
    except FaultSpecError as exc:
        print(f"invalid --faults: {exc}", file=sys.stderr)
        return 2
    try:
        fidelity = Fidelity.parse(",".join(args.fidelity))
    except FidelityError as exc:
        print(f"invalid --fidelity: {exc}", file=sys.stderr)
        return 2
    config = EmulatorConfig(
        token_lifetime=args.token_lifetime,
        queue_delay=args.queue_delay,
        task_delay=args.task_delay,
        faults=args.faults,
        user=args.user,
        host=args.host,
        port=args.port,
        scheduler=args.scheduler,
        credentials_file=args.credentials,
        token_prefix=args.token_prefix,
        fidelity=fidelity.text(),
        idempotency_store=args.idempotency_store,
    )
    try:
        config.fixed_credentials()
    except ValueError as exc:
        print(f"invalid --credentials: {exc}", file=sys.stderr)
        return 2
    if args.root is not None:
        args.root.mkdir(parents=True, exist_ok=True)
        config.root = args.root.resolve()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = EmulatorServer(config)
    server.start()
    try:
        info = server.describe()
        print(json.dumps(info) if args.json else _human(info), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0
