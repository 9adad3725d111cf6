"""Following a job's output as it grows: the line splitter and the polling follower.

``follow_output`` (client and backends) yields a job's output line by line while the job runs and
ends once the job has ended and everything it wrote was yielded. An API with an output stream
(Flux RESTful's ``/output/stream``) follows that stream; any other follows by polling here:
the job's state and its whole output every ``poll_interval`` seconds, yielding only what is new.

Lines keep their ``"\\n"``; a last line without one is yielded when the job has ended (so the
concatenation of everything yielded is the job's output).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from .errors import NotFoundError
from .models import Job

__all__ = ["LineSplitter", "follow_by_polling"]


class LineSplitter:
    """Cut text arriving in pieces into whole lines; the unfinished rest waits for more."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, text: str) -> list[str]:
        """The lines ``text`` completes, each ending in ``"\\n"`` (a carriage return alone, as
        progress bars print, does not end a line)."""
        if not text:
            return []
        pieces = (self._partial + text).split("\n")
        self._partial = pieces.pop()
        return [piece + "\n" for piece in pieces]

    def rest(self) -> str:
        """The unfinished last line (empty if none), which is then forgotten."""
        rest, self._partial = self._partial, ""
        return rest


async def follow_by_polling(
    get_job: Callable[[], Awaitable[Job]],
    read_output: Callable[[], Awaitable[str]],
    *,
    poll_interval: float,
) -> AsyncIterator[str]:
    """The lines of a job's output as polling finds them, until the job has ended.

    Each round reads the job's state, then its whole output (a job whose output file is not
    written yet counts as empty), and yields what lies beyond the text already seen. The round
    that finds the job ended is the last: what its read returned is all there is.
    """
    seen = ""
    splitter = LineSplitter()
    while True:
        job = await get_job()
        try:
            text = await read_output()
        except NotFoundError:
            text = ""
        if text.startswith(seen):
            fresh = text[len(seen) :]
        else:  # rewritten from the start (a requeued job): show it again
            fresh = text
            splitter = LineSplitter()
        seen = text
        for line in splitter.feed(fresh):
            yield line
        if job.is_terminal:
            rest = splitter.rest()
            if rest:
                yield rest
            return
        await anyio.sleep(poll_interval)
