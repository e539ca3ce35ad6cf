"""Why a search ends before ``max_evals``, and the rules a finished result is checked against.

The reasons are the values of ``SparkTrials.fmin_cancelled_reason`` (hyperopt's own words where
it has them). ``after_result`` reads the search's settings and history only: the loop
(``scheduler.py``) acts on the reason it returns.

>>> from hyperspark.search import Settings
>>> rules = StopRules(Settings(max_evals=10, parallelism=1, loss_threshold=0.5))
>>> rules.after_result(best_loss=0.4, finished=lambda: [])
'loss_threshold reached'
"""
from __future__ import annotations

from typing import Any, Callable, Optional

STOP_TIMEOUT = "fmin run timeout"
STOP_LOSS_THRESHOLD = "loss_threshold reached"
STOP_EARLY = "early_stop_fn asked to stop"
STOP_INTERRUPTED = "interrupted (KeyboardInterrupt)"
STOP_EXHAUSTED = "the algorithm has no more points to suggest"
STOP_ERROR = "error in the driver"


class StopRules:
    """``loss_threshold`` and ``early_stop_fn``, with the state ``early_stop_fn`` carries from
    one call to the next (hyperopt passes back what it returned)."""

    def __init__(self, settings: Any) -> None:
        self._threshold = settings.loss_threshold
        self._early_stop_fn = settings.early_stop_fn
        self._early_stop_args: list = []
        self.error: Optional[BaseException] = None
        """What ``early_stop_fn`` raised, if it did (the reason is then ``STOP_ERROR``)."""

    def after_result(self, best_loss: Optional[float],
                     finished: Callable[[], Any]) -> Optional[str]:
        """The reason to stop now that a trial has finished with a result, or None.
        ``finished``: the finished trials as ``early_stop_fn`` sees them (made only if asked)."""
        if self._threshold is not None and best_loss is not None and best_loss < self._threshold:
            return STOP_LOSS_THRESHOLD
        if self._early_stop_fn is None:
            return None
        try:
            stop, self._early_stop_args = self._early_stop_fn(finished(),
                                                              *self._early_stop_args)
        except Exception as exc:
            self.error = exc
            return STOP_ERROR
        return STOP_EARLY if stop else None
