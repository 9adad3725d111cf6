"""The public surface is explicit, and the sync facade mirrors the async client exactly."""

from __future__ import annotations

import inspect

import facility_common
from facility_common import AsyncFacilityClient, FacilityClient

REQUIRED = {
    "FacilityClient",
    "AsyncFacilityClient",
    "JobSpec",
    "ResourceSpec",
    "JobAttributes",
    "Job",
    "JobState",
    "ResourceStatus",
    "ResourceState",
    "Outage",
    "FileEntry",
    "StatusPoller",
}


def test_exports_are_sorted_and_complete() -> None:
    exported = facility_common.__all__

    def isort_style(name: str) -> tuple[int, str]:
        # Constants, then classes, then functions, as ruff's RUF022 sorts __all__.
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert exported == sorted(exported, key=isort_style)
    assert set(exported) >= REQUIRED
    for name in exported:
        assert hasattr(facility_common, name), name


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    members: dict[str, inspect.Signature] = {}
    for klass in reversed(cls.__mro__[:-1]):
        for name, member in vars(klass).items():
            if callable(member) and not name.startswith("_"):
                members[name] = inspect.signature(member)
    return members


def test_sync_and_async_clients_have_the_same_methods_and_signatures() -> None:
    async_methods = _public_methods(AsyncFacilityClient)
    sync_methods = _public_methods(FacilityClient)
    lifecycle = {"aclose", "close", "connect"}
    assert set(async_methods) - lifecycle == set(sync_methods) - lifecycle
    for name in set(async_methods) - lifecycle:
        async_params = list(async_methods[name].parameters)[1:]
        sync_params = list(sync_methods[name].parameters)[1:]
        assert async_params == sync_params, name
        method = getattr(AsyncFacilityClient, name)
        assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name
        twin = getattr(FacilityClient, name)
        assert not inspect.iscoroutinefunction(twin) and not inspect.isasyncgenfunction(twin), name
        # An async iterator (follow_output) has a plain iterator as its twin.
        assert inspect.isasyncgenfunction(method) == inspect.isgeneratorfunction(twin), name
        assert getattr(FacilityClient, name).__doc__ == getattr(AsyncFacilityClient, name).__doc__


def test_every_sync_method_runs_the_async_method_of_its_name() -> None:
    """The facade is generated from the async client, method by method: the contract suite runs it
    for one flavour only (tests/conformance/conftest.py), which holds only while this does."""
    lifecycle = {"aclose", "close", "connect"}
    for name in set(_public_methods(AsyncFacilityClient)) - lifecycle:
        assert getattr(FacilityClient, name).__wrapped__ is getattr(AsyncFacilityClient, name), name


def test_the_issue_surface_exists() -> None:
    for name in [
        "resources",
        "resource",
        "outages",
        "is_available",
        "submit",
        "get_job",
        "list_jobs",
        "cancel",
        "wait",
        "job_output",
        "ls",
        "stat",
        "mkdir",
        "rm",
        "mv",
        "cp",
        "chmod",
        "chown",
        "view",
        "head",
        "tail",
        "upload",
        "download",
    ]:
        assert callable(getattr(FacilityClient, name)), name
