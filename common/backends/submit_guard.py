"""Former home of the submit policy's helpers; everything lives in :mod:`.submit` now."""

from __future__ import annotations

from ..errors import JobSubmissionError
from ..models import Job
from . import submit
from .submit import (
    DEFAULT_SETTLE_WINDOW,
    DEFAULT_VISIBILITY_GRACE,
    NOT_YET_VISIBLE,
    may_still_be_working,
    newest,
)
from .submit import outcome_unknown as _outcome_unknown

__all__ = [
    "DEFAULT_SETTLE_WINDOW",
    "DEFAULT_VISIBILITY_GRACE",
    "NOT_YET_VISIBLE",
    "SubmitMemory",
    "may_still_be_working",
    "newest",
    "outcome_unknown",
]


def outcome_unknown(
    *, facility: str, resource: str, tag: str, variable: str, reason: str
) -> JobSubmissionError:
    """The outcome-unknown error (``variable`` is always ``FACILITY_SUBMIT_TAG``)."""
    return _outcome_unknown(facility=facility, resource=resource, tag=tag, reason=reason)


class SubmitMemory(submit.SubmitMemory):
    """:class:`.submit.SubmitMemory` with the look-up conclusion the backends used to make."""

    def settle(
        self, found: Job | None, *, tag: str, facility: str, resource: str, variable: str
    ) -> Job | None:
        """The job when ``found``; None when nothing was found and the doubt is old enough;
        the outcome-unknown error while the doubt is too recent."""
        if found is None and self.unsettled(tag):
            raise outcome_unknown(
                facility=facility,
                resource=resource,
                tag=tag,
                variable=variable,
                reason="the job of a submit of this tag moments ago may not be listed yet",
            )
        self.resolved(tag)
        return found
