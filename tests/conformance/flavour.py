"""What the contract tests know of one backend flavour."""

from __future__ import annotations

import dataclasses
from typing import Any

from facility_common.backends.base import Capability


@dataclasses.dataclass(frozen=True)
class Flavour:
    """One backend pointed at its emulated (or real local) API.

    ``compute`` names a compute resource and ``compute_id`` its id (the name again where the API
    has no ids); ``scratch`` is a writable remote directory; ``capabilities`` limits the contract
    to what the API offers (tests of the rest check for UnsupportedOperation instead);
    ``walltime_seconds`` is the shortest duration the API can express, for the TIMEOUT test;
    ``fidelity`` is the emulator fidelity setting the flavour runs against (``"spec"``, or
    ``"iri=reference"`` for an API answering as its real server does).
    """

    facility: str
    base_url: str
    auth: Any
    compute: str
    compute_id: str
    scratch: str
    options: dict[str, Any]
    capabilities: frozenset[str] = Capability.ALL
    walltime_seconds: int = 1
    fidelity: str = "spec"
