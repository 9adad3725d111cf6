"""The typed options of the NERSC Superfacility API backend.

Beside what every backend takes (:class:`~facility_common.options.BackendOptions`): how long and
how often to follow the API's asynchronous tasks (submit, cancel, command), what to do with an
indented ``#SBATCH`` line in a script the user gives, and whether file operations the API lacks
may run as shell commands through its ``command`` route. A lost submit answer is looked for a
little later than elsewhere (``submit_lookup_delays``): sacct lists a new job after a short delay.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ...options import BackendOptions, about

__all__ = ["SFAPIOptions", "WhitespacePolicy"]

WhitespacePolicy = Literal["fix", "refuse"]
"""What to do with ``#SBATCH`` lines indented by whitespace (which Slurm silently ignores)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SFAPIOptions(BackendOptions):
    """Options of the NERSC Superfacility API backend."""

    submit_lookup_delays: tuple[float, ...] = dataclasses.field(
        default=(0.0, 2.0),
        metadata=about("Pauses (s) before each look for a job whose submit answer was lost."),
    )
    task_timeout: float = dataclasses.field(
        default=300.0, metadata=about("Longest wait for one SF API task (submit, command), in seconds.")
    )
    task_poll_interval: float = dataclasses.field(
        default=1.0, metadata=about("Pause between looks at an SF API task, in seconds.")
    )
    sbatch_whitespace: WhitespacePolicy = dataclasses.field(
        default="fix",
        metadata=about("What to do with indented #SBATCH lines in a given script: fix or refuse."),
    )
    shell_file_operations: bool = dataclasses.field(
        default=False,
        metadata=about("Offer mkdir, rm, mv, cp and chmod through the API's shell command route."),
    )
