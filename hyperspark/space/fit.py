"""Which recorded points are still valid in a (changed) space: the filter of
``SparkTrials.from_mlflow(run_id, space=...)``.

A point fits when every value it holds is still a value of the space: its label is there,
with the same kind of distribution (``earlier``: what the first search's space said), inside
the bounds (a ``q`` distribution's rounding allowed), a choice's index still an option, and
the label active under the point's own choices. A label the point does not have (a new one,
or one under an option it did not take) is missing, as a conditional parameter is.

>>> from hyperopt import hp
>>> fit = fit_points(hp.uniform("x", 0, 1), {0: {"x": 0.5}, 1: {"x": 2.0}})
>>> fit.kept, fit.summary()
([0], '1 of 2 kept; not kept: 1 with x outside its bounds')
"""
from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Dict, List, Optional

from hyperspark.space.reader import Param, Space, UnsupportedSpace, label_nodes

_KINDS_ALIKE = {"randint": "choice", "categorical": "choice"}
"""hp.choice is a randint index underneath: the kinds a person compares are these."""


@dataclasses.dataclass(frozen=True)
class Fit:
    """The tids kept, and why each other one was not (one short reason per point)."""

    kept: List[int]
    dropped: Dict[int, str]

    def summary(self) -> str:
        """One line: how many were kept, and the reasons of the others, most common first."""
        total = len(self.kept) + len(self.dropped)
        line = f"{len(self.kept)} of {total} kept"
        if self.dropped:
            reasons = collections.Counter(self.dropped.values()).most_common()
            line += "; not kept: " + ", ".join(f"{count} with {reason}"
                                               for reason, count in reasons)
        return line


def fit_points(space: Any, points: Dict[int, Dict[str, Any]],
               earlier: Optional[Dict[str, Dict[str, Any]]] = None) -> Fit:
    """Which of ``points`` (tid -> {label: value as hyperopt stores it}) fit ``space``.
    ``earlier``: the first search's space as ``describe_space`` wrote it (its kinds)."""
    try:
        reader: Any = Space.from_expr(space)
    except UnsupportedSpace:  # bounds that depend on another parameter: labels only
        reader = None
    labels = set(label_nodes(space))
    kept: List[int] = []
    dropped: Dict[int, str] = {}
    for tid, point in points.items():
        reason = _why_not(reader, labels, point, earlier or {})
        if reason is None:
            kept.append(tid)
        else:
            dropped[tid] = reason
    return Fit(sorted(kept), dropped)


def _why_not(space: Optional[Space], labels: set, point: Dict[str, Any],
             earlier: Dict[str, Dict[str, Any]]) -> Optional[str]:
    for label in sorted(point):
        if label not in labels:
            return f"{label} no longer in the space"
    if space is None:
        return None
    choices = {label: int(value) for label, value in point.items()
               if label in space.params and _is_choice(space, label)}
    for label in sorted(point):
        param = space.params[label]
        was = earlier.get(label, {}).get("distribution")
        now = "choice" if _is_choice(space, label) else param.kind
        if was is not None and _KINDS_ALIKE.get(was, was) != now:
            return f"{label} now {now}, not {was}"
        reason = _value_reason(param, point[label], now == "choice")
        if reason is not None:
            return f"{label} {reason}"
        if not any(group.active(choices) for group in space.groups if label in group.labels):
            return f"{label} not active under the point's choices"
    return None


def _is_choice(space: Space, label: str) -> bool:
    return space.params[label].categorical or label in space.options


def _value_reason(param: Param, value: Any, choice: bool) -> Optional[str]:
    if param.categorical or choice:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"value {value!r} not an option's index"
        if not 0 <= value - param.offset < param.n_choices:
            return f"option {value} gone"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"value {value!r} not a number"
    if not param.bounded:
        return None
    slack = (param.q / 2 if param.q else 0.0) + 1e-9 * max(1.0, abs(value))
    if param.log:
        low, high = math.exp(param.low), math.exp(param.high)
    else:
        low, high = param.low, param.high
    if not low - slack <= value <= high + slack:
        return "outside its bounds"
    return None
