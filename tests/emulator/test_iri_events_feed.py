"""The IRI status events as a feed, through the client against the emulator: filters, ``since`` as
a time or as the last event id seen, the reference server's 404 for an empty page, and one
outage read by id (``outage``) before and after it ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from facility_common import FacilityClient, InvalidJobSpec, NotFoundError
from facility_emulator import EmulatorConfig, EmulatorServer

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.fixture(scope="module", params=["spec", "reference"])
def emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorServer]:
    """An emulator of its own (the feed sees every incident), as the spec and as the reference
    server answer (an empty page is a 404 there)."""
    root = tmp_path_factory.mktemp("events")
    config = EmulatorConfig(root=root, queue_delay=0.05)
    if request.param == "reference":
        config = EmulatorConfig(root=root, queue_delay=0.05, fidelity="iri=reference")
    with EmulatorServer(config) as server:
        yield server


def add_incident(server: EmulatorServer, **body: Any) -> str:
    answer = httpx.post(f"{server.url}/_emulator/incidents", json=body, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["id"])


@pytest.fixture(scope="module")
def incidents(emulator: EmulatorServer) -> dict[str, str]:
    """A finished incident of eagle and a current one of polaris."""
    return {
        "eagle": add_incident(
            emulator,
            name="eagle maintenance",
            type="planned",
            start=T0.isoformat(),
            end=(T0 + timedelta(hours=2)).isoformat(),
            resources=["eagle"],
        ),
        "polaris": add_incident(
            emulator,
            name="polaris down",
            type="unplanned",
            start=(T0 + timedelta(hours=3)).isoformat(),
            resources=["polaris"],
        ),
    }


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[FacilityClient]:
    with FacilityClient.connect(
        "iri", base_url=emulator.iri_url("v1"), auth=emulator.credentials["static_token"]
    ) as connected:
        yield connected


def test_the_feed_is_ordered_and_filtered(client: FacilityClient, incidents: dict[str, str]) -> None:
    events = client.backend.events()
    assert [(e["name"], e["status"]) for e in events] == [
        ("eagle maintenance begins", "down"),
        ("eagle maintenance ends", "up"),
        ("polaris down begins", "down"),
    ]
    assert [e["name"] for e in client.backend.events("eagle")] == [
        "eagle maintenance begins",
        "eagle maintenance ends",
    ]
    assert [e["status"] for e in client.backend.events(status="up")] == ["up"]
    assert len(client.backend.events(incident_id=incidents["polaris"])) == 1
    assert client.backend.events("aurora") == []  # a 404 "No events found" from the reference server
    assert client.backend.events(until=T0 - timedelta(days=1)) == []


def test_since_a_time_or_the_last_event_seen(client: FacilityClient, incidents: dict[str, str]) -> None:
    events = client.backend.events()
    ids = [e["id"] for e in events]
    assert [e["id"] for e in client.backend.events(since=T0 + timedelta(hours=2))] == ids[1:]  # inclusive
    assert [e["id"] for e in client.backend.events(since=ids[0])] == ids[1:]
    assert [e["id"] for e in client.backend.events(since=ids[1])] == ids[2:]
    assert client.backend.events(since=ids[-1]) == []
    assert [e["id"] for e in client.backend.events("polaris", since=ids[0])] == ids[2:]
    with pytest.raises(NotFoundError):
        client.backend.events(since="no-such-event")
    with pytest.raises(InvalidJobSpec, match="status"):
        client.backend.events(status="sideways")


def test_an_outage_read_by_id_tells_when_it_has_ended(
    emulator: EmulatorServer, client: FacilityClient, incidents: dict[str, str]
) -> None:
    current = client.outage(incidents["polaris"])
    assert current.resources == ("polaris",) and not current.has_ended()
    assert client.outage(incidents["eagle"]).has_ended()  # its end has passed
    with pytest.raises(NotFoundError):
        client.outage("no-such-incident")
    incident = add_incident(
        emulator, name="aurora glitch", start=datetime.now(UTC).isoformat(), resources=["aurora"]
    )
    assert not client.outage(incident).has_ended()
    httpx.post(f"{emulator.url}/_emulator/incidents/{incident}/resolve", timeout=10).raise_for_status()
    ended = client.outage(incident)
    assert ended.has_ended() and ended.raw["resolution"] == "completed"
    latest = client.backend.events("aurora")[-1]
    assert (latest["name"], latest["status"]) == ("aurora glitch ends", "up")
