"""Provider info for Airflow's provider discovery (the ``apache_airflow_provider`` entry point).

Names every hook, operator, sensor, trigger, extra link and connection type of the distribution.
Connection types and their forms come from the backend descriptors
(:mod:`airflow_facility.connections`); they are declarative (``conn-fields`` and
``ui-field-behaviour``), so Airflow's UI shows them with the right labels without importing the
hooks.
"""

from __future__ import annotations

from typing import Any

from .connections import connection_type_info, facility_descriptors, globus_connection_type_info

__all__ = ["get_provider_info"]

_INTEGRATION = "HPC facility APIs"


def get_provider_info() -> dict[str, Any]:
    """The provider-info dict Airflow validates against its provider schema."""
    apis = facility_descriptors()
    labels = [descriptor.label for descriptor in apis]
    listed = " and ".join(part for part in (", ".join(labels[:-1]), labels[-1] if labels else "") if part)
    return {
        "package-name": "hpc-facility-providers",
        "name": "HPC facility APIs",
        "description": (
            "Run jobs, move files, move data between facilities (Globus) and gate runs on resource "
            f"status at HPC facilities through their REST APIs: {listed}."
        ),
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://github.com/doe-iri/iri-facility-api-docs",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_facility.operators.job",
                    "airflow_facility.operators.files",
                    "airflow_facility.operators.gate",
                    "airflow_facility.operators.transfer",
                    "airflow_facility.operators.streaming",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_facility.sensors.job",
                    "airflow_facility.sensors.resource",
                    "airflow_facility.sensors.transfer",
                    "airflow_facility.sensors.incident",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["airflow_facility.hooks.facility", "airflow_facility.hooks.transfer"],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_facility.triggers.job",
                    "airflow_facility.triggers.resource",
                    "airflow_facility.triggers.transfer",
                    "airflow_facility.triggers.incident",
                ],
            }
        ],
        "extra-links": ["airflow_facility.links.FacilityJobLink"],
        "connection-types": [
            *(connection_type_info(descriptor) for descriptor in apis),
            globus_connection_type_info(),
        ],
    }
