"""The command line: --json start-up line, serving, clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx


def test_cli_json_start_stop(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facility_emulator",
            "--json",
            "--root",
            str(tmp_path),
            "--token-lifetime",
            "5",
            "--faults",
            "latency=0.01",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["iri"]["v1"].endswith("/iri/api/v1")
        creds = info["credentials"]
        assert creds["home"] == str(tmp_path.resolve() / "home" / "demo")
        tok = httpx.post(
            creds["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
        )
        assert tok.json()["expires_in"] == 5
        assert httpx.get(f"{info['iri']['v2']}/facility").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
