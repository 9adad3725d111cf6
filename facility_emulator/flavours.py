"""Flavours: one emulated API each, plugged into the shared emulator.

A flavour module exposes ``build(state) -> Flavour``. Its routes share the emulator's token
authority, sandbox, scheduler, task queue, faults, statistics and exchange log; its base URLs and
credentials join the emulator's printout under the flavour's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from facility_emulator.state import EmulatorState

# name -> module exposing build(state). Keep sorted.
FLAVOUR_MODULES: dict[str, str] = {
    "firecrest": "facility_emulator.firecrest.flavour",
    "flux": "facility_emulator.flux.flavour",
    "globus": "facility_emulator.globus.flavour",
    "iri": "facility_emulator.iri.flavour",
    "s3m": "facility_emulator.s3m.flavour",
    "sfapi": "facility_emulator.sfapi.flavour",
    "slurmrestd": "facility_emulator.slurmrestd.flavour",
}


class FlavourBuilder(Protocol):
    def __call__(self, state: EmulatorState) -> Flavour: ...


@dataclass
class Flavour:
    """One emulated API.

    ``prefixes`` maps a label to a path prefix (``{"v1": "/iri/api/v1"}``); the base URL of each is
    the emulator's root URL plus the prefix. ``credentials`` returns what a client of this API
    needs beyond the shared OIDC client (keys, tokens), given the emulator's root URL.
    """

    name: str
    routes: list[BaseRoute]
    prefixes: Mapping[str, str]
    credentials: Any = field(default=None)

    def base_urls(self, root_url: str) -> dict[str, str]:
        return {label: root_url + path for label, path in self.prefixes.items()}

    def extra_credentials(self, root_url: str) -> dict[str, Any]:
        return dict(self.credentials(root_url)) if self.credentials is not None else {}


def load_flavours(state: EmulatorState) -> list[Flavour]:
    """Build every registered flavour for ``state``."""
    flavours = []
    for module_name in FLAVOUR_MODULES.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue  # a flavour whose package is not part of this installation
        builder: FlavourBuilder = module.build
        flavours.append(builder(state))
    return flavours
