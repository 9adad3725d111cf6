"""Local emulator of HPC facility REST APIs (DOE IRI v1/v2) with real jobs and real auth.

Public in-process API: :class:`EmulatorConfig`, :class:`EmulatorServer`.
"""

from facility_emulator.config import EmulatorConfig
from facility_emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer"]
