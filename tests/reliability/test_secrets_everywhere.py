"""No credential shows anywhere: the demo and the example DAGs run with secrets this test chose,
then every trace they leave is searched for them.

Two separate processes run (Airflow reads its configuration at import, Parsl starts its own
interchange, and the demo is run as the README runs it):

* ``scripts/demo.py`` with ``FACILITY_EMULATOR_CREDENTIALS`` (fixed client secret, refresh token,
  static token and a prefix on every issued access token) and ``FACILITY_DEMO_DIR`` (its working
  directory kept for inspection: the facility's files, Parsl's run directory, Airflow's home);
* ``secrets_runner.py``: the example DAGs (and the SF API and failing-job test DAGs) under
  ``dag.test()`` with connections in the metadata database and in ``AIRFLOW_CONN_*`` variables, a
  run that fails on a mistyped token, a failing job, and every backend's client with right and
  wrong credentials and against an API that echoes the request's headers in its error answers,
  FirecREST moving a file through its presigned staged path, DEBUG logging on (the HTTP and auth
  libraries' records also in a file of their own).

Searched: both processes' stdout and stderr, every file they left (logs, the libraries' DEBUG
log, Parsl run directory, job outputs, the SQLite database as bytes, error texts, bodies and
tracebacks, and what an error tracker captures of each error: its ``__cause__``/``__context__``
chain and every frame's locals), and the database's XCom and rendered-field tables read as rows.
No presigned URL signature may show unredacted anywhere. Looked for: the client secret, the static and refresh
tokens, the issued-token prefix, HTTP Basic encodings of the client credentials, every line of
the SF API private keys, the Flux token and secret key, the S3M token, and the wrong credentials
the failing runs used. Only the files that hold credentials on purpose are skipped: the
credentials files given to the processes and the emulator's own key store.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("secrets_runner.py")
#: Bound on each of the two processes: generous, since both start Airflow and Parsl and a loaded
#: machine runs them slowly; the first test's own bound (which covers the shared set-up) is above it.
TIMEOUT = 540

pytestmark = pytest.mark.timeout(TIMEOUT + 60)


def _known(label: str) -> str:
    """A secret that no code could produce by chance, recognisable in a failure report."""
    return f"known-{label}-{secrets.token_urlsafe(18)}"


@dataclass
class Run:
    """One finished process: its output and the directory it worked in."""

    returncode: int
    stdout: str
    stderr: str
    directory: Path


@dataclass
class Setup:
    """The credential files and the two finished runs."""

    credentials: dict[str, str]
    wrong: dict[str, str]
    demo: Run
    dags: Run


def _pem_lines(pem: str) -> list[str]:
    """The body lines of a PEM key: any one of them showing is a leak."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _shared_secrets(credentials: dict[str, str]) -> dict[str, str]:
    return {
        "client secret": credentials["client_secret"],
        "refresh token": credentials["refresh_token"],
        "static token": credentials["static_token"],
        "issued access token": credentials["token_prefix"],
        "client credentials as HTTP Basic": _basic(credentials["client_id"], credentials["client_secret"]),
    }


def _key_store_secrets(root: Path) -> dict[str, str]:
    """Every body line of the SF API keys the emulator wrote under its sandbox root."""
    found: dict[str, str] = {}
    for key in sorted((root / "sfapi-keys").glob("*.pem")):
        for number, line in enumerate(_pem_lines(key.read_text().split("\n", 1)[1])):
            found[f"SF API key {key.stem} line {number}"] = line
    assert found, f"no SF API key under {root}"
    return found


def _files(directory: Path, skip: set[Path]) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        if path.is_file() and not path.is_symlink():
            yield path


def _db_rows(database: Path) -> dict[str, list[str]]:
    """The XCom and rendered-field rows of Airflow's database, as text."""
    rows: dict[str, list[str]] = {}
    with sqlite3.connect(database) as connection:
        for table in ("xcom", "rendered_task_instance_fields", "connection"):
            cursor = connection.execute(f"SELECT * FROM {table}")
            rows[table] = [json.dumps(row, default=lambda v: v.decode("latin-1")) for row in cursor]
    return rows


#: A presigned URL's signature that was not redacted.
SIGNATURE = re.compile(rb"(?i)(X-Amz-Signature|X-Amz-Credential|Signature|sig)=(?!\*{10})[^&\s\"'<>]")


def _leaks(texts: dict[str, bytes], secrets_: dict[str, str]) -> list[str]:
    """``where: what`` for every secret found in every text (labels only, never values)."""
    found = [
        f"{where}: {label}"
        for where, data in texts.items()
        for label, value in secrets_.items()
        if value.encode() in data
    ]
    found.extend(
        f"{where}: a presigned URL signature" for where, data in texts.items() if SIGNATURE.search(data)
    )
    return found


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str], directory: Path) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return Run(process.returncode, stdout, stderr, directory)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """Run the demo and the DAG runner side by side, with credentials chosen here."""
    base = tmp_path_factory.mktemp("secrets")
    credentials = {
        "client_id": f"client-{secrets.token_hex(4)}",
        "client_secret": _known("client-secret"),
        "native_client_id": f"native-{secrets.token_hex(4)}",
        "refresh_token": _known("refresh-token"),
        "static_token": _known("static-token"),
        "token_prefix": f"issued{secrets.token_hex(6)}-",
    }
    wrong = {
        name: _known(f"wrong-{name}")
        for name in (
            "client_secret",
            "static_token",
            "refresh_token",
            "flux_token",
            "flux_secret_key",
            "s3m_token",
        )
    }
    creds_file = base / "credentials.json"
    creds_file.touch(mode=0o600)
    creds_file.write_text(json.dumps(credentials))
    wrong_file = base / "wrong.json"
    wrong_file.touch(mode=0o600)
    wrong_file.write_text(json.dumps(wrong))

    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "FACILITY_"))}
    demo_dir, dags_dir = base / "demo", base / "dags"
    dags_dir.mkdir()
    demo = _start(
        [sys.executable, "scripts/demo.py"],
        {**env, "FACILITY_EMULATOR_CREDENTIALS": str(creds_file), "FACILITY_DEMO_DIR": str(demo_dir)},
    )
    dags = _start([sys.executable, str(RUNNER), str(dags_dir), str(creds_file), str(wrong_file)], env)
    return Setup(credentials, wrong, _finish(demo, demo_dir), _finish(dags, dags_dir))


def test_the_demo_leaks_no_secret(setup: Setup) -> None:
    run = setup.demo
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "with the credentials fixed in" in run.stdout
    root = run.directory / "facility"
    # The places searched exist and hold something: the search is not vacuous.
    assert any((run.directory / "parsl-runinfo").rglob("*.log")), "no Parsl run directory"
    database = run.directory / "airflow" / "airflow.db"
    rows = _db_rows(database)
    assert rows["xcom"] and rows["rendered_task_instance_fields"]

    wanted = {**_shared_secrets(setup.credentials), **_key_store_secrets(root)}
    texts = {"demo stdout": run.stdout.encode(), "demo stderr": run.stderr.encode()}
    texts.update({f"table {table}": "\n".join(values).encode() for table, values in rows.items()})
    for path in _files(run.directory, skip={root / "sfapi-keys"}):
        texts[str(path.relative_to(run.directory))] = path.read_bytes()
    assert any("parsl-runinfo" in where for where in texts)
    assert _leaks(texts, wanted) == []


def test_the_example_dags_and_failing_runs_leak_no_secret(setup: Setup) -> None:
    run = setup.dags
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["states"] == {
        "file_staging": "success",
        "status_gated_run": "success",
        "sfapi_status_gated": "success",
        "cross_facility_pipeline": "success",
        "facility_failing_job": "failed",
        "file_staging/wrong-token": "failed",
    }
    assert summary["issued"] > 0 and summary["prefix_set"] and summary["all_prefixed"]

    described = run.directory / "emulator.json"
    info = json.loads(described.read_text())["credentials"]
    wanted = {
        **_shared_secrets(setup.credentials),
        **_key_store_secrets(run.directory / "facility"),
        **{f"wrong {name}": value for name, value in setup.wrong.items()},
        "wrong client credentials as HTTP Basic": _basic(
            setup.credentials["client_id"], setup.wrong["client_secret"]
        ),
        "Flux token": info["flux"]["token"],
        "Flux secret key": info["flux"]["secret_key"],
        "S3M token": info["s3m"]["token"],
    }
    for number, line in enumerate(_pem_lines(info["sfapi"]["private_key"])):
        wanted[f"SF API private key line {number}"] = line
    # The search finds what it looks for where it is on purpose.
    assert {"Flux token", "S3M token", "SF API private key line 3"} <= {
        label for _, label in (leak.split(": ", 1) for leak in _leaks({"x": described.read_bytes()}, wanted))
    }

    errors = (run.directory / "errors.txt").read_text()
    assert errors.count("\n== ") + errors.startswith("== ") == 14
    assert errors.count("AuthenticationError(") >= 7
    assert errors.count("against an API echoing the request") == 7 and "injected fault" in errors
    assert "frame" in errors and "chain[0]" in errors  # what an error tracker captures is there
    assert (run.directory / "debug.log").stat().st_size > 0
    libraries = (run.directory / "libraries-debug.log").read_text()
    logged = {line.split(" ", 1)[0].split(".")[0] for line in libraries.splitlines() if line}
    assert {"httpx", "httpcore", "urllib3", "globus_sdk"} <= logged, logged
    # FirecREST's staged transfer put presigned URLs in the logs, redacted.
    assert "X-Amz-Signature=**********" in libraries
    database = run.directory / "airflow" / "airflow.db"
    rows = _db_rows(database)
    assert rows["xcom"] and rows["rendered_task_instance_fields"]
    assert any("hpc_site_a" in row for row in rows["connection"]), "the stored connection is missing"
    assert "AuthenticationError" in run.stdout + run.stderr  # the failed run's task log

    texts = {"runner stdout": run.stdout.encode(), "runner stderr": run.stderr.encode()}
    texts.update({f"table {table}": "\n".join(values).encode() for table, values in rows.items()})
    for path in _files(run.directory, skip={described, run.directory / "facility" / "sfapi-keys"}):
        texts[str(path.relative_to(run.directory))] = path.read_bytes()
    assert _leaks(texts, wanted) == []


def test_the_cli_takes_fixed_credentials_from_the_environment(tmp_path: Path) -> None:
    """``FACILITY_EMULATOR_CREDENTIALS`` fixes the identities; issued tokens carry the prefix."""
    import httpx

    chosen = {"client_id": "cli-client", "client_secret": _known("cli"), "token_prefix": "cliissued-"}
    creds_file = tmp_path / "credentials.json"
    creds_file.write_text(json.dumps(chosen))
    env = {**os.environ, "FACILITY_EMULATOR_CREDENTIALS": str(creds_file)}
    command = [sys.executable, "-m", "facility_emulator", "--json", "--root", str(tmp_path / "root")]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())["credentials"]
        assert (info["client_id"], info["client_secret"]) == (chosen["client_id"], chosen["client_secret"])
        answer = httpx.post(
            info["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(chosen["client_id"], chosen["client_secret"]),
            timeout=10,
        )
        assert answer.json()["access_token"].startswith("cliissued-")
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_a_bad_credentials_file_is_refused_without_showing_values(tmp_path: Path) -> None:
    from facility_emulator.config import EmulatorConfig

    secret = _known("bad-file")
    creds_file = tmp_path / "credentials.json"
    creds_file.write_text(json.dumps({"client_secret": secret, "password": secret}))
    with pytest.raises(ValueError, match="unknown keys") as caught:
        EmulatorConfig(root=tmp_path / "root", credentials_file=creds_file).fixed_credentials()
    assert secret not in str(caught.value)
    creds_file.write_text(json.dumps({"client_secret": ["not", "a", "string"]}))
    with pytest.raises(ValueError, match="non-empty strings"):
        EmulatorConfig(root=tmp_path / "root", credentials_file=creds_file).fixed_credentials()
