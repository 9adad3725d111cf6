"""No id, name or remote path can change the route of a request, on any backend.

Every request builder writes caller values through :mod:`facility_common.url_paths`. Each case
below builds a request with a hostile value in one place and renders it the way the session sends
it (httpx, relative to the API's base URL): the URL must keep the route's own segments, carry the
value as exactly the segments it was given (decoded back to it), and have no query or fragment
the builder did not put there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import unquote

import httpx
import pytest

from facility_common import ConfigurationError, InvalidJobSpec, JobAttributes, JobSpec
from facility_common.backends.firecrest import requests as firecrest
from facility_common.backends.flux import requests as flux
from facility_common.backends.iri import requests as iri
from facility_common.backends.iri.links import expand
from facility_common.backends.s3m import S3MBackend
from facility_common.backends.sfapi import requests as sfapi
from facility_common.backends.slurmrest import requests as slurmrest
from facility_common.http import ApiRequest
from facility_common.url_paths import path_segment, path_tail

BASE = "https://api.example.org/api/v1"
#: Values that change the route when written as they are: dot segments (httpx collapses them), an
#: already encoded dot segment, a query and a fragment start, a percent sign, a control character.
HOSTILE = ["..", ".", "%2e%2e", "%2E%2E", "1?x", "1#x", "50%", "a\x01b", "a b"]
SPEC = JobSpec(
    executable="/bin/true", attributes=JobAttributes(account="demo", duration=timedelta(minutes=1))
)
S3M = S3MBackend(base_url="https://s3m.example.org", auth=None)

#: label -> (builder of the request with ``V`` in one place, the route with ``{v}`` there)
SEGMENT_CASES: dict[str, tuple[Callable[[str], ApiRequest | str], str]] = {
    "iri resource": (iri._build_resource, "status/resources/{v}"),
    "iri incident": (iri._build_incident, "status/incidents/{v}"),
    "iri event": (iri._build_event, "status/events/{v}"),
    "iri site": (iri._build_site, "facility/sites/{v}"),
    "iri submit": (lambda v: iri._build_submit(v, SPEC, tag="t", api_version="v1"), "compute/job/{v}"),
    "iri get job": (lambda v: iri._build_get_job("r1", v), "compute/status/r1/{v}"),
    "iri get job resource": (lambda v: iri._build_get_job(v, "7"), "compute/status/{v}/7"),
    "iri list jobs": (iri._build_list_jobs, "compute/status/{v}"),
    "iri cancel": (lambda v: iri._build_cancel("r1", v), "compute/cancel/r1/{v}"),
    "iri update job": (
        lambda v: iri._build_update_job("r1", v, SPEC, api_version="v1"),
        "compute/job/r1/{v}",
    ),
    "iri task": (iri._build_task, "task/{v}"),
    "iri delete task": (iri._build_delete_task, "task/{v}"),
    "iri filesystem": (lambda v: iri._build_fs("v2", "ls", v, {"path": "/x"}), "filesystem/ls/{v}"),
    "iri link": (
        lambda v: expand(BASE + "/compute/status/r1/{job_id}", {"job_id": v}) or "",
        "compute/status/r1/{v}",
    ),
    "sfapi status": (sfapi.build_status, "status/{v}"),
    "sfapi outages": (lambda v: sfapi.build_outages(v, planned=True), "status/outages/planned/{v}"),
    "sfapi submit": (lambda v: sfapi.build_submit(v, "#!/bin/bash"), "compute/jobs/{v}"),
    "sfapi task": (sfapi.build_task, "tasks/{v}"),
    "sfapi jobs": (lambda v: sfapi.build_jobs(v, None, sacct=False), "compute/jobs/{v}"),
    "sfapi job": (lambda v: sfapi.build_job("perlmutter", v, sacct=False), "compute/jobs/perlmutter/{v}"),
    "sfapi cancel": (lambda v: sfapi.build_cancel("perlmutter", v), "compute/jobs/perlmutter/{v}"),
    "sfapi command": (lambda v: sfapi.build_command(v, "true"), "utilities/command/{v}"),
    "slurmrest job": (lambda v: slurmrest.build_get_job("slurm/v0.0.43", v), "slurm/v0.0.43/job/{v}"),
    "slurmrest accounted": (
        lambda v: slurmrest.build_accounted_job("slurmdb/v0.0.43", v),
        "slurmdb/v0.0.43/job/{v}",
    ),
    "slurmrest cancel": (lambda v: slurmrest.build_cancel("slurm/v0.0.43", v), "slurm/v0.0.43/job/{v}"),
    "s3m cluster": (
        lambda v: slurmrest.build_get_job(S3M._prefix("v0.0.43", v), "7", "s3m"),
        "slurm/open/v0.0.43/{v}/job/7",
    ),
    "flux job": (flux.build_get_job, "v1/jobs/{v}"),
    "flux cancel": (flux.build_cancel, "v1/jobs/{v}/cancel"),
    "flux output": (lambda v: flux.build_output(v, stream=True), "v1/jobs/{v}/output/stream"),
    "firecrest reservations": (firecrest.build_reservations, "status/{v}/reservations"),
    "firecrest userinfo": (firecrest.build_userinfo, "status/{v}/userinfo"),
    "firecrest submit": (lambda v: firecrest.build_submit(v, {}), "compute/{v}/jobs"),
    "firecrest job": (lambda v: firecrest.build_get_job("daint", v), "compute/daint/jobs/{v}"),
    "firecrest metadata": (
        lambda v: firecrest.build_job_metadata("daint", v),
        "compute/daint/jobs/{v}/metadata",
    ),
    "firecrest cancel": (lambda v: firecrest.build_cancel("daint", v), "compute/daint/jobs/{v}"),
    "firecrest ops": (lambda v: firecrest.build_ls(v, "/x", show_hidden=False), "filesystem/{v}/ops/ls"),
    "firecrest transfer": (
        lambda v: firecrest.build_transfer(v, "cp", "/a", "/b", account=None),
        "filesystem/{v}/transfer/cp",
    ),
}

#: label -> (builder of the request for the remote path ``P``, the route it leads to)
TAIL_CASES: dict[str, tuple[Callable[[str], ApiRequest], str]] = {
    "sfapi ls": (lambda p: sfapi.build_ls("perlmutter", p), "utilities/ls/perlmutter/"),
    "sfapi download": (lambda p: sfapi.build_download("perlmutter", p), "utilities/download/perlmutter/"),
    "sfapi upload": (lambda p: sfapi.build_upload("perlmutter", p, b""), "utilities/upload/perlmutter/"),
}


def sent_path(request: ApiRequest | str) -> tuple[list[str], httpx.URL]:
    """The segments of the path httpx sends for ``request`` below the base URL, and the URL."""
    with httpx.Client(base_url=BASE + "/") as client:
        if isinstance(request, str):
            url = client.build_request("GET", request).url
        else:
            url = client.build_request(request.method, request.path.lstrip("/"), params=request.params).url
    path = url.raw_path.split(b"?", 1)[0].decode("ascii")
    prefix = httpx.URL(BASE).raw_path.decode("ascii") + "/"
    assert path.startswith(prefix), f"{url} left the API's base path"
    return path[len(prefix) :].split("/"), url


def no_extra_query(request: ApiRequest | str, url: httpx.URL) -> None:
    expected = (
        {} if isinstance(request, str) else {k: v for k, v in (request.params or {}).items() if v is not None}
    )
    assert set(url.params.keys()) <= {str(k) for k in expected}, f"{url} has a query the builder did not add"
    assert not url.fragment


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("label", sorted(SEGMENT_CASES))
def test_an_id_or_name_stays_one_segment_of_its_route(label: str, value: str) -> None:
    build, route = SEGMENT_CASES[label]
    request = build(value)
    segments, url = sent_path(request)
    expected = route.split("/")
    assert len(segments) == len(expected), f"{label}: {value!r} was sent as {url}"
    for sent, wanted in zip(segments, expected, strict=True):
        if wanted == "{v}":
            assert unquote(sent) == value, f"{label}: {value!r} was sent as {sent!r}"
        else:
            assert sent == wanted, f"{label}: {value!r} changed the route to {url}"
    no_extra_query(request, url)


@pytest.mark.parametrize("value", ["a/b", "../status", "x/..", ""])
@pytest.mark.parametrize("label", sorted(SEGMENT_CASES))
def test_an_id_or_name_that_cannot_be_one_segment_is_refused(label: str, value: str) -> None:
    build, _ = SEGMENT_CASES[label]
    with pytest.raises((InvalidJobSpec, ConfigurationError)) as caught:  # S3M: no cluster named
        build(value)
    assert caught.value.facility
    assert isinstance(caught.value, ConfigurationError) or caught.value.field


@pytest.mark.parametrize(
    "path",
    [
        "/home/u/./out.txt",
        "./out.txt",
        ".",
        "/home/u/%2e%2e/status",
        "/home/u/a?x=1",
        "/home/u/a#frag",
        "/home/u/50%",
        "/home/u/a\x01b",
        "/home/u//double",
        "relative/name",
    ],
)
@pytest.mark.parametrize("label", sorted(TAIL_CASES))
def test_a_remote_path_stays_the_tail_of_its_route(label: str, path: str) -> None:
    build, route = TAIL_CASES[label]
    request = build(path)
    segments, url = sent_path(request)
    fixed = route.rstrip("/").split("/")
    assert segments[: len(fixed)] == fixed, f"{label}: {path!r} changed the route to {url}"
    assert "/".join(unquote(s) for s in segments[len(fixed) :]) == path
    no_extra_query(request, url)


@pytest.mark.parametrize("path", ["/../../../../status/perlmutter", "../x", "/home/u/..", "/a/../b"])
@pytest.mark.parametrize("label", sorted(TAIL_CASES))
def test_a_remote_path_with_a_parent_segment_is_refused(label: str, path: str) -> None:
    build, _ = TAIL_CASES[label]
    with pytest.raises(InvalidJobSpec, match=r"path: .*'\.\.'") as caught:
        build(path)
    assert caught.value.field == "path" and caught.value.facility == "sfapi"


def test_the_shared_functions() -> None:
    assert path_segment("..", field="job_id", facility="x") == "%2E%2E"
    assert path_segment(".", field="job_id", facility="x") == "%2E"
    assert path_segment("...", field="job_id", facility="x") == "..."
    assert path_segment("a b?c#d%e\n", field="job_id", facility="x") == "a%20b%3Fc%23d%25e%0A"
    assert path_segment(12, field="job_id", facility="x") == "12"
    assert path_tail("/home/u/./a b", field="path", facility="x") == "/home/u/%2E/a%20b"
    assert path_tail("/", field="path", facility="x") == "/"
    with pytest.raises(InvalidJobSpec, match="job_id") as caught:
        path_segment("a/b", field="job_id", facility="flux")
    assert caught.value.facility == "flux"
    with pytest.raises(InvalidJobSpec, match="must not be empty"):
        path_segment("", field="resource", facility="x")
