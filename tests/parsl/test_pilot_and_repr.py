"""The provider without a facility: pilot rendering, state mapping, constructor contract, repr."""

from __future__ import annotations

from datetime import timedelta

import pytest
from parsl.jobs.states import JobState as ParslState
from parsl.launchers import SimpleLauncher

from facility_common import JobState
from parsl_facility import FacilityProvider
from parsl_facility.pilot import PilotSettings, build_job_spec, parse_walltime, render_script
from parsl_facility.redaction import redact
from parsl_facility.states import PARSL_STATES, to_parsl_state

TOKEN = "tok-9f8e7d6c5b4a-never-show-me"
SECRET = "cs-0a1b2c3d4e5f-never-show-me"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:30:00", 1800), ("1:02:03", 3723), ("2-00:00:10", 172810), ("05:00", 300), (90, 90)],
)
def test_walltime_forms(text: str | int, seconds: int) -> None:
    assert parse_walltime(text) == timedelta(seconds=seconds)


def test_bad_walltime_is_refused() -> None:
    with pytest.raises(ValueError, match="walltime"):
        parse_walltime("half an hour")


def test_pilot_script_and_spec() -> None:
    settings = PilotSettings(
        walltime=timedelta(minutes=30),
        nodes_per_block=2,
        account="proj",
        queue="debug",
        cores_per_node=32,
        mem_per_node=64,
        worker_init="module load conda\nconda activate parsl",
    )
    script = render_script(settings, "parsl.htex.block-0", "process_worker_pool.py --port=54001")
    assert script.index("export PARSL_CORES=32") < script.index("module load conda")
    assert "export PARSL_MEMORY_GB=64" in script
    assert script.index("conda activate parsl") < script.index("process_worker_pool.py --port=54001")
    spec = build_job_spec(settings, "parsl.htex.block-0", script)
    assert spec.executable == "/bin/bash"
    assert spec.arguments[:2] == ("-c", script)
    assert spec.name == "parsl.htex.block-0"
    assert spec.resources.node_count == 2
    assert spec.resources.cpu_cores_per_process == 32
    assert spec.resources.memory == 64 * 2**30
    assert spec.attributes.duration == timedelta(minutes=30)
    assert (spec.attributes.account, spec.attributes.queue_name) == ("proj", "debug")


def test_pilot_without_sizes_exports_nothing() -> None:
    script = render_script(PilotSettings(walltime=timedelta(minutes=1)), "b", "run-workers")
    assert "PARSL_CORES" not in script and "PARSL_MEMORY_GB" not in script


def test_every_facility_state_has_a_parsl_state() -> None:
    assert set(PARSL_STATES) == set(JobState)
    assert to_parsl_state(JobState.TIMEOUT) is ParslState.TIMEOUT
    assert to_parsl_state(JobState.PREEMPTED) is ParslState.TIMEOUT
    assert to_parsl_state(JobState.FAILED) is ParslState.FAILED
    assert to_parsl_state(JobState.PENDING) is ParslState.PENDING


def test_every_constructor_argument_is_stored_under_its_own_name() -> None:
    provider = FacilityProvider(
        facility="iri", base_url="http://127.0.0.1:9/api/v1", resource="polaris", launcher=SimpleLauncher()
    )
    provider._validate_repr = True  # Parsl's own check (regression test of issue 2994)
    text = repr(provider)
    assert "<unrecorded>" not in text
    assert provider.status_polling_interval == 30
    assert provider.label == "facility-iri"
    assert provider.script_dir is None and provider.resources == {}


def test_init_makes_no_network_call() -> None:
    # Port 9 (discard) on loopback has no listener: any request would fail loudly.
    provider = FacilityProvider(
        facility="iri", base_url="http://127.0.0.1:9/api/v1", resource="polaris", auth=TOKEN
    )
    assert provider.client is None


def test_repr_masks_a_token_string() -> None:
    provider = FacilityProvider(
        facility="iri", base_url="http://127.0.0.1:9/api/v1", resource="polaris", auth=TOKEN
    )
    text = repr(provider)
    assert TOKEN not in text
    assert "auth='***'" in text
    assert provider.auth == TOKEN


def test_repr_masks_secrets_in_mappings() -> None:
    auth = {
        "type": "oidc_client_credentials",
        "token_url": "http://127.0.0.1:9/token",
        "client_id": "my-client",
        "client_secret": SECRET,
    }
    provider = FacilityProvider(
        facility="iri",
        base_url="http://127.0.0.1:9/api/v1",
        resource="polaris",
        auth=auth,
        client_options={"project": "m1234", "refresh_token": TOKEN},
        environment={"MY_API_KEY": SECRET, "OMP_NUM_THREADS": "4"},
    )
    text = repr(provider)
    assert SECRET not in text and TOKEN not in text
    assert "my-client" in text and "oidc_client_credentials" in text and "m1234" in text
    assert provider.auth["client_secret"] == SECRET


def test_redact_shows_objects_by_type_only() -> None:
    class TokenHolder:
        def __repr__(self) -> str:
            return TOKEN

    assert repr(redact(TokenHolder())) == "<TokenHolder>"


def test_missing_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="resource"):
        FacilityProvider(base_url="http://127.0.0.1:9/api/v1")
    with pytest.raises(ValueError, match="base_url"):
        FacilityProvider(facility="iri", resource="polaris")
    with pytest.raises(ValueError, match="facility: name the facility API"):
        FacilityProvider(base_url="http://127.0.0.1:9/api/v1", resource="polaris")


def test_a_new_walltime_applies_to_later_blocks_and_is_checked_when_set() -> None:
    provider = FacilityProvider(
        facility="iri", base_url="http://127.0.0.1:9/api/v1", resource="polaris", auth=TOKEN, walltime=20
    )
    provider.walltime = "00:10:00"
    assert provider.walltime == "00:10:00"
    spec = build_job_spec(provider._settings, "parsl.block-1", "#!/bin/bash\n")
    assert spec.attributes.duration == timedelta(minutes=10)
    with pytest.raises(ValueError, match="walltime"):
        provider.walltime = "half an hour"
    assert provider.walltime == "00:10:00"
