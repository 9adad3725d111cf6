"""What changes between slurmrestd's data-parser versions v0.0.38 and v0.0.44, in one place.

Only the *rendering* of a job description differs by version; the parsers read every version's
shapes (a number or a ``{"set", "infinite", "number"}`` struct, a state word or a list of words), so
an answer never depends on guessing the version right.

* v0.0.38 (Slurm 22.05, Debian 12): the batch script goes at the top of the submit body next to
  ``job``; ``environment`` is a map; ``time_limit`` is a plain number of minutes.
* v0.0.39 and later: the script goes inside ``job``; ``environment`` is a list of ``"K=V"``;
  ``time_limit`` and the memory fields are ``{"number", "set"}`` structs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError

__all__ = [
    "SUPPORTED_VERSIONS",
    "environment_value",
    "normalise_version",
    "number_value",
    "script_at_top",
    "uses_struct_numbers",
]

SUPPORTED_VERSIONS: tuple[str, ...] = (
    "v0.0.44",
    "v0.0.43",
    "v0.0.42",
    "v0.0.41",
    "v0.0.40",
    "v0.0.39",
    "v0.0.38",
)
"""Newest first: the order in which a server is probed when the version is not configured."""


def normalise_version(value: str, *, facility: str) -> str:
    """``"0.0.43"``, ``"v0.0.43"`` or ``"V0.0.43"`` as ``"v0.0.43"``; anything unsupported raises."""
    text = str(value).strip().lower()
    if not text.startswith("v"):
        text = "v" + text
    if text not in SUPPORTED_VERSIONS:
        raise ConfigurationError(
            f"api_version: {value!r} is not supported (use one of {', '.join(reversed(SUPPORTED_VERSIONS))} "
            "or 'auto')",
            facility=facility,
        )
    return text


def _minor(version: str) -> int:
    return int(version.rsplit(".", 1)[1])


def script_at_top(version: str) -> bool:
    """v0.0.38 wants ``{"script", "job"}``; later versions take ``job.script``."""
    return _minor(version) <= 38


def uses_struct_numbers(version: str) -> bool:
    """From v0.0.39 on, numbers that may be unset are ``{"number", "set", "infinite"}`` structs."""
    return _minor(version) >= 39


def number_value(version: str, number: int) -> Any:
    """``number`` as the version wants a settable integer (``time_limit``, memory)."""
    if uses_struct_numbers(version):
        return {"number": number, "set": True, "infinite": False}
    return number


def environment_value(version: str, environment: Mapping[str, str]) -> Any:
    """The environment as a map (v0.0.38) or a list of ``"K=V"`` (later versions)."""
    if _minor(version) <= 38:
        return dict(environment)
    return [f"{key}={value}" for key, value in environment.items()]
