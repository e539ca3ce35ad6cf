"""The page's view of a search with several losses or with constraints: each trial's losses
and total violation, and which trials form the Pareto front.

The page draws it as a scatter of the two losses (or, for one loss with constraints, the loss
against the violation) with the front drawn as a staircase, as parallel coordinates of three
losses or more, and as a table of the front.

>>> from hyperspark.record import TrialRecord, TrialStatus
>>> records = [TrialRecord(tid=t, status=TrialStatus.OK, loss=a, losses={"error": a, "size": b})
...            for t, (a, b) in enumerate([(0.1, 9.0), (0.2, 3.0), (0.3, 5.0)])]
>>> section = objectives_section(records)
>>> section["losses"], section["front"]
(['error', 'size'], [0, 1])
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence

import numpy as np

from hyperspark.objectives import front_mask, hypervolume, reference_point
from hyperspark.record import TrialRecord, TrialStatus


def objectives_section(records: Sequence[TrialRecord]) -> Optional[Dict[str, Any]]:
    """What the page's objectives section draws, row by row in the order of ``records``
    (None for a search of one loss and no constraint).

    ``losses`` / ``constraints``: the names (of the lowest-tid trial that carries them);
    ``values``: each loss's value per row (None where the trial has none); ``violation``: the
    sum of a row's positive constraint values; ``front``: the rows on the front, by the first
    loss; ``feasible``: whether the front is feasible; ``hypervolume`` and ``reference``: the
    front's hypervolume, measured from past the worst feasible value of each loss.
    """
    named = [r for r in records if r.losses or r.constraints]
    if not named:
        return None
    first = min(named, key=lambda r: r.tid)
    losses = list(first.losses) or ["loss"]
    constraints = list(first.constraints)
    rows = [i for i, r in enumerate(records)
            if r.status is TrialStatus.OK and r.loss is not None
            and list(r.losses or {"loss": r.loss}) == losses
            and list(r.constraints) == constraints]
    vectors = np.array([[_value(records[i], name) for name in losses] for i in rows],
                       dtype=float).reshape(len(rows), len(losses))
    violations = np.array([sum(max(float(v), 0.0) for v in records[i].constraints.values())
                           for i in rows])
    usable = np.isfinite(vectors).all(axis=1) & np.isfinite(violations)
    mask, feasible = front_mask(vectors[usable], violations[usable])
    kept = [row for row, ok in zip(rows, usable) if ok]
    front = sorted((row for row, on in zip(kept, mask) if on),
                   key=lambda i: (_value(records[i], losses[0]), records[i].tid))
    section: Dict[str, Any] = {
        "losses": losses, "constraints": constraints, "front": front, "feasible": feasible,
        "values": {name: [None] * len(records) for name in losses},
        "constraint_values": {name: [None] * len(records) for name in constraints},
        "violation": [None] * len(records),
    }
    for k, i in enumerate(rows):
        for j, name in enumerate(losses):
            section["values"][name][i] = _finite(vectors[k, j])
        for name in constraints:
            section["constraint_values"][name][i] = _finite(records[i].constraints[name])
        section["violation"][i] = _finite(violations[k])
    section["hypervolume"], section["reference"] = None, None
    feasible_rows = usable & (violations <= 0)
    if feasible and feasible_rows.any() and len(losses) > 1:
        reference = reference_point(vectors[feasible_rows])
        section["hypervolume"] = hypervolume(vectors[usable][mask], reference)
        section["reference"] = [float(v) for v in reference]
    return section


def _value(record: TrialRecord, name: str) -> float:
    if not record.losses:
        return float(record.loss) if record.loss is not None else math.nan
    value = record.losses.get(name)
    return math.nan if value is None else float(value)


def _finite(value: Any) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None

