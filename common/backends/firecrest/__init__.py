"""The CSCS FirecREST v2 backend.

:class:`FirecrestBackend` (in :mod:`.backend`) speaks the API; :class:`FirecrestOptions` (in
:mod:`.options`) are its typed options. Requests are built in :mod:`.requests` and answers read in
:mod:`.parsers`; the batch script and submit body come from :mod:`.script`; the job, file and
transfer operations live in :mod:`.jobs`, :mod:`.files` and :mod:`.transfers` on the shared state
of :mod:`.core`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

if TYPE_CHECKING:
    from .backend import FirecrestBackend
    from .options import FirecrestOptions

__all__ = ["FirecrestBackend", "FirecrestOptions"]

__getattr__, __dir__ = lazy_exports(
    __name__, {"FirecrestBackend": ".backend", "FirecrestOptions": ".options"}
)
