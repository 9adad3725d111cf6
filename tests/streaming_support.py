"""What the streaming tests share: skip (or, in CI, fail) when a server program is missing, and find
the Redis and RabbitMQ servers an emulator left running.

``scripts/streaming-servers.sh`` installs Debian's ``redis-server`` and ``rabbitmq-server``;
``scripts/test.sh`` runs it, and in CI (``CI=true``) a missing program fails the tests that need
it instead of skipping them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable

import pytest

__all__ = ["leftover_servers", "require_engine"]


def require_engine(engine: str) -> None:
    """Skip the test (fail it in CI) unless ``engine``'s server program is installed."""
    from facility_emulator.s3m.servers import server_class

    reason = server_class(engine).unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: scripts/streaming-servers.sh installs it, and CI must run this test")
    pytest.skip(f"{reason}; `sudo bash scripts/streaming-servers.sh install` installs it")


def leftover_servers(patterns: Iterable[str] | None = None) -> dict[str, list[str]]:
    """``pgrep -f`` of each pattern (default: every server this process started): the patterns
    that still match a process, with the pids."""
    if patterns is None:
        servers = sys.modules.get("facility_emulator.s3m.servers")
        patterns = list(getattr(servers, "STARTED", []))
    found: dict[str, list[str]] = {}
    for pattern in patterns:
        answer = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True, check=False)
        pids = answer.stdout.split()
        if pids:
            found[pattern] = pids
    return found
