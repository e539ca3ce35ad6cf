"""What a trial's child run holds: its tags when it starts (the name, the tid, the point as
hyperopt stores it) and its metrics, tags and status when it ends."""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Tuple

from hyperspark.objectives import CONSTRAINTS, LOSSES
from hyperspark.record import TrialRecord, TrialStatus, suggested_by

MAX_TAG = 8000
MAX_PARAM = 6000
VALS_TAG = "hyperspark.vals"
"""A child run's point as hyperopt stores it (``misc["vals"]``: a choice's index, an int as
an int), as JSON: what ``SparkTrials.from_mlflow`` reads back (params hold resolved text)."""

def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_RUN_STATUS = {TrialStatus.OK: ("success", "FINISHED"), TrialStatus.PRUNED: ("pruned", "FINISHED"),
               TrialStatus.FAILED: ("failure", "FAILED"), TrialStatus.ERROR: ("failure", "FAILED"),
               TrialStatus.TIMED_OUT: ("cancelled", "KILLED"),
               TrialStatus.CANCELLED: ("cancelled", "KILLED")}
"""A finished trial's ``trial_status`` tag (Databricks' names) and its child run's status."""


SUGGESTED_BY_TAG = "hyperspark.suggested_by"
"""On a trial's child run: the algorithm that made its point (``hyperspark.auto``)."""


def trial_tags(doc: Dict[str, Any]) -> Dict[str, str]:
    """A starting trial's tags: its name, its tid and its point (``VALS_TAG``)."""
    tags = {"mlflow.runName": f"trial-{doc['tid']}", "trial_id": str(doc["tid"])}
    algorithm = suggested_by(doc)
    if algorithm:
        tags[SUGGESTED_BY_TAG] = algorithm
    vals = vals_text(doc["misc"].get("vals", {}))
    if len(vals) <= MAX_TAG:  # a point too big for a tag cannot be continued from MLflow
        tags[VALS_TAG] = vals
    return tags


def vals_text(vals: Dict[str, List[Any]]) -> str:
    """A trial's active values, as JSON with their types (``{"lr": 0.01, "act": 1}``).

    >>> vals_text({"lr": [0.5], "depth": [], "act": [1]})
    '{"act": 1, "lr": 0.5}'
    """
    return json.dumps({str(label): _plain(value[0]) for label, value in vals.items() if value},
                      sort_keys=True, separators=(", ", ": "))


OBJECTIVES_TAG = "hyperspark.objectives"
"""A trial with several losses or constraints: their names in order (JSON), read back by
``from_mlflow`` (the metrics alone lose the order, and the first loss is ``loss``)."""
PREFIXES = {LOSSES: "loss.", CONSTRAINTS: "constraint."}
_NOT_IN_A_METRIC = re.compile(r"[^\w\-. /:]")


def named_metrics(result: Dict[str, Any]) -> Dict[str, float]:
    """A result's losses and constraints as metrics: ``loss.<name>``, ``constraint.<name>``
    (characters MLflow refuses in a metric's name become ``_``).

    >>> named_metrics({"losses": {"error": 0.1}, "constraints": {"mem(GB)": -1.0}})
    {'loss.error': 0.1, 'constraint.mem_GB_': -1.0}
    """
    return {metric_name(key, name): float(value) for key in (LOSSES, CONSTRAINTS)
            for name, value in (result.get(key) or {}).items()}


def metric_name(key: str, name: str) -> str:
    return PREFIXES[key] + _NOT_IN_A_METRIC.sub("_", name)


def _plain(value: Any) -> Any:
    """numpy scalars as Python's, so JSON keeps int as int and float as float."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def outcome_of(doc: Dict[str, Any]) -> Tuple[Dict[str, float], Dict[str, str], str]:
    """The metrics, tags and final status of a finished trial's child run."""
    trial = TrialRecord.from_doc(doc)
    metrics: Dict[str, float] = {}
    tag, status = _RUN_STATUS[trial.status]
    tags: Dict[str, str] = {"trial_status": tag, "hyperspark_status": trial.status.value}
    if trial.status is TrialStatus.PRUNED:  # its loss is its last report
        tags["pruned_at_step"] = str(doc["result"].get("step", ""))
    elif trial.status is TrialStatus.OK:
        metrics["loss"] = float(trial.loss)
        named = named_metrics(doc["result"])
        if named:
            metrics.update(named)
            tags[OBJECTIVES_TAG] = json.dumps(
                {key: list(doc["result"].get(key) or ()) for key in (LOSSES, CONSTRAINTS)})
    elif trial.status in (TrialStatus.CANCELLED, TrialStatus.TIMED_OUT):
        tags["cancel_reason"] = cut(trial.cancel_reason or "", MAX_TAG)
    else:
        tags["error"] = cut(str(trial.error), MAX_TAG)
        if trial.error_type:
            tags["error_type"] = cut(trial.error_type, MAX_TAG)
    if trial.duration is not None:
        metrics["duration_s"] = trial.duration
    # what the search page needs to draw the trial from the store (hyperspark html --run-id)
    metrics.update({name: value for name, value in (
        ("trial_booked", trial.booked), ("trial_start", trial.start), ("trial_end", trial.end),
        ("attempts", trial.attempts), ("waited_s", trial.waited)) if value is not None})
    if trial.size:  # sized by its parameters: what it held
        metrics.update({f"trial_{key}": float(value) for key, value in trial.size.items()})
    tags["reports"] = str(len(trial.reports))
    return metrics, tags, status
