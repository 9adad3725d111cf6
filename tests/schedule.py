"""How the suite is spread over pytest-xdist workers with ``--suite-schedule`` (scripts/test.sh).

* Most test modules go to one worker whole: their module fixtures (a private emulator, a Parsl run
  shared by several tests) are set up once, and their tests run in file order, as without xdist.
* The modules in :data:`SPREAD` hold many independent tests that mostly wait on jobs; each of
  their tests is a unit of its own, so all workers share them.
* The tests in :data:`LONG_FIRST` wait out long real-time windows (a real Slurm time limit, the
  soak, Parsl pilots); they are put first, so they run beside the rest instead of forming the tail.

Without ``--suite-schedule`` nothing here applies: ``-n N`` spreads single tests (xdist's ``load``).
Without ``-n`` the option only changes the order.
"""

from __future__ import annotations

from typing import Any

import pytest

#: Modules whose tests are independent of each other: spread test by test.
SPREAD = frozenset(
    {
        "tests/conformance/test_contract.py",
        "tests/conformance/test_iri_extras.py",
        "tests/reliability/test_fault_matrix.py",
        "tests/reliability/test_bad_input.py",
        "tests/reliability/test_bad_servers.py",
    }
)

#: Node id prefixes of the longest tests (or of modules whose shared fixture is one long run), longest
#: first; each moves to the front of the run, taking its module along unless the module is spread.
LONG_FIRST = (
    "tests/reliability/test_soak.py",  # about 3 minutes
    "tests/reliability/test_secrets_everywhere.py",  # the demo and the DAG runner: 1.5 minutes
    "tests/conformance/test_contract.py::test_job_outliving_its_duration_times_out[slurmrest-async]",  # 75 s
    "tests/parsl/test_end_to_end.py",  # a scaling run and a walltime kill: about a minute
    "tests/docs/test_documented_commands.py",
    "tests/bench/test_bench_scripts.py",
    "tests/parsl/test_slurm_end_to_end.py",
)

OPTION = "--suite-schedule"


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION,
        action="store_true",
        help="with -n: whole modules per worker except independent ones, longest tests first "
        "(tests/schedule.py)",
    )


def enabled(config: pytest.Config) -> bool:
    """Whether ``--suite-schedule`` was given (xdist passes it on to its workers)."""
    return bool(config.getoption(OPTION))


def _rank(nodeid: str) -> int:
    for rank, prefix in enumerate(LONG_FIRST):
        if nodeid.startswith(prefix):
            return rank
    return len(LONG_FIRST)


def order(items: list[pytest.Item]) -> None:
    """Put the :data:`LONG_FIRST` tests first (in that order), the rest in collection order."""
    items.sort(key=lambda item: _rank(item.nodeid))


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's module-scope scheduling, with :data:`SPREAD` modules split into single tests, the
    work queue kept in collection order (which :func:`order` arranged on every worker), and no
    long work queued behind a long test.

    A worker runs a test only once it holds the next one (or is told to stop), so xdist keeps two
    or three tests queued on each worker. Behind a long test that queue would wait for minutes;
    here a worker running a :data:`LONG_FIRST` test gets only what it needs to go on, taken from
    the end of the queue (the quick unit tests).
    """
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module in SPREAD else module

        def _reschedule(self, node: Any) -> None:
            work: dict[str, dict[str, bool]] = self.assigned_work[node]
            waiting = [nodeid for unit in work.values() for nodeid, done in unit.items() if not done]
            if node.shutting_down or not self.workqueue or not any(map(is_long, waiting)):
                super()._reschedule(node)
                return
            if len(waiting) < 2:
                scope, unit = self.workqueue.popitem(last=True)
                work[scope] = unit
                collection = self.registered_collections[node]
                node.send_runtest_some([collection.index(nodeid) for nodeid in unit])

    config.option.loadscopereorder = False
    return SuiteScheduling(config, log)


def is_long(nodeid: str) -> bool:
    """Whether ``nodeid`` is one of the :data:`LONG_FIRST` tests."""
    return _rank(nodeid) < len(LONG_FIRST)
