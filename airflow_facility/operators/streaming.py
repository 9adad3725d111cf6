"""Streaming clusters in a DAG: provision one as a setup task, feed its URL to jobs, delete it as
the teardown.

OLCF S3M provisions RabbitMQ and Redis clusters for up to 7 days (see the S3M page of the docs).
The usual shape::

    create = FacilityStreamingClusterOperator(task_id="create_stream", facility_conn_id="olcf",
                                              engine="redis", name=NAME)
    produce = FacilityStreamingJobOperator(task_id="produce", facility_conn_id="site_a", ...,
                                           streaming_conn_id="olcf", engine="redis", cluster=NAME)
    delete = FacilityStreamingClusterDeleteOperator(task_id="delete_stream",
                                                    facility_conn_id="olcf", engine="redis", name=NAME)
    create >> produce >> ... >> delete.as_teardown(setups=create)

The teardown runs when the DAG's work fails too (Airflow 3 setup/teardown), and a setup that
fails after the cluster was provisioned deletes it itself (a teardown runs only after a
successful setup).

Secrets: the setup task pushes the cluster without its credentials (name, engine, state,
endpoints, public URL, expiry, and the connection id that reaches it). Airflow 3 tasks cannot
create Airflow connections (they have no metadata-database access), so a task that needs the
password asks S3M for it when it runs: :class:`FacilityStreamingJobOperator` puts the URL with
credentials into its job's environment (masked in task logs; never in XCom or rendered fields),
and :func:`streaming_connection_url` gives it to a Python task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.log import mask_secret

from facility_common import APIError, FacilityError, JobSpec, StreamingCluster

from ..hooks.facility import FacilityHook
from .job import FacilitySubmitJobOperator

__all__ = [
    "FacilityStreamingClusterDeleteOperator",
    "FacilityStreamingClusterOperator",
    "FacilityStreamingJobOperator",
    "streaming_connection_url",
]

IF_EXISTS = ("reuse", "fail")


def streaming_connection_url(facility_conn_id: str, engine: str, name: str) -> str:
    """The URL (credentials included) of cluster ``name``, fetched now through the connection and
    masked in task logs: for a Python task that connects to the cluster itself."""
    hook = FacilityHook(facility_conn_id=facility_conn_id)
    try:
        cluster: StreamingCluster = hook.get_conn().call_backend("get_streaming_cluster", engine, name)
    finally:
        hook.close()
    url = cluster.connection_url()
    mask_secret(url)
    if cluster.password is not None:
        mask_secret(cluster.password.get_secret_value())
    return url


class FacilityStreamingClusterOperator(BaseOperator):
    """Provision a streaming cluster and wait until it is ready; returns it without credentials.

    :param facility_conn_id: a connection to an API with streaming clusters (``facility_s3m``).
    :param engine: ``redis`` or ``rabbitmq``.
    :param name: the cluster's name (a DNS label, unique per engine in the project).
    :param kind: the kind of cluster (default: the first the API lists for the engine).
    :param cluster_resources: resource settings (``{"cpus": 2, "ram-gbs": 4}``), checked against
        the kind's bounds before anything is provisioned (named so because ``resources`` is a
        BaseOperator argument).
    :param features: feature flags of the kind.
    :param if_exists: ``reuse`` a cluster of that name (a retry of this task finds the cluster its
        first try provisioned), or ``fail``.
    :param timeout: seconds to wait for the cluster to be ready; the cluster is deleted when the
        wait fails.
    :param poll_interval: seconds between status requests while waiting.
    """

    template_fields: Sequence[str] = ("engine", "name", "kind", "cluster_resources", "features")
    template_fields_renderers = {"cluster_resources": "json", "features": "json"}
    ui_color = "#fde8d0"

    def __init__(
        self,
        *,
        facility_conn_id: str,
        engine: str,
        name: str,
        kind: str | None = None,
        cluster_resources: Mapping[str, int] | None = None,
        features: Mapping[str, bool] | None = None,
        if_exists: str = "reuse",
        timeout: float = 900.0,
        poll_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in IF_EXISTS:
            raise ValueError(f"if_exists: one of {', '.join(IF_EXISTS)}, not {if_exists!r}")
        self.facility_conn_id = facility_conn_id
        self.engine = engine
        self.name = name
        self.kind = kind
        self.cluster_resources = dict(cluster_resources or {})
        self.features = dict(features or {})
        self.if_exists = if_exists
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)

    def execute(self, context: Context) -> dict[str, Any]:
        hook = FacilityHook(facility_conn_id=self.facility_conn_id)
        client = hook.get_conn()
        try:
            created = True
            try:
                client.call_backend(
                    "create_streaming_cluster",
                    self.engine,
                    self.name,
                    kind=self.kind,
                    resources=self.cluster_resources,
                    features=self.features,
                )
                self.log.info("provisioned %s cluster %s", self.engine, self.name)
            except APIError as exc:
                if exc.status_code != 409 or self.if_exists != "reuse":
                    raise
                created = False
                self.log.info("%s cluster %s exists already: reusing it", self.engine, self.name)
            try:
                cluster: StreamingCluster = client.call_backend(
                    "wait_streaming_cluster",
                    self.engine,
                    self.name,
                    timeout=self.timeout,
                    poll_interval=self.poll_interval,
                )
            except FacilityError:
                if created:
                    self.log.warning("%s cluster %s is not usable: deleting it", self.engine, self.name)
                    client.call_backend("delete_streaming_cluster", self.engine, self.name, missing_ok=True)
                raise
        finally:
            hook.close()
        self.log.info(
            "%s cluster %s is ready at %s; it expires at %s",
            self.engine,
            self.name,
            cluster.public_url or ", ".join(cluster.endpoints.addresses),
            cluster.expires_at,
        )
        return {**cluster.to_dict(), "facility_conn_id": self.facility_conn_id}


class FacilityStreamingClusterDeleteOperator(BaseOperator):
    """Delete a streaming cluster (meant as the teardown of the task that provisioned it).

    A cluster that is already gone is not an error, unless ``missing_ok`` is False. Returns
    whether a cluster was deleted.
    """

    template_fields: Sequence[str] = ("engine", "name")
    ui_color = "#fde8d0"

    def __init__(
        self, *, facility_conn_id: str, engine: str, name: str, missing_ok: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.engine = engine
        self.name = name
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> bool:
        hook = FacilityHook(facility_conn_id=self.facility_conn_id)
        try:
            deleted: bool = hook.get_conn().call_backend(
                "delete_streaming_cluster", self.engine, self.name, missing_ok=self.missing_ok
            )
        finally:
            hook.close()
        self.log.info(
            "deleted %s cluster %s" if deleted else "%s cluster %s was already gone", self.engine, self.name
        )
        return deleted


class FacilityStreamingJobOperator(FacilitySubmitJobOperator):
    """:class:`FacilitySubmitJobOperator` whose job gets a streaming cluster's URL, credentials
    included, in the environment variable ``url_variable``.

    The URL is asked of ``streaming_conn_id`` when the task runs and masked in the task log; it is
    never a template field, so it stays out of XCom and the rendered fields.

    :param streaming_conn_id: the connection that provisioned the cluster (``facility_s3m``).
    :param engine: ``redis`` or ``rabbitmq``.
    :param cluster: the cluster's name.
    :param url_variable: the job's environment variable for the URL.
    """

    template_fields: Sequence[str] = (*FacilitySubmitJobOperator.template_fields, "engine", "cluster")

    def __init__(
        self,
        *,
        streaming_conn_id: str,
        engine: str,
        cluster: str,
        url_variable: str = "STREAMING_URL",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.streaming_conn_id = streaming_conn_id
        self.engine = engine
        self.cluster = cluster
        self.url_variable = url_variable

    def build_spec(self, tag: str) -> JobSpec:
        spec = super().build_spec(tag)
        url = streaming_connection_url(self.streaming_conn_id, self.engine, self.cluster)
        self.log.info(
            "the job gets the %s cluster %s in $%s (credentials masked)",
            self.engine,
            self.cluster,
            self.url_variable,
        )
        return spec.replace(environment={**spec.environment, self.url_variable: url})
