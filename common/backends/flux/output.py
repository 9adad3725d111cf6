"""The last lines of a Flux job's output, read from the API's answers as they arrive.

``GET /v1/jobs/{id}/output`` answers ``{"Output": [chunk, ...]}`` with the job's whole output so
far (or ``{"Message": ...}`` before it has any); for a job still running it is the only call, since
``/output/stream`` ends only with the job. :class:`OutputTail` reads that answer piece by piece,
one JSON string of the ``Output`` list at a time, and hands the strings to a
:class:`~facility_common.output_tail.LineTail`, so a tail of a large output takes the memory of
the tail (and of one chunk of the list), not of the answer. Any other shape of answer (a
``Message``) is small and read whole, up to ``limit`` bytes.

Pure: fed bytes, it raises ``ValueError`` for a body that is not such an answer.
"""

from __future__ import annotations

import codecs
import json
import re

from ...output_tail import LineTail
from .parsers import parse_output

__all__ = ["OutputTail"]

_OUTPUT_START = re.compile(r'\s*\{\s*"Output"\s*:\s*\[')
_END = re.compile(r"\s*\}\s*")
#: Characters to wait for before deciding whether the answer opens with the ``Output`` list.
_OPENING = 64


class OutputTail:
    """The last ``tail`` lines of an ``/output`` answer fed in pieces (see the module docstring)."""

    def __init__(self, tail: int, *, limit: int = 1024 * 1024) -> None:
        self._lines = LineTail(tail)
        self._limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._position = 0
        self._state = "opening"  # opening -> items -> closing, or opening -> whole
        self._wait_for = 0  # buffered characters needed before trying an unfinished string again

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the answer."""
        self._take(self._decoder.decode(data), final=False)

    def finish(self) -> str | None:
        """The tail, once the whole answer was fed; None for a ``Message`` answer."""
        self._take(self._decoder.decode(b"", final=True), final=True)
        if self._state == "whole":
            text = parse_output(json.loads(self._buffer))
            return None if text is None else self._tail_of(text)
        if self._state != "closing" or not _END.fullmatch(self._buffer, self._position):
            raise ValueError("the output answer ends before its Output list is closed")
        return self._lines.text()

    def _tail_of(self, text: str) -> str:
        self._lines.feed(text)
        return self._lines.text()

    def _take(self, text: str, *, final: bool) -> None:
        self._buffer = self._buffer[self._position :] + text
        self._position = 0
        if self._state == "opening":
            self._open(final)
        if self._state == "items":
            self._items(final)
        if self._state in ("whole", "closing") and len(self._buffer) > self._limit:
            raise ValueError(f"the output answer holds more than {self._limit} bytes outside its Output list")

    def _open(self, final: bool) -> None:
        if len(self._buffer.lstrip()) < _OPENING and not final:
            return
        opening = _OUTPUT_START.match(self._buffer)
        if opening is None:
            self._state = "whole"
            return
        self._position = opening.end()
        self._state = "items"

    def _items(self, final: bool) -> None:
        buffer = self._buffer
        while True:
            while self._position < len(buffer) and buffer[self._position] in " \t\r\n,":
                self._position += 1
            if self._position >= len(buffer):
                return
            mark = buffer[self._position]
            if mark == "]":
                self._position += 1
                self._state = "closing"
                return
            if mark != '"':
                raise ValueError(f"the Output list holds {mark!r} where a string should be")
            if not final and len(buffer) - self._position < self._wait_for:
                return
            try:
                chunk, end = json.decoder.scanstring(buffer, self._position + 1)  # type: ignore[attr-defined]
            except json.JSONDecodeError:
                if final:
                    raise ValueError("the Output list ends inside a string") from None
                # Unfinished: try again once the buffer holds twice as much (linear, not quadratic).
                self._wait_for = 2 * (len(buffer) - self._position)
                return
            self._wait_for = 0
            self._lines.feed(str(chunk))
            self._position = end
