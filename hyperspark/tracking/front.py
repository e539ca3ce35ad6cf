"""What the parent run keeps of a search with several losses or constraints, at its end: the
Pareto front as a table (``pareto_front.csv``), its size, its hypervolume and the reference
point the hypervolume was measured from; the front's child runs get the tag
``pareto_front=true``."""
from __future__ import annotations

import csv
import io
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from hyperspark.objectives import (CONSTRAINTS, hypervolume, objectives_of, pareto_front,
                                   reference_point)
from hyperspark.record import point

FRONT_ARTIFACT = "pareto_front.csv"
FRONT_TAG = "pareto_front"


def front_record(docs: List[Dict[str, Any]]) -> Optional[Tuple[str, Dict[str, float],
                                                                List[int]]]:
    """(the front as CSV, the parent run's metrics, the front's tids) for a search with
    several losses or constraints; None for a search of one loss."""
    objectives = objectives_of(docs)
    if objectives is None or objectives.plain:
        return None
    front, feasible = pareto_front(docs, objectives)
    names = list(objectives.losses) or ["loss"]
    metrics: Dict[str, float] = {"pareto_front_size": float(len(front)),
                                 "pareto_front_feasible": float(feasible)}
    pool = [d for d in docs if (d.get("result") or {}).get("status") == "ok"
            and objectives.mismatch(d["result"]) is None
            and objectives.violation(d["result"]) <= 0]
    if front and feasible and pool:
        everything = np.array([objectives.loss_vector(d["result"]) for d in pool])
        reference = reference_point(everything)
        ours = np.array([objectives.loss_vector(d["result"]) for d in front])
        metrics["hypervolume"] = hypervolume(ours, reference)
        metrics.update({f"hypervolume_reference.{name}": float(value)
                        for name, value in zip(names, reference)})
    table = io.StringIO()
    writer = csv.writer(table)
    constraints = list(objectives.constraints)
    writer.writerow(["tid", *[f"loss.{n}" for n in names],
                     *[f"constraint.{n}" for n in constraints], "params"])
    for doc in front:
        result = doc["result"]
        writer.writerow([doc["tid"], *objectives.loss_vector(result),
                         *[result[CONSTRAINTS][n] for n in constraints],
                         {k: _plain(v) for k, v in point(doc).items()}])
    return table.getvalue(), metrics, [d["tid"] for d in front]


def log_front(writer: Any, parent_run_id: str,
              named: Dict[int, Tuple[Dict[str, Any], Any]]) -> None:
    """At a search's end: the front's table, metrics and tags (``named``: tid -> (document,
    child run) of the trials that carried several losses or constraints)."""
    record = front_record([doc for doc, _ in named.values()])
    if record is None:
        return
    table, metrics, members = record
    writer.log_batch(parent_run_id, metrics=metrics)
    writer.log_text(parent_run_id, table, FRONT_ARTIFACT)
    for tid in members:
        writer.log_batch(named[tid][1], tags={FRONT_TAG: "true"})


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value
