"""A finished search read back from MLflow: its parent run, and one ``TrialRecord`` per
finished trial, with the point exactly as hyperopt stored it (``SparkTrials.from_mlflow``).

Only MLflow's public API: ``get_run`` for the parent, ``search_runs`` for its children (by their
``mlflow.parentRunId`` tag, a page of up to 5,000 runs at a time, so a 20,000-trial search is
four calls), and the parent's ``space.json`` artifact. A child run holds what this needs since
hyperspark wrote it: ``trial_id`` (the tid), ``hyperspark.vals`` (the point, as JSON with its
types), ``hyperspark_status``, the ``loss`` metric, and the times and attempts the page uses.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from typing import Any, Dict, List, Optional, Tuple

from hyperspark.errors import InvalidArgument
from hyperspark.objectives import CONSTRAINTS, LOSSES
from hyperspark.record import TrialRecord, TrialStatus
from hyperspark.tracking.child_runs import OBJECTIVES_TAG, VALS_TAG, metric_name
from hyperspark.tracking.runs import SEARCH_ID_TAG, SPACE_ARTIFACT
from hyperspark.tracking.ui_link import experiment_name

logger = logging.getLogger("hyperspark")

PAGE_SIZE = 5000
"""Child runs asked for per ``search_runs`` call."""
_STATUSES = {status.value: status for status in TrialStatus if status.finished}


@dataclasses.dataclass(frozen=True)
class History:
    """What a search left in MLflow."""

    run_id: str
    """The search's parent run."""
    tracking_uri: str
    experiment_id: str
    search_id: str
    trials: Tuple[TrialRecord, ...]
    """Its finished trials, in tid order (each with ``vals`` as hyperopt stores them)."""
    results: Dict[int, Dict[str, Any]]
    """Each finished trial's hyperopt result (``{"loss": ..., "status": "ok"}``, ...)."""
    unfinished: int = 0
    """Child runs with no final status (a search that was still running, or killed): left out."""
    next_tid: int = 0
    """One past the highest tid the search gave a trial: a continuation's first new tid."""
    space: Optional[Dict[str, Dict[str, Any]]] = None
    """The search's space as its ``space.json`` artifact describes it (labels, kinds, bounds)."""
    experiment_name: str = ""
    """The parent run's experiment, by name."""


def read_history(run_id: str, tracking_uri: Optional[str] = None) -> History:
    """The finished trials of the search whose parent run is ``run_id``; refuses, naming what
    ``run_id`` must be, a run that is not such a parent."""
    from mlflow.tracking import MlflowClient

    if not isinstance(run_id, str) or not run_id.strip():
        raise InvalidArgument(f"run_id must be the id of a hyperspark search's parent run "
                              f"(a non-empty string), got {run_id!r}")
    client = MlflowClient(tracking_uri)
    uri = client.tracking_uri
    parent = _parent_run(client, run_id, uri)
    records: List[TrialRecord] = []
    results: Dict[int, Dict[str, Any]] = {}
    unfinished = unreadable = next_tid = 0
    token = None
    while True:
        page = client.search_runs([parent.info.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{run_id}'",
                                  max_results=PAGE_SIZE, page_token=token)
        for run in page:
            tags = run.data.tags
            if "trial_id" not in tags:
                continue  # a run the objective nested under the search, not a trial
            next_tid = max(next_tid, int(tags["trial_id"]) + 1)
            status = _STATUSES.get(tags.get("hyperspark_status", ""))
            if status is None:
                unfinished += 1
                continue
            if VALS_TAG not in tags:
                unreadable += 1
                continue
            record, result = _trial(run, status)
            records.append(record)
            results[record.tid] = result
        token = page.token
        if not token:
            break
    if unreadable and not records:
        raise InvalidArgument(
            f"run {run_id} is a hyperspark search, but its trials have no {VALS_TAG} tag (an "
            f"earlier hyperspark wrote them): their points cannot be read back exactly")
    if unreadable:
        logger.warning("MLflow run %s: %d trials have no %s tag and are left out", run_id,
                       unreadable, VALS_TAG)
    records.sort(key=lambda record: record.tid)
    return History(run_id, uri, parent.info.experiment_id, parent.data.tags[SEARCH_ID_TAG],
                   tuple(records), results, unfinished, next_tid, _space(client, run_id),
                   experiment_name(client, parent.info.experiment_id) or "")


MUST_BE = ("run_id must be the parent run of a search hyperspark recorded (the run whose tag "
           f"{SEARCH_ID_TAG} names the search, with one child run per trial)")


def get_run(client: Any, run_id: str) -> Any:
    """``client.get_run(run_id)``; an unknown id is an ``InvalidArgument`` that says what
    ``run_id`` must be (other store errors pass as they are)."""
    try:
        return client.get_run(run_id)
    except Exception as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or \
                "not found" in str(exc).lower():
            raise InvalidArgument(f"no run {run_id!r} in the MLflow store "
                                  f"{client.tracking_uri}: {MUST_BE}") from None
        raise


def _parent_run(client: Any, run_id: str, uri: str) -> Any:
    must_be = MUST_BE
    run = get_run(client, run_id)
    tags = run.data.tags
    if "trial_id" in tags and "mlflow.parentRunId" in tags:
        parent = tags["mlflow.parentRunId"]
        raise InvalidArgument(f"run {run_id} is trial {tags['trial_id']} of a search, not the "
                              f"search: {must_be}; this trial's search is run {parent}")
    if SEARCH_ID_TAG not in tags:
        who = ("hyperopt's SparkTrials or another tool" if tags.get("runSource") ==
               "hyperoptAutoTracking" else "something other than hyperspark")
        raise InvalidArgument(f"run {run_id} was written by {who} (it has no {SEARCH_ID_TAG} "
                              f"tag): {must_be}")
    return run


def named_results(tags: Dict[str, str], metrics: Dict[str, float]) -> Dict[str, Any]:
    """A trial's losses and constraints, in their order (``OBJECTIVES_TAG``), from its
    metrics; nothing for a trial of one loss."""
    if OBJECTIVES_TAG not in tags:
        return {}
    names = json.loads(tags[OBJECTIVES_TAG])
    out: Dict[str, Any] = {}
    for key in (LOSSES, CONSTRAINTS):
        values = {name: metrics.get(metric_name(key, name)) for name in names.get(key, [])}
        if values and all(v is not None for v in values.values()):
            out[key] = values
    return out


def _trial(run: Any, status: TrialStatus) -> Tuple[TrialRecord, Dict[str, Any]]:
    tags, metrics = run.data.tags, run.data.metrics
    tid = int(tags["trial_id"])
    vals = {label: [value] for label, value in json.loads(tags[VALS_TAG]).items()}
    loss = metrics.get("loss")
    pruned_at = _int(tags.get("pruned_at_step"))
    if status is TrialStatus.OK:
        result: Dict[str, Any] = {"loss": loss, "status": "ok", **named_results(tags, metrics)}
    elif status is TrialStatus.PRUNED:  # done, with its last reported loss (when it had one)
        result = {"loss": loss, "status": "ok", "pruned": True, "step": pruned_at} \
            if loss is not None and math.isfinite(loss) else \
            {"status": "fail", "pruned": True, "error": "pruned before any report"}
    elif status in (TrialStatus.TIMED_OUT, TrialStatus.CANCELLED):
        result = {"status": "fail", "error": f"cancelled: {tags.get('cancel_reason', '')}"}
    elif status is TrialStatus.FAILED:
        result = {"status": "fail"}
    else:
        result = {"status": "fail", "error": tags.get("error", "")}
    record = TrialRecord(
        tid=tid, status=status, loss=loss if status in (TrialStatus.OK, TrialStatus.PRUNED)
        else None, vals=vals, attempts=int(metrics.get("attempts", 0)),
        waited=metrics.get("waited_s", 0.0), booked=metrics.get("trial_booked"),
        start=metrics.get("trial_start"), end=metrics.get("trial_end"),
        error=tags.get("error") or tags.get("cancel_reason"),
        error_type=tags.get("error_type"), failure_kind="user" if status is TrialStatus.ERROR
        else None, cancel_reason=tags.get("cancel_reason"), pruned_at=pruned_at)
    return record, result


def _space(client: Any, run_id: str) -> Optional[Dict[str, Dict[str, Any]]]:
    """The parent's space.json, or None (an older search, or an unreadable artifact)."""
    import os
    import tempfile

    before = os.environ.get(_PROGRESS_BAR)
    os.environ[_PROGRESS_BAR] = "false"  # MLflow draws a bar for every download
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = client.download_artifacts(run_id, SPACE_ARTIFACT, folder)
            with open(path, encoding="utf-8") as handle:
                return json.loads(handle.read())
    except Exception as exc:
        logger.debug("no %s for run %s: %s", SPACE_ARTIFACT, run_id, exc)
        return None
    finally:
        if before is None:
            os.environ.pop(_PROGRESS_BAR, None)
        else:
            os.environ[_PROGRESS_BAR] = before


_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None
