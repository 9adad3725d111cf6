"""The human message of a facility API's error answer, from its decoded JSON body.

Each API words its errors in its own shape:

* RFC 7807 problems (IRI, FirecREST): ``{"title": ..., "detail": ...}``;
* plain messages: ``{"message": ...}``, ``{"error": ...}``, ``{"Message": ...}`` (S3M's gateway),
  ``{"description": ...}``;
* slurmrestd (and S3M's Slurm routes): ``{"meta": {...}, "errors": [{"description": ...,
  "error_number": N, "error": ..., "source": ...}], "warnings": [...]}``, where the message sits
  after a long ``meta`` block, so an excerpt of the raw JSON never reaches it;
* the SF API: ``{"status": "error", "error": ...}``.

:func:`problem_detail` reads all of them and is pure (no I/O), so it is tested on recorded
payloads. The HTTP layer calls it on every error answer it turns into an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["DETAIL_LIST_KEYS", "MESSAGE_KEYS", "problem_detail", "slurm_errors"]

#: Keys holding an error's message, in the order they are tried.
MESSAGE_KEYS = ("detail", "message", "error", "title", "Message", "description")


def slurm_errors(data: Any) -> str | None:
    """slurmrestd's ``errors`` list as one line: ``description (error N); ...``, or None.

    Each entry's ``description`` is the sentence slurmctld wrote; ``error`` is the name of the
    ``error_number`` (used when there is no description); entries with neither are left out.
    """
    if not isinstance(data, Mapping):
        return None
    errors = data.get("errors")
    if not isinstance(errors, Sequence) or isinstance(errors, str):
        return None
    parts: list[str] = []
    for entry in errors:
        if not isinstance(entry, Mapping):
            continue
        text = entry.get("description") or entry.get("error") or ""
        number = entry.get("error_number", entry.get("error_code"))
        text = str(text).strip()
        if not text:
            continue
        parts.append(f"{text} (error {number})" if isinstance(number, int) and number else text)
    return "; ".join(parts) or None


def _located(item: Mapping[str, Any], text: str) -> str:
    """A validation problem's text, prefixed with the field it names (``loc`` or ``name``)."""
    where = item.get("loc", item.get("name"))
    if isinstance(where, Sequence) and not isinstance(where, str):
        where = ".".join(str(part) for part in where if part != "body")
    return f"{where}: {text}" if isinstance(where, str) and where else text


def _message(value: Any) -> str | None:
    """A message value as text: a string as is; a list of strings or of validation problems
    (``{"loc": [...], "msg": ...}``, ``{"name": ..., "reason": ...}``) joined."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping):
        for key in ("msg", "reason", *MESSAGE_KEYS):
            found = _message(value.get(key))
            if found:
                return _located(value, found)
        return None
    if isinstance(value, Sequence) and value:
        parts = [_message(item) for item in value]
        joined = "; ".join(part for part in parts if part)
        return joined or None
    return None


#: Keys of the details some APIs give beside the message: IRI's problems (``invalid_params``),
#: Flux RESTful's refusals (``Errors``).
DETAIL_LIST_KEYS = ("invalid_params", "errors", "Errors")


def problem_detail(data: Any) -> str | None:
    """The message of an error body already decoded from JSON, or None when it has none.

    slurmrestd's ``errors`` come first (its answers also carry unrelated keys); then the usual
    message keys, followed by the list of details beside it (IRI's ``invalid_params``, Flux's
    ``Errors``); a list of messages or of validation problems (``[{"loc": ..., "msg": ...}]``) is
    joined, each naming its field. The caller cuts the text to an excerpt and redacts it.
    """
    slurm = slurm_errors(data)
    if slurm:
        return slurm
    if not isinstance(data, Mapping):
        return None
    message = next((found for key in MESSAGE_KEYS if (found := _message(data.get(key)))), None)
    details = next((found for key in DETAIL_LIST_KEYS if (found := _message(data.get(key)))), None)
    if message and details and details not in message:
        return f"{message}: {details}"
    return message or details
