"""Trials on threads of this process, with no Spark: for tests of the scheduler (milliseconds
each) and for debugging an objective under the same retry, timeout, tracking and result rules
as the Spark backends. It is the driver backend without a SparkSession.

A Python thread cannot be killed: cancelling a trial reports it cancelled at once, raises
``TrialInterrupted`` in its thread (delivered at its next Python instruction: a thread blocked
in ``time.sleep`` or in C code gets it when that returns) and drops whatever it returns later.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from hyperspark.backends.base import TrialCancelled, TrialFailed, TrialFinished, TrialState
from hyperspark.backends.driver import DriverBackend


class LocalBackend(DriverBackend):
    """Runs each trial on its own daemon thread; no Spark."""

    def __init__(self, *, backoff_s: Optional[float] = None) -> None:
        super().__init__(None, parallelism=1, backoff_s=backoff_s)
        self._reported: set = set()
        self._report_lock = threading.Lock()

    def open(self, search: Any, post: Any) -> None:
        super().open(search, self._report_once(post))

    def spawn(self, state: TrialState, spec: Dict[str, Any]) -> None:
        threading.Thread(target=self._run_trial, args=(state, spec), daemon=True,
                         name=f"hyperspark-local-{state.tid}").start()

    def cancel(self, tid: int, reason: str) -> None:
        state = self._states.get(tid)
        if state is None or not state.request_cancel(reason):
            return
        self.interrupt(state)
        self._post(TrialCancelled(tid, reason, attempts=state.attempt))

    def _report_once(self, post: Any) -> Any:
        """The first end reported for a trial wins (cancel() reports at once); phase events
        pass."""
        def report(event: Any) -> None:
            if isinstance(event, (TrialCancelled, TrialFailed, TrialFinished)):
                with self._report_lock:
                    if event.tid in self._reported:
                        return
                    self._reported.add(event.tid)
            post(event)

        return report
