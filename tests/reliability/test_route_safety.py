"""A job id, a resource name or a remote path reaches the route it was meant for, on every API.

Through the emulator: the route templates its request counter records show where each request
landed. Before the ids and paths went through ``facility_common.url_paths``, a job id of ``..``
was sent as the route above it (``GET compute/jobs/perlmutter``), and an SF API ``ls`` of
``/../../../../status/perlmutter`` as ``GET status/perlmutter``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from facility_common import FacilityClient, FacilityError, InvalidJobSpec, JobSpec
from facility_emulator import EmulatorConfig, EmulatorServer

from ..conformance.conftest import FLAVOURS
from ..conformance.flavour import Flavour

#: flavour -> the route template a job look-up must reach (the emulator's prefix included)
JOB_ROUTES = {
    "iri-v1": "GET /iri/api/v1/compute/status/{resource_id}/{job_id}",
    "iri-v2": "GET /iri/api/v2/compute/status/{resource_id}/{job_id}",
    "sfapi": "GET /sfapi/api/v1.2/compute/jobs/{machine}/{jobid}",
    "firecrest": "GET /firecrest/compute/{system_name}/jobs/{job_id}",
    "flux": "GET /flux/v1/jobs/{jobid}",
    "s3m": "GET /slurm/{enclave}/v0.0.43/{resource}/job/{job_id}",
    "slurmrest-emulated": "GET /slurmrestd/slurm/v0.0.43/job/{job_id}",
}
#: Routes a look-up may also call on its way (resource lists, accounting).
INCIDENTAL = ("/status/resources", "/status/systems", "/slurmdb/")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(root=tmp_path_factory.mktemp("routes"), queue_delay=0.05, task_delay=0.01)
    with EmulatorServer(config) as srv:
        yield srv


def connect(flavour: Flavour) -> FacilityClient:
    return FacilityClient.connect(
        flavour.facility, base_url=flavour.base_url, auth=flavour.auth, **flavour.options
    )


def routes_of(server: EmulatorServer, call: Callable[[], Any]) -> tuple[Counter[str], BaseException | None]:
    """The route templates ``call`` reached (by the emulator's counter), and what it raised."""
    before = Counter(server.state.stats.snapshot()["routes"])
    raised: BaseException | None = None
    try:
        call()
    except FacilityError as exc:
        raised = exc
    after = Counter(server.state.stats.snapshot()["routes"])
    return Counter({r: n for r, n in (after - before).items() if "/token" not in r}), raised


@pytest.mark.parametrize("job_id", ["..", ".", "%2e%2e", "1?x", "1#x"])
@pytest.mark.parametrize("name", sorted(JOB_ROUTES))
def test_a_job_look_up_reaches_the_job_route(server: EmulatorServer, name: str, job_id: str) -> None:
    flavour = FLAVOURS[name](server)
    with connect(flavour) as client:
        client.resources()  # the resource list and tokens, before counting
        reached, raised = routes_of(server, lambda: client.get_job(flavour.compute, job_id))
    assert raised is not None, f"{name}: job {job_id!r} was found"
    assert reached[JOB_ROUTES[name]] >= 1, f"{name}: job {job_id!r} went to {dict(reached)}"
    strays = [
        route for route in reached if route != JOB_ROUTES[name] and not any(i in route for i in INCIDENTAL)
    ]
    assert not strays, f"{name}: job {job_id!r} also reached {strays}"


def test_slurmrest_accounting_is_still_asked_after_a_dot_dot_job_id(server: EmulatorServer) -> None:
    """``slurmdb/v0.0.43/job/..`` once collapsed to ``slurmdb/v0.0.43``, whose 404 made the client
    conclude the daemon has no accounting routes, for the rest of the process."""
    flavour = FLAVOURS["slurmrest-emulated"](server)
    with connect(flavour) as client:
        reached, raised = routes_of(server, lambda: client.get_job(flavour.compute, ".."))
        assert isinstance(raised, FacilityError)
        assert reached["GET /slurmrestd/slurmdb/v0.0.43/job/{job_id}"] == 1
        job = client.submit(flavour.compute, JobSpec(executable="/bin/true"))
        reached, _ = routes_of(server, lambda: client.get_job(flavour.compute, "999999"))
        assert reached["GET /slurmrestd/slurmdb/v0.0.43/job/{job_id}"] == 1
        client.cancel(flavour.compute, job.id)


@pytest.mark.parametrize("job_id", ["../1", "1/metadata", ""])
@pytest.mark.parametrize("name", sorted(JOB_ROUTES))
def test_a_job_id_that_cannot_be_one_segment_is_refused_before_any_request(
    server: EmulatorServer, name: str, job_id: str
) -> None:
    flavour = FLAVOURS[name](server)
    with connect(flavour) as client:
        client.resources()
        reached, raised = routes_of(server, lambda: client.get_job(flavour.compute, job_id))
    assert isinstance(raised, InvalidJobSpec) and raised.field == "job_id", raised
    assert raised.facility == flavour.facility
    assert not reached, reached


def test_an_sfapi_path_with_dot_dot_is_refused_before_any_request(
    server: EmulatorServer, tmp_path: Path
) -> None:
    flavour = FLAVOURS["sfapi"](server)
    with connect(flavour) as client:
        client.resources()
        for call in (
            lambda: client.ls("perlmutter", "/../../../../status/perlmutter"),
            lambda: client.download("perlmutter", f"{flavour.scratch}/../x", tmp_path / "x"),
        ):
            reached, raised = routes_of(server, call)
            assert isinstance(raised, InvalidJobSpec) and raised.field == "path", raised
            assert raised.facility == "sfapi"
            assert not reached, reached


@pytest.mark.parametrize("name", ["./x?y=1#z", "50%", "%2e%2e"])
def test_an_sfapi_path_with_url_characters_reaches_the_file(
    server: EmulatorServer, name: str, tmp_path: Path
) -> None:
    flavour = FLAVOURS["sfapi"](server)
    directory = Path(flavour.scratch) / "url-characters"
    directory.mkdir(exist_ok=True)
    (directory / name.removeprefix("./")).write_text("content\n")
    with connect(flavour) as client:
        remote = f"{directory}/{name}"
        reached, raised = routes_of(server, lambda: client.download("perlmutter", remote, tmp_path / "copy"))
        assert raised is None, raised
        assert (tmp_path / "copy").read_text() == "content\n"
        assert list(reached) == ["GET /sfapi/api/v1.2/utilities/download/{machine}/{path:path}"]
        reached, raised = routes_of(server, lambda: client.ls("perlmutter", remote))
        assert raised is None, raised
        assert list(reached) == ["GET /sfapi/api/v1.2/utilities/ls/{machine}/{path:path}"]
