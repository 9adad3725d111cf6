"""Bad input is refused before any request: one table, one row per case.

Every row gives a malformed job description, file-operation argument or connection setting to the
client (a JobSpec as the mapping Airflow operators and Parsl configurations carry, a
``FacilityClient.connect`` call, or an Airflow ``Connection`` built in memory) and checks that

* the error is an :class:`InvalidJobSpec` or :class:`ConfigurationError` (a ``FacilityError``),
* its text names the offending field and the facility (and the connection, for Airflow rows),
* the emulator saw no request at all, token requests included (its own request counters).

Job rows run against two backends of different families (IRI and Flux): the checks belong to
the client layer, not to one API.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import Connection

from airflow_facility.hooks.facility import connect_sync
from facility_common import (
    ConfigurationError,
    FacilityClient,
    FacilityError,
    InvalidJobSpec,
    settings_from_connection,
)
from facility_emulator import EmulatorConfig, EmulatorServer

from ..conformance.flavour import Flavour
from ..conformance.flavours.flux import FLAVOURS as FLUX_FLAVOURS
from ..conformance.flavours.iri import FLAVOURS as IRI_FLAVOURS
from ..conformance.flavours.sfapi import FLAVOURS as SFAPI_FLAVOURS

FLAVOURS: dict[str, Callable[[Any], Flavour]] = {**IRI_FLAVOURS, **FLUX_FLAVOURS, **SFAPI_FLAVOURS}
JOB_BACKENDS = ("iri-v1", "flux")


@dataclasses.dataclass(frozen=True)
class World:
    """What a row may need: the emulator and a private scratch directory."""

    server: EmulatorServer
    tmp: Path

    def flavour(self, name: str = "iri-v1") -> Flavour:
        return FLAVOURS[name](self.server)

    @staticmethod
    def client(flavour: Flavour) -> FacilityClient:
        return FacilityClient.connect(
            flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
        )

    def key_file(self, mode: int) -> str:
        path = self.tmp / f"sfapi-key-{mode:o}.pem"
        path.write_text(self.server.flavour_credentials("sfapi")["private_key"])
        path.chmod(mode)
        return str(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("bad-input"), queue_delay=0.05, task_delay=0.0)
    with EmulatorServer(config) as emulator:
        yield emulator


def requests_seen(server: EmulatorServer) -> int:
    """Every request the emulator answered outside its admin routes (token requests included)."""
    stats = httpx.get(f"{server.url}/_emulator/stats", timeout=10).json()
    return int(stats["total"])


def check_refused(
    exc: FacilityError, *, kind: type[FacilityError], field: str, facility: str, conn_id: str | None = None
) -> None:
    text = str(exc)
    assert isinstance(exc, kind), f"{type(exc).__name__}: {text}"
    assert field in text, f"field {field!r} not named in: {text}"
    assert f"facility={facility}" in text, f"facility {facility!r} not named in: {text}"
    if conn_id is not None:
        assert repr(conn_id) in text, f"connection {conn_id!r} not named in: {text}"
    if isinstance(exc, InvalidJobSpec):
        assert exc.field is not None and exc.field.split("[")[0] in field


# -- malformed job descriptions, as mappings --------------------------------------------------

OK = {"executable": "/bin/true"}

JOB_SPECS: list[Any] = [
    pytest.param({"name": "nothing-to-run"}, "executable", id="no-executable-no-script"),
    pytest.param({"executable": "  "}, "executable", id="blank-executable"),
    pytest.param({**OK, "script": "#!/bin/sh\ntrue\n"}, "script", id="executable-and-script"),
    pytest.param({**OK, "resources": {"node_count": 0}}, "resources.node_count", id="zero-nodes"),
    pytest.param({**OK, "resources": {"node_count": -2}}, "resources.node_count", id="negative-nodes"),
    pytest.param({**OK, "resources": {"process_count": 0}}, "resources.process_count", id="zero-processes"),
    pytest.param(
        {**OK, "resources": {"process_count": -1}}, "resources.process_count", id="negative-processes"
    ),
    pytest.param(
        {**OK, "resources": {"processes_per_node": 0}}, "resources.processes_per_node", id="zero-per-node"
    ),
    pytest.param(
        {**OK, "resources": {"cpu_cores_per_process": 0}}, "resources.cpu_cores_per_process", id="zero-cpus"
    ),
    pytest.param(
        {**OK, "resources": {"cpu_cores_per_process": -4}},
        "resources.cpu_cores_per_process",
        id="negative-cpus",
    ),
    pytest.param(
        {**OK, "resources": {"gpu_cores_per_process": -1}},
        "resources.gpu_cores_per_process",
        id="negative-gpus",
    ),
    pytest.param({**OK, "resources": {"node_count": "2"}}, "resources.node_count", id="text-node-count"),
    pytest.param({**OK, "resources": {"nodes": 2}}, "resources.nodes", id="misspelt-resource-field"),
    pytest.param({**OK, "attributes": {"duration": 0}}, "attributes.duration", id="zero-duration"),
    pytest.param({**OK, "attributes": {"duration": -60}}, "attributes.duration", id="negative-duration"),
    pytest.param({**OK, "attributes": {"duration": "1h"}}, "attributes.duration", id="text-duration"),
    pytest.param({**OK, "arguments": ["-c", 3]}, "arguments[1]", id="integer-argument"),
    pytest.param({**OK, "arguments": [None]}, "arguments[0]", id="none-argument"),
    pytest.param({**OK, "arguments": "-c 3"}, "arguments", id="arguments-as-one-string"),
    pytest.param({**OK, "arguments": ["a\x00b"]}, "arguments[0]", id="nul-in-argument"),
    pytest.param({**OK, "environment": {"N": 4}}, "environment['N']", id="integer-environment-value"),
    pytest.param({**OK, "environment": {"N": None}}, "environment['N']", id="none-environment-value"),
    pytest.param({**OK, "environment": {7: "x"}}, "environment", id="integer-environment-key"),
    pytest.param({**OK, "environment": {"A=B": "x"}}, "environment", id="equals-in-environment-key"),
    pytest.param({**OK, "environment": {"MY VAR": "x"}}, "environment", id="space-in-environment-key"),
    pytest.param({**OK, "environment": {"A": "x\x00y"}}, "environment['A']", id="nul-in-environment-value"),
    pytest.param({**OK, "environment": ["A=1"]}, "environment", id="environment-as-list"),
    pytest.param({**OK, "name": "two\nlines"}, "name", id="newline-in-name"),
    pytest.param({**OK, "name": "nul\x00name"}, "name", id="nul-in-name"),
    pytest.param({**OK, "directory": "/scratch/a\nb"}, "directory", id="newline-in-directory"),
    pytest.param({**OK, "directory": "/scratch/a\x00b"}, "directory", id="nul-in-directory"),
    pytest.param({**OK, "stdout_path": "/scratch/out\r\n"}, "stdout_path", id="newline-in-stdout-path"),
    pytest.param({**OK, "stderr_path": "/scratch/\x00err"}, "stderr_path", id="nul-in-stderr-path"),
    pytest.param({**OK, "stdin_path": "/scratch/in\n"}, "stdin_path", id="newline-in-stdin-path"),
    pytest.param({"executable": "/bin/true\n/bin/rm"}, "executable", id="newline-in-executable"),
    pytest.param({"executable": "/bin/tr\x00ue"}, "executable", id="nul-in-executable"),
    pytest.param({**OK, "executible": "/bin/false"}, "executible", id="misspelt-field"),
    pytest.param(
        {**OK, "attributes": {"queue_name": "debug\n#SBATCH --x"}},
        "attributes.queue_name",
        id="newline-in-queue",
    ),
    pytest.param(["/bin/true"], "spec", id="spec-not-a-mapping"),
]


@pytest.mark.parametrize("backend", JOB_BACKENDS)
@pytest.mark.parametrize(("spec", "field"), JOB_SPECS)
def test_bad_job_spec_is_refused_before_any_request(
    server: EmulatorServer, tmp_path: Path, backend: str, spec: Any, field: str
) -> None:
    world = World(server, tmp_path)
    flavour = world.flavour(backend)  # (may ask the emulator for resource ids: before counting)
    before = requests_seen(server)
    with world.client(flavour) as client, pytest.raises(InvalidJobSpec) as caught:
        client.submit(flavour.compute, spec)
    check_refused(caught.value, kind=InvalidJobSpec, field=field, facility=flavour.facility)
    assert requests_seen(server) == before


# -- file-operation and output arguments --------------------------------------------------------

CallRow = Callable[[FacilityClient, str], Any]

CALLS: list[Any] = [
    pytest.param(lambda c, r: c.ls(r, ""), "path", id="ls-empty-path"),
    pytest.param(lambda c, r: c.stat(r, "/home/a\x00b"), "path", id="stat-nul-in-path"),
    pytest.param(lambda c, r: c.mkdir(r, "/home/new\ndir"), "path", id="mkdir-newline-in-path"),
    pytest.param(lambda c, r: c.mv(r, "/home/a", "/home/b\r"), "target", id="mv-newline-in-target"),
    pytest.param(lambda c, r: c.cp(r, None, "/home/b"), "source", id="cp-no-source"),
    pytest.param(lambda c, r: c.chmod(r, "/home/a", "rwx"), "mode", id="chmod-symbolic-mode"),
    pytest.param(lambda c, r: c.chmod(r, "/home/a", "0999"), "mode", id="chmod-not-octal"),
    pytest.param(lambda c, r: c.chown(r, "/home/a"), "owner", id="chown-nobody"),
    pytest.param(lambda c, r: c.compress(r, "/home/a", "/home/a.z", "zip"), "compression", id="compress-zip"),
    pytest.param(lambda c, r: c.job_output(r, "1", "stdin"), "stream", id="output-of-stdin"),
    pytest.param(lambda c, r: c.job_output(r, "1", "stdout", tail=0), "tail", id="output-tail-zero"),
    pytest.param(lambda c, r: c.upload(r, "/nonexistent/file", "/home/x"), "local_path", id="upload-missing"),
]


@pytest.mark.parametrize(("call", "field"), CALLS)
def test_bad_call_argument_is_refused_before_any_request(
    server: EmulatorServer, tmp_path: Path, call: CallRow, field: str
) -> None:
    world = World(server, tmp_path)
    flavour = world.flavour("iri-v1")
    before = requests_seen(server)
    with world.client(flavour) as client, pytest.raises(InvalidJobSpec) as caught:
        call(client, flavour.compute)
    check_refused(caught.value, kind=InvalidJobSpec, field=field, facility="iri")
    assert requests_seen(server) == before


# -- malformed connections: FacilityClient.connect ---------------------------------------------

ConnectRow = Callable[[World], dict[str, Any]]


def _iri(world: World, **changes: Any) -> dict[str, Any]:
    flavour = world.flavour("iri-v1")
    return {
        "facility": "iri",
        "base_url": flavour.base_url,
        "auth": flavour.auth,
        **flavour.options,
        **changes,
    }


def _oidc_without(key: str) -> ConnectRow:
    def row(world: World) -> dict[str, Any]:
        auth = {k: v for k, v in world.flavour("iri-v1").auth.items() if k != key}
        return _iri(world, auth=auth)

    return row


def _sfapi(world: World, **auth_changes: Any) -> dict[str, Any]:
    flavour = world.flavour("sfapi")
    auth = {k: v for k, v in flavour.auth.items() if k != "private_key"}
    return {"facility": "sfapi", "base_url": flavour.base_url, "auth": {**auth, **auth_changes}}


CONNECTS: list[Any] = [
    pytest.param(lambda w: {**_iri(w), "facility": "nersc-magic"}, "api", "nersc-magic", id="unknown-api"),
    pytest.param(
        lambda w: _iri(w, base_url="iri.example.org/api/v1"), "base_url", "iri", id="url-without-scheme"
    ),
    pytest.param(lambda w: _iri(w, base_url="ftp://iri.example.org/api/v1"), "base_url", "iri", id="ftp-url"),
    pytest.param(lambda w: _iri(w, base_url="https:///api/v1"), "base_url", "iri", id="url-without-host"),
    pytest.param(
        lambda w: _iri(w, base_url="https://iri example.org/api"), "base_url", "iri", id="space-in-url"
    ),
    pytest.param(
        lambda w: _iri(w, base_url="https://iri.example.org:99999/"), "base_url", "iri", id="bad-port"
    ),
    pytest.param(lambda w: _iri(w, base_url=""), "base_url", "iri", id="empty-url"),
    pytest.param(_oidc_without("client_secret"), "auth.client_secret", "iri", id="no-client-secret"),
    pytest.param(_oidc_without("token_url"), "auth.token_url", "iri", id="no-token-url"),
    pytest.param(lambda w: _iri(w, auth={"type": "token"}), "auth.token", "iri", id="no-token"),
    pytest.param(
        lambda w: _iri(w, auth={"type": "token", "token": " "}), "auth.token", "iri", id="blank-token"
    ),
    pytest.param(lambda w: _iri(w, auth={"type": "magic"}), "auth.type", "iri", id="unknown-auth-type"),
    pytest.param(lambda w: _sfapi(w), "key_path", "sfapi", id="no-private-key"),
    pytest.param(lambda w: _sfapi(w, key_path=w.key_file(0o644)), "key_path", "sfapi", id="key-file-0644"),
    pytest.param(lambda w: _sfapi(w, key_path=w.key_file(0o640)), "key_path", "sfapi", id="key-file-0640"),
    pytest.param(
        lambda w: _sfapi(w, key_path=str(w.tmp / "missing.pem")), "key_path", "sfapi", id="key-file-missing"
    ),
    pytest.param(
        lambda w: _iri(w, base_url="http://iri.example.org/api/v1"),
        "allow_insecure_http",
        "iri",
        id="plain-http-with-credentials",
    ),
    pytest.param(
        lambda w: _iri(
            w,
            auth={**w.flavour().auth, "token_url": "http://idp.example.org/token"},
        ),
        "allow_insecure_http",
        "iri",
        id="plain-http-token-url",
    ),
    pytest.param(
        lambda w: _iri(w, verify=str(w.tmp / "no-such-ca.pem")), "verify", "iri", id="missing-ca-bundle"
    ),
    pytest.param(lambda w: _iri(w, verify=12), "verify", "iri", id="verify-not-a-path"),
    pytest.param(lambda w: _iri(w, max_body_bytes=0), "max_body_bytes", "iri", id="zero-body-limit"),
]


@pytest.mark.parametrize(("row", "field", "facility"), CONNECTS)
def test_bad_connection_is_refused_before_any_request(
    server: EmulatorServer, tmp_path: Path, row: ConnectRow, field: str, facility: str
) -> None:
    arguments = row(World(server, tmp_path))
    before = requests_seen(server)
    with pytest.raises(ConfigurationError) as caught:
        FacilityClient.connect(arguments.pop("facility"), **arguments)
    check_refused(caught.value, kind=ConfigurationError, field=field, facility=facility)
    assert requests_seen(server) == before


# -- malformed connections: the Airflow connection path ----------------------------------------

AirflowRow = Callable[[World], dict[str, Any]]
CONN_ID = "hpc_bad"


def _airflow_iri(world: World, **fields: Any) -> dict[str, Any]:
    credentials = world.server.credentials
    extra = {
        "auth_type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        **fields.pop("extra", {}),
    }
    return {
        "conn_type": "facility_iri",
        "host": world.server.iri_url("v1"),
        "login": credentials["client_id"],
        "password": credentials["client_secret"],
        "extra": extra,
        **fields,
    }


def _airflow_sfapi(world: World, key_path: str | None) -> dict[str, Any]:
    extra = world.server.flavour_credentials("sfapi")
    fields: dict[str, Any] = {
        "conn_type": "facility_sfapi",
        "host": world.server.api_url("sfapi"),
        "login": extra["client_id"],
        "extra": {"auth_type": "private_key_jwt", "token_url": extra["token_url"]},
    }
    if key_path is not None:
        fields["extra"]["key_path"] = key_path
    return fields


AIRFLOW: list[Any] = [
    pytest.param(
        lambda w: _airflow_iri(w, conn_type="facility_magic"), "conn_type", "facility_magic", id="unknown-api"
    ),
    pytest.param(lambda w: _airflow_iri(w, host=""), "host", "iri", id="empty-host"),
    pytest.param(
        lambda w: _airflow_iri(w, host="ftp://iri.example.org/api/v1"), "host", "iri", id="ftp-host"
    ),
    pytest.param(lambda w: _airflow_iri(w, host="https:///api/v1"), "host", "iri", id="host-without-name"),
    pytest.param(lambda w: _airflow_iri(w, host="iri example.org/api"), "host", "iri", id="space-in-host"),
    pytest.param(lambda w: _airflow_iri(w, password=None), "password", "iri", id="no-client-secret"),
    pytest.param(lambda w: _airflow_iri(w, login=None), "login", "iri", id="no-client-id"),
    pytest.param(
        lambda w: _airflow_iri(w, extra={"token_url": None}), "extra.token_url", "iri", id="no-token-url"
    ),
    pytest.param(
        lambda w: _airflow_iri(w, extra={"auth_type": "magic"}),
        "extra.auth_type",
        "iri",
        id="unknown-auth-type",
    ),
    pytest.param(
        lambda w: _airflow_iri(w, extra={"timeout": "soon"}), "extra.timeout", "iri", id="text-timeout"
    ),
    pytest.param(
        lambda w: _airflow_iri(w, extra={"backend_options": "[1]"}),
        "extra.backend_options",
        "iri",
        id="backend-options-not-an-object",
    ),
    pytest.param(
        lambda w: _airflow_iri(w, extra={"verify": str(w.tmp / "no-ca.pem")}),
        "extra.verify",
        "iri",
        id="missing-ca",
    ),
    pytest.param(lambda w: _airflow_sfapi(w, None), "extra.key_path", "sfapi", id="no-private-key"),
    pytest.param(
        lambda w: _airflow_sfapi(w, w.key_file(0o644)), "extra.key_path", "sfapi", id="key-file-0644"
    ),
    pytest.param(
        lambda w: _airflow_iri(w, host="http://iri.example.org/api/v1"),
        "allow_insecure_http",
        "iri",
        id="plain-http-with-credentials",
    ),
]


@pytest.mark.parametrize(("row", "field", "facility"), AIRFLOW)
def test_bad_airflow_connection_is_refused_before_any_request(
    server: EmulatorServer, tmp_path: Path, row: AirflowRow, field: str, facility: str
) -> None:
    fields = row(World(server, tmp_path))
    extra = fields.pop("extra", None)
    connection = Connection(conn_id=CONN_ID, extra=json.dumps(extra) if extra is not None else None, **fields)
    before = requests_seen(server)
    with pytest.raises(ConfigurationError) as caught:
        connect_sync(settings_from_connection(connection))
    check_refused(caught.value, kind=ConfigurationError, field=field, facility=facility, conn_id=CONN_ID)
    assert requests_seen(server) == before


def test_a_private_key_file_is_accepted_at_mode_0600(server: EmulatorServer, tmp_path: Path) -> None:
    """The counterpart of the key-file rows: the same file, private, connects."""
    world = World(server, tmp_path)
    arguments = _sfapi(world, key_path=world.key_file(0o600))
    with FacilityClient.connect(arguments.pop("facility"), **arguments) as client:
        assert client.facility == "sfapi"
    assert os.stat(world.key_file(0o600)).st_mode & 0o077 == 0


def test_a_wrong_call_stays_a_type_error(server: EmulatorServer, tmp_path: Path) -> None:
    """Answers the client cannot read become APIError; a caller's own mistake in calling does not."""
    world = World(server, tmp_path)
    flavour = world.flavour("iri-v1")
    before = requests_seen(server)
    with world.client(flavour) as client, pytest.raises(TypeError):
        client.get_job(flavour.compute)  # type: ignore[call-arg]
    assert requests_seen(server) == before
