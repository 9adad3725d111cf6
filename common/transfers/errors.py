"""The errors the transfer layer adds to the pack's tree.

* :class:`ConsentRequired` (an :class:`~facility_common.AuthenticationError`): a Globus
  collection needs the ``data_access`` consent the token does not carry. It names the
  collections and the scope to log in with.
* :class:`TransferSubmissionError` (a :class:`~facility_common.JobSubmissionError`): the route
  refused the transfer, or the outcome of the submit is unknown (``outcome_unknown``); the
  request's ``submission_id`` says which submit it was, and submitting the same request again is
  safe on a route that honours it.

Every other failure is one of the tree's own (``NotFoundError`` for an unknown collection or
task, ``TransportError``, ``ServerError``...), naming the collection or facility, never a token.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AuthenticationError, JobSubmissionError

__all__ = ["ConsentRequired", "TransferSubmissionError"]


class ConsentRequired(AuthenticationError):
    """The Transfer token lacks the ``data_access`` consent of ``collections``.

    ``required_scope`` is the scope string to request (the Transfer scope with the collections'
    ``data_access`` scopes as dependents), as Globus answered it or as built from the
    collection ids.
    """

    def __init__(
        self,
        message: str,
        *,
        collections: Sequence[str] = (),
        required_scope: str | None = None,
        **context: object,
    ) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.collections = tuple(collections)
        self.required_scope = required_scope


class TransferSubmissionError(JobSubmissionError):
    """A transfer was refused (the route's reason), or its submit's outcome is unknown.

    ``submission_id`` is the request's: with ``outcome_unknown``, submitting the same request
    again on the Globus route finds the transfer if it was created and starts none otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        submission_id: str | None = None,
        outcome_unknown: bool = False,
        **context: object,
    ) -> None:
        super().__init__(message, outcome_unknown=outcome_unknown, **context)
        self.submission_id = submission_id
