"""The NERSC Superfacility API v1.2 backend (Perlmutter and the data transfer nodes).

:class:`SFAPIBackend` (in :mod:`.backend`, with its file operations in :mod:`.files`) speaks the
API; :class:`SFAPIOptions` (in :mod:`.options`) are its typed options. Requests are built in
:mod:`.requests`, answers read in :mod:`.parsers`, the API's asynchronous tasks followed in
:mod:`.tasks`, and batch scripts rendered and checked in :mod:`.script`. Names are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

if TYPE_CHECKING:
    from .backend import SFAPIBackend
    from .files import SFAPI_FILE_LIMIT
    from .options import SFAPIOptions

__all__ = ["SFAPI_FILE_LIMIT", "SFAPIBackend", "SFAPIOptions"]

__getattr__, __dir__ = lazy_exports(
    __name__, {"SFAPIBackend": ".backend", "SFAPIOptions": ".options", "SFAPI_FILE_LIMIT": ".files"}
)
