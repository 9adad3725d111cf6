"""The Flux RESTful API backend: one Flux instance behind flux-restful-api.

:class:`FluxBackend` (in :mod:`.backend`) speaks the API; :class:`FluxOptions` (in :mod:`.options`)
are its typed options. Requests are built in :mod:`.requests`, answers read in :mod:`.parsers`, the
job of a submit whose answer was lost is recognised in :mod:`.matching`, and Flux's own
authentication flows live in :mod:`.auth`. Names are loaded on first use, so the registry can read
the options without loading the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

if TYPE_CHECKING:
    from .backend import FluxBackend
    from .options import FluxOptions

__all__ = ["FluxBackend", "FluxOptions"]

__getattr__, __dir__ = lazy_exports(__name__, {"FluxBackend": ".backend", "FluxOptions": ".options"})
