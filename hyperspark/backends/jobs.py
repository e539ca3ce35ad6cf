"""One Spark job per trial attempt, each in its own job group, so one trial can be cancelled alone.

The objective travels once per search as a broadcast variable, and each Python worker keeps
the unpickled objective for the search, so a trial ships only its point. A trial's thread on the
driver sets the job group ``hyperspark-<search id>-<tid>`` (interrupt on cancel, which kills the
Python worker running the objective) and blocks on ``collect``; the retry policy around it
re-submits attempts the infrastructure lost.
"""
from __future__ import annotations

import collections
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Optional

import cloudpickle

from hyperspark import worker
from hyperspark.errors import summarize
from hyperspark.backends.base import Post, SearchContext, TrialState, run_trial_attempts
from hyperspark.outcome import FailureKind, Lost, Outcome
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")

RECANCEL_EVERY_S = 0.5
"""A cancel can reach Spark before the trial's job exists; it is repeated until the trial ends."""

# ---------------------------------------------------------------- executor side
_DOMAIN_CACHE: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
_DOMAIN_CACHE_SIZE = 4


def load_search(search_id: str, payload: bytes) -> Any:
    """The search's objective (hyperopt Domain), unpickled once per Python worker, with its
    ``worker_setup`` run once there too."""
    domain = _DOMAIN_CACHE.get(search_id)
    if domain is None:
        domain, setup = cloudpickle.loads(payload)
        worker.ensure_worker_setup(search_id, setup)
        _DOMAIN_CACHE[search_id] = domain
        while len(_DOMAIN_CACHE) > _DOMAIN_CACHE_SIZE:
            _DOMAIN_CACHE.popitem(last=False)
    return domain


def setup_failure(exc: BaseException) -> Outcome:
    """The outcome of a trial whose worker could not load the objective or run worker_setup."""
    return Outcome.failed(FailureKind.SETUP, exc, prefix="the objective or worker_setup could "
                          "not be loaded on the executor: ")


def run_trial_task(payload: Any, search: Dict[str, Any], tid: int, spec: Dict[str, Any],
                   env: Dict[str, str], _rows: Iterable[Any]) -> List[bytes]:
    """The body of a trial's one task: evaluate and return the pickled outcome."""
    from pyspark import TaskContext

    for _ in _rows:
        pass  # Spark reuses a Python worker only when its task consumed its whole input
    context = TaskContext.get()
    if context is not None and context.attemptNumber() > 0:
        # Spark retried the task: the previous attempt died (worker or executor lost). Report it
        # instead of running again, so that hyperspark's own policy counts and limits attempts.
        return [cloudpickle.dumps(Lost(
            f"Spark task attempt {context.attemptNumber()}: the previous attempt of this trial "
            f"died (its Python worker or executor was lost)"))]
    try:
        domain = load_search(search["search_id"], payload.value)
    except Exception as exc:  # e.g. a module the objective needs is missing on the executor
        return [cloudpickle.dumps(setup_failure(exc))]
    outcome = worker.run_attempt(domain, spec, tid, search["retry_on"], env)
    try:
        return [cloudpickle.dumps(outcome)]
    except Exception as exc:
        return [cloudpickle.dumps(worker.unpicklable_result(outcome, exc))]


# ---------------------------------------------------------------- driver side
class _TrialState(TrialState):
    def __init__(self) -> None:
        super().__init__()
        self.done = threading.Event()  # the trial's thread has ended


class JobsBackend:
    """Runs every trial attempt as a one-task Spark job in the trial's own job group."""

    def __init__(self, spark: Any, parallelism: int, *, backoff_s: Optional[float] = None):
        self._spark = spark
        self._sc = spark.sparkContext
        self._parallelism = parallelism
        self._backoff_s = backoff_s
        self._states: Dict[int, _TrialState] = {}
        self._closed = threading.Event()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._payload: Any = None

    def group_id(self, tid: int) -> str:
        return f"hyperspark-{self._search.search_id}-{tid}"

    def open(self, search: SearchContext, post: Post) -> None:
        self._search, self._post = search, post
        self._payload = self._sc.broadcast(search.payload)
        self._task_search = {"search_id": search.search_id, "retry_on": search.retry_on}
        self._pool = ThreadPoolExecutor(self._parallelism, thread_name_prefix="hyperspark-trial")

    def start(self, tid: int, spec: Dict[str, Any]) -> None:
        state = _TrialState()
        self._states[tid] = state
        self._pool.submit(self._run_trial, tid, spec, state)

    def _run_trial(self, tid: int, spec: Dict[str, Any], state: _TrialState) -> None:
        try:
            self._sc.setJobGroup(self.group_id(tid),
                                 f"hyperspark search {self._search.search_id}: trial {tid}",
                                 interruptOnCancel=True)
            task = functools.partial(run_trial_task, self._payload, self._task_search, tid, spec,
                                     self._search.env_for(tid))
            event = run_trial_attempts(
                tid, lambda attempt: self._attempt(task, state),
                max_retries=self._search.max_retries, cancelled=state.cancelled,
                cancel_reason=lambda: state.reason, backoff_s=self._backoff_s)
        finally:
            state.done.set()
        self._post(event)

    def _attempt(self, task: Any, state: _TrialState) -> Outcome:
        try:
            rows = self._sc.parallelize([0], 1).mapPartitions(task).collect()
        except Exception as exc:
            if state.cancelled.is_set():
                raise AttemptLost("cancelled") from exc  # turned into AttemptCancelled
            raise AttemptLost(summarize(exc, limit=500)) from exc
        outcome = cloudpickle.loads(rows[0])
        if isinstance(outcome, Lost):
            raise AttemptLost(outcome.message)
        return outcome

    def cancel(self, tid: int, reason: str) -> None:
        state = self._states.get(tid)
        if state is None or not state.request_cancel(reason):
            return
        threading.Thread(target=self._cancel_until_done, args=(tid, state),
                         name=f"hyperspark-cancel-{tid}", daemon=True).start()

    def _cancel_until_done(self, tid: int, state: _TrialState) -> None:
        while not self._closed.is_set():
            try:
                self._sc.cancelJobGroup(self.group_id(tid))
            except Exception as exc:  # the context may be stopping
                logger.debug("cancelJobGroup for trial %s failed: %s", tid, exc)
                return
            if state.done.wait(RECANCEL_EVERY_S):
                return

    def close(self) -> None:
        self._closed.set()
        for tid, state in self._states.items():
            if not state.done.is_set():
                state.cancelled.set()
                try:
                    self._sc.cancelJobGroup(self.group_id(tid))
                except Exception:
                    pass
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        # The broadcast is not unpersisted here: a cancelled task may still be unwinding and
        # hold it. Dropping the reference lets Spark's ContextCleaner free it once unused.
        self._payload = None
