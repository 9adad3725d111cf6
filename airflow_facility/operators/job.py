"""``FacilitySubmitJobOperator``: run one job at a facility and wait for it.

The shape follows Airflow's remote-job operators: submit, push the job's id to XCom before
waiting, then wait inline or defer to :class:`~airflow_facility.triggers.FacilityJobTrigger`
(default from ``[operators] default_deferrable``), and resume in ``execute_complete``, which
checks the event before trusting it. Before deferring it asks for the job's state once and
finishes at once when the job has already ended: a trigger firing immediately after a deferral
races Airflow's scheduler (apache/airflow#72716), and a short job needs no triggerer anyway.
A job that does not complete fails the task with its native state and its stderr tail in the task
log. ``on_kill`` cancels the job; a triggerer restart does not (the trigger cancels only from its
``on_kill``, which Airflow calls for user actions alone, and not when the task was marked success).

Which job a try runs (a new one, or the job of an earlier try of the same cycle, live or
finished) is decided by :mod:`airflow_facility.attach`; each try records its submit in
``task_state_store`` for the next one. A try whose submit's outcome is unknown fails, so that
Airflow's retry looks for that job before sending anything.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from facility_common import (
    FacilityClient,
    FacilityError,
    Job,
    JobSpec,
    JobSubmissionError,
    ResourceSpec,
    WaitTimeout,
)

from ..attach import (
    RECORD_KEY,
    SUBMIT_TAG_VARIABLE,
    StateStore,
    SubmitRecord,
    TryCycle,
    earlier_job,
    job_of_cleared_cycle,
    read_record,
    submit_tag,
    try_cycle,
)
from ..hooks.facility import FacilityHook
from ..links import JOB_URL_XCOM_KEY, FacilityJobLink
from ..outcome import finish_job
from ..payloads import job_from_payload
from ..spec import build_job_spec
from ..triggers.job import FacilityJobTrigger

__all__ = ["FacilitySubmitJobOperator"]


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class FacilitySubmitJobOperator(BaseOperator):
    """Submit a job to ``resource`` through the connection's API and wait until it ends.

    Give an ``executable`` with ``arguments``, or a batch ``script``, plus any other JobSpec
    field; or a whole ``job_spec`` (a ``JobSpec`` or its dict) that the other fields override.

    :param facility_conn_id: a facility connection (its type picks the API).
    :param resource: the compute resource (``"polaris"``).
    :param duration: walltime as a timedelta, seconds or ``"HH:MM:SS"``.
    :param job_resources: the JobSpec's ``resources``: a ``ResourceSpec`` or a dict of its fields
        (``{"node_count": 2}``); named so because ``resources`` is a BaseOperator argument.
    :param job_name: the job's name at the facility.
    :param wait_for_completion: wait for the job; otherwise return once it is submitted.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between status requests.
    :param timeout: give up waiting (and cancel the job) after this long.
    :param cancel_on_kill: cancel the job when the task is killed or times out.
    :param reattach: on a retry, wait for the job of an earlier try of the same cycle if it still
        runs, take its result if it completed, report its failure if it failed (see
        :mod:`airflow_facility.attach`); ``False`` always submits.
    :param unknown_outcome_delays: when a submit's outcome is unknown (a gateway timed out after
        the facility may have created the job), submit the same tagged spec again after each of
        these pauses, in seconds: the client looks for the job by its tag before sending
        anything. Only when they are spent does the task fail (and its retry look again).
    :param stderr_tail_lines: how much of a failed job's stderr goes to the task log.
    """

    template_fields: Sequence[str] = (
        "resource",
        "job_spec",
        "executable",
        "arguments",
        "script",
        "job_name",
        "directory",
        "environment",
        "stdin_path",
        "stdout_path",
        "stderr_path",
        "job_resources",
        "duration",
        "queue_name",
        "account",
        "reservation_id",
        "custom_attributes",
    )
    template_ext: Sequence[str] = (".sh", ".bash")
    template_fields_renderers = {"script": "bash", "environment": "json", "job_spec": "json"}
    ui_color = "#c6e2ff"
    operator_extra_links = (FacilityJobLink(),)

    def __init__(
        self,
        *,
        facility_conn_id: str,
        resource: str,
        job_spec: JobSpec | Mapping[str, Any] | None = None,
        executable: str | None = None,
        arguments: Sequence[str] | None = None,
        script: str | None = None,
        job_name: str | None = None,
        directory: str | None = None,
        environment: Mapping[str, str] | None = None,
        stdin_path: str | None = None,
        stdout_path: str | None = None,
        stderr_path: str | None = None,
        job_resources: ResourceSpec | Mapping[str, Any] | None = None,
        duration: timedelta | float | str | None = None,
        queue_name: str | None = None,
        account: str | None = None,
        reservation_id: str | None = None,
        custom_attributes: Mapping[str, str] | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: timedelta | float | None = None,
        cancel_on_kill: bool = True,
        reattach: bool = True,
        unknown_outcome_delays: Sequence[float] = (1.0, 3.0, 9.0),
        stderr_tail_lines: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.facility_conn_id = facility_conn_id
        self.resource = resource
        self.job_spec = job_spec.to_dict() if isinstance(job_spec, JobSpec) else job_spec
        self.executable = executable
        self.arguments = arguments
        self.script = script
        self.job_name = job_name
        self.directory = directory
        self.environment = environment
        self.stdin_path = stdin_path
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.job_resources = (
            job_resources.to_dict() if isinstance(job_resources, ResourceSpec) else job_resources
        )
        self.duration = duration
        self.queue_name = queue_name
        self.account = account
        self.reservation_id = reservation_id
        self.custom_attributes = custom_attributes
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = _seconds(timeout)
        self.cancel_on_kill = cancel_on_kill
        self.reattach = reattach
        self.unknown_outcome_delays = tuple(float(delay) for delay in unknown_outcome_delays)
        self.stderr_tail_lines = stderr_tail_lines
        self.job_id: str | None = None
        self._record: SubmitRecord | None = None

    @cached_property
    def hook(self) -> FacilityHook:
        """The hook of ``facility_conn_id`` (one per operator instance)."""
        return FacilityHook(facility_conn_id=self.facility_conn_id)

    def build_spec(self, tag: str) -> JobSpec:
        """The rendered JobSpec, stamped with this task instance's submit tag."""
        spec = build_job_spec(
            job_spec=self.job_spec,
            executable=self.executable,
            arguments=self.arguments,
            script=self.script,
            name=self.job_name,
            directory=self.directory,
            environment=self.environment,
            stdin_path=self.stdin_path,
            stdout_path=self.stdout_path,
            stderr_path=self.stderr_path,
            resources=self.job_resources,
            duration=self.duration,
            queue_name=self.queue_name,
            account=self.account,
            reservation_id=self.reservation_id,
            custom_attributes=self.custom_attributes,
        )
        return spec.replace(environment={**spec.environment, SUBMIT_TAG_VARIABLE: tag})

    def _earlier_or_new_job(self, context: Context, client: FacilityClient) -> Job:
        """The job this try waits for: an earlier try's (see :mod:`..attach`) or a new one."""
        ti = context["ti"]
        cycle = try_cycle(ti, self.retries)
        tag = submit_tag(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1), cycle.first_try)
        store: StateStore | None = context.get("task_state_store")
        record = read_record(store)
        stale = job_of_cleared_cycle(cycle, record)
        if stale is not None and self.cancel_on_kill:
            self._cancel_if_live(client, stale)
        if self.reattach:
            earlier = earlier_job(
                client, cycle, record, tag, self.resource, self.log, has_store=store is not None
            )
            if earlier is not None:
                self._adopt(store, record, cycle, tag, earlier)
                return earlier
        self._record = SubmitRecord(
            cycle=cycle.first_try,
            try_number=cycle.try_number,
            tag=tag,
            resource=self.resource,
            started=datetime.now(UTC).isoformat(),
        )
        self._remember(store)
        job = self._submit(client, self.build_spec(tag), tag)
        self._record = self._record.with_job(job.id)
        self._remember(store)
        return job

    def _cancel_if_live(self, client: FacilityClient, stale: SubmitRecord) -> None:
        """Cancel the job of a try from before the task was cleared if it still runs."""
        if stale.job_id is None:
            return
        try:
            job = client.get_job(stale.resource, stale.job_id)
        except FacilityError as exc:
            self.log.warning(
                "the job %s of try %d could not be read: %s", stale.job_id, stale.try_number, exc
            )
            return
        if not job.is_terminal:
            reason = f"it belongs to try {stale.try_number}, from before the task was cleared"
            self._cancel_job(stale.resource, stale.job_id, reason)

    def _adopt(
        self, store: StateStore | None, record: SubmitRecord | None, cycle: TryCycle, tag: str, job: Job
    ) -> None:
        state = "still " + job.state.value if not job.is_terminal else "ended " + job.state.value
        self.log.info(
            "re-attaching to job %s on %s, submitted by an earlier try and %s", job.id, job.resource, state
        )
        if record is None or record.cycle != cycle.first_try:
            record = SubmitRecord(
                cycle=cycle.first_try,
                try_number=cycle.try_number,
                tag=tag,
                resource=job.resource,
                started=datetime.now(UTC).isoformat(),
            )
        self._record = record.with_job(job.id)
        self._remember(store)

    def _remember(self, store: StateStore | None) -> None:
        if store is not None and self._record is not None:
            store.set(RECORD_KEY, self._record.to_json())

    def _submit(self, client: FacilityClient, spec: JobSpec, tag: str) -> Job:
        pauses = list(self.unknown_outcome_delays)
        while True:
            try:
                job = client.submit(self.resource, spec)
            except JobSubmissionError as exc:
                if not exc.outcome_unknown:
                    raise
                if not pauses:
                    # The job may exist: the task fails, and its next try finds the job by its tag.
                    self.log.warning(
                        "the outcome of the submit to %s is unknown; a retry of this task looks for "
                        "the job tagged %s=%s before submitting",
                        self.resource,
                        SUBMIT_TAG_VARIABLE,
                        tag,
                    )
                    raise
                pause = pauses.pop(0)
                self.log.warning(
                    "the outcome of the submit to %s is unknown; looking for the job tagged %s=%s "
                    "again in %.0f s before anything is sent",
                    self.resource,
                    SUBMIT_TAG_VARIABLE,
                    tag,
                    pause,
                )
                time.sleep(pause)
                continue
            self.log.info("submitted job %s to %s (%s)", job.id, self.resource, job.state.value)
            return job

    def execute(self, context: Context) -> dict[str, Any] | None:
        client = self.hook.get_conn()
        job = self._earlier_or_new_job(context, client)
        self.job_id = job.id
        ti = context["ti"]
        ti.xcom_push(key="job_id", value=job.id)
        ti.xcom_push(key="resource", value=self.resource)
        ti.xcom_push(key="facility", value=self.hook.settings.backend)
        url = self.hook.job_url(self.resource, job.id)
        # Pushed even when empty: the extra link reads it, and a missing key is logged as an error.
        ti.xcom_push(key=JOB_URL_XCOM_KEY, value=url)
        if url:
            self.log.info("job page: %s", url)
        if not self.wait_for_completion:
            return {"id": job.id, "resource": self.resource, "state": job.state.value}
        if not job.is_terminal and self.deferrable:
            job = self.status_before_deferral(client, job)
            if not job.is_terminal:
                deadline = time.time() + self.timeout if self.timeout is not None else None
                self.defer(
                    trigger=FacilityJobTrigger(
                        facility_conn_id=self.facility_conn_id,
                        resource=self.resource,
                        job_id=job.id,
                        poll_interval=self.poll_interval,
                        deadline=deadline,
                        cancel_on_kill=self.cancel_on_kill,
                        first_poll_at=time.time() + self.poll_interval,
                        finish_on_success=True,
                        push_return_value=self.do_xcom_push,
                    ),
                    method_name="execute_complete",
                )
            self.log.info("job %s has already ended %s: finishing without deferring", job.id, job.state.value)
        if job.is_terminal:
            return self._finish(context, job)
        return self._wait_inline(context, job)

    def status_before_deferral(self, client: FacilityClient, job: Job) -> Job:
        """The job's state asked once just before deferring (one status request)."""
        try:
            return client.get_job(self.resource, job.id)
        except FacilityError as exc:
            self.log.warning("the state of job %s could not be read before deferring: %s", job.id, exc)
            return job

    def _finish(self, context: Context, job: Job) -> dict[str, Any]:
        """Settle the task on the ended job, recording first that a try saw it end."""
        self._seen_end(context, job.id)
        return finish_job(self.hook.get_conn(), job, tail_lines=self.stderr_tail_lines, log=self.log)

    def _seen_end(self, context: Context, job_id: str) -> None:
        store: StateStore | None = context.get("task_state_store")
        record = self._record if self._record is not None else read_record(store)
        if record is not None and record.job_id == job_id and not record.seen_end:
            self._record = record.ended()
            self._remember(store)

    def _wait_inline(self, context: Context, job: Job) -> dict[str, Any]:
        client = self.hook.get_conn()

        def on_update(update: Job) -> None:
            self.log.info("job %s: %s (%s)", update.id, update.state.value, update.native_state)

        try:
            final = client.wait(
                self.resource,
                job.id,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
                on_update=on_update,
            )
        except WaitTimeout as exc:
            self._cancel(f"the wait timed out ({exc})")
            self._seen_end(context, job.id)
            raise AirflowException(f"job {job.id} did not finish within {self.timeout} s") from exc
        return self._finish(context, final)

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any] | None:
        """Resume after the trigger fired: check the event, then succeed or fail on the job.

        A COMPLETED job ends the task in the triggerer and does not come here, except under
        ``dag.test()``, which resumes the task with the end event's state, ``"success"``.
        """
        if event == "success":
            return None
        if not isinstance(event, dict) or event.get("status") not in ("terminal", "timeout", "error"):
            raise AirflowException(f"unexpected trigger event: {event!r}")
        if event["status"] == "error":
            raise AirflowException(f"waiting for the job failed: {event.get('message')}")
        try:
            job = job_from_payload(event.get("job"))
        except ValueError as exc:
            raise AirflowException(f"unexpected trigger event: {exc}") from exc
        self.job_id = job.id
        if event["status"] == "timeout":
            self._cancel("the wait timed out")
            self._seen_end(context, job.id)
            raise AirflowException(f"job {job.id} did not finish within {self.timeout} s")
        return self._finish(context, job)

    def _cancel(self, reason: str) -> None:
        if not self.cancel_on_kill or self.job_id is None:
            return
        self._cancel_job(self.resource, self.job_id, reason)

    def _cancel_job(self, resource: str, job_id: str, reason: str) -> None:
        self.log.info("cancelling job %s on %s: %s", job_id, resource, reason)
        try:
            self.hook.get_conn().cancel(resource, job_id)
        except FacilityError as exc:
            self.log.warning("cancelling job %s failed: %s", job_id, exc)

    def on_kill(self) -> None:
        """Cancel the remote job (the task was killed while waiting inline)."""
        self._cancel("the task was killed")
