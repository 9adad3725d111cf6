"""What the commands FirecREST runs said, read from its error answers and transfer job logs.

FirecREST v2 runs ``sbatch``, ``scancel``, ``cp``, ``mv``, ``rm`` and ``tar`` over SSH. It answers
a failed Slurm command with 500 ``"Unexpected Slurm command response. exit_status:N
std_err:<what the command wrote>"`` (also when ``scancel --verbose`` exited 0 but wrote
``error:``), and a failed transfer job shows its command's words only in its error log (the job
itself may end COMPLETED with exit code 0). These pure readers take the verdict out of that text,
so the backend can tell a refused submit from one whose outcome is unknown, a cancel of a job that
has already ended from a failed one, and a missing path from another failure.
"""

from __future__ import annotations

import re

__all__ = ["ended_before_cancel", "sbatch_refusal", "transfer_said_not_found", "unknown_to_scancel"]

#: sbatch failures after which the job may exist all the same: sbatch lost its controller
#: mid-request (or was told to come back later and gave up).
_SBATCH_IN_DOUBT = (
    "socket timed out",
    "unable to contact slurm controller",
    "zero bytes were transmitted",
    "communication connection failure",
    "temporarily unable to accept job",
)
_EXIT_STATUS = re.compile(r"exit_status:\s*(-?\d+)")
_SBATCH_ERROR = "sbatch: error:"


def sbatch_refusal(text: str | None) -> str | None:
    """sbatch's own refusal of a submit (its ``sbatch: error: ...`` lines after a non-zero exit),
    or None when the text shows none or sbatch may have lost its controller mid-request."""
    if not text or _SBATCH_ERROR not in text:
        return None
    status = _EXIT_STATUS.search(text)
    if status is None or status.group(1) == "0":
        return None
    if any(doubt in text.lower() for doubt in _SBATCH_IN_DOUBT):
        return None
    lines = [line[line.index(_SBATCH_ERROR) :].strip() for line in text.splitlines() if _SBATCH_ERROR in line]
    return "; ".join(lines)


def ended_before_cancel(text: str | None) -> bool:
    """Whether a failed cancel is ``scancel`` saying the job had already ended."""
    return bool(text) and "scancel" in str(text) and "already completing or completed" in str(text)


def unknown_to_scancel(text: str | None) -> bool:
    """Whether a failed cancel is ``scancel`` saying Slurm does not know the job."""
    return bool(text) and "scancel" in str(text) and "Invalid job id specified" in str(text)


def transfer_said_not_found(errors: str) -> bool:
    """Whether a failed transfer job's error log says a path does not exist (``cp``, ``mv``,
    ``rm`` and ``tar`` all say ``No such file or directory``)."""
    return "No such file or directory" in errors
