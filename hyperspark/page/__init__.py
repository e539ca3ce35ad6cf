"""A search you can look at: one self-contained HTML page per search.

Built from ``TrialRecord``s, so it is the same on every backend and for finished, stopped and
resumed searches. Three ways in:

- ``SparkTrials.to_html(path)``, during or after a search (``from_trials``);
- ``hyperspark html --checkpoint FILE`` (``from_checkpoint``);
- ``hyperspark html --run-id RUN`` (``from_mlflow``), from the tracking store; and every
  tracked ``fmin`` logs its page to its parent run as ``search.html``.

    from hyperspark.page import from_trials, write
    write(from_trials(trials), "search.html")
"""
from __future__ import annotations

import logging
import os
import pickle
import platform
from typing import Any, Dict, List, Optional

from hyperspark.errors import InvalidArgument
from hyperspark.hyperopt_internals import all_docs
from hyperspark.page.data import search_data
from hyperspark.page.render import render
from hyperspark.params import ParamResolver
from hyperspark.record import TrialRecord, TrialStatus

logger = logging.getLogger("hyperspark")

__all__ = ["from_trials", "from_checkpoint", "from_mlflow", "write", "versions",
           "search_data", "render"]


def versions() -> Dict[str, str]:
    """The versions a page (and a tracked search) reports."""
    found = {"python": platform.python_version()}
    for name in ("hyperspark", "hyperopt", "pyspark", "mlflow", "numpy"):
        try:
            module = __import__(name)
            found[name] = str(getattr(module, "__version__", "?"))
        except Exception:
            found[name] = "not installed"
    return found


def write(data: Dict[str, Any], path: str) -> str:
    """Write the page of ``data`` to ``path`` (atomically); returns the absolute path."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise InvalidArgument(f"path={path!r}: folder {folder!r} does not exist")
    text = render(data)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def _resolved(records: List[TrialRecord], space: Any) -> Dict[str, List[Any]]:
    """Each label's value per record: resolved through ``space`` (an ``hp.choice``'s option)
    when it is known, else as stored."""
    resolver = ParamResolver(space) if space is not None else None
    labels: Dict[str, None] = {}
    rows = []
    for record in records:
        stored = {k: v[0] for k, v in record.vals.items() if v}
        values = resolver.resolve(record.vals) if resolver is not None else dict(stored)
        for label, value in values.items():  # an option that is itself a space (a dict of
            if isinstance(value, (dict, list, tuple)):  # parameters) shows as its index
                values[label] = f"option {stored.get(label)}"
        rows.append(values)
        labels.update(dict.fromkeys(values))
    return {label: [row.get(label) for row in rows] for label in labels}


def from_trials(trials: Any, title: Optional[str] = None) -> Dict[str, Any]:
    """The page data of a trials object (``SparkTrials``, or a plain hyperopt ``Trials``)."""
    records = sorted((TrialRecord.from_doc(doc) for doc in all_docs(trials)),
                     key=lambda r: r.tid)
    settings = dict(getattr(trials, "last_settings", None) or {})
    settings.update(versions())
    return search_data(records, _resolved(records, getattr(trials, "_space", None)), settings,
                       title or f"hyperspark search {getattr(trials, 'last_search_id', '')}")


def from_checkpoint(path: str) -> Dict[str, Any]:
    """The page data of a checkpoint file (``trials_save_file``)."""
    from hyperspark.checkpoint import read_state

    state = read_state(path)
    records = sorted((TrialRecord.from_doc(doc) for doc in state["trials"]),
                     key=lambda r: r.tid)
    space = None
    if state.get("space_pickle"):
        try:
            space = pickle.loads(state["space_pickle"])
        except Exception as exc:  # a space whose code is not importable here
            logger.warning("the checkpoint's space cannot be read here (%s): parameters are "
                           "shown as stored (an hp.choice as its index)", exc)
    settings = dict(state.get("settings") or {})
    settings.update({"checkpoint": os.path.abspath(path)}, **versions())
    return search_data(records, _resolved(records, space), settings,
                       f"hyperspark search (checkpoint {os.path.basename(path)})")


_STATUS_OF_TAG = {"success": TrialStatus.OK, "failure": TrialStatus.ERROR,
                  "cancelled": TrialStatus.CANCELLED, "pruned": TrialStatus.PRUNED}


def from_mlflow(run_id: str, tracking_uri: Optional[str] = None,
                curves: int = 300) -> Dict[str, Any]:
    """The page data of a tracked search, read back from its parent run's child runs in the
    tracking store (learning curves for up to ``curves`` trials that reported)."""
    from mlflow.tracking import MlflowClient

    from hyperspark.tracking.history import get_run
    from hyperspark.tracking.runs import SEARCH_ID_TAG

    client = MlflowClient(tracking_uri)
    parent = get_run(client, run_id)
    children = []
    token = None
    while True:
        page = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{run_id}'", max_results=1000,
                                  page_token=token)
        children.extend(run for run in page if "trial_id" in run.data.tags)
        token = page.token
        if not token:
            break
    records, params = [], []
    for run in children:
        tags, metrics = run.data.tags, run.data.metrics
        status = (TrialStatus(tags["hyperspark_status"]) if tags.get("hyperspark_status")
                  in {s.value for s in TrialStatus} else
                  _STATUS_OF_TAG.get(tags.get("trial_status"), TrialStatus.RUNNING))
        loss = metrics.get("loss") if status in (TrialStatus.OK, TrialStatus.PRUNED) else None
        reports: tuple = ()
        if tags.get("reports", "0") not in ("", "0") and len(
                [r for r in records if r.reports]) < curves:
            history = client.get_metric_history(run.info.run_id, "loss")
            reports = tuple((m.step, m.value, m.timestamp / 1000, {})
                            for m in sorted(history, key=lambda m: m.step))
        records.append(TrialRecord(
            tid=int(tags["trial_id"]), status=status, loss=loss,
            attempts=int(metrics.get("attempts", 0)), waited=metrics.get("waited_s", 0.0),
            booked=metrics.get("trial_booked"), start=metrics.get("trial_start"),
            end=metrics.get("trial_end"), error=tags.get("error") or tags.get("cancel_reason"),
            reports=reports, pruned_at=_int(tags.get("pruned_at_step"))))
        params.append({k: _parsed(v) for k, v in run.data.params.items()})
    order = sorted(range(len(records)), key=lambda i: records[i].tid)
    records = [records[i] for i in order]
    labels = list(dict.fromkeys(k for i in order for k in params[i]))
    columns = {label: [params[i].get(label) for i in order] for label in labels}
    settings = {f"{k}": v for k, v in parent.data.params.items()}
    if "actual_parallelism" in settings:  # what the search ran with
        settings["parallelism"] = settings.pop("actual_parallelism")
    settings.update({k.replace("hyperspark.", ""): v for k, v in parent.data.tags.items()
                     if k.startswith("hyperspark.version")})
    settings.update({"parent run": run_id, "experiment": parent.info.experiment_id})
    search_id = parent.data.tags.get(SEARCH_ID_TAG) or parent.data.tags.get("fmin_uuid")
    return search_data(records, columns, settings,
                       f"hyperspark search {search_id}" if search_id
                       else f"hyperspark search (MLflow run {run_id})")


def _parsed(text: str) -> Any:
    """An MLflow param (text) as the value it was: a number when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None
