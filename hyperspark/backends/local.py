"""Trials on threads of this process: no Spark. For tests of the scheduler and for debugging an
objective with the same retry, timeout and result rules as the Spark backends.

A Python thread cannot be killed: cancelling a trial reports it cancelled at once and drops
whatever its thread returns later. ``mlflow.log_*`` inside the objective logs to the caller's
active run, not to the trial's child run (trials share this process's MLflow state).
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from hyperspark import worker
from hyperspark.backends.base import (Post, SearchContext, TrialCancelled, TrialRunning,
                                      run_trial_attempts)
from hyperspark.outcome import FailureKind, Outcome


class LocalBackend:
    """Runs each trial on its own daemon thread, attempts retried by the shared policy."""

    def __init__(self, *, backoff_s: Optional[float] = None) -> None:
        self._backoff_s = backoff_s
        self._search: Optional[SearchContext] = None
        self._post: Optional[Post] = None
        self._cancelled: Dict[int, threading.Event] = {}
        self._reported: set = set()
        self._lock = threading.Lock()

    def open(self, search: SearchContext, post: Post) -> None:
        self._search, self._post = search, post
        self._setup_error: Optional[BaseException] = None
        try:
            worker.ensure_worker_setup(search.search_id, search.worker_setup)
        except Exception as exc:  # reported as the failure of every trial
            self._setup_error = exc

    def start(self, tid: int, spec: Dict[str, Any]) -> None:
        cancelled = threading.Event()
        self._cancelled[tid] = cancelled
        threading.Thread(target=self._run, args=(tid, spec, cancelled),
                         name=f"hyperspark-local-{tid}", daemon=True).start()

    def call_worker(self, tid: int, spec: Dict[str, Any], attempt: int,
                    env: Dict[str, str]) -> Outcome:
        """One attempt. Subclasses may raise ``AttemptLost`` here to act out a lost worker."""
        search = self._search
        if self._setup_error is not None:
            return Outcome.failed(FailureKind.SETUP, self._setup_error)
        return worker.run_attempt(search.domain, spec, tid, search.retry_on, env,
                                  on_start=lambda: self._post(TrialRunning(tid, attempt)))

    def _run(self, tid: int, spec: Dict[str, Any], cancelled: threading.Event) -> None:
        # No trial environment here (search.env_for is not called): trials share this process
        # and the user's active MLflow run, so MLFLOW_RUN_ID cannot be set per trial. Child
        # runs are still recorded by the tracker. A cancelled trial was reported by cancel();
        # _report drops the second report.
        self._report(tid, run_trial_attempts(
            tid, lambda n: self.call_worker(tid, spec, n, {}),
            max_retries=self._search.max_retries, cancelled=cancelled, cancel_reason=str,
            backoff_s=self._backoff_s))

    def cancel(self, tid: int, reason: str) -> None:
        event = self._cancelled.get(tid)
        if event is None:
            return
        event.set()
        self._report(tid, TrialCancelled(tid, reason, attempts=0))

    def _report(self, tid: int, event: Any) -> None:
        with self._lock:  # the first report of a trial wins; later ones are dropped
            if tid in self._reported:
                return
            self._reported.add(tid)
        self._post(event)

    def close(self) -> None:
        for event in self._cancelled.values():
            event.set()

