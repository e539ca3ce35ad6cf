"""A search's jobs in a fair-scheduler pool (``SparkTrials(scheduler_pool=...)``).

``PooledRunner`` wraps a ``SparkRunner``: every job it starts for the search (a trial's task,
a gang's barrier job, an actor's task) and every job a driver-backend objective starts inside
``grouped`` runs in the pool. The runner below does the Spark part (``in_pool``): classic
Spark sets the thread-local property ``spark.scheduler.pool`` around the call; Spark Connect
refuses, since a pool there is a setting of the whole session.

Pools share an application's task slots between them by weight and minimum share when
``spark.scheduler.mode`` is ``FAIR`` (docs/guide.md, "Sharing a cluster"). They decide which
waiting task gets a free slot; they never take a slot back from a running task.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Callable, Iterator, List, Optional, Set

logger = logging.getLogger("hyperspark")
_warned: Set[str] = set()  # applications told that their scheduler is not FAIR
_warned_lock = threading.Lock()


def pooled(runner: Any, pool: Optional[str]) -> Any:
    """``runner`` with every job in ``pool`` (``runner`` itself when ``pool`` is None).
    Refuses, with the runner's own error, where a search cannot have a pool (Spark Connect);
    warns once per application when ``spark.scheduler.mode`` is not ``FAIR``, since pools
    then have no effect."""
    if pool is None or runner is None:
        return runner
    with runner.in_pool(pool):  # the runner's refusal, if it has one, comes now
        pass
    mode = str(runner.conf("spark.scheduler.mode", "FIFO") or "FIFO").upper()
    if mode != "FAIR":
        application = str(runner.application_id())
        with _warned_lock:
            first = application not in _warned
            _warned.add(application)
        if first:
            logger.warning(
                "scheduler_pool=%r has no effect: spark.scheduler.mode is %s, not FAIR, so "
                "Spark runs jobs first come, first served whatever their pool. Start the "
                "session with .config('spark.scheduler.mode', 'FAIR') (docs/guide.md, "
                "\"Sharing a cluster\")", pool, mode)
    return PooledRunner(runner, pool)


class PooledRunner:
    """``runner``, with every job of the search in the fair-scheduler pool ``pool``.

    >>> pooled = PooledRunner(runner, "nightly")  # doctest: +SKIP
    >>> pooled.run_task("hyperspark-ab12-0", "trial 0", body)  # in the pool "nightly"
    """

    def __init__(self, runner: Any, pool: str) -> None:
        self._runner = runner
        self.pool = pool

    def run_task(self, group: str, description: str, body: Callable[[], Any],
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None) -> Any:
        with self._runner.in_pool(self.pool):
            return self._runner.run_task(group, description, body, profile, on_start)

    def run_gang(self, group: str, description: str, body: Callable[[], Any], tasks: int,
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None
                 ) -> List[Any]:
        with self._runner.in_pool(self.pool):
            return self._runner.run_gang(group, description, body, tasks, profile, on_start)

    @contextlib.contextmanager
    def grouped(self, group: str, description: str) -> Iterator[None]:
        with self._runner.in_pool(self.pool), self._runner.grouped(group, description):
            yield

    def __getattr__(self, name: str) -> Any:  # everything else is the runner's own
        return getattr(self._runner, name)
