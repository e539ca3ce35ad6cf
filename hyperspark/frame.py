"""A search's trials as a pandas DataFrame (``SparkTrials.to_pandas()``)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from hyperopt import base

from hyperspark.objectives import CONSTRAINTS, LOSSES
from hyperspark.outcome import short_type
from hyperspark.params import ParamResolver
from hyperspark.record import TrialRecord, TrialStatus

STATE_NAMES = {base.JOB_STATE_NEW: "new", base.JOB_STATE_RUNNING: "running",
               base.JOB_STATE_DONE: "done", base.JOB_STATE_ERROR: "error",
               base.JOB_STATE_CANCEL: "cancelled"}
COLUMNS = ["tid", "state", "status", "loss", "params", "start", "end", "duration", "waited",
           "attempts", "reports", "error", "error_type", "traceback"]


def trials_frame(docs: Iterable[Dict[str, Any]], space: Any = None) -> Any:
    """One row per trial document.

    ``state`` is hyperopt's state by name (``pruned`` for a trial the pruner stopped);
    ``status`` is hyperspark's classification (``record.TrialStatus``: ok, pruned, failed,
    error, timed_out, cancelled, running, new), the one the bar, the summary and MLflow count
    by; ``reports`` counts its ``hyperspark.report()`` calls. ``error``, ``error_type`` and
    ``traceback`` are why a trial has no result (the message, the exception's type, the
    traceback formatted where it raised, naming the objective's own file); None otherwise.
    A search with several losses or constraints has a column for each: ``loss.<name>`` and
    ``constraint.<name>``; a search whose trials are sized by their parameters, ``tasks``,
    ``cpus`` and ``gpus`` (per task) of each trial.
    """
    import pandas as pd

    resolver = ParamResolver(space) if space is not None else None
    rows: List[Dict[str, Any]] = []
    named: List[str] = []  # a column per loss and per constraint, in the order first seen
    for doc in docs:
        trial = TrialRecord.from_doc(doc)
        params = (resolver.resolve(trial.vals) if resolver
                  else {k: v[0] for k, v in trial.vals.items() if v})
        state = STATE_NAMES.get(doc["state"], str(doc["state"]))
        if trial.status is TrialStatus.PRUNED:
            state = "pruned"
        failed = trial.status is not TrialStatus.PRUNED
        rows.append({
            "tid": trial.tid, "state": state, "status": trial.status.value,
            "loss": trial.loss if trial.loss is not None else doc["result"].get("loss"),
            "params": params,
            "start": pd.to_datetime(trial.start, unit="s") if trial.start else pd.NaT,
            "end": pd.to_datetime(trial.end, unit="s") if trial.end else pd.NaT,
            "duration": trial.duration, "waited": trial.waited,
            "attempts": trial.attempts, "reports": len(trial.reports),
            "error": failed and trial.error or None,
            "error_type": failed and trial.error_type and short_type(trial.error_type) or None,
            "traceback": failed and trial.traceback or None,
        })
        for key, value in (trial.size or {}).items():
            rows[-1][key] = value
            if key not in named:
                named.append(key)
        result = doc.get("result") or {}
        for prefix, key in (("loss.", LOSSES), ("constraint.", CONSTRAINTS)):
            for name, value in (result.get(key) or {}).items():
                rows[-1][prefix + name] = value
                if prefix + name not in named:
                    named.append(prefix + name)
    return pd.DataFrame(rows, columns=COLUMNS + named)
