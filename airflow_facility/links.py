"""Extra link from a submit task to its job's page at the facility.

The operator pushes ``job_url`` to XCom right after submitting, when the connection names a job
page template (``job_url_template``); the IRI API has no job pages, so for it the link is empty
and Airflow shows no button.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["JOB_URL_XCOM_KEY", "FacilityJobLink"]

JOB_URL_XCOM_KEY = "job_url"


class FacilityJobLink(BaseOperatorLink):
    """ "Facility job": the job's web page, where the facility has one."""

    name = "Facility job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(ti_key=ti_key, key=JOB_URL_XCOM_KEY)
        return str(url) if url else ""
