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
import time
from typing import Any, Dict, Iterator, Optional

from hyperspark import worker
from hyperspark.backends.base import Post, SearchContext, TrialState
from hyperspark.backends.spark.base import SparkRunner, lost_to_infrastructure
from hyperspark.backends.threaded import ThreadedBackend
from hyperspark.outcome import FailureKind, Outcome
from hyperspark.reporting import InProcessReporter
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")

RECANCEL_EVERY_S = 0.5
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
        return f"hyperspark-{self._search.search_id}-{tid}"

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
            with group, _child_run(env.get("MLFLOW_RUN_ID")):
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
        began = time.monotonic()
        interrupted = False
        while not state.done.is_set() and time.monotonic() - began < CANCEL_FOR_S:
            if self._runner is not None:
                try:
                    self._runner.cancel(self.group_id(state.tid))
                except Exception as exc:  # the session may be stopping
                    logger.debug("cancelling trial %s failed: %s", state.tid, exc)
            if not interrupted and time.monotonic() - began >= (
                    INTERRUPT_AFTER_S if self._runner is not None else 0.0):
                window = self._windows.get(state.tid)
                interrupted = window is not None and window.interrupt()
                if interrupted and self._runner is None:
                    return  # no Spark work to cancel again: the exception does the rest
            state.done.wait(RECANCEL_EVERY_S)


@contextlib.contextmanager
def _child_run(run_id: Optional[str]) -> Iterator[None]:
    """Make ``run_id`` (the trial's child run) the active MLflow run of this thread for the
    attempt; end it, and any run the objective left open, after."""
    if not run_id:
        yield
        return
    import mlflow

    try:
        mlflow.start_run(run_id=run_id)
    except Exception as exc:  # tracking never fails a trial
        logger.warning("trial runs outside its MLflow child run %s: %s", run_id, exc)
        yield
        return
    try:
        yield
    finally:
        try:
            while mlflow.active_run() is not None:
                mlflow.end_run()
        except Exception:
            logger.debug("could not end the MLflow runs of a trial", exc_info=True)
