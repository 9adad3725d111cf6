"""Local emulator of HPC facility REST APIs with real jobs and real auth: the DOE IRI Facility API
(v1 and v2), the NERSC Superfacility API, OLCF S3M, slurmrestd, the Flux RESTful API, FirecREST v2,
and Globus Transfer with its token endpoint.

Public in-process API: :class:`EmulatorConfig`, :class:`EmulatorServer`.
"""

from facility_emulator.config import EmulatorConfig
from facility_emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer"]
