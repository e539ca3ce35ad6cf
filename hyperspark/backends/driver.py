"""Trials on driver threads, for objectives that are Spark programs themselves (MLlib,
``xgboost.spark``, SQL): the objective uses the SparkSession however it likes, and every job it
starts carries the trial's own group (classic: a job group set on the trial's thread; Spark
Connect: a tag), so one trial's Spark work can be cancelled alone.

Cancelling a trial cancels its group (again every 0.5 s until the trial's thread ends, since
the objective may start new jobs), which makes the objective's running Spark call fail at once.
An objective that goes on in plain Python after that gets ``TrialInterrupted`` raised in its
thread. The trial ends cancelled once its thread has ended.

MLflow: the trial's child run is the active run of the trial's thread (MLflow keeps the active
run per thread), so ``mlflow.log_*`` inside the objective lands there, and
``mlflow.start_run(nested=True)`` nests under it.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from typing import Any, Dict, Iterator, Optional

from hyperspark import worker
from hyperspark.backends.base import Post, SearchContext, TrialState
from hyperspark.backends.groups import keep_cancelling, trial_group
from hyperspark.backends.spark.base import SparkRunner, lost_to_infrastructure
from hyperspark.backends.threaded import ThreadedBackend
from hyperspark.outcome import FailureKind, Outcome
from hyperspark.tracking.worker import child_run_active
from hyperspark.reporting import InProcessReporter
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")

INTERRUPT_AFTER_S = 1.0
"""After cancelling a trial's Spark group, how long its objective may take to return before
``TrialInterrupted`` is raised in its thread."""
CANCEL_FOR_S = 120.0
"""How long a cancelled trial's group keeps being cancelled while its thread lives on (after
fmin returned too): no Spark job of it survives that long."""


class TrialInterrupted(BaseException):
    """Raised in a cancelled trial's thread to stop an objective that went on in plain Python.
    A ``BaseException``, so that the objective's own ``except Exception`` does not swallow it."""


class _Interruptible:
    """The window in which a trial's thread may receive ``TrialInterrupted``: only while its
    objective runs, never in hyperspark's own bookkeeping around it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread_id: Optional[int] = None

    @contextlib.contextmanager
    def window(self) -> Iterator[None]:
        with self._lock:
            self._thread_id = threading.get_ident()
        try:
            yield
        finally:
            with self._lock:
                thread_id, self._thread_id = self._thread_id, None
                if thread_id is not None:  # withdraw an exception not delivered yet
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)

    def interrupt(self) -> bool:
        with self._lock:
            if self._thread_id is None:
                return False
            return ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(TrialInterrupted)) == 1


class DriverBackend(ThreadedBackend):
    """Runs each trial's objective on a driver thread; its Spark jobs carry the trial's group.

    With ``runner=None`` there is no Spark: the objective runs on a thread of this process
    (the ``local`` backend builds on that).
    """

    def __init__(self, runner: Optional[SparkRunner], parallelism: int, *,
                 backoff_s: Optional[float] = None) -> None:
        super().__init__(parallelism, backoff_s=backoff_s)
        self._runner = runner
        self._setup_error: Optional[BaseException] = None
        self._windows: Dict[int, _Interruptible] = {}

    def group_id(self, tid: int) -> str:
        return trial_group(self._search.search_id, tid)

    def open(self, search: SearchContext, post: Post) -> None:
        super().open(search, post)
        try:
            worker.ensure_worker_setup(search.search_id, search.worker_setup)
        except Exception as exc:  # reported as the failure of every trial
            self._setup_error = exc

    # ---------------------------------------------------------------- one attempt
    def attempt(self, state: TrialState, spec: Dict[str, Any], env: Dict[str, str]) -> Outcome:
        window = self._windows.setdefault(state.tid, _Interruptible())
        group = (self._runner.grouped(self.group_id(state.tid),
                                      f"hyperspark search {self._search.search_id}: trial "
                                      f"{state.tid}") if self._runner else contextlib.nullcontext())
        try:
            with group, child_run_active(env.get("MLFLOW_RUN_ID"), state.cancelled):
                outcome = self.call_worker(state.tid, spec, state.attempt, window)
        except TrialInterrupted:
            raise AttemptLost("cancelled") from None
        if outcome.failure is not None:
            if state.cancelled.is_set():
                raise AttemptLost("cancelled")  # its Spark work was cancelled under it
            if self._runner is not None and lost_to_infrastructure(outcome.failure.message):
                raise AttemptLost(outcome.failure.message.splitlines()[0][:500])
        return outcome

    def call_worker(self, tid: int, spec: Dict[str, Any], attempt: int,
                    window: "_Interruptible") -> Outcome:
        """Evaluate one attempt on this thread. Subclasses (tests) may raise ``AttemptLost``
        here to act out a lost worker."""
        if self._setup_error is not None:
            return Outcome.failed(FailureKind.SETUP, self._setup_error)
        search = self._search
        state = self._states[tid]
        reporter = InProcessReporter(lambda report: self.reported(state, attempt, report),
                                     state.pruned.is_set)
        with window.window():
            return worker.run_attempt(search.domain, spec, tid, search.retry_on,
                                      on_start=lambda: self.running(state, attempt),
                                      reporter=reporter)

    # ---------------------------------------------------------------- cancelling
    def interrupt(self, state: TrialState) -> None:
        threading.Thread(target=self._stop_trial, args=(state,), daemon=True,
                         name=f"hyperspark-cancel-{state.tid}").start()

    def _stop_trial(self, state: TrialState) -> None:
        """Cancel the trial's Spark group until its thread ends; interrupt its objective if it
        goes on without Spark."""
        group = self.group_id(state.tid)
        interrupt_after = INTERRUPT_AFTER_S if self._runner is not None else 0.0
        interrupted = [False]

        def cancel() -> None:
            if self._runner is not None:
                try:
                    self._runner.cancel(group)
                except Exception as exc:  # the session may be stopping: interrupt anyway
                    logger.debug("cancelling trial %s failed: %s", state.tid, exc)

        def interrupt_late(elapsed: float) -> bool:
            if not interrupted[0] and elapsed >= interrupt_after:
                window = self._windows.get(state.tid)
                interrupted[0] = window is not None and window.interrupt()
                # no Spark work to cancel again: the exception does the rest
                return interrupted[0] and self._runner is None
            return False

        keep_cancelling(cancel, state.done, for_s=CANCEL_FOR_S, after=interrupt_late,
                        label=group)
