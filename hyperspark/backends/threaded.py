"""The part every Spark backend shares: each trial gets a thread on the driver, which runs the
trial's attempts one after another under the retry policy and posts the trial's one event.

A subclass says how one attempt runs (``attempt``) and how a running attempt is stopped
(``interrupt``); this class does the rest: the trial threads, the per-trial state that the
loop's ``cancel`` shares with the trial's thread, and the running/waiting events.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

from hyperspark.backends.base import (Post, SearchContext, TrialReported, TrialReturned,
                                      TrialRunning, TrialState, TrialWaiting,
                                      run_trial_attempts)
from hyperspark.outcome import Outcome
from hyperspark.reporting import Report
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")


class ThreadedBackend:
    """Base class: ``parallelism`` trial threads; subclasses implement ``attempt`` and
    ``interrupt`` (and may extend ``open`` and ``close``)."""

    ships_objective = False
    """True in subclasses whose trials run in other processes (they read the payload)."""

    def __init__(self, parallelism: int, *, backoff_s: Optional[float] = None) -> None:
        self._parallelism = parallelism
        self._backoff_s = backoff_s
        self._states: Dict[int, TrialState] = {}
        self._closed = threading.Event()
        self._pool: Optional[ThreadPoolExecutor] = None

    # ---------------------------------------------------------------- to implement
    def attempt(self, state: TrialState, spec: Dict[str, Any], env: Dict[str, str]) -> Outcome:
        """Run attempt ``state.attempt`` of the trial and return its outcome; raise
        ``AttemptLost`` when the infrastructure lost it. Runs on the trial's thread."""
        raise NotImplementedError

    def interrupt(self, state: TrialState) -> None:
        """Stop the trial's running attempt (``state.cancelled`` is already set). Called from
        the loop's thread: must not block."""
        raise NotImplementedError

    # ---------------------------------------------------------------- the Backend protocol
    def open(self, search: SearchContext, post: Post) -> None:
        self._search, self._post = search, post
        self._pool = ThreadPoolExecutor(self._parallelism, thread_name_prefix="hyperspark-trial")

    def start(self, tid: int, spec: Dict[str, Any]) -> None:
        state = TrialState(tid)
        self._states[tid] = state
        self.spawn(state, spec)

    def spawn(self, state: TrialState, spec: Dict[str, Any]) -> None:
        """Run the trial's thread (one of ``parallelism`` pooled threads)."""
        self._pool.submit(self._run_trial, state, spec)

    def cancel(self, tid: int, reason: str) -> None:
        state = self._states.get(tid)
        if state is None or not state.request_cancel(reason):
            return
        self.interrupt(state)

    def prune(self, tid: int) -> None:
        state = self._states.get(tid)
        if state is None or state.done.is_set() or state.pruned.is_set():
            return
        state.pruned.set()
        try:
            self.deliver_prune(state)
        except Exception as exc:  # the grace period's cancel still stops the trial
            logger.debug("could not tell trial %s it is pruned: %s", state.tid, exc)

    def deliver_prune(self, state: TrialState) -> None:
        """Send the pruning decision to where the trial runs (nothing to do when the trial
        reads ``state.pruned`` in this process). Called from the loop's thread."""

    def close(self) -> None:
        self._closed.set()
        for state in list(self._states.values()):
            if not state.done.is_set() and state.request_cancel("the search ended"):
                try:
                    self.interrupt(state)
                except Exception:
                    logger.debug("could not interrupt trial %s at close", state.tid,
                                 exc_info=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- for subclasses
    def reported(self, state: TrialState, attempt: int, report: Report) -> None:
        """Pass on a report of ``attempt`` of the trial (any thread)."""
        if not state.done.is_set():
            self._post(TrialReported(state.tid, attempt, report))

    def running(self, state: TrialState, attempt: int) -> None:
        """Say that ``attempt`` of the trial has begun running its objective (any thread);
        reports of an attempt that is no longer current are dropped."""
        if attempt == state.attempt and not state.done.is_set():
            self._post(TrialRunning(state.tid, attempt))

    def returned(self, state: TrialState, attempt: int) -> None:
        """Say that ``attempt`` of the trial has left its objective (any thread): its clock
        stops while the outcome travels back."""
        if attempt == state.attempt and not state.done.is_set():
            self._post(TrialReturned(state.tid, attempt))

    # ---------------------------------------------------------------- the trial's thread
    def _run_trial(self, state: TrialState, spec: Dict[str, Any]) -> None:
        try:
            env = self._search.env_for(state.tid)

            def one_attempt(number: int) -> Outcome:
                state.attempt = number
                try:
                    outcome = self.attempt(state, spec, env)
                except AttemptLost:
                    self._post(TrialWaiting(state.tid, number + 1))  # its clock stops now
                    raise
                if outcome.retryable:
                    self._post(TrialWaiting(state.tid, number + 1))
                return outcome

            event = run_trial_attempts(
                state.tid, one_attempt, max_retries=self._search.max_retries,
                cancelled=state.cancelled, cancel_reason=lambda: state.reason,
                backoff_s=self._backoff_s)
        finally:
            state.done.set()
        self._post(event)
