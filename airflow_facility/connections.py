"""The connection types of the provider: one per facility API, with their declarative UI fields.

This table is the single source for the provider info (``connection-types``) and for the hook,
which maps a connection's type to the client backend that speaks its API. APIs whose backend is
not part of this distribution yet still get a connection type, so connections can be declared
ahead of time; using one raises an error naming the missing backend.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["AUTH_TYPES", "FACILITY_APIS", "FacilityApi", "api_for_conn_type", "connection_type_info"]

AUTH_TYPES = (
    "token",
    "token_file",
    "oidc_client_credentials",
    "globus_confidential",
    "globus_refresh_token",
    "private_key_jwt",
    "basic",
    "flux_shared_secret",
    "flux_password",
)
"""Values of the ``auth_type`` extra; each names a mapping accepted by ``resolve_auth``."""


@dataclasses.dataclass(frozen=True)
class FacilityApi:
    """One facility API as Airflow sees it: its connection type and the backend behind it."""

    conn_type: str
    backend: str
    label: str
    url_placeholder: str


FACILITY_APIS: tuple[FacilityApi, ...] = (
    FacilityApi("facility_iri", "iri", "DOE IRI Facility API", "https://api.alcf.anl.gov/api/v1"),
    FacilityApi("facility_sfapi", "sfapi", "NERSC Superfacility API", "https://api.nersc.gov/api/v1.2"),
    FacilityApi("facility_s3m", "s3m", "OLCF S3M", "https://s3m.olcf.ornl.gov"),
    FacilityApi("facility_slurmrest", "slurmrest", "Slurm REST API", "https://slurmrestd.example.org"),
    FacilityApi("facility_flux", "flux", "Flux RESTful API", "https://flux.example.org"),
    FacilityApi("facility_firecrest", "firecrest", "FirecREST v2", "https://api.cscs.ch/hpc/firecrest/v2"),
)

_BY_CONN_TYPE = {api.conn_type: api for api in FACILITY_APIS}


def api_for_conn_type(conn_type: str | None) -> FacilityApi | None:
    """The API of a connection type, or None when the type is not one of ours."""
    return _BY_CONN_TYPE.get(conn_type or "")


def _string_field(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _conn_fields() -> dict[str, Any]:
    """Extra fields shown in the connection form (stored in the connection's extra JSON)."""
    return {
        "auth_type": _string_field(
            "Auth type",
            "How to obtain tokens. token: Password is a bearer token. oidc_client_credentials and "
            "globus_confidential: Login is the client id, Password the client secret. "
            "globus_refresh_token: Login is the client id, Password an optional refresh token. "
            "token_file: a token file kept fresh by another tool.",
            enum=list(AUTH_TYPES),
            default="token",
        ),
        "token_url": _string_field(
            "Token URL", "OIDC token endpoint (oidc_client_credentials).", format="url"
        ),
        "scope": _string_field("Scopes", "Space-separated scopes to request, if the provider needs them."),
        "resource_server": _string_field(
            "Globus resource server", "Globus flows: the API's resource server."
        ),
        "token_file": _string_field("Token file", "token_file: path of the file holding the token."),
        "storage_path": _string_field(
            "Token storage path",
            "globus_refresh_token: a token storage file, such as ALCF's token script writes.",
        ),
        "project": _string_field("Project / account", "Account charged for jobs that name none."),
        "api_version": _string_field(
            "API version", "Override the version read from the URL (IRI: v1 or v2)."
        ),
        "job_url_template": _string_field(
            "Job web page",
            "URL of a job's page at the facility, with {job_id} and {resource} placeholders; "
            "leave empty where the facility has none.",
        ),
        "timeout": {
            "label": "Request timeout (s)",
            "description": "Timeout of one HTTP request.",
            "schema": {"type": ["number", "null"], "default": 30},
        },
        "verify": {
            "label": "Verify TLS",
            "description": "Verify the server's TLS certificate.",
            "schema": {"type": ["boolean", "null"], "default": True},
        },
    }


def connection_type_info(api: FacilityApi) -> dict[str, Any]:
    """The ``connection-types`` entry of one API for the provider info."""
    return {
        "connection-type": api.conn_type,
        "hook-class-name": f"airflow_facility.hooks.facility.{_hook_class_name(api)}",
        "hook-name": api.label,
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {"host": "Base URL", "login": "Client id", "password": "Token or client secret"},
            "placeholders": {
                "host": api.url_placeholder,
                "login": "client id (client-credential flows only)",
                "password": "bearer token, or the client secret",
            },
        },
        "conn-fields": _conn_fields(),
    }


def _hook_class_name(api: FacilityApi) -> str:
    return {
        "iri": "IRIHook",
        "sfapi": "SuperfacilityHook",
        "s3m": "S3MHook",
        "slurmrest": "SlurmRestHook",
        "flux": "FluxHook",
        "firecrest": "FirecrestHook",
    }[api.backend]
