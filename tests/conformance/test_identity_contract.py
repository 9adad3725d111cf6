"""The identity and allocation part of the backend contract, against every flavour: whoami and
projects where the API tells them, allocations that drop once a job has run, and
UnsupportedOperation (naming where to look) where the API has neither."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest

from facility_common import (
    Allocation,
    Identity,
    JobAttributes,
    JobSpec,
    JobState,
    Project,
    UnsupportedOperation,
)
from facility_common.backends.base import Capability

from .flavour import Flavour
from .test_contract import WAIT, needs

#: How long accounting may take to record a finished job (slurmdbd writes it asynchronously).
ACCOUNTING_WAIT = 60.0


def test_whoami_and_projects(client: Any, flavour: Flavour) -> None:
    needs(flavour, Capability.IDENTITY)
    identity = client.whoami()
    assert isinstance(identity, Identity) and identity.username
    assert identity.source
    assert Identity.from_dict(identity.to_dict()) == identity
    projects = client.projects()
    assert projects and all(isinstance(project, Project) for project in projects)
    assert set(identity.projects) <= {project.id for project in projects}
    if identity.default_project is not None:
        assert identity.default_project in {project.id for project in projects}


def _used(client: Any) -> float:
    """What the caller's projects have used in node-hours, all together."""
    return sum(a.used for a in client.allocations() if a.user is None and a.unit == "node-hours")


def test_allocations_drop_once_a_job_has_run(client: Any, flavour: Flavour) -> None:
    needs(flavour, Capability.ALLOCATIONS)
    allocations = client.allocations()
    assert allocations and all(isinstance(a, Allocation) for a in allocations)
    for allocation in allocations:
        assert allocation.unit and allocation.used >= 0
        assert Allocation.from_dict(allocation.to_dict()) == allocation
    one = allocations[0].project
    assert {a.project for a in client.allocations(one)} == {one}

    before = _used(client)
    # No account: the job charges the caller's default project. A second and a half, so that
    # accounting's whole seconds count it too.
    job = client.submit(
        flavour.compute,
        JobSpec(
            executable="/bin/sleep",
            arguments=["1.5"],
            attributes=JobAttributes(duration=timedelta(seconds=60), queue_name="debug"),
        ),
    )
    assert client.wait(flavour.compute, job.id, **WAIT).state is JobState.COMPLETED
    deadline = time.monotonic() + ACCOUNTING_WAIT
    while _used(client) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _used(client) > before


#: What a refusal names to use instead: a call of this API, the scheduler's accounting commands,
#: or the facility's portal.
WHERE_TO_LOOK = re.compile(r"projects\(\)|whoami\(\)|sacct|portal|myOLCF")


def test_identity_and_allocations_the_api_lacks_say_so(client: Any, flavour: Flavour) -> None:
    if Capability.IDENTITY in flavour.capabilities and Capability.ALLOCATIONS in flavour.capabilities:
        pytest.skip(f"{flavour.facility} has identity and allocations")
    if Capability.IDENTITY not in flavour.capabilities:
        with pytest.raises(UnsupportedOperation, match="whoami") as raised:
            client.whoami()
        assert WHERE_TO_LOOK.search(str(raised.value)), str(raised.value)
    if Capability.ALLOCATIONS not in flavour.capabilities:
        with pytest.raises(UnsupportedOperation, match="allocations is not offered") as raised:
            client.allocations()
        assert WHERE_TO_LOOK.search(str(raised.value)), str(raised.value)
