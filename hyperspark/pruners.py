"""Pruners: decide, report by report, whether a running trial is losing badly enough to stop.

A pruner is any object with one method, ``should_prune(tid, history) -> bool``. The search's
event loop calls it once for every ``hyperspark.report()``, on the loop's own thread, after
adding that report to ``history``: the reports of every trial of the search so far (finished,
pruned and running ones). ``history.latest(tid)`` is the report being decided on. Return True
to stop the trial. A pruner may keep its own state between calls: it sees every report once,
in the order the loop received them (a resumed search replays the checkpoint's reports
first). Optionally, ``grace_s`` (default 10) is how long a pruned trial's objective may run on
without calling ``report()`` again before it is cancelled.

Three pruners come with hyperspark; each works with its defaults::

    SparkTrials(pruner=hyperspark.pruners.ASHA())            # successive halving
    SparkTrials(pruner=hyperspark.pruners.MedianStopping())  # worse than the median so far
    SparkTrials(pruner=hyperspark.pruners.Threshold(upper=1.0))

Losses are minimized, as everywhere in hyperopt. A NaN loss counts as the worst loss.
"""
from __future__ import annotations

import bisect
import math
from typing import Dict, Iterable, List, Optional, Sequence

from hyperspark.errors import InvalidArgument, InvalidArgumentType
from hyperspark.reporting import Report

DEFAULT_GRACE_S = 10.0


class History:
    """The reports of a search's trials, as pruners read them."""

    def __init__(self) -> None:
        self._reports: Dict[int, List[Report]] = {}
        self._by_step: Dict[int, Dict[int, float]] = {}  # tid -> step -> loss (last at step)

    def add(self, tid: int, report: Report) -> None:
        self._reports.setdefault(tid, []).append(report)
        self._by_step.setdefault(tid, {})[report.step] = report.loss

    def forget(self, tid: int) -> None:
        """Drop a trial's reports (its attempt starts over)."""
        self._reports.pop(tid, None)
        self._by_step.pop(tid, None)

    def tids(self) -> Iterable[int]:
        """Every trial that reported at least once."""
        return self._reports.keys()

    def reports(self, tid: int) -> Sequence[Report]:
        return self._reports.get(tid, ())

    def latest(self, tid: int) -> Report:
        return self._reports[tid][-1]

    def loss_at(self, tid: int, step: int) -> Optional[float]:
        """The loss trial ``tid`` reported at exactly ``step`` (None when it did not)."""
        return self._by_step.get(tid, {}).get(step)

    def best_until(self, tid: int, step: int) -> float:
        """The lowest loss trial ``tid`` reported at a step up to ``step`` (NaN counts as +inf;
        +inf when none)."""
        return min((_worst_if_nan(r.loss) for r in self.reports(tid) if r.step <= step),
                   default=math.inf)


class Pruner:
    """Base class (optional: any object with ``should_prune`` will do)."""

    grace_s: float = DEFAULT_GRACE_S

    def should_prune(self, tid: int, history: History) -> bool:
        raise NotImplementedError


class Threshold(Pruner):
    """Stop a trial whose loss leaves bounds: non-finite at any step (a diverging model),
    above ``upper`` or below ``lower`` once past ``warmup_steps``.

    >>> Threshold(upper=0.9)  # doctest: +ELLIPSIS
    Threshold(upper=0.9, lower=None, warmup_steps=0)
    """

    def __init__(self, upper: Optional[float] = None, lower: Optional[float] = None,
                 warmup_steps: int = 0, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.upper = _optional_number("upper", upper)
        self.lower = _optional_number("lower", lower)
        if self.upper is not None and self.lower is not None and self.lower >= self.upper:
            raise InvalidArgument(f"Threshold(lower={lower}, upper={upper}): lower must be "
                                  f"below upper")
        self.warmup_steps = _non_negative_int("warmup_steps", warmup_steps)
        self.grace_s = _grace("grace_s", grace_s)

    def should_prune(self, tid: int, history: History) -> bool:
        report = history.latest(tid)
        if not math.isfinite(report.loss):
            return True
        if report.step <= self.warmup_steps:
            return False
        return ((self.upper is not None and report.loss > self.upper)
                or (self.lower is not None and report.loss < self.lower))

    def __repr__(self) -> str:
        return (f"Threshold(upper={self.upper}, lower={self.lower}, "
                f"warmup_steps={self.warmup_steps})")


class MedianStopping(Pruner):
    """Stop a trial whose best loss so far is worse than the median of the other trials'
    losses at the same step, once at least ``min_trials`` others reported at that step and
    the trial is past ``warmup_steps``.

    Compares like with like: only reports at exactly the same step count, so objectives should
    report on a shared schedule (every epoch, every 10 rounds).
    """

    def __init__(self, min_trials: int = 5, warmup_steps: int = 0,
                 grace_s: float = DEFAULT_GRACE_S) -> None:
        self.min_trials = _positive_int("min_trials", min_trials)
        self.warmup_steps = _non_negative_int("warmup_steps", warmup_steps)
        self.grace_s = _grace("grace_s", grace_s)

    def should_prune(self, tid: int, history: History) -> bool:
        step = history.latest(tid).step
        if step <= self.warmup_steps:
            return False
        others = [loss for other in history.tids() if other != tid
                  for loss in [history.loss_at(other, step)] if loss is not None]
        if len(others) < self.min_trials:
            return False
        return history.best_until(tid, step) > _median([_worst_if_nan(x) for x in others])

    def __repr__(self) -> str:
        return f"MedianStopping(min_trials={self.min_trials}, warmup_steps={self.warmup_steps})"


class ASHA(Pruner):
    """Asynchronous successive halving. Rungs sit at steps ``min_step * reduction_factor**k``
    (1, 3, 9, 27, ... by default), below ``max_step`` when given. The first report of a trial
    at or past a rung records its loss there; the trial goes on only if that loss is among the
    best ``1 / reduction_factor`` of the losses recorded at the rung so far (the best one always
    goes on, so the first trial at a rung is never stopped).

    ``max_step``: the step at which trials end anyway (no rung there or beyond); None when
    unknown.
    """

    def __init__(self, min_step: int = 1, reduction_factor: int = 3,
                 max_step: Optional[int] = None, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.min_step = _positive_int("min_step", min_step)
        self.reduction_factor = _positive_int("reduction_factor", reduction_factor)
        if self.reduction_factor < 2:
            raise InvalidArgument(f"ASHA(reduction_factor={reduction_factor}): must be 2 or "
                                  f"more")
        self.max_step = None if max_step is None else _positive_int("max_step", max_step)
        self.grace_s = _grace("grace_s", grace_s)
        self._rungs: Dict[int, List[float]] = {}  # rung step -> sorted losses recorded there
        self._reached: Dict[int, int] = {}  # tid -> highest rung recorded for it

    def rungs_up_to(self, step: int) -> List[int]:
        """The rung steps at or below ``step``.

        >>> ASHA().rungs_up_to(10)
        [1, 3, 9]
        """
        rungs, rung = [], self.min_step
        while rung <= step and (self.max_step is None or rung < self.max_step):
            rungs.append(rung)
            rung *= self.reduction_factor
        return rungs

    def should_prune(self, tid: int, history: History) -> bool:
        report = history.latest(tid)
        reached = self._reached.get(tid, 0)
        new = [rung for rung in self.rungs_up_to(report.step) if rung > reached]
        if not new:
            return False
        loss = _worst_if_nan(report.loss)
        for rung in new:
            bisect.insort(self._rungs.setdefault(rung, []), loss)
        self._reached[tid] = new[-1]
        recorded = self._rungs[new[-1]]
        keep = max(1, math.ceil(len(recorded) / self.reduction_factor))
        return loss > recorded[keep - 1]

    def __repr__(self) -> str:
        return (f"ASHA(min_step={self.min_step}, reduction_factor={self.reduction_factor}, "
                f"max_step={self.max_step})")


def check_pruner(pruner: object) -> object:
    """``pruner`` when it can prune (None passes), else a clear error."""
    if pruner is not None and not callable(getattr(pruner, "should_prune", None)):
        raise InvalidArgumentType(
            f"pruner must be None, hyperspark.pruners.ASHA(), MedianStopping(), Threshold(), "
            f"or an object with a should_prune(tid, history) method; got {pruner!r}")
    return pruner


def grace_of(pruner: object) -> float:
    return float(getattr(pruner, "grace_s", DEFAULT_GRACE_S))


def _median(values: List[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _worst_if_nan(loss: float) -> float:
    return math.inf if math.isnan(loss) else loss


def _optional_number(name: str, value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidArgumentType(f"{name} must be a number or None, got {value!r}")
    return float(value)


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{name} must be an int >= 1, got {value!r}")
    return value


def _non_negative_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{name} must be an int >= 0, got {value!r}")
    return value


def _grace(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidArgument(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)
