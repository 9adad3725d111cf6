"""The last lines of a job's output without holding the rest of it.

A pilot's or a long simulation's stdout can be gigabytes, and asking for its last lines must not
read it whole into memory. Backends whose API has a tail operation use it (IRI and FirecREST
``tail``, the SF API ``tail`` command); the others go through this module, where the one rule of
what a line is lives: a line ends at ``\\n`` and keeps it, and a last line without one counts.

* :class:`LineTail` keeps the last ``count`` lines of a text fed in pieces (an answer read as a
  stream, front to back): memory is the lines kept plus the line in progress.
* :func:`read_tail` reads a local file backwards from its end, a block at a time, until it holds
  enough line breaks: memory is the tail plus one block, however large the file.
"""

from __future__ import annotations

import collections
import os

__all__ = ["BLOCK_BYTES", "LineTail", "last_lines", "read_tail"]

BLOCK_BYTES = 64 * 1024
"""How much :func:`read_tail` reads at a time, backwards from the end of the file."""


class LineTail:
    """The last ``count`` lines of a text fed front to back in pieces (see the module docstring)."""

    def __init__(self, count: int) -> None:
        self.count = max(0, count)
        self._lines: collections.deque[str] = collections.deque(maxlen=self.count)
        self._partial: list[str] = []

    def feed(self, text: str) -> None:
        """Take the next piece of the text."""
        if "\n" not in text:
            if text:
                self._partial.append(text)
            return
        pieces = text.split("\n")
        pieces[0] = "".join(self._partial) + pieces[0]
        last = pieces.pop()
        self._partial = [last] if last else []
        self._lines.extend(piece + "\n" for piece in pieces[-self.count or len(pieces) :])

    def text(self) -> str:
        """The lines kept, as one text (a last line without its break included)."""
        if self.count == 0:
            return ""
        lines = [*self._lines, "".join(self._partial)] if self._partial else list(self._lines)
        return "".join(lines[-self.count :])


def last_lines(text: str, count: int) -> str:
    """The last ``count`` lines of ``text`` (line ends kept)."""
    tail = LineTail(count)
    tail.feed(text)
    return tail.text()


def read_tail(path: str, lines: int) -> str:
    """The last ``lines`` lines of the file at ``path`` (all of it when shorter), decoded as UTF-8
    with undecodable bytes replaced."""
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
    # A character cut at the first block's start lies in the line before the wanted ones.
    return last_lines(b"".join(reversed(blocks)).decode("utf-8", errors="replace"), lines)
