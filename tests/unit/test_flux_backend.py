"""The Flux backend's pure builders and parsers on recorded payloads, and its calls through a
mocked transport (auth handshake, refresh on 401, tails, submit look-up)."""

from __future__ import annotations

import json
import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from facility_common import SUBMIT_TAG_VARIABLE, JobAttributes, JobSpec, JobState, ResourceSpec
from facility_common.backends.flux import FluxBackend
from facility_common.backends.flux.parsers import (
    job_items,
    parse_job,
    parse_output,
    parse_resource,
    parse_submit,
)
from facility_common.backends.flux.requests import build_list_jobs, build_submit
from facility_common.errors import (
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    UnsupportedOperation,
)
from facility_common.models import ResourceState
from facility_common.output_tail import last_lines

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "flux"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.mark.parametrize(
    ("name", "state", "exit_code"),
    [
        ("job_pending", JobState.PENDING, None),
        ("job_running", JobState.RUNNING, None),
        ("job_completed", JobState.COMPLETED, 0),
        ("job_failed", JobState.FAILED, 3),
        ("job_canceled", JobState.CANCELLED, 143),
        ("job_timeout", JobState.TIMEOUT, 142),
    ],
)
def test_jobinfo_states_and_results_are_normalised(name: str, state: JobState, exit_code: int | None) -> None:
    job = parse_job(payload(name), "flux")
    assert job.state is state
    assert job.exit_code == exit_code
    assert job.resource == "flux"
    assert job.submitted_at is not None


def test_inactive_job_keeps_its_result_in_the_native_state_and_exception_in_the_message() -> None:
    job = parse_job(payload("job_timeout"), "flux")
    assert job.native_state == "INACTIVE (TIMEOUT)"
    assert job.message == "timeout: resource allocation expired"
    assert job.started_at is not None and job.finished_at is not None
    assert job.id == "2437569495044"


def test_completed_result_with_non_zero_returncode_is_failed() -> None:
    data = {**payload("job_completed"), "returncode": 2}
    assert parse_job(data, "flux").state is JobState.FAILED


def test_unknown_state_is_unknown_not_an_error() -> None:
    assert parse_job({"id": 1, "state": "WEIRD"}, "flux").state is JobState.UNKNOWN


@pytest.mark.parametrize(
    "data",
    [
        {"jobs": [payload("job_running"), payload("job_completed")]},
        [payload("job_running"), payload("job_completed")],
        {str(p["id"]): p for p in (payload("job_running"), payload("job_completed"))},
    ],
)
def test_every_listing_shape_gives_the_jobs(data: Any) -> None:
    assert [str(item["id"]) for item in job_items(data)] == ["2437569495040", "2437569495041"]


def test_output_answers() -> None:
    assert parse_output(payload("output")) == "line 1\nline 2\noops\n"
    assert parse_output(payload("output_not_yet")) is None
    with pytest.raises(ValueError):
        parse_output({"something": 1})
    assert last_lines("a\nb\nc\n", 2) == "b\nc\n"


def test_nodes_make_the_instance_resource() -> None:
    status = parse_resource(payload("nodes"), "flux")
    assert (status.id, status.name, status.state) == ("flux", "flux", ResourceState.UP)
    assert status.raw["nodes"] == sorted(set(payload("nodes")["nodes"]))
    assert status.raw["node_count"] == len(status.raw["nodes"])
    # The server lists the nodes that are up (busy or not): none up is an instance that runs nothing.
    assert parse_resource({"nodes": []}, "flux").state is ResourceState.DOWN


def test_submit_answer_gives_the_id() -> None:
    assert parse_submit(payload("submit")) == "2437569495046"
    with pytest.raises(ValueError):
        parse_submit(payload("submit_refused"))


def full_spec(**changes: Any) -> JobSpec:
    base: dict[str, Any] = {
        "executable": "/bin/echo",
        "arguments": ["hello world", "it's"],
        "directory": "/home/me/run",
        "environment": {"GREETING": "hi there", "MULTI": "a\nb"},
        "resources": ResourceSpec(
            node_count=2,
            processes_per_node=2,
            cpu_cores_per_process=3,
            gpu_cores_per_process=1,
            exclusive_node_use=True,
        ),
        "attributes": JobAttributes(
            duration=timedelta(seconds=90.5), custom_attributes={"cpu-affinity": "per-task"}
        ),
    }
    base.update(changes)
    return JobSpec(**base)


def test_submit_sends_parameters_as_query_and_environment_as_body() -> None:
    request = build_submit(full_spec(), tag="t-1")
    assert (request.method, request.path, request.idempotent) == ("POST", "v1/jobs/submit", False)
    params = dict(request.params or {})
    assert shlex.split(params.pop("command")) == ["/bin/echo", "hello world", "it's"]
    assert params == {
        "num_tasks": 4,
        "cores_per_task": 3,
        "gpus_per_task": 1,
        "num_nodes": 2,
        "exclusive": True,
        "option_flags": "cpu-affinity=per-task",
        "workdir": "/home/me/run",
        "runtime": 91,
    }
    assert request.json == {"GREETING": "hi there", "MULTI": "a\nb", SUBMIT_TAG_VARIABLE: "t-1"}


def test_a_script_runs_under_bash() -> None:
    request = build_submit(JobSpec(script="#!/bin/bash\necho 'a b'\n"), tag="t")
    assert shlex.split((request.params or {})["command"]) == ["/bin/bash", "-c", "#!/bin/bash\necho 'a b'\n"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stdout_path": "/tmp/out"}, "stdout_path"),
        ({"stderr_path": "/tmp/err"}, "stderr_path"),
        ({"stdin_path": "/tmp/in"}, "stdin_path"),
        ({"resources": ResourceSpec(memory=1024)}, "resources.memory"),
        ({"resources": ResourceSpec(processes_per_node=2)}, "resources.processes_per_node"),
        (
            {"resources": ResourceSpec(node_count=2, processes_per_node=2, process_count=3)},
            "resources.process_count",
        ),
        ({"attributes": JobAttributes(reservation_id="r1")}, "attributes.reservation_id"),
        ({"attributes": JobAttributes(queue_name="pbatch")}, "attributes.queue_name"),
        ({"attributes": JobAttributes(account="bank1")}, "attributes.account"),
        ({"attributes": JobAttributes(custom_attributes={"a,b": "c"})}, "attributes.custom_attributes"),
    ],
)
def test_what_flux_cannot_express_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        build_submit(full_spec(**changes), tag="t")
    assert caught.value.field == field
    assert field in str(caught.value)


def test_the_instances_own_queue_and_bank_are_accepted() -> None:
    spec = full_spec(attributes=JobAttributes(queue_name="debug", account="demo"))
    request = build_submit(spec, tag="t", queue="debug", account="demo")
    assert "queue" not in (request.params or {})


def test_list_is_one_detailed_call() -> None:
    request = build_list_jobs()
    assert (request.method, request.path, dict(request.params or {})) == (
        "GET",
        "v1/jobs",
        {"details": True, "listing": True},
    )


# -- through a mocked transport -------------------------------------------------------------------


class FakeFlux:
    """A scripted Flux server: answers by path, records requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.valid_token = ""

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v1/token":
            self.tokens_issued += 1
            self.valid_token = f"access-{self.tokens_issued}"
            return httpx.Response(200, json={"access_token": self.valid_token, "token_type": "Bearer"})
        if request.headers.get("authorization") != f"Bearer {self.valid_token}":
            return httpx.Response(
                401, json={"detail": "Not authenticated"}, headers={"WWW-Authenticate": "Bearer"}
            )
        if path == "/v1/jobs/1/output/stream":
            return httpx.Response(200, content=b"one\ntwo\nthree\nfour")
        if path == "/v1/jobs/1":
            return httpx.Response(200, json={**payload("job_completed"), "id": 1})
        if path == "/v1/nodes":
            return httpx.Response(200, json=payload("nodes"))
        return httpx.Response(404, json={"detail": "not found"})


def backend_for(fake: FakeFlux, **options: Any) -> FluxBackend:
    return FluxBackend(
        base_url="http://127.0.0.1:1/v1",
        user="fluxuser",
        token="12345",
        secret_key="shared",
        transport=httpx.MockTransport(fake.handler),
        **options,
    )


def test_handshake_signs_user_and_token_with_the_shared_secret() -> None:
    from jose import jwt  # the JWT library of the Flux project's own client and server

    fake = FakeFlux()

    async def main() -> None:
        backend = backend_for(fake)
        await backend.resources()
        await backend.aclose()

    anyio.run(main)
    handshake = next(r for r in fake.requests if r.url.path == "/v1/token")
    signed = handshake.headers["authorization"].removeprefix("Bearer ")
    assert jwt.decode(signed, "shared", algorithms=["HS256"]) == {
        "user": "fluxuser",
        "pass": "12345",
        "scope": "token",
    }


def test_a_refused_token_is_refreshed_once_by_a_new_handshake() -> None:
    fake = FakeFlux()

    async def main() -> None:
        backend = backend_for(fake)
        await backend.resources()
        fake.valid_token = "rotated-by-server"  # the server no longer takes the issued token
        status = await backend.resources()
        assert status[0].state is ResourceState.UP
        await backend.aclose()

    anyio.run(main)
    assert fake.tokens_issued == 2


def test_tail_of_a_finished_job_reads_the_stream() -> None:
    fake = FakeFlux()

    async def main() -> str:
        backend = backend_for(fake)
        try:
            return await backend.job_output("flux", "1", tail=2)
        finally:
            await backend.aclose()

    assert anyio.run(main) == "three\nfour"
    assert any(r.url.path == "/v1/jobs/1/output/stream" for r in fake.requests)


def test_resources_are_by_name_and_files_are_unsupported() -> None:
    fake = FakeFlux()

    async def main() -> None:
        backend = backend_for(fake)
        with pytest.raises(NotFoundError):
            await backend.get_job("polaris", "1")
        with pytest.raises(UnsupportedOperation, match="scp/rsync"):
            await backend.ls("flux", "/tmp")
        assert await backend.outages("flux") == []
        await backend.aclose()

    anyio.run(main)


def test_lost_submit_answer_adopts_the_one_new_matching_job() -> None:
    listed: list[dict[str, Any]] = []
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.url.path == "/v1/jobs/submit":
            posts += 1
            import time

            listed.append(
                {**payload("job_running"), "id": 77, "name": "echo", "t_submit": time.time(), "ntasks": 1}
            )
            raise httpx.ReadError("connection dropped")
        if request.url.path == "/v1/jobs":
            return httpx.Response(200, json={"jobs": listed})
        return httpx.Response(404, json={"detail": "no"})

    async def main() -> Any:
        backend = FluxBackend(base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler))
        try:
            return await backend.submit("flux", JobSpec(executable="/bin/echo", arguments=["x"]))
        finally:
            await backend.aclose()

    job = anyio.run(main)
    assert job.id == "77" and posts == 1


def test_several_candidates_after_a_lost_answer_refuse_to_guess() -> None:
    import time

    now = time.time()
    listed = [{"id": n, "state": "SCHED", "name": "echo", "t_submit": now} for n in (5, 6)]
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.url.path == "/v1/jobs/submit":
            posts += 1
            return httpx.Response(502, json={"detail": "bad gateway"})
        return httpx.Response(200, json={"jobs": listed})

    async def main() -> None:
        backend = FluxBackend(
            base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler), submit_lookup_delays=(0.0,)
        )
        spec = JobSpec(executable="/bin/echo", environment={SUBMIT_TAG_VARIABLE: "tag-a"})
        try:
            for _ in range(2):
                # The same tag again looks again (the same two candidates) and sends nothing.
                with pytest.raises(JobSubmissionError, match="several new jobs") as caught:
                    await backend.submit("flux", spec)
                assert caught.value.outcome_unknown and "tag-a" in str(caught.value)
        finally:
            await backend.aclose()

    anyio.run(main)
    assert posts == 1


def test_earlier_orphans_do_not_poison_a_later_lookup() -> None:
    import time

    listed = [{"id": n, "state": "SCHED", "name": "echo", "t_submit": time.time()} for n in (5, 6)]
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.url.path == "/v1/jobs/submit":
            posts += 1
            if posts == 1:
                return httpx.Response(502, json={"detail": "bad gateway"})
            listed.append({"id": 7, "state": "SCHED", "name": "echo", "t_submit": time.time()})
            raise httpx.ReadError("connection dropped after the server acted")
        if request.url.path == "/v1/jobs/7":
            return httpx.Response(200, json=listed[-1])
        return httpx.Response(200, json={"jobs": listed})

    async def main() -> Any:
        backend = FluxBackend(
            base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler), submit_lookup_delays=(0.0,)
        )
        try:
            with pytest.raises(JobSubmissionError, match="several new jobs"):
                await backend.submit("flux", JobSpec(executable="/bin/echo"))
            # 5 and 6 were listed before this submit was sent: only 7 can be its job.
            return await backend.submit("flux", JobSpec(executable="/bin/echo"))
        finally:
            await backend.aclose()

    job = anyio.run(main)
    assert job.id == "7" and posts == 2


@pytest.mark.parametrize(
    "answer", [{"id": [1001]}, {"id": {"n": 1}}, {"Message": "Job submit."}], ids=["list", "dict", "none"]
)
def test_an_unreadable_submit_answer_adopts_the_new_job_or_is_an_unknown_outcome(answer: Any) -> None:
    import time

    listed: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs/submit":
            if not listed:
                listed.append({"id": 1001, "state": "SCHED", "name": "echo", "t_submit": time.time()})
            return httpx.Response(200, json=answer)
        if request.url.path == "/v1/jobs/1001":
            return httpx.Response(200, json=listed[0])
        return httpx.Response(200, json={"jobs": listed})

    async def main() -> Any:
        backend = FluxBackend(
            base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler), submit_lookup_delays=(0.0,)
        )
        try:
            return await backend.submit("flux", JobSpec(executable="/bin/echo"))
        finally:
            await backend.aclose()

    assert anyio.run(main).id == "1001"


def test_ids_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(ValueError, match="job id"):
        parse_submit({"id": [1001]})
    with pytest.raises(ValueError, match="job id"):
        parse_job({"id": {"n": 1}, "state": "RUN"}, "flux")
    assert parse_submit({"id": 12}) == "12"


def test_a_bad_submit_tag_is_refused_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.url}")

    async def main() -> None:
        backend = FluxBackend(base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler))
        spec = JobSpec(executable="/bin/echo", environment={SUBMIT_TAG_VARIABLE: "two words"})
        try:
            with pytest.raises(InvalidJobSpec, match=SUBMIT_TAG_VARIABLE) as caught:
                await backend.submit("flux", spec)
            assert caught.value.field == f"environment.{SUBMIT_TAG_VARIABLE}"
        finally:
            await backend.aclose()

    anyio.run(main)


def test_a_job_submitted_but_not_readable_yet_is_pending_and_never_sent_again() -> None:
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.url.path == "/v1/jobs/submit":
            posts += 1
            return httpx.Response(200, json={"Message": "Job submit.", "id": 9})
        return httpx.Response(500, json={"detail": "flux is busy"})

    async def main() -> Any:
        backend = FluxBackend(base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler))
        try:
            return await backend.submit("flux", JobSpec(executable="/bin/echo"))
        finally:
            await backend.aclose()

    job = anyio.run(main)
    assert (job.id, job.state, posts) == ("9", JobState.PENDING, 1)


def test_find_job_by_tag_answers_for_tags_this_backend_submitted_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs/submit":
            return httpx.Response(200, json={"Message": "Job submit.", "id": 41})
        if request.url.path == "/v1/jobs/41":
            return httpx.Response(200, json={**payload("job_running"), "id": 41})
        return httpx.Response(404, json={"detail": "no"})

    async def main() -> None:
        backend = FluxBackend(base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler))
        spec = JobSpec(executable="/bin/echo", environment={SUBMIT_TAG_VARIABLE: "mine"})
        try:
            await backend.submit("flux", spec)
            found = await backend.find_job_by_tag("flux", "mine")
            assert found is not None and found.id == "41"
            with pytest.raises(UnsupportedOperation, match="shows no environment"):
                await backend.find_job_by_tag("flux", "someone-elses")
        finally:
            await backend.aclose()

    anyio.run(main)


def test_the_token_endpoint_busy_is_asked_again_and_a_bad_certificate_is_named() -> None:
    import ssl

    from facility_common.backends.flux.auth import FluxSharedSecretToken
    from facility_common.errors import TransportError

    answers = [503, 429, 200]

    def busy(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        return httpx.Response(status, json={"access_token": "fresh"} if status == 200 else {})

    def untrusted(request: httpx.Request) -> httpx.Response:
        failure = ssl.SSLCertVerificationError(1, "certificate verify failed")
        failure.verify_message = "self-signed certificate"
        raise httpx.ConnectError("TLS handshake failed") from failure

    async def main() -> None:
        source = FluxSharedSecretToken(
            "http://127.0.0.1:1", "u", "p", "k", transport=httpx.MockTransport(busy)
        )
        assert await source.token() == "fresh"
        refused = FluxSharedSecretToken(
            "http://127.0.0.1:1", "u", "p", "k", transport=httpx.MockTransport(untrusted)
        )
        with pytest.raises(TransportError, match=r"certificate verification failed.*self-signed"):
            await refused.token()

    anyio.run(main)
    assert answers == []


def test_auth_options_pick_the_method() -> None:
    from facility_common.auth import FacilityAuth
    from facility_common.backends.flux.auth import (
        FluxBasicAuth,
        FluxPasswordToken,
        FluxSharedSecretToken,
        flux_auth,
    )
    from facility_common.errors import ConfigurationError

    url = "http://127.0.0.1:5000"
    assert flux_auth(url) is None
    assert isinstance(flux_auth(url, user="u", token="t"), FluxBasicAuth)
    shared = flux_auth(url, user="u", token="t", secret_key="k")
    assert isinstance(shared, FacilityAuth) and isinstance(shared.source, FluxSharedSecretToken)
    login = flux_auth(url, user="u", token="t", auth_method="password")
    assert isinstance(login, FacilityAuth) and isinstance(login.source, FluxPasswordToken)
    bearer = flux_auth(url, token="abc")
    assert isinstance(bearer, FacilityAuth)
    with pytest.raises(ConfigurationError, match="secret_key"):
        flux_auth(url, user="u", token="t", auth_method="shared-secret")
    with pytest.raises(ConfigurationError, match="auth_method"):
        flux_auth(url, user="u", token="t", auth_method="kerberos")
    assert "s3cr3t" not in repr(flux_auth(url, user="u", token="s3cr3t"))


def test_flux_token_sources_plug_into_resolve_auth_and_hide_their_secrets() -> None:
    from facility_common.auth import FacilityAuth, resolve_auth
    from facility_common.backends.flux.auth import FluxSharedSecretToken

    source = FluxSharedSecretToken("http://127.0.0.1:5000/v1/token", "fluxuser", "pa55word", "sh4red")
    assert source.root == "http://127.0.0.1:5000/"
    auth = resolve_auth(source, facility="flux")
    assert isinstance(auth, FacilityAuth)
    shown = repr(auth) + repr(source)
    assert "pa55word" not in shown and "sh4red" not in shown


def _server_token(claims: dict[str, Any]) -> str:
    from facility_common.backends.flux.auth import encode_hs256

    return encode_hs256(claims, "server-signing-key")


@pytest.mark.parametrize(
    ("claims", "answer_headers"),
    [
        ("iat", {}),  # the token says when it was issued
        ("exp only", {"Date": "server"}),  # real flux-restful tokens: exp only; the answer's Date
        ("expires_in", {}),  # the answer says how long the token lives
    ],
)
def test_token_lifetime_is_read_on_the_servers_clock(claims: str, answer_headers: dict[str, str]) -> None:
    """This machine's clock runs an hour ahead of the server's: twenty calls need one handshake."""
    import email.utils
    import time

    from facility_common.backends.flux.auth import FluxSharedSecretToken

    server_now = time.time() - 3600
    handshakes = 0

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        nonlocal handshakes
        handshakes += 1
        body: dict[str, Any] = {"token_type": "Bearer"}
        payload: dict[str, Any] = {"sub": "u", "exp": int(server_now + 600)}
        if claims == "iat":
            payload["iat"] = int(server_now)
        body["access_token"] = _server_token(payload)
        if claims == "expires_in":
            body["expires_in"] = 600
        headers = {
            name: email.utils.formatdate(server_now, usegmt=True) if value == "server" else value
            for name, value in answer_headers.items()
        }
        return httpx.Response(200, json=body, headers=headers)

    async def main() -> None:
        source = FluxSharedSecretToken(
            "http://127.0.0.1:1", "u", "p", "k", transport=httpx.MockTransport(token_endpoint)
        )
        for _ in range(20):
            await source.token()

    anyio.run(main)
    assert handshakes == 1


def test_a_token_lifetime_is_never_measured_on_the_local_clock() -> None:
    import time

    from facility_common.backends.flux.auth import jwt_lifetime

    far_past = time.time() - 10**6
    assert jwt_lifetime(_server_token({"exp": far_past + 600, "iat": far_past})) == 600
    assert jwt_lifetime(_server_token({"exp": far_past + 600}), server_time=far_past + 100) == 500
    assert jwt_lifetime(_server_token({"exp": far_past + 600})) is None
    assert jwt_lifetime("not-a-jwt") is None
