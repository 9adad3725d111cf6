"""Each API's identity and allocation answers read into the shared models, on recorded payloads:
IRI's account routes (v1 enum units, v2 URNs), the SF API's UserInfo and ProjectStats,
FirecREST's userinfo, S3M's introspection and Debian slurmrestd's v0.0.38 accounting answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from facility_common.backends.firecrest.account import parse_accounts, parse_userinfo
from facility_common.backends.iri.account import (
    build_capabilities,
    build_project_allocations,
    parse_allocations,
    parse_capabilities,
    parse_projects,
    parse_user_allocations,
    parse_whoami,
)
from facility_common.backends.s3m import _parse_introspect
from facility_common.backends.s3m_identity import identity_from_introspection
from facility_common.backends.sfapi import account as sfapi
from facility_common.backends.slurmrest import account as slurm

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"


def load(api: str, name: str) -> Any:
    return json.loads((PAYLOADS / api / name).read_text())


# -- IRI -------------------------------------------------------------------------------------------


def test_iri_projects_and_whoami() -> None:
    projects = parse_projects(load("iri", "account_projects.json"))
    assert [(p.id, p.name) for p in projects] == [
        ("proj-abc123", "Climate Simulation"),
        ("proj-def456", "Fusion Materials"),
    ]
    assert projects[0].members == ("user-123", "user-456")
    assert parse_whoami({"username": "user-123"}) == "user-123"
    with pytest.raises(ValueError, match="username"):
        parse_whoami({"user": "x"})


def test_iri_v1_allocations_one_per_entry_named_by_capability_and_resource() -> None:
    names = parse_capabilities(load("iri", "account_capabilities.json"))
    assert names == {"cap-gpu": "Perlmutter GPU", "cap-eagle": "cap-eagle"}
    data = load("iri", "account_project_allocations_v1.json")
    gpu, storage, inodes = parse_allocations(data, "proj-abc123", names, {"cap-gpu": "perlmutter"})
    assert (gpu.unit, gpu.native_unit, gpu.allocated, gpu.used) == (
        "node-hours",
        "node_hours",
        100000.0,
        52342.5,
    )
    assert (gpu.capability, gpu.resource, gpu.id, gpu.user) == (
        "Perlmutter GPU",
        "perlmutter",
        "alloc-001",
        None,
    )
    assert gpu.remaining == 100000.0 - 52342.5
    assert (storage.unit, storage.capability, storage.resource) == ("bytes", "cap-eagle", None)
    assert inodes.unit == "inodes" and inodes.id == storage.id == "alloc-002"


def test_iri_v2_units_are_urns_read_as_the_same_words() -> None:
    [gpu] = parse_allocations(load("iri", "account_project_allocations_v2.json"), "proj-abc123")
    assert gpu.unit == "node-hours"
    assert gpu.native_unit == "urn:doe-iri:allocation:compute:node-hours"
    assert gpu.capability == "cap-gpu"  # no capability names given: the id


def test_iri_user_allocations_carry_the_user() -> None:
    [share] = parse_user_allocations(load("iri", "account_user_allocations.json"), "proj-abc123")
    assert (share.user, share.allocated, share.used, share.project) == (
        "user-123",
        10000.0,
        5234.25,
        "proj-abc123",
    )


def test_iri_account_requests_quote_their_ids() -> None:
    assert build_project_allocations("a/b").path == "account/projects/a%2Fb/project_allocations"
    assert build_capabilities(1000).params == {"offset": 1000, "limit": 1000}


def test_iri_allocation_without_entries_is_refused() -> None:
    with pytest.raises(ValueError, match="entries"):
        parse_allocations([{"id": "x", "capability_uri": "c"}], "p")


# -- SF API ----------------------------------------------------------------------------------------


def test_sfapi_user_and_projects() -> None:
    identity = sfapi.parse_user(load("sfapi", "account_user.json"))
    assert (identity.username, identity.user_id, identity.name) == ("elvis", "71234", "Elvis Presley")
    assert identity.email == "elvis@example.org" and identity.source == "GET /account/"
    projects = sfapi.parse_projects(load("sfapi", "account_projects.json"))
    assert [(p.id, p.role) for p in projects] == [("m1234", "PI"), ("m0042", None)]
    assert projects[0].raw["id"] == 5501


def test_sfapi_hours_split_cpu_and_gpu_with_the_users_share() -> None:
    found = sfapi.parse_allocations(load("sfapi", "account_projects.json"), user="elvis")
    m1234 = [(a.capability, a.user, a.allocated, a.used) for a in found if a.project == "m1234"]
    assert m1234 == [
        ("cpu", None, 100000.0, 60000.0),
        ("cpu", "elvis", 20000.0, 1000.5),
        ("gpu", None, 50000.0, 1000.25),
        ("gpu", "elvis", 30000.0, 200.0),
    ]
    m0042 = [a for a in found if a.project == "m0042"]
    assert [(a.capability, a.user, a.allocated, a.used) for a in m0042] == [
        (None, None, 1000.0, 999.5),
        (None, "elvis", 100.0, 10.0),
    ]
    assert {a.unit for a in found} == {"node-hours"} and {a.resource for a in found} == {"perlmutter"}


def test_sfapi_bad_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="cpu_project_hours_given"):
        sfapi.parse_allocations([{"repo_name": "m1", "cpu_project_hours_given": "lots"}])
    with pytest.raises(ValueError, match="repo_name"):
        sfapi.parse_projects([{"id": 1}])


# -- FirecREST -------------------------------------------------------------------------------------


def test_firecrest_userinfo() -> None:
    data = load("firecrest", "userinfo.json")
    identity = parse_userinfo(data, "daint")
    assert (identity.username, identity.user_id) == ("fcuser", "21234")
    assert identity.groups == ("csstaff", "g123")
    assert identity.projects == ("g123", "csstaff") and identity.default_project == "g123"
    assert identity.source == "GET /status/daint/userinfo"
    assert [(p.id, p.is_default) for p in parse_accounts(data)] == [("g123", True), ("csstaff", False)]
    with pytest.raises(ValueError, match=r"user\.name"):
        parse_userinfo({"user": {"id": "1"}}, "daint")


# -- S3M -------------------------------------------------------------------------------------------


def test_s3m_identity_from_introspection() -> None:
    identity = identity_from_introspection(_parse_introspect(load("s3m", "introspect.json")))
    assert (identity.username, identity.projects, identity.default_project) == (
        "demo_auser",
        ("demo",),
        "demo",
    )
    assert identity.permissions == ("compute-ace",)
    assert identity.expires_at == datetime(2026, 11, 22, 17, 45, 11, 481739, tzinfo=UTC)
    assert "planned_expiration" not in identity.raw
    assert identity.to_dict()["expires_at"] == "2026-11-22T17:45:11.481739+00:00"


# -- slurmrestd (Debian's 22.05, v0.0.38, with accounting) ----------------------------------------


def test_slurm_user_accounts_and_default() -> None:
    accounts, default = slurm.parse_user_accounts(load("slurmrest", "v0.0.38_slurmdb_user.json"), "root")
    assert accounts == ["facility-alloc", "root"] and default == "root"
    assert slurm.parse_user_accounts(load("slurmrest", "v0.0.38_slurmdb_user_missing.json"), "x") == (
        [],
        None,
    )


def test_slurm_limits_are_the_account_associations_grptresmins() -> None:
    data = load("slurmrest", "v0.0.38_slurmdb_associations_limited.json")
    limits, cluster = slurm.parse_limits(data, "facility-alloc")
    assert limits == {"cpu": 1200, "node": 600} and cluster == "local"
    assert slurm.parse_limits(data, "other") == ({}, None)


def test_slurm_usage_sums_tres_times_elapsed_of_finished_jobs() -> None:
    data = load("slurmrest", "v0.0.38_slurmdb_jobs.json")
    used = slurm.parse_usage(data)
    elapsed = sum(j["time"]["elapsed"] for j in data["jobs"])
    assert used["node"] == pytest.approx(elapsed / 3600) and used["cpu"] == pytest.approx(elapsed / 3600)
    limited = slurm.allocations_of("facility-alloc", {"cpu": 1200, "node": 600, "mem": 5}, used, "local")
    assert [(a.unit, a.allocated, a.capability) for a in limited] == [
        ("cpu-hours", 20.0, "cpu"),
        ("node-hours", 10.0, "node"),
    ]
    [unlimited] = slurm.allocations_of("root", {}, used, "local")
    assert (unlimited.unit, unlimited.allocated, unlimited.remaining) == ("node-hours", None, None)
    assert slurm.parse_usage({"jobs": [], "errors": [{"error_number": 9003}]}) == {}


def test_slurm_user_request_asks_for_associations_only_where_understood() -> None:
    assert slurm.build_db_user("slurmdb/v0.0.38", "v0.0.38", "a b").params is None
    assert slurm.build_db_user("slurmdb/v0.0.38", "v0.0.38", "a b").path == "slurmdb/v0.0.38/user/a%20b"
    assert slurm.build_db_user("slurmdb/v0.0.43", "v0.0.43", "u").params == {"with_assocs": "true"}


def test_sfapi_groups_sharing_a_name_are_listed_once() -> None:
    answer = {
        "groups": [
            {"gid": 1001, "name": "demo", "users": []},
            {"gid": 5001, "name": "demo", "users": []},
            {"gid": 5002, "name": "staff", "users": []},
        ]
    }
    assert sfapi.parse_groups(answer) == ("demo", "staff")
