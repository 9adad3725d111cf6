"""Cross-facility data movement: Globus Transfer and the facilities' own Globus routes.

::

    from facility_common.transfers import FacilitySite, TransferClient

    transfers = TransferClient.connect(
        globus_auth={"type": "globus_confidential", "client_id": ..., "client_secret": ...},
        sites={"alcf": alcf_settings, "nersc": {"collections": {"dtn": "<collection id>"}}},
    )
    request = transfers.prepare("alcf:eagle", "nersc:dtn", [("/run/out/", "/scratch/in/", True)])
    task = transfers.submit(request)          # submitting the same request again is safe
    task = transfers.wait(task.id)            # many waits share one status request per interval

See ``docs/transfers.md`` for consent, tokens, the facilities' collections and a worked example.
"""

from .client import AsyncTransferClient, Endpoint, StorageRef, TransferRoute
from .errors import ConsentRequired, TransferSubmissionError
from .facility_route import FacilityGlobusRoute
from .globus_auth import TRANSFER_RESOURCE_SERVER, TRANSFER_SCOPE, TransferCredentials, transfer_scope
from .globus_route import GLOBUS_TRANSFER_URL, GlobusRoute
from .models import (
    FailedFile,
    InvalidTransferRequest,
    TransferEvent,
    TransferItem,
    TransferRequest,
    TransferState,
    TransferTask,
)
from .poller import TransferPoller
from .sites import Collection, FacilitySite
from .sync import TransferClient

__all__ = [
    "GLOBUS_TRANSFER_URL",
    "TRANSFER_RESOURCE_SERVER",
    "TRANSFER_SCOPE",
    "AsyncTransferClient",
    "Collection",
    "ConsentRequired",
    "Endpoint",
    "FacilityGlobusRoute",
    "FacilitySite",
    "FailedFile",
    "GlobusRoute",
    "InvalidTransferRequest",
    "StorageRef",
    "TransferClient",
    "TransferCredentials",
    "TransferEvent",
    "TransferItem",
    "TransferPoller",
    "TransferRequest",
    "TransferRoute",
    "TransferState",
    "TransferSubmissionError",
    "TransferTask",
    "transfer_scope",
]
