"""The exception tree of the facility client layer.

* FacilityError: anything this package raises on purpose.
  * ConfigurationError: bad connection settings (unknown API, bad URL, missing or unsafe key).
  * AuthenticationError: a token could not be had or was refused.
  * TransportError: the request never got an HTTP answer (connect error, timeout, dropped).
  * APIError: the facility answered with an error status or a body we cannot use.
    * NotFoundError: 404, or a job/path/resource the facility does not know.
    * RateLimitedError: 429 after every retry.
    * ServerError: 5xx after every retry.
  * UnsupportedOperation: the API has no such operation; the message says what to use instead.
  * InvalidJobSpec: a JobSpec (or a request argument) is malformed; raised before any request.
  * JobSubmissionError: the facility refused a job.
  * WaitTimeout: a bounded wait (job, task) ran out of time.

Every exception carries the facility, resource, HTTP status and a short excerpt of the response
body as keyword-only context. Messages are built from those parts only; request headers, tokens and
credentials are never part of an exception: the message and the body excerpt also go through
:func:`facility_common.redaction.redact`, so a server that echoes a request (its ``Authorization``
header, a presigned URL) cannot put a credential into one. :func:`detached` cuts an error loose
from the frames and library exceptions it came through, which may hold the request that carried
a credential.
"""

from __future__ import annotations

from typing import TypeVar

from .redaction import redact

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "FacilityError",
    "InvalidJobSpec",
    "JobSubmissionError",
    "NotFoundError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "UnsupportedOperation",
    "WaitTimeout",
    "detached",
]

BODY_EXCERPT_CHARS = 300


def body_excerpt(text: str | None, limit: int = BODY_EXCERPT_CHARS) -> str | None:
    """Return the first ``limit`` characters of a response body on one line."""
    if not text:
        return None
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class FacilityError(Exception):
    """Base class of every error raised by the facility client layer."""

    def __init__(
        self,
        message: str,
        *,
        facility: str | None = None,
        resource: str | None = None,
        status_code: int | None = None,
        body: str | None = None,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.facility = facility
        self.resource = resource
        self.status_code = status_code
        self.body = body_excerpt(body)

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"facility={self.facility}" if self.facility else "",
                f"resource={self.resource}" if self.resource else "",
                f"HTTP {self.status_code}" if self.status_code else "",
            )
            if part
        )
        text = f"{self.message} [{where}]" if where else self.message
        if self.body and self.body not in self.message:
            text += f": {self.body}"
        return text


class ConfigurationError(FacilityError):
    """Connection settings are unusable (unknown API, bad URL, missing or unsafe credentials)."""


class AuthenticationError(FacilityError):
    """A token could not be obtained, or the facility refused the one we sent.

    ``transient`` is True when the token endpoint did not answer or answered 429/5xx: asking
    again later may succeed, unlike a refusal of the credentials.
    """

    def __init__(self, message: str, *, transient: bool = False, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.transient = transient


class TransportError(FacilityError):
    """The request got no HTTP answer: connection refused or dropped, or a timeout."""


class APIError(FacilityError):
    """The facility answered with an error status or a body that does not parse."""


class NotFoundError(APIError):
    """The facility does not know the job, path, task or resource."""


class RateLimitedError(APIError):
    """The facility kept answering 429 after every retry."""

    def __init__(self, message: str, *, retry_after: float | None = None, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(APIError):
    """The facility kept answering 5xx after every retry."""


class UnsupportedOperation(FacilityError):
    """The API has no such operation; the message names what it offers instead."""


class InvalidJobSpec(FacilityError):
    """A job description or request argument is malformed; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.field = field


class JobSubmissionError(FacilityError):
    """The facility refused the job (the message is the facility's own reason), or the submit's
    outcome cannot be known now.

    ``outcome_unknown`` is True in the second case: the job may exist. Submitting the same tagged
    spec again looks for it before sending anything (see ``find_job_by_tag``).
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.outcome_unknown = outcome_unknown


class WaitTimeout(FacilityError):
    """A bounded wait for a job or a server-side task ran out of time."""


_Error = TypeVar("_Error", bound=BaseException)


def detached(error: _Error) -> _Error:
    """``error`` without its traceback and chained exceptions, ready to be raised again.

    The frames an error passed through while a request was being sent hold that request (and its
    credentials), and so does the library exception it was made from; error trackers that capture
    frame locals would show them. Errors of this package carry what they need in their message
    and attributes.
    """
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    error.__suppress_context__ = True
    return error
