"""What a backend is: the small protocol the scheduler drives, and the events it posts back.

A backend runs trials somewhere (threads here, Spark jobs, actors). The scheduler calls
``start`` and ``cancel`` from its loop thread and never waits on them; the backend reports every
trial's end exactly once by posting one event through the ``post`` callable it was opened with.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, Optional, Protocol, runtime_checkable

from hyperspark.outcome import FailureKind, Outcome
from hyperspark.search_context import SearchContext  # noqa: F401 (backends import it here)
from hyperspark.reporting import Report

logger = logging.getLogger("hyperspark")


@dataclasses.dataclass(frozen=True)
class TrialFinished:
    """The objective returned a valid result (status ``ok`` or any other hyperopt status)."""

    tid: int
    result: Dict[str, Any]
    attempts: int
    start: float
    end: float


@dataclasses.dataclass(frozen=True)
class TrialFailed:
    """The trial ended without a result: the objective raised, returned something invalid, or
    the infrastructure failed on every allowed attempt."""

    tid: int
    error_type: str
    message: str
    traceback: str
    attempts: int
    kind: FailureKind
    start: Optional[float] = None
    end: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class TrialCancelled:
    tid: int
    reason: str
    attempts: int


@dataclasses.dataclass(frozen=True)
class TrialRunning:
    """Attempt ``attempt`` of trial ``tid`` has begun running its objective on a worker: its
    ``trial_timeout`` counts from now. Until then (Spark's queue, a Python worker starting,
    the objective loading, ``worker_setup``) the trial is waiting, and no clock runs."""

    tid: int
    attempt: int


@dataclasses.dataclass(frozen=True)
class TrialReturned:
    """Attempt ``attempt`` of trial ``tid`` has left its objective (every rank's, for a trial of
    several tasks): its ``trial_timeout`` stops counting. Its outcome is on its way back
    (Spark's result path), and how long that takes is not the objective's time."""

    tid: int
    attempt: int


@dataclasses.dataclass(frozen=True)
class TrialReported:
    """Attempt ``attempt`` of trial ``tid`` called ``hyperspark.report()``."""

    tid: int
    attempt: int
    report: Report


@dataclasses.dataclass(frozen=True)
class TrialWaiting:
    """Trial ``tid`` is waiting again: its attempt ``attempt`` is queued after a lost one."""

    tid: int
    attempt: int


def event_from_outcome(tid: int, outcome: Outcome, attempts: int) -> Any:
    """The scheduler event for the last attempt's outcome."""
    if outcome.ok:
        return TrialFinished(tid, outcome.result, attempts, outcome.start, outcome.end)
    failure = outcome.failure
    return TrialFailed(tid, failure.error_type, failure.message, failure.traceback, attempts,
                       failure.kind, outcome.start, outcome.end)


class TrialState:
    """What a backend's trial thread and the loop's ``cancel`` share for one trial."""

    def __init__(self, tid: int = -1) -> None:
        import threading

        self.tid = tid
        self.cancelled = threading.Event()
        self.reason = ""
        self.done = threading.Event()  # the trial's thread has ended
        self.attempt = 0  # the attempt running or waiting now
        self.worker: Any = None  # what runs the attempt now, for the backend (an actor)
        self.pruned = threading.Event()  # the loop decided to prune the trial
        self.link: Any = None  # the channel peer its reports came from (jobs)

    def request_cancel(self, reason: str) -> bool:
        """Mark the trial cancelled; False when it already was (cancel is idempotent)."""
        if self.cancelled.is_set():
            return False
        self.reason = reason
        self.cancelled.set()
        return True


def run_trial_attempts(tid: int, attempt: Callable[[int], Outcome], *, max_retries: int,
                       cancelled: Any, cancel_reason: Callable[[], str],
                       backoff_s: Optional[float] = None) -> Any:
    """Run ``attempt(n)`` under the retry policy and turn however it ends into the trial's one
    event. Every backend's trial thread ends here, so attempts are counted the same way."""
    from hyperspark.retries import AttemptCancelled, run_with_retries

    kwargs = {} if backoff_s is None else {"backoff_s": backoff_s}
    try:
        outcome, attempts = run_with_retries(attempt, max_retries=max_retries,
                                             cancelled=cancelled, label=f"trial {tid}", **kwargs)
        return event_from_outcome(tid, outcome, attempts)
    except AttemptCancelled as exc:
        return TrialCancelled(tid, cancel_reason(), exc.attempts)
    except Exception as exc:  # never leave the loop without a report for this trial
        logger.exception("trial %s: unexpected error in the backend", tid)
        return event_from_outcome(tid, Outcome.failed(FailureKind.INFRASTRUCTURE, exc), 0)


Event = Any
"""TrialFinished | TrialFailed | TrialCancelled | TrialRunning | TrialReturned | TrialWaiting |
TrialReported, or the scheduler's own internal events."""
Post = Callable[[Event], None]


@runtime_checkable
class Backend(Protocol):
    """How trials run. Every method is called from the scheduler's loop thread and returns fast.

    An instance can be given to ``SparkTrials(backend=...)``; set ``ships_objective = True``
    on it when its trials run in other processes (the objective is then pickled once per
    search, into ``SearchContext.payload``)."""

    def open(self, search: SearchContext, post: Post) -> None:
        """Prepare for a search (ship the objective, start workers)."""

    def start(self, tid: int, spec: Dict[str, Any]) -> None:
        """Begin running trial ``tid`` at point ``spec`` ({label: value}); must not block."""

    def cancel(self, tid: int, reason: str) -> None:
        """Stop trial ``tid`` alone; post ``TrialCancelled`` once it has stopped."""

    def prune(self, tid: int) -> None:
        """Tell trial ``tid``'s objective that it is pruned: its next ``hyperspark.report()``
        raises ``TrialPruned``. Must not block; the loop cancels the trial if it goes on."""

    def close(self) -> None:
        """Release every resource; called once, after the last event the loop will read."""
