"""Points given by the user (``points_to_evaluate``, ``SparkTrials.insert_points``), queued
as new trials in any hyperopt ``Trials`` so that the search evaluates them first."""
from __future__ import annotations

from typing import Any, Dict, List

from hyperopt import base
from hyperopt.fmin import generate_trial

from hyperspark import hyperopt_internals as internals
from hyperspark.errors import InvalidArgument, InvalidArgumentType
from hyperspark.params import ParamResolver


def insert_points(trials: base.Trials, space: Any, points: List[Dict[str, Any]]) -> None:
    """Queue ``points`` in any hyperopt ``Trials`` (see ``SparkTrials.insert_points``)."""
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise InvalidArgumentType("points_to_evaluate must be a list of dicts "
                                  f"{{label: value}}, got {type(points).__name__}")
    labels = set(ParamResolver(space).labels)
    for index, point in enumerate(points):
        unknown = set(point) - labels
        if unknown:
            raise InvalidArgument(f"points_to_evaluate[{index}] has labels not in the space: "
                                  f"{sorted(unknown)}; the space's labels are {sorted(labels)}")
    trials.refresh()
    tids = trials.new_trial_ids(len(points))
    internals.add_docs(trials, [generate_trial(tid, point) for tid, point in zip(tids, points)])
    trials.refresh()
