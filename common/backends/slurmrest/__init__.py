"""The slurmrestd backend: one Slurm cluster behind Slurm's REST daemon (v0.0.38 to v0.0.44).

:class:`SlurmRestBackend` (in :mod:`.backend`) speaks the API; :class:`SlurmRestOptions` and
:class:`S3MOptions` (in :mod:`.options`) are the typed options of it and of OLCF S3M, which serves
the same calls behind a gateway (:mod:`facility_common.backends.s3m`). Requests are built in
:mod:`.requests`, job answers read in :mod:`.parsers` and cluster answers in :mod:`.status` (the
cluster calls themselves live in :mod:`.cluster`), the job description written in :mod:`.jobs`,
the data-parser versions told apart in :mod:`.versions` and learnt from the daemon in
:mod:`.discovery`, output files read in :mod:`.output`, and tokens sent in slurmrestd's own
headers by :mod:`.auth`. Names are loaded on first use, so
the registry can read the options without loading the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

if TYPE_CHECKING:
    from .auth import SlurmTokenAuth
    from .backend import SlurmRestBackend
    from .options import S3MOptions, SlurmRestOptions

__all__ = ["S3MOptions", "SlurmRestBackend", "SlurmRestOptions", "SlurmTokenAuth"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "S3MOptions": ".options",
        "SlurmRestBackend": ".backend",
        "SlurmRestOptions": ".options",
        "SlurmTokenAuth": ".auth",
    },
)
