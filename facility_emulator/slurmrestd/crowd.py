"""Other users' jobs for the emulated slurmctld's ``GET jobs``: a busy cluster's listing.

A real ``GET slurm/{version}/jobs`` answers every user's jobs, pending, running and finished
within ``MinJobAge``, each with slurmctld's whole job record (about 4 KB of JSON). The jobs made
here have the same fields and size, in the v0.0.43 shape, for ids far from the emulator's own;
they never change, so they are rendered once per count and spliced into each answer as bytes.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from facility_emulator.slurmrestd.common import CLUSTER, no_val

__all__ = ["FIRST_OTHER_JOB_ID", "other_job", "other_jobs_json"]

FIRST_OTHER_JOB_ID = 5_000_000
_STATES = ("RUNNING", "PENDING", "COMPLETED", "RUNNING", "FAILED", "PENDING", "CANCELLED", "TIMEOUT")
_EPOCH = 1_790_000_000


def _unset() -> dict[str, Any]:
    return no_val(None)


def other_job(index: int) -> dict[str, Any]:
    """The ``index``-th job of another user, as slurmctld's v0.0.43 ``job_info``."""
    job_id = FIRST_OTHER_JOB_ID + index
    user = f"user{index % 977:04d}"
    word = _STATES[index % len(_STATES)]
    submitted = _EPOCH + index
    started = submitted + 60 if word != "PENDING" else None
    ended = started + 3600 if word not in ("PENDING", "RUNNING") and started else None
    nodes = f"nid{index % 4096:06d}"
    folder = f"/lustre/proj{index % 211:03d}/{user}/case-{index}"
    code = 1 if word == "FAILED" else 0
    exit_code = {
        "status": ["ERROR" if code else ("SUCCESS" if ended else "PENDING")],
        "return_code": no_val(code if ended else None),
        "signal": {"id": _unset(), "name": ""},
    }
    return {
        "account": f"proj{index % 211:03d}",
        "accrue_time": no_val(submitted),
        "admin_comment": "",
        "allocating_node": "login04",
        "array_job_id": no_val(0),
        "array_task_id": _unset(),
        "array_max_tasks": no_val(0),
        "array_task_string": "",
        "association_id": 1000 + index % 977,
        "batch_features": "",
        "batch_flag": True,
        "batch_host": nodes if started else "",
        "flags": ["EXACT_TASK_COUNT_REQUESTED", "USING_DEFAULT_QOS", "USING_DEFAULT_WCKEY"],
        "burst_buffer": "",
        "burst_buffer_state": "",
        "cluster": CLUSTER,
        "cluster_features": "",
        "command": f"{folder}/submit.sbatch",
        "comment": "",
        "container": "",
        "contiguous": False,
        "core_spec": 0,
        "thread_spec": 32766,
        "cores_per_socket": _unset(),
        "billable_tres": {"set": True, "infinite": False, "number": 64.0},
        "cpus_per_task": no_val(1),
        "cpus_per_tres": "",
        "cron": "",
        "deadline": no_val(0),
        "delay_boot": no_val(0),
        "dependency": "",
        "derived_exit_code": exit_code,
        "eligible_time": no_val(submitted),
        "end_time": no_val(ended),
        "excluded_nodes": "",
        "exit_code": exit_code,
        "extra": "",
        "failed_node": "",
        "features": "",
        "group_id": 20000 + index % 211,
        "group_name": f"proj{index % 211:03d}",
        "het_job_id": no_val(0),
        "het_job_id_set": "",
        "het_job_offset": _unset(),
        "job_id": job_id,
        "job_resources": {
            "select_type": ["CPU", "MEMORY"],
            "nodes": {
                "count": 1,
                "select_type": ["AVAILABLE"],
                "list": nodes,
                "whole": True,
                "allocation": [],
            },
            "cpus": 64,
            "threads_per_core": no_val(2),
        },
        "job_state": [word],
        "last_sched_evaluation": no_val(submitted + 5),
        "licenses": "",
        "licenses_allocated": "",
        "mail_type": [],
        "mail_user": user,
        "max_cpus": no_val(0),
        "max_nodes": no_val(0),
        "mcs_label": "",
        "memory_per_tres": "",
        "name": f"case-{index}-relax",
        "network": "",
        "nodes": nodes if started else "",
        "nice": 0,
        "tasks_per_core": _unset(),
        "tasks_per_node": no_val(64),
        "tasks_per_socket": _unset(),
        "cpus": no_val(64),
        "node_count": no_val(1),
        "tasks": no_val(64),
        "partition": "batch",
        "prefer": "",
        "memory_per_cpu": _unset(),
        "memory_per_node": no_val(240000),
        "minimum_cpus_per_node": no_val(64),
        "minimum_tmp_disk_per_node": no_val(0),
        "preempt_time": no_val(0),
        "pre_sus_time": no_val(0),
        "hold": False,
        "priority": no_val(10_000 + index % 5000),
        "qos": "normal",
        "reboot": False,
        "required_nodes": "",
        "required_switches": 0,
        "requeue": False,
        "resize_time": no_val(0),
        "restart_cnt": 0,
        "resv_name": "",
        "scheduled_nodes": "",
        "shared": [],
        "sockets_per_board": 0,
        "sockets_per_node": _unset(),
        "start_time": no_val(started),
        "state_description": "",
        "state_reason": "Priority" if word == "PENDING" else "None",
        "standard_input": "/dev/null",
        "standard_output": f"{folder}/slurm-%j.out",
        "standard_error": f"{folder}/slurm-%j.err",
        "stdin_expanded": "/dev/null",
        "stdout_expanded": f"{folder}/slurm-{job_id}.out",
        "stderr_expanded": f"{folder}/slurm-{job_id}.err",
        "submit_time": no_val(submitted),
        "suspend_time": no_val(0),
        "system_comment": "",
        "time_limit": no_val(120),
        "time_minimum": no_val(0),
        "threads_per_core": _unset(),
        "tres_bind": "",
        "tres_freq": "",
        "tres_per_job": "",
        "tres_per_node": "",
        "tres_per_socket": "",
        "tres_per_task": "cpu=1",
        "tres_req_str": "cpu=64,mem=240000M,node=1,billing=64",
        "tres_alloc_str": "cpu=128,mem=240000M,node=1,billing=64" if started else "",
        "user_id": 10000 + index % 977,
        "user_name": user,
        "maximum_switch_wait_time": 0,
        "wckey": "",
        "current_working_directory": folder,
    }


@functools.lru_cache(maxsize=4)
def other_jobs_json(count: int) -> bytes:
    """``count`` other users' jobs as the comma-separated JSON objects of a ``jobs`` list."""
    return b",".join(json.dumps(other_job(i), separators=(",", ":")).encode() for i in range(count))
