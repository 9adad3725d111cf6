"""IRI Facility API v1 and v2 through the emulator."""

from __future__ import annotations

import functools
from typing import Any

from ...conftest import resource_id
from ..flavour import Flavour


def iri_flavour(server: Any, version: str) -> Flavour:
    credentials = server.credentials
    options: dict[str, Any] = {"task_poll_interval": 0.02}
    if version == "v2":
        options["project"] = "demo"
    return Flavour(
        facility="iri",
        base_url=server.iri_url(version),
        auth={
            "type": "oidc_client_credentials",
            "token_url": credentials["token_url"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
        compute="polaris",
        compute_id=resource_id(server, "polaris"),
        scratch=credentials["home"],
        options=options,
    )


FLAVOURS = {
    "iri-v1": functools.partial(iri_flavour, version="v1"),
    "iri-v2": functools.partial(iri_flavour, version="v2"),
}
