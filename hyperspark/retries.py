"""One trial, several attempts: the retry policy every backend applies around a worker call.

An attempt is retried when the infrastructure lost it (the backend raises ``AttemptLost``) or when
the objective raised an exception whose type the user listed in ``retry_on`` (the worker marks
the outcome ``retryable``). Everything else ends the trial at the first attempt.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional, Tuple

import tenacity

from hyperspark import config
from hyperspark.outcome import FailureKind, Outcome

logger = logging.getLogger("hyperspark")


class AttemptLost(Exception):
    """The infrastructure lost an attempt (worker died, job failed for a reason not the objective's).
    """


class AttemptCancelled(Exception):
    """The trial was cancelled while an attempt ran or waited to run."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"cancelled after {attempts} attempt(s)")
        self.attempts = attempts


def run_with_retries(attempt: Callable[[int], Outcome], *, max_retries: int,
                     cancelled: threading.Event, label: str,
                     backoff_s: float = config.RETRY_BACKOFF_S,
                     backoff_max_s: float = config.RETRY_BACKOFF_MAX_S,
                     ) -> Tuple[Outcome, int]:
    """Call ``attempt(n)`` for n = 1, 2, ... until it gives a final outcome.

    Returns ``(outcome, attempts)``. When every attempt was lost, the outcome describes the last
    loss with ``kind="infrastructure"``. Raises ``AttemptCancelled`` once ``cancelled`` is set;
    waits between attempts end early on cancellation.
    """
    attempts = 0
    last_loss: Optional[BaseException] = None

    def one_attempt() -> Outcome:
        nonlocal attempts, last_loss
        if cancelled.is_set():
            raise AttemptCancelled(attempts)
        attempts += 1
        try:
            return attempt(attempts)
        except AttemptLost as exc:
            last_loss = exc
            if cancelled.is_set():
                raise AttemptCancelled(attempts) from exc
            raise

    def wants_retry(outcome: Outcome) -> bool:
        return outcome.retryable

    def log_retry(state: tenacity.RetryCallState) -> None:
        why = (state.outcome.exception() if state.outcome.failed
               else state.outcome.result().failure.error_type)
        logger.warning("%s: attempt %d failed (%s); retrying", label, state.attempt_number, why)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max_retries + 1),
        wait=tenacity.wait_exponential(multiplier=backoff_s, max=backoff_max_s),
        retry=(tenacity.retry_if_exception_type(AttemptLost)
               | tenacity.retry_if_result(wants_retry)),
        sleep=lambda seconds: cancelled.wait(seconds),
        before_sleep=log_retry,
        retry_error_callback=lambda state: state.outcome.result(),  # last outcome, or raise
    )
    try:
        outcome = retrying(one_attempt)
    except AttemptLost as exc:
        outcome = Outcome.message(FailureKind.INFRASTRUCTURE, type(exc.__cause__ or exc).__name__,
                                  f"lost on all {attempts} attempt(s): {exc}")
    return outcome, attempts
