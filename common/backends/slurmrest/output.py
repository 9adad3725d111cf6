"""A job's output file read on this host (``local_output=True``), the end of it without the rest.

A tail is read backwards from the end of the file by :func:`facility_common.output_tail.read_tail`,
so asking for the last lines of a file of gigabytes takes memory of those lines, not of the file.
"""

from __future__ import annotations

from ...output_tail import read_tail

__all__ = ["read_output"]


def read_output(path: str, tail: int | None) -> str:
    """The whole file (``tail`` None) or its last ``tail`` lines."""
    if tail is None:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    return read_tail(path, tail)
