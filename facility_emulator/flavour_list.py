"""The emulator's flavours by name: one emulated API each, and the module that builds it.

A leaf module (it imports nothing of the emulator), so the configuration can check flavour names
without importing the flavours' machinery. Adding an API's emulation is one line here and its
package (a module exposing ``build(state) -> Flavour``, see :mod:`facility_emulator.flavours`).
"""

from __future__ import annotations

__all__ = ["FLAVOUR_MODULES"]

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
