"""Backend for the DOE IRI Facility API (ALCF, NERSC, OLCF, ESnet deployments), v1 and v2.

``base_url`` is the API root including its version (``https://api.alcf.anl.gov/api/v1``,
``https://api.iri.nersc.gov/api/v2``); request paths are relative to it. Every operation has a
pure ``_build_<op>`` function (:mod:`.requests`) that turns arguments into an
:class:`~facility_common.http.ApiRequest` and a pure ``_parse_<op>`` function (:mod:`.parsers`,
:mod:`.file_parsers`) that turns the JSON answer into our models, so both are tested on recorded
payloads without I/O. The backend's methods only wire them to the session, in groups:
:mod:`.status` (resources, outages, the facility), :mod:`.jobs` (compute jobs, the submit under
the shared submit policy), :mod:`.files` and :mod:`.tasks` (filesystem operations and the tasks
they run as); :mod:`.links` reads v2's HAL links, which the operations follow where a resource
gives them; :mod:`.backend` joins them into :class:`IRIBackend`, and :mod:`.options` holds
:class:`IRIOptions`. Each module's docstring says how it fills the API's gaps, and where it
follows what the public reference server really answers rather than the spec.

The names below are loaded on first use, so the registry can read :class:`IRIOptions` without
loading the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

if TYPE_CHECKING:
    from ..submit import SUBMIT_TAG_VARIABLE
    from .backend import IRIBackend
    from .options import IRIOptions
    from .requests import IRI_FILE_LIMIT

__all__ = ["IRI_FILE_LIMIT", "SUBMIT_TAG_VARIABLE", "IRIBackend", "IRIOptions"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "IRIBackend": ".backend",
        "IRIOptions": ".options",
        "IRI_FILE_LIMIT": ".requests",
        # Still imported from here by airflow_facility; it lives in facility_common.
        "SUBMIT_TAG_VARIABLE": "..submit",
    },
)
