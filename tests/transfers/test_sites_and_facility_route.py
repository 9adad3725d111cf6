"""Where collections come from (configuration, IRI v2 storage access endpoints) and the NERSC
Superfacility API's own Globus routes, against the emulator."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from facility_common import ConfigurationError, UnsupportedOperation
from facility_common.transfers import (
    AsyncTransferClient,
    FacilitySite,
    InvalidTransferRequest,
    TransferState,
)

from .conftest import collection_id, iri_settings, sfapi_settings, sync_client


def _root(server: Any, name: str) -> Path:
    return Path(server.flavour_credentials("globus")["collections"][name]["root"])


def test_iri_v2_storage_access_endpoints_name_the_collection_and_its_root(server: Any) -> None:
    async def scenario() -> tuple[Any, Any]:
        site = FacilitySite("alcf", iri_settings(server))
        try:
            return await site.collection("eagle"), await site.collection("home")
        finally:
            await site.aclose()

    eagle, home = anyio.run(scenario)
    assert eagle.id == collection_id(server, "alcf-eagle") and eagle.name == "alcf:eagle"
    assert eagle.root == str(_root(server, "alcf-eagle"))
    assert eagle.globus_path(f"{eagle.root}/run/out") == "/run/out"
    assert eagle.facility_path("/run/out") == f"{eagle.root}/run/out"
    assert home.id == collection_id(server, "alcf-home")


def test_configuration_wins_over_discovery(server: Any) -> None:
    chosen = str(uuid.uuid4())

    async def scenario() -> Any:
        site = FacilitySite(
            "alcf", iri_settings(server, collections={"eagle": {"id": chosen, "root": "/lus/eagle"}})
        )
        try:
            return await site.collection("eagle")
        finally:
            await site.aclose()

    found = anyio.run(scenario)
    assert (found.id, found.root) == (chosen, "/lus/eagle")


def test_an_api_without_access_endpoints_asks_for_configuration(server: Any) -> None:
    async def scenario() -> None:
        site = FacilitySite("alcf-v1", iri_settings(server, name="alcf-v1", version="v1"))
        try:
            await site.collection("eagle")
        finally:
            await site.aclose()

    with pytest.raises(ConfigurationError) as missing:
        anyio.run(scenario)
    text = str(missing.value)
    assert (
        "alcf-v1" in text and "eagle" in text and "globus_collections" in text and "docs/transfers.md" in text
    )


def test_a_bad_collection_table_is_refused_naming_the_entry() -> None:
    with pytest.raises(ConfigurationError, match=r"'olcf', globus_collections.orion: 'nope' is not"):
        FacilitySite("olcf", collections={"orion": "nope"})
    with pytest.raises(ConfigurationError, match=r"globus_collections.orion.root: expected an absolute path"):
        FacilitySite("olcf", collections={"orion": {"id": str(uuid.uuid4()), "root": "relative"}})


def test_the_superfacility_api_moves_a_tree_with_its_own_credentials(server: Any) -> None:
    run = f"sf-{uuid.uuid4().hex[:8]}"
    source = _root(server, "nersc-dtn") / run
    source.mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    (source / "b.txt").write_text("beta\n")
    with sync_client(server, poll_interval=0.05) as transfers:
        request = transfers.prepare(
            "nersc:perlmutter",
            "alcf:eagle",
            [(f"/{run}", f"/from-nersc/{run}", True)],
            route="nersc",
            label="sfapi",
        )
        # A NERSC storage with no configured collection goes by the name the API knows; the other
        # facility's by its collection id.
        assert (request.source, request.destination) == ("perlmutter", collection_id(server, "alcf-eagle"))
        task = transfers.submit(request)
        assert task.route == "nersc"
        done = transfers.wait(task.id, route="nersc", timeout=60)
        with pytest.raises(UnsupportedOperation, match="cancelling a transfer is not offered"):
            transfers.cancel(task.id, route="nersc")
    assert done.state is TransferState.SUCCEEDED and done.bytes_transferred == 11
    assert (_root(server, "alcf-eagle") / "from-nersc" / run / "b.txt").read_text() == "beta\n"


def test_the_superfacility_route_refuses_what_its_form_cannot_say(server: Any) -> None:
    async def scenario(**options: Any) -> None:
        async with AsyncTransferClient.connect(sites={"nersc": sfapi_settings(server)}) as transfers:
            await transfers.transfer("nersc:dtn", "nersc:hpss", route="nersc", **options)

    with pytest.raises(
        InvalidTransferRequest, match=r"verify_checksum: cannot be set on the sfapi Globus route"
    ):
        anyio.run(lambda: scenario(items=[("/a/", "/b/", True)], verify_checksum=True))
    with pytest.raises(InvalidTransferRequest, match=r"items: one item per transfer"):
        anyio.run(lambda: scenario(items=[("/a/", "/b/", True), ("/c/", "/d/", True)]))
    with pytest.raises(InvalidTransferRequest, match=r"items.destination_path: a file keeps its name"):
        anyio.run(lambda: scenario(items=[("/a/x.txt", "/b/y.txt")]))


def test_without_globus_credentials_the_route_must_be_named(server: Any) -> None:
    async def scenario() -> None:
        async with AsyncTransferClient.connect(sites={"nersc": sfapi_settings(server)}) as transfers:
            await transfers.transfer("nersc:dtn", "nersc:hpss", [("/a/", "/b/", True)])

    with pytest.raises(ConfigurationError, match="no Globus credentials"):
        anyio.run(scenario)
