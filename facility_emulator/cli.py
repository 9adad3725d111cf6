"""The emulator's command: ``python -m facility_emulator``, also run as ``facility emulate``.

It serves every emulated API on 127.0.0.1 and prints what a client needs to reach them, without
printing a secret: the static token, the SF API's private keys, the whole credentials and a
``facility`` config file with one connection per API are written to files readable only by the
user, and printed as paths. ``--json`` prints one JSON line for programs instead (credentials
included, private keys as paths). It serves until Ctrl-C or SIGTERM, then kills running jobs and
removes its sandbox, unless the sandbox was given with ``--root``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
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
#: The connections written to the config file, by name; ``--api`` picks the one exported.
CONNECTION_NAMES = ("iri", "iri-v2", "sfapi", "s3m", "slurmrest", "flux", "firecrest")
#: Credential keys printed as they are: identities, not secrets.
_PUBLIC_KEYS = ("client_id", "native_client_id", "user", "home")
#: Credential keys holding PEM text; ``--json`` gives their ``..._path`` files instead.
_PEM_KEYS = frozenset({"private_key", "expired_private_key"})


def duration(text: str) -> float:
    """Seconds from ``30ms``, ``0.03s`` or ``0.03`` (the ``--latency`` option's forms)."""
    value = text.strip().lower()
    scale = 1.0
    if value.endswith("ms"):
        value, scale = value[:-2], 0.001
    elif value.endswith("s"):
        value = value[:-1]
    try:
        seconds = float(value) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30ms, 0.03s)") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"a duration must be >= 0, not {text!r}")
    return seconds


def parse_args(
    argv: list[str] | None = None, prog: str = "python -m facility_emulator"
) -> argparse.Namespace:
    """Parse command line options."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local stand-in for HPC facility APIs (IRI v1 and v2, NERSC SF API, OLCF S3M, "
        "slurmrestd, Flux, FirecREST) and Globus Transfer, with real jobs, real copies and real auth. "
        "Prints the settings to reach it; serves until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="sandbox directory, kept on exit (default: a temporary one, removed)",
    )
    parser.add_argument("--user", default="demo")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="seconds")
    parser.add_argument("--queue-delay", type=float, default=0.2, help="seconds a job stays queued")
    parser.add_argument("--task-delay", type=float, default=0.05, help="seconds a filesystem task takes")
    parser.add_argument("--faults", default="", help=FAULTS_HELP)
    parser.add_argument(
        "--latency",
        type=duration,
        default=0.0,
        help="added before answering every request, as at a remote facility: 30ms, 0.03s or 0.03 (default 0)",
    )
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
    parser.add_argument(
        "--api",
        choices=CONNECTION_NAMES,
        default="iri",
        help="the API whose connection the printed export lines describe (default: iri)",
    )
    parser.add_argument(
        "--env-file", type=Path, default=None, help="also write the export lines to this file (for scripts)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line with URLs and credentials")
    return parser.parse_args(argv)


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``, readable and writable by the user only (0600)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def render_connections(default: str, tables: Mapping[str, Mapping[str, Any]]) -> str:
    """The ``facility`` config file holding ``tables`` (``[connections.NAME]``)."""
    lines = [f"default = {_toml_value(default)}"]
    for name, table in tables.items():
        lines += ["", f'[connections."{name}"]']
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def connections(info: Mapping[str, Any], token_file: Path) -> dict[str, dict[str, Any]]:
    """One ``facility`` connection per emulated API (config-file tables, secrets included). The
    Slurm-based ones read job output from the sandbox directly (``local_output``): the emulator
    runs on this host."""
    creds = info["credentials"]
    sfapi, s3m, slurm, flux, firecrest = (
        creds[name] for name in ("sfapi", "s3m", "slurmrestd", "flux", "firecrest")
    )
    home = creds["home"]
    return {
        "iri": {"api": "iri", "url": info["iri"]["v1"], "token_file": str(token_file), "resource": "polaris"},
        "iri-v2": {
            "api": "iri",
            "url": info["iri"]["v2"],
            "token_file": str(token_file),
            "resource": "polaris",
        },
        "sfapi": {
            "api": "sfapi",
            "url": info["sfapi"]["v1.2"],
            "resource": sfapi["machines"][0],
            "auth": {
                "type": "private_key_jwt",
                "token_url": sfapi["token_url"],
                "client_id": sfapi["client_id"],
                "key_path": sfapi["key_path"],
            },
        },
        "s3m": {
            "api": "s3m",
            "url": info["s3m"]["root"],
            "token": s3m["token"],
            "resource": s3m["resources"][0],
            "options": {"directory": home, "local_output": True},
        },
        "slurmrest": {
            "api": "slurmrest",
            "url": info["slurmrestd"]["root"],
            "token": slurm["token"],
            "user_name": slurm["user_name"],
            "resource": "debug" if "debug" in slurm["partitions"] else slurm["partitions"][0],
            "options": {"directory": home, "local_output": True},
        },
        "flux": {
            "api": "flux",
            "url": info["flux"]["shared-secret"],
            "resource": flux["resource"],
            "auth": {
                "type": "flux_shared_secret",
                "user": flux["user"],
                "token": flux["token"],
                "secret_key": flux["secret_key"],
            },
        },
        "firecrest": {
            "api": "firecrest",
            "url": info["firecrest"]["v2"],
            "resource": firecrest["systems"][0],
            "auth": {
                "type": "oidc_client_credentials",
                "token_url": firecrest["token_url"],
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
            },
        },
    }


def write_settings(info: Mapping[str, Any], root: Path) -> dict[str, Path]:
    """Write the secrets to 0600 files in the sandbox; returns their paths by role."""
    token_file = write_private(root / "facility-token", str(info["credentials"]["static_token"]))
    config = write_private(
        root / "connections.toml", render_connections("iri", connections(info, token_file))
    )
    full = write_private(root / "credentials.json", json.dumps(info["credentials"], indent=2) + "\n")
    return {"token": token_file, "config": config, "credentials": full}


def exports(info: Mapping[str, Any], files: Mapping[str, Path], api: str) -> list[str]:
    """The shell lines that make ``facility`` use the emulator's ``api`` connection."""
    lines = [f"export FACILITY_CONFIG={files['config']}"]
    if api == "iri":
        lines += [
            "export FACILITY_API=iri",
            f"export FACILITY_URL={info['iri']['v1']}",
            f"export FACILITY_TOKEN_FILE={files['token']}",
            "export FACILITY_RESOURCE=polaris",
        ]
    else:
        lines.append(f"export FACILITY_CONN={api}")
    lines.append(f"export REMOTE_HOME={info['credentials']['home']}")
    return lines


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(label) for label, _ in rows) + 2
    return [f"  {(label + ':').ljust(width)}{value}" for label, value in rows]


def human(info: Mapping[str, Any], files: Mapping[str, Path], lines: list[str], api: str, kept: bool) -> str:
    """The printout for people: every API's base URL, identities, secret files, export lines."""
    creds = info["credentials"]
    urls: list[tuple[str, str]] = []
    for name, value in info.items():
        if isinstance(value, Mapping) and name != "credentials":
            urls += [(f"{name} {label}", url) for label, url in value.items()]
    urls += [
        ("admin", info["admin"]),
        ("OIDC token URL", creds["token_url"]),
        ("Globus token URL", creds["globus_token_url"]),
    ]
    sfapi = creds["sfapi"]
    identities = [(key.replace("_", " "), str(creds[key])) for key in _PUBLIC_KEYS]
    secrets = [
        ("static token", str(files["token"])),
        ("all credentials", str(files["credentials"])),
        (f"SF API key ({sfapi['client_id']})", sfapi["key_path"]),
        (f"SF API expired key ({sfapi['expired_client_id']})", sfapi["expired_key_path"]),
        ("connections", f"{files['config']} (--conn {', '.join(CONNECTION_NAMES)})"),
    ]
    sandbox = f"{creds['root']} ({'kept' if kept else 'removed'} on exit)"
    text = [f"facility emulator serving at {info['url']}", f"sandbox {sandbox}", "base URLs:"]
    text += _aligned(urls)
    text += [
        "identities:",
        *_aligned(identities),
        "secrets (files readable only by you):",
        *_aligned(secrets),
    ]
    text += [f"connection settings for {api} (paste into your shell):", *lines]
    text += [f"other APIs and credentials: {info['admin']}/credentials", "press Ctrl-C to stop"]
    return "\n".join(text)


def for_json(info: Mapping[str, Any], files: Mapping[str, Path]) -> dict[str, Any]:
    """The ``--json`` line: everything, with private keys as paths and the written files."""
    described: dict[str, Any] = json.loads(json.dumps(info))
    for value in described["credentials"].values():
        if isinstance(value, dict):
            for key in _PEM_KEYS & set(value):
                del value[key]
    described["files"] = {role: str(path) for role, path in files.items()}
    return described


def main(argv: list[str] | None = None, prog: str = "python -m facility_emulator") -> int:
    """Serve until SIGINT/SIGTERM, then kill running jobs and remove a temporary sandbox."""
    args = parse_args(argv, prog)
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
        latency=args.latency,
        user=args.user,
        host=args.host,
        port=args.port,
        scheduler=args.scheduler,
        credentials_file=args.credentials,
        token_prefix=args.token_prefix,
        fidelity=fidelity.text(),
        idempotency_store=args.idempotency_store,
        **({"root": args.root} if args.root is not None else {}),
    )
    kept = args.root is not None
    try:
        return _serve(config, args, kept)
    finally:
        if not kept:
            shutil.rmtree(config.root, ignore_errors=True)


def _serve(config: EmulatorConfig, args: argparse.Namespace, kept: bool) -> int:
    try:
        config.fixed_credentials()
    except ValueError as exc:
        print(f"invalid --credentials: {exc}", file=sys.stderr)
        return 2
    config.root.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = EmulatorServer(config)
    server.start()
    try:
        info = server.describe()
        files = write_settings(info, config.root)
        lines = exports(info, files, args.api)
        if args.env_file is not None:
            args.env_file.write_text("\n".join(lines) + "\n")
        print(
            json.dumps(for_json(info, files)) if args.json else human(info, files, lines, args.api, kept),
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        print("emulator stopped", file=sys.stderr if args.json else sys.stdout, flush=True)
    return 0
