"""Intermediate results: ``hyperspark.report()`` inside the objective, and how each report
reaches the driver while the trial runs.

Each attempt that can stream reports runs with a ``Reporter`` installed on its thread (and,
when the attempt owns its worker process, for the whole process, so threads the objective
starts can report too). ``report()`` validates the values, gives the step a default, and asks
the reporter whether the loop has decided to prune this trial; once it has, ``report()``
raises ``TrialPruned``. With no reporter installed (plain hyperopt, an in-process ``Trials``)
``report()`` does nothing, so one objective works everywhere.

Two reporters:

- ``ChannelReporter``: jobs and actors. Sends ``wire.Reported`` up the search's authenticated
  channel, and reads ``wire.Prune`` coming down it without waiting (a decision is seen at the
  report after it arrives).
- ``InProcessReporter``: the driver and local backends. Calls the backend directly; the
  decision is a flag on the trial's state.
"""
from __future__ import annotations

import dataclasses
import logging
import numbers
import threading
import time
from typing import Any, Callable, Dict, Optional

from hyperspark import wire
from hyperspark.distributed import link_lock, take_stashed
from hyperspark.errors import InvalidArgumentType, TrialPruned
from hyperspark.scoped import Scoped

logger = logging.getLogger("hyperspark")


@dataclasses.dataclass(frozen=True)
class Report:
    """One intermediate result of a running trial.

    ``loss`` may be NaN or infinite (a diverging model): pruners see it as it is.
    """

    step: int
    loss: float
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
    time: float = 0.0
    """Seconds since the epoch, on the worker."""


class Reporter:
    """Where one attempt's reports go; subclasses say how."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_step = 0

    def next_step(self, step: Optional[int]) -> int:
        """The step of the next report: ``step`` when given, else one past the highest yet."""
        with self._lock:
            if step is None:
                step = self._last_step + 1
            self._last_step = max(self._last_step, step)
            return step

    def send(self, report: Report) -> None:
        raise NotImplementedError

    def pruned(self) -> bool:
        """Whether the loop has decided to prune this trial (as far as this worker knows)."""
        raise NotImplementedError


class ChannelReporter(Reporter):
    """Reports of attempt ``attempt`` of trial ``tid`` over ``connection`` (a
    ``multiprocessing.connection.Connection`` to the driver's channel).

    The connection may carry a decision for an earlier trial of the same worker; those are
    dropped. Nothing else is ever sent down to a worker while its trial runs.
    """

    def __init__(self, connection_for: Callable[[], Any], tid: int, attempt: int) -> None:
        super().__init__()
        self._connection_for, self.tid, self.attempt = connection_for, tid, attempt
        self._pruned = False
        self._broken = False

    def send(self, report: Report) -> None:
        if self._broken:
            return
        try:
            with link_lock:
                self._connection_for().send(wire.Reported(self.tid, self.attempt, report))
        except Exception as exc:  # the trial goes on; its reports are lost, not its result
            self._broken = True
            logger.warning("trial %s: reports cannot reach the driver (%s); the trial goes on "
                           "without them", self.tid, exc)

    def pruned(self) -> bool:
        if self._pruned or self._broken:
            return self._pruned
        try:
            with link_lock:
                connection = self._connection_for()
                waiting = take_stashed()  # what came while a rank waited for an all-gather
                while connection.poll(0):
                    waiting.append(connection.recv())
                if wire.Prune(self.tid, self.attempt) in waiting:
                    self._pruned = True
        except Exception:
            self._broken = True
        return self._pruned


class InProcessReporter(Reporter):
    """Reports of a trial that runs in the driver process: ``post(report)`` hands each one to
    the backend, and ``is_pruned()`` reads the loop's decision."""

    def __init__(self, post: Callable[[Report], None], is_pruned: Callable[[], bool]) -> None:
        super().__init__()
        self._post, self._is_pruned = post, is_pruned

    def send(self, report: Report) -> None:
        self._post(report)

    def pruned(self) -> bool:
        return self._is_pruned()


_current = Scoped()


def reporting(reporter: Optional[Reporter], *, own_process: bool = False) -> Any:
    """Install ``reporter`` for the attempt that runs inside the block (on this thread; for
    the whole process too when ``own_process``)."""
    return _current.installed(reporter, own_process=own_process)


def current_reporter() -> Optional[Reporter]:
    return _current.get()


def report(loss: float, step: Optional[int] = None, **metrics: float) -> None:
    """Record an intermediate result of the running trial: its ``loss`` so far, at ``step``
    (default: one past the trial's highest step yet, starting at 1), with any other metrics.

    Each report is logged to the trial's MLflow child run (``loss`` and every metric, at
    ``step``), so the MLflow UI draws learning curves, and is given to the search's pruner.
    Once the pruner has decided to stop this trial, ``report`` raises ``TrialPruned``: let it
    propagate (the trial is recorded pruned, with its last reported loss). Outside a
    hyperspark trial it does nothing.

    Example::

        def objective(params):
            model = make_model(params)
            for epoch in range(1, 28):
                model.partial_fit(X, y, classes=[0, 1])
                hyperspark.report(1 - model.score(X_val, y_val), step=epoch)
            return 1 - model.score(X_val, y_val)
    """
    reporter = current_reporter()
    if reporter is None:
        return
    value = _number("loss", loss)
    extra = {str(name): _number(name, metric) for name, metric in metrics.items()}
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)
                             or step < 0):
        raise InvalidArgumentType(f"hyperspark.report(step=...) must be a non-negative int or "
                                  f"None, got {step!r}")
    if reporter.pruned():
        raise TrialPruned("the pruner stopped this trial")
    reporter.send(Report(reporter.next_step(None if step is None else int(step)), value, extra,
                         time.time()))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentType(f"hyperspark.report: {name} must be a real number, got "
                                  f"{type(value).__name__}: {value!r}")
    return float(value)
