"""A job's output file read on this host (``local_output=True``), the end of it without the rest.

A pilot's or a long simulation's stdout can be gigabytes; asking for its last lines must not read
it whole. :func:`read_tail` reads blocks backwards from the end until it holds ``lines`` line
breaks, so its memory is bounded by the tail it returns (plus one block), not by the file.
"""

from __future__ import annotations

import os

__all__ = ["BLOCK_BYTES", "read_output", "read_tail"]

BLOCK_BYTES = 64 * 1024
"""How much is read at a time, backwards from the end of the file."""


def read_tail(path: str, lines: int) -> str:
    """The last ``lines`` lines of the file at ``path`` (all of it when shorter), decoded as UTF-8
    with undecodable bytes replaced. A last line without a line break counts as a line."""
    if lines <= 0:
        return ""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        blocks: list[bytes] = []
        position = end
        breaks = 0
        ends_with_break: bool | None = None
        while position > 0:
            size = min(BLOCK_BYTES, position)
            position -= size
            handle.seek(position)
            block = handle.read(size)
            if ends_with_break is None:
                ends_with_break = block.endswith(b"\n")
            blocks.append(block)
            breaks += block.count(b"\n")
            # Enough once the break before the first wanted line is in: ``lines`` breaks, one
            # more when the file's last line ends with its own.
            if breaks >= lines + (1 if ends_with_break else 0):
                break
    data = b"".join(reversed(blocks))
    kept = data.splitlines(keepends=True)[-lines:]
    return b"".join(kept).decode("utf-8", errors="replace")


def read_output(path: str, tail: int | None) -> str:
    """The whole file (``tail`` None) or its last ``tail`` lines."""
    if tail is None:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    return read_tail(path, tail)
