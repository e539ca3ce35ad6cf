"""A search's trials as a pandas DataFrame (``SparkTrials.to_pandas()``)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from hyperopt import base

from hyperspark.params import ParamResolver

STATE_NAMES = {base.JOB_STATE_NEW: "new", base.JOB_STATE_RUNNING: "running",
               base.JOB_STATE_DONE: "done", base.JOB_STATE_ERROR: "error",
               base.JOB_STATE_CANCEL: "cancelled"}
COLUMNS = ["tid", "state", "status", "loss", "params", "start", "end", "duration", "attempts",
           "reports", "error"]


def trials_frame(docs: Iterable[Dict[str, Any]], space: Any = None) -> Any:
    """One row per trial document. ``state`` is hyperopt's state by name, except that a trial
    the pruner stopped says ``pruned``; ``reports`` counts its ``hyperspark.report()`` calls."""
    import pandas as pd

    resolver = ParamResolver(space) if space is not None else None
    rows: List[Dict[str, Any]] = []
    for doc in docs:
        info = doc["misc"].get("hyperspark", {})
        vals = doc["misc"].get("vals", {})
        params = resolver.resolve(vals) if resolver else {k: v[0] for k, v in vals.items() if v}
        start, end = info.get("start"), info.get("end")
        state = STATE_NAMES.get(doc["state"], str(doc["state"]))
        if doc["state"] == base.JOB_STATE_DONE and doc["result"].get("pruned"):
            state = "pruned"
        rows.append({
            "tid": doc["tid"], "state": state,
            "status": doc["result"].get("status"), "loss": doc["result"].get("loss"),
            "params": params,
            "start": pd.to_datetime(start, unit="s") if start else pd.NaT,
            "end": pd.to_datetime(end, unit="s") if end else pd.NaT,
            "duration": (end - start) if start and end else None,
            "attempts": info.get("attempts", 0),
            "reports": len(info.get("reports", ())),
            "error": (doc["result"].get("error") if doc["state"] != base.JOB_STATE_DONE
                      else None),
        })
    return pd.DataFrame(rows, columns=COLUMNS)
