"""A tracked search's page, from its MLflow runs: the records the page draws, read from the
store (``hyperspark html --run-id``). The page itself never reads a store."""
from __future__ import annotations

from typing import Any, Dict, Optional

from hyperspark.page import search_data
from hyperspark.record import TrialRecord, TrialStatus
from hyperspark.tracking.history import get_run, named_results
from hyperspark.tracking.runs import SEARCH_ID_TAG
from hyperspark.tracking.ui_link import experiment_name

_STATUS_OF_TAG = {"success": TrialStatus.OK, "failure": TrialStatus.ERROR,
                  "cancelled": TrialStatus.CANCELLED, "pruned": TrialStatus.PRUNED}


def page_data(run_id: str, tracking_uri: Optional[str] = None,
              curves: int = 300) -> Dict[str, Any]:
    """The page data of a tracked search, read back from its parent run's child runs in the
    tracking store (learning curves for up to ``curves`` trials that reported).

    >>> from hyperspark.page import write
    >>> write(page_data("3f9c2e..."), "search.html")  # doctest: +SKIP
    """
    from mlflow.tracking import MlflowClient

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
        named = named_results(tags, metrics) if loss is not None else {}
        records.append(TrialRecord(
            tid=int(tags["trial_id"]), status=status, loss=loss,
            losses=named.get("losses", {}), constraints=named.get("constraints", {}),
            size=({"tasks": int(metrics["trial_tasks"]), "cpus": int(metrics["trial_cpus"]),
                   "gpus": metrics.get("trial_gpus", 0.0)}
                  if "trial_tasks" in metrics else None),
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
    settings.update({"parent run": run_id,
                     "experiment": experiment_name(client, parent.info.experiment_id)})
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
