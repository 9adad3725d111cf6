"""facility_common: one client for the REST APIs of HPC facilities.

The same job, file and status model and the same client methods work against the DOE IRI Facility
API and, through their backends, the other facility APIs::

    from facility_common import FacilityClient, JobSpec
    client = FacilityClient.connect("iri", base_url="https://api.alcf.anl.gov/api/v1", auth=token)
    job = client.submit("polaris", JobSpec(executable="/bin/echo", arguments=["hi"]))
    client.wait("polaris", job.id)
"""

from .account import Allocation, Identity, Project
from .allocation_check import AllocationThreshold, AllocationVerdict
from .backends.slurm_script import render_login_script
from .backends.submit import SUBMIT_TAG_VARIABLE
from .client import AsyncFacilityClient
from .connection_settings import ClientSettings, settings_from_connection
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    FacilityError,
    InvalidJobSpec,
    JobSubmissionError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnsupportedOperation,
    WaitTimeout,
)
from .http import RetryPolicy
from .models import (
    FileEntry,
    Job,
    JobAttributes,
    JobSpec,
    JobState,
    Outage,
    ResourceSpec,
    ResourceState,
    ResourceStatus,
)
from .options import BackendOptions
from .poller import StatusPoller
from .redaction import install_log_redaction
from .registry import (
    BackendDescriptor,
    Capability,
    available_backends,
    descriptors,
    get_backend_class,
    get_descriptor,
    register_backend,
)
from .streaming import (
    StreamingBackend,
    StreamingCluster,
    StreamingClusterState,
    StreamingEndpoints,
)
from .sync_client import FacilityClient

__all__ = [
    "SUBMIT_TAG_VARIABLE",
    "APIError",
    "Allocation",
    "AllocationThreshold",
    "AllocationVerdict",
    "AsyncFacilityClient",
    "AuthenticationError",
    "BackendDescriptor",
    "BackendOptions",
    "Capability",
    "ClientSettings",
    "ConfigurationError",
    "FacilityClient",
    "FacilityError",
    "FileEntry",
    "Identity",
    "InvalidJobSpec",
    "Job",
    "JobAttributes",
    "JobSpec",
    "JobState",
    "JobSubmissionError",
    "NotFoundError",
    "Outage",
    "Project",
    "RateLimitedError",
    "ResourceSpec",
    "ResourceState",
    "ResourceStatus",
    "RetryPolicy",
    "ServerError",
    "StatusPoller",
    "StreamingBackend",
    "StreamingCluster",
    "StreamingClusterState",
    "StreamingEndpoints",
    "TransportError",
    "UnsupportedOperation",
    "WaitTimeout",
    "available_backends",
    "descriptors",
    "get_backend_class",
    "get_descriptor",
    "register_backend",
    "render_login_script",
    "settings_from_connection",
]

# Library loggers (httpx logs every URL at INFO, presigned signatures included) are redacted from
# the moment the package is imported; see facility_common.redaction.
install_log_redaction()
