"""Argument checks and answer checks the client applies around every backend call.

Pure helpers: they validate what a caller passes (paths, streams, compression, job specs) before
any request, and turn a backend's failure to read an answer into an :class:`APIError` naming the
facility, so the client's methods stay short.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from .errors import APIError, FacilityError, InvalidJobSpec
from .models import JobSpec

__all__ = ["COMPRESSIONS", "STREAMS", "answers_checked", "as_spec", "check_compression", "check_path"]

P = ParamSpec("P")
R = TypeVar("R")


class _HasFacility(Protocol):
    @property
    def facility(self) -> str: ...


C = TypeVar("C", bound=_HasFacility)

STREAMS = ("stdout", "stderr")


def check_path(field: str, value: object, facility: str) -> str:
    """``value`` if it is a usable remote path: non-empty text without NUL or newlines."""
    if not isinstance(value, str) or not value:
        raise InvalidJobSpec(f"{field}: a non-empty path string is required", field=field, facility=facility)
    if "\x00" in value or "\n" in value or "\r" in value:
        raise InvalidJobSpec(
            f"{field}: must not contain NUL or newline characters", field=field, facility=facility
        )
    return value


COMPRESSIONS = ("none", "gzip", "bzip2", "xz")


def check_compression(compression: object, facility: str) -> None:
    """Refuse a compression other than those of :data:`COMPRESSIONS`."""
    if compression not in COMPRESSIONS:
        raise InvalidJobSpec(
            f"compression: must be one of {', '.join(COMPRESSIONS)}, got {compression!r}",
            field="compression",
            facility=facility,
        )


#: What parsing an answer of an unexpected shape raises in a backend.
_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def answers_checked(
    method: Callable[Concatenate[C, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[C, P], Coroutine[Any, Any, R]]:
    """Turn a backend's failure to read an answer into :class:`APIError` naming the facility.

    A server that answers a body of the wrong shape (a number where text was expected, a missing
    key) makes a parser raise ``KeyError``, ``TypeError``... deep in a backend; callers get an
    ``APIError`` instead, chained to the original. Errors of this package pass unchanged, and so
    do errors in the call's own arguments (raised before the call starts).
    """

    @functools.wraps(method)
    async def checked(self: C, /, *args: P.args, **kwargs: P.kwargs) -> R:
        call = method(self, *args, **kwargs)  # a bad argument list raises here, unchanged
        try:
            return await call
        except FacilityError:
            raise
        except _PARSE_ERRORS as exc:
            raise APIError(
                f"{method.__name__}: the facility answered a body we could not read "
                f"({type(exc).__name__}: {_short(exc)})",
                facility=self.facility,
            ) from exc

    return checked


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_spec(spec: object, facility: str) -> JobSpec:
    """``spec`` as a JobSpec: a JobSpec, or a mapping in ``JobSpec.to_dict()`` form (as Airflow
    operators and Parsl configurations carry them). Errors name the field and the facility."""
    if isinstance(spec, JobSpec):
        return spec
    if isinstance(spec, Mapping):
        try:
            return JobSpec.from_dict(spec)
        except InvalidJobSpec as exc:
            raise InvalidJobSpec(exc.message, field=exc.field, facility=facility) from None
    raise InvalidJobSpec(
        f"spec: a JobSpec or a mapping is required, not {type(spec).__name__}",
        field="spec",
        facility=facility,
    )
