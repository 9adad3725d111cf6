"""Run in a child process by ``test_output_tail_memory.py``: read one job's output tail with
tracemalloc on and print the tail and the peak, so that only the client's memory is measured (the
emulator runs in the test's own process).

Reads ``{facility, base_url, auth, options, resource, job_id, tail}`` as JSON on standard input
and writes ``{text, peak}`` as JSON on standard output.
"""

from __future__ import annotations

import json
import sys
import tracemalloc

from facility_common import FacilityClient


def main() -> None:
    args = json.load(sys.stdin)
    with FacilityClient.connect(
        args["facility"], base_url=args["base_url"], auth=args["auth"], **args["options"]
    ) as client:
        client.job_output(args["resource"], args["job_id"], tail=1)  # connections, tokens, imports
        tracemalloc.start()
        try:
            text = client.job_output(args["resource"], args["job_id"], tail=args["tail"])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    json.dump({"text": text, "peak": peak}, sys.stdout)


if __name__ == "__main__":
    main()
