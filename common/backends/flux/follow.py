"""Following a Flux job's output through ``GET /v1/jobs/{jobid}/output/stream``.

The server sends the job's output as Flux records it (stdout and stderr merged) from the first
byte on, as it is written, and ends the answer when the job has ended. What the stream does not
promise is handled here:

* **A dropped or silent connection.** The server sends nothing while the job prints nothing, so a
  quiet job runs into the client's read timeout; a proxy may also cut a long answer. Each new
  stream replays the output from its start: the characters already passed on are skipped, so no
  line is given twice or lost. Only failures to reach the server at all count towards giving up
  (:data:`OPEN_FAILURES` in a row).
* **A stream that ends while the job runs** (the instance is stopping): the job's state decides;
  the stream is opened again after ``poll_interval`` seconds while the job has not ended.
* **A job just submitted** that the server does not show yet (404): the backend's job view says
  whether the job is known (PENDING for a job it submitted); the stream is asked again after
  ``poll_interval`` seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import httpx

from ...errors import NotFoundError, TransportError
from ...follow import LineSplitter
from ...http import ApiSession
from ...models import Job
from .requests import build_output

__all__ = ["OPEN_FAILURES", "follow_stream"]

#: Failures in a row to open the stream (no answer at all) after which following gives up.
OPEN_FAILURES = 5


async def follow_stream(
    session: ApiSession,
    job_id: str,
    resource: str,
    get_job: Callable[[], Awaitable[Job]],
    *,
    poll_interval: float,
) -> AsyncIterator[str]:
    """The lines of the job's output stream until the job has ended (see the module docstring).

    :calls: GET /v1/jobs/{jobid}/output/stream (again after a dropped answer), GET /v1/jobs/{jobid}
        each time a stream ends
    """
    request = build_output(job_id, stream=True)
    splitter = LineSplitter()
    delivered = 0  # characters of the output already passed to the splitter
    open_failures = 0
    while True:
        ended = False
        try:
            async with session.stream(
                request.method, request.path, resource=resource, ok=request.ok
            ) as response:
                open_failures = 0
                received = 0
                async for chunk in response.aiter_text():
                    start, received = received, received + len(chunk)
                    if received <= delivered:
                        continue
                    fresh = chunk[max(0, delivered - start) :]
                    delivered = received
                    for line in splitter.feed(fresh):
                        yield line
            ended = True
        except NotFoundError:
            await get_job()  # raises NotFoundError unless the job is known to be on its way
            await anyio.sleep(poll_interval)
            continue
        except TransportError:
            open_failures += 1
            if open_failures >= OPEN_FAILURES:
                raise
            await anyio.sleep(poll_interval)
            continue
        except httpx.TransportError:
            pass  # dropped, or silent past the read timeout: open it again
        job = await get_job()
        if job.is_terminal and ended:
            rest = splitter.rest()
            if rest:
                yield rest
            return
        if ended:
            await anyio.sleep(poll_interval)
