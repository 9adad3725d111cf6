"""Run the example DAGs, failing runs and every backend's client against an emulator whose
credentials the caller chose; leave every trace in one directory for the secrets test to search.

Usage: ``python tests/reliability/secrets_runner.py WORKDIR CREDENTIALS_JSON WRONG_JSON``

* ``CREDENTIALS_JSON`` fixes the emulator's shared identities and token prefix
  (``EmulatorConfig.credentials_file``); ``WRONG_JSON`` maps names to wrong credentials the
  failing runs use (they are secrets too: a user's mistyped password must not show either).
* The emulator's other secrets (SF API keys, Flux secret and token, S3M token) are random; they
  are written to ``WORKDIR/emulator.json`` (mode 0600) for the test to search for.
* Airflow runs on SQLite under ``WORKDIR/airflow``: connection ``hpc_site_a`` (static token) is
  stored in the metadata database (and given as a variable for the DAGs with deferred waits),
  ``hpc_site_b`` (OIDC client secret) and ``facility_sfapi``
  (private key PEM) come from ``AIRFLOW_CONN_*`` variables.
* DEBUG logging of the whole process goes to ``WORKDIR/debug.log``, and the DEBUG records of the
  HTTP and auth libraries (httpx, httpcore, urllib3, authlib, globus-sdk, pyfirecrest) also go,
  by their own handler, to ``WORKDIR/libraries-debug.log``; FirecREST moves a file through its
  staged path, so presigned URLs are logged.
* The text, repr, ``body``, traceback and everything an error tracker would capture of every
  expected error (its ``__cause__``/``__context__`` chain and each frame's locals, rendered by
  ``tests/secret_search.py``) go to ``WORKDIR/errors.txt``. Expected errors are each backend's
  run with wrong credentials and its run against an API that echoes the request's headers in a
  400 answer (the emulator's ``echo`` fault).

Prints one JSON line: the final state of each DAG run and the emulator's token counts.
Run as a separate process: Airflow reads its configuration when first imported.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.secret_search import error_texts  # noqa: E402 - needs the repository on the path

#: The libraries whose DEBUG records are kept apart, to be searched on their own.
LIBRARY_LOGGERS = ("httpx", "httpcore", "urllib3", "authlib", "globus_sdk", "firecrest")

DAG_FILES = [
    *sorted((REPO / "example_dags").glob("*.py")),
    REPO / "tests" / "airflow" / "dags" / "sfapi_status_gated.py",
    REPO / "tests" / "airflow" / "dags" / "facility_failing_job.py",
]


def configure_airflow(home: Path) -> None:
    """A private Airflow home; must run before Airflow is imported."""
    from cryptography.fernet import Fernet

    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    for source in DAG_FILES:
        (dags / source.name).symlink_to(source)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        }
    )


def record_error(errors: Path, label: str, error: BaseException) -> None:
    """Append everything a user, a log or an error tracker could see of ``error``."""
    with errors.open("a") as handle:
        handle.write(f"== {label}\n{error}\n{error!r}\nbody: {getattr(error, 'body', None)}\n")
        handle.write("".join(traceback.format_exception(error)))
        for where, text in error_texts(error).items():
            handle.write(f"-- {where}\n{text}\n")


def log_libraries(path: Path) -> None:
    """Every DEBUG record of the HTTP and auth libraries, to ``path`` (named, one per line)."""
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)


def set_faults(server: Any, spec: str | None) -> None:
    import httpx

    if spec is None:
        httpx.delete(f"{server.url}/_emulator/faults").raise_for_status()
    else:
        httpx.put(f"{server.url}/_emulator/faults", json={"spec": spec}).raise_for_status()


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> str:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"cannot load {dag_id}: {bag.import_errors}")
    return str(dag.test(run_conf=conf).state)


def store_connection(conn_id: str, **fields: Any) -> None:
    """A connection in the metadata database (its password encrypted with the Fernet key)."""
    from airflow import settings
    from airflow.models import Connection

    session = settings.Session()
    try:
        session.add(Connection(conn_id=conn_id, **fields))
        session.commit()
    finally:
        session.close()


def client_runs(server: Any, wrong: dict[str, str], errors: Path, work: Path) -> None:
    """Every backend once with the right credentials (a job where it has jobs; FirecREST also a
    file through its staged path), once wrong, once against an API echoing the request."""
    from facility_common import FacilityClient, FacilityError, JobAttributes, JobSpec, ResourceSpec

    creds = server.credentials
    sfapi = server.flavour_credentials("sfapi")
    flux = server.flavour_credentials("flux")
    s3m = server.flavour_credentials("s3m")
    oidc = {
        "type": "oidc_client_credentials",
        "token_url": creds["token_url"],
        "client_id": creds["client_id"],
    }
    globus = {
        "type": "globus_refresh_token",
        "client_id": creds["native_client_id"],
        "resource_server": "facility-emulator-iri",
        "auth_base_url": f"{server.url}/globus/",
        "allow_insecure_http": True,
    }
    pem = {"type": "private_key_jwt", "token_url": sfapi["token_url"], "client_id": sfapi["client_id"]}
    flux_opts = {"user": flux["user"], "queue": "debug", "account": "demo"}
    # name -> (facility, base url, resource, right auth, wrong auth, right options, wrong options)
    cases: dict[str, tuple[str, str, str, Any, Any, dict[str, Any], dict[str, Any]]] = {
        "iri-oidc": (
            "iri",
            server.iri_url("v1"),
            "polaris",
            {**oidc, "client_secret": creds["client_secret"]},
            {**oidc, "client_secret": wrong["client_secret"]},
            {},
            {},
        ),
        "iri-static": (
            "iri",
            server.iri_url("v2"),
            "polaris",
            creds["static_token"],
            wrong["static_token"],
            {"project": "demo"},
            {"project": "demo"},
        ),
        "iri-globus-refresh": (
            "iri",
            server.iri_url("v1"),
            "polaris",
            {**globus, "refresh_token": creds["refresh_token"]},
            {**globus, "refresh_token": wrong["refresh_token"]},
            {},
            {},
        ),
        "sfapi": (
            "sfapi",
            server.api_url("sfapi"),
            "perlmutter",
            {**pem, "private_key": sfapi["private_key"]},
            {**pem, "client_id": sfapi["expired_client_id"], "private_key": sfapi["expired_private_key"]},
            {"task_poll_interval": 0.05},
            {},
        ),
        "firecrest": (
            "firecrest",
            server.api_url("firecrest"),
            "daint",
            {**oidc, "client_secret": creds["client_secret"]},
            {**oidc, "client_secret": wrong["client_secret"]},
            {"account": "demo"},
            {"account": "demo"},
        ),
        "flux": (
            "flux",
            server.api_url("flux"),
            "flux",
            None,
            None,
            {**flux_opts, "token": flux["token"], "secret_key": flux["secret_key"]},
            {**flux_opts, "token": wrong["flux_token"], "secret_key": wrong["flux_secret_key"]},
        ),
        "s3m": (
            "s3m",
            server.api_url("s3m", "root"),
            "polaris",
            s3m["token"],
            wrong["s3m_token"],
            {"directory": s3m["home"], "local_output": True},
            {"directory": s3m["home"]},
        ),
    }
    spec = JobSpec(
        executable="/bin/sh",
        arguments=["-c", "echo job output; echo job error >&2; exit 0"],
        resources=ResourceSpec(node_count=1),
        attributes=JobAttributes(duration=timedelta(seconds=60), queue_name="debug", account="demo"),
    )
    for name, (facility, url, resource, right, bad, options, bad_options) in cases.items():
        with FacilityClient.connect(facility, base_url=url, auth=right, **options) as client:
            print(f"{name}: {client!r}", flush=True)
            client.resources()
            if name in ("iri-oidc", "sfapi", "firecrest", "flux", "s3m"):
                job = client.submit(resource, spec)
                done = client.wait(resource, job.id, timeout=60, poll_interval=0.2)
                print(f"{name}: job {done!r}", flush=True)
            if name == "firecrest":
                staged(client, server, work)
        try:
            with FacilityClient.connect(facility, base_url=url, auth=bad, **bad_options) as client:
                client.submit(resource, spec)
        except FacilityError as exc:
            record_error(errors, f"{name} with wrong credentials", exc)
        else:
            raise SystemExit(f"{name}: wrong credentials were accepted")
        set_faults(server, "echo@GET *")
        try:
            with FacilityClient.connect(facility, base_url=url, auth=right, **options) as client:
                client.resources()
        except FacilityError as exc:
            record_error(errors, f"{name} against an API echoing the request", exc)
        else:
            raise SystemExit(f"{name}: the echoing API was not an error")
        finally:
            set_faults(server, None)


def staged(client: Any, server: Any, work: Path) -> None:
    """A file up and down through FirecREST's staged path (presigned URLs), on ``eiger``."""
    local = work / "staged.bin"
    local.write_bytes(os.urandom(1536 * 1024))  # above eiger's 1 MiB direct-transfer limit
    remote = f"{server.credentials['home']}/staged-{uuid.uuid4().hex[:6]}.bin"
    client.upload("eiger", local, remote)
    client.download("eiger", remote, work / "staged-back.bin")
    if (work / "staged-back.bin").read_bytes() != local.read_bytes():
        raise SystemExit("firecrest: the staged file came back different")


def main(work: Path, credentials: Path, wrong_file: Path) -> int:
    from facility_emulator import EmulatorConfig, EmulatorServer

    wrong = json.loads(wrong_file.read_text())
    errors = work / "errors.txt"
    configure_airflow(work / "airflow")
    config = EmulatorConfig(
        root=work / "facility", queue_delay=0.1, task_delay=0.01, credentials_file=credentials
    )
    server = EmulatorServer(config)
    with server:
        described = work / "emulator.json"
        described.touch(mode=0o600)
        described.write_text(json.dumps(server.describe()))
        creds = server.credentials
        sfapi = server.flavour_credentials("sfapi")

        from airflow.utils import db

        db.initdb()
        debug = logging.FileHandler(work / "debug.log")
        debug.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(debug)
        logging.getLogger().setLevel(logging.DEBUG)
        log_libraries(work / "libraries-debug.log")

        store_connection(
            "hpc_site_a", conn_type="facility_iri", host=server.iri_url("v1"), password=creds["static_token"]
        )
        collections = server.flavour_credentials("globus")["collections"]
        site_b = {
            "conn_type": "facility_iri",
            "host": server.iri_url("v1"),
            "login": creds["client_id"],
            "password": creds["client_secret"],
            "extra": {
                "auth_type": "oidc_client_credentials",
                "token_url": creds["token_url"],
                "globus_collections": {"dtn": collections["nersc-dtn"]["id"]},
            },
        }
        # The pipeline's transfer: the emulator's Globus confidential client.
        globus_conn = {
            "conn_type": "facility_globus",
            "host": f"{server.url}/transfer/",
            "login": creds["client_id"],
            "password": creds["client_secret"],
            "extra": {"auth_base_url": f"{server.url}/globus/"},
        }
        os.environ["AIRFLOW_CONN_GLOBUS_DEFAULT"] = json.dumps(globus_conn)
        sfapi_conn = {
            "conn_type": "facility_sfapi",
            "host": server.api_url("sfapi"),
            "extra": {
                "auth": {
                    "type": "private_key_jwt",
                    "token_url": sfapi["token_url"],
                    "client_id": sfapi["client_id"],
                    "private_key": sfapi["private_key"],
                }
            },
        }
        os.environ["AIRFLOW_CONN_HPC_SITE_B"] = json.dumps(site_b)
        os.environ["AIRFLOW_CONN_FACILITY_SFAPI"] = json.dumps(sfapi_conn)

        home = creds["home"]
        tag = uuid.uuid4().hex[:6]
        site_a_env = {
            "conn_type": "facility_iri",
            "host": server.iri_url("v1"),
            "password": creds["static_token"],
            "extra": {"globus_collections": {"eagle": collections["alcf-eagle"]["id"]}},
        }
        states = {
            # Operators only: hpc_site_a comes from the metadata database.
            "file_staging": run_dag(
                "file_staging",
                {"remote_dir": f"{home}/staging-{tag}", "local_dir": str(work / "staging-local")},
            ),
            "status_gated_run": run_dag("status_gated_run"),
            "sfapi_status_gated": run_dag("sfapi_status_gated"),
        }
        # Deferred waits: dag.test() runs triggers in process, where only AIRFLOW_CONN_* variables
        # are visible (not the metadata database), so hpc_site_a comes from the environment here.
        os.environ["AIRFLOW_CONN_HPC_SITE_A"] = json.dumps(site_a_env)
        states["cross_facility_pipeline"] = run_dag(
            "cross_facility_pipeline",
            {
                "site_a_workdir": f"{collections['alcf-eagle']['root']}/pipe-a-{tag}",
                "site_a_transfer_dir": f"/pipe-a-{tag}/",
                "site_b_resource": "aurora",
                "site_b_workdir": f"{collections['nersc-dtn']['root']}/pipe-b-{tag}",
                "site_b_transfer_dir": f"/pipe-b-{tag}/",
                "local_dir": str(work / "pipeline-local"),
            },
        )
        states["facility_failing_job"] = run_dag("facility_failing_job")
        # A mistyped token overrides the stored connection: the run fails on authentication.
        os.environ["AIRFLOW_CONN_HPC_SITE_A"] = json.dumps(
            {"conn_type": "facility_iri", "host": server.iri_url("v1"), "password": wrong["static_token"]}
        )
        states["file_staging/wrong-token"] = run_dag(
            "file_staging",
            {"remote_dir": f"{home}/staging-bad-{tag}", "local_dir": str(work / "staging-bad")},
        )
        del os.environ["AIRFLOW_CONN_HPC_SITE_A"]

        client_runs(server, wrong, errors, work)
        tokens = server.state.tokens
        issued = list(tokens._tokens)
        print(
            json.dumps(
                {
                    "states": states,
                    "issued": tokens.issued_count,
                    "all_prefixed": all(t.startswith(tokens.token_prefix) for t in issued),
                    "prefix_set": bool(tokens.token_prefix),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
