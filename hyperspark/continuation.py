"""Continuing a finished search from its MLflow run: its trials go into a new ``SparkTrials``
as finished trials (``SparkTrials.from_mlflow``), so ``fmin(max_evals=M)`` runs only
``M - len(trials)`` new ones and the algorithm learns from all of them.

The continuation logs to a new parent run tagged ``hyperspark.continued_from`` (the first
search's run stays as it finished); its page shows the whole history, the continuation
marked. See docs/tracking.md, "Continuing a search".
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Dict, Optional

from hyperopt import base

from hyperspark import hyperopt_internals as internals
from hyperspark.errors import InvalidArgument
from hyperspark.record import add_inactive_labels, is_continued, note_error, point, point_misc
from hyperspark.space import Fit, fit_points
from hyperspark.space import labels as space_labels
from hyperspark.tracking.history import History, read_history

logger = logging.getLogger("hyperspark")

_STATE = {"ok": base.JOB_STATE_DONE, "pruned": base.JOB_STATE_DONE,
          "failed": base.JOB_STATE_DONE, "error": base.JOB_STATE_ERROR,
          "timed_out": base.JOB_STATE_CANCEL, "cancelled": base.JOB_STATE_CANCEL}


def from_mlflow(cls: Any, run_id: str, space: Any, kwargs: Dict[str, Any]) -> Any:
    """``SparkTrials.from_mlflow``: a ``cls(**kwargs)`` holding the search's finished trials."""
    history = read_history(run_id)
    trials = cls(**kwargs)
    fit = load(trials, history, space)
    trials.continued_from = history.run_id
    trials._space = space
    message = describe(history, fit, len(internals.all_docs(trials)))
    logger.log(logging.WARNING if fit is not None and fit.dropped else logging.INFO, message)
    return trials


def load(trials: base.Trials, history: History, space: Any = None) -> Optional[Fit]:
    """Put ``history``'s finished trials into ``trials`` (empty): all of them, or, with
    ``space``, those that fit it. Returns the fit (None without ``space``)."""
    records = {record.tid: record for record in history.trials}
    fit = None
    if space is not None:
        fit = fit_points(space, {tid: {label: value[0] for label, value in record.vals.items()}
                                 for tid, record in records.items()}, history.space)
        if not fit.kept:
            raise InvalidArgument(
                f"no trial of MLflow run {history.run_id} fits the space given to "
                f"from_mlflow(space=...): {fit.summary()}. Pass the space the search ran "
                f"with, or one that contains some of its points")
        records = {tid: records[tid] for tid in fit.kept}
    if not records:
        raise InvalidArgument(f"MLflow run {history.run_id} has no finished trial to continue "
                              f"from ({history.unfinished} never finished)")
    labels = sorted(set(space_labels(space) if space is not None else ()) |
                    set(history.space or ()) |
                    {label for record in records.values() for label in record.vals})
    docs = []
    for tid in sorted(records):
        record = records[tid]
        misc = point_misc(tid, {label: list(record.vals.get(label, [])) for label in labels})
        doc = trials.new_trial_docs([tid], [None], [history.results[tid]], [misc])[0]
        doc["state"] = _STATE[record.status.value]
        if record.error_type:
            note_error(doc, record.error_type, record.error or "")
        dataclasses.replace(record, continued=True).into(doc)
        docs.append(doc)
    internals.add_docs(trials, docs)
    # new trials are numbered after every trial of the first search, dropped ones included:
    # a tid names one trial across both runs
    internals.reserve_ids(trials, max(history.next_tid, max(records) + 1))
    trials.refresh()
    return fit


def complete_labels(trials: base.Trials, space: Any) -> None:
    """Give every trial an (inactive) entry for each label of ``space`` it lacks: a label
    added since the trials ran is missing from them, as a conditional parameter is, and
    hyperopt's algorithms expect every label in every trial's misc."""
    labels = space_labels(space)
    for doc in internals.all_docs(trials):
        add_inactive_labels(doc, labels)


def check_fit(trials: base.Trials, space: Any, run_id: str) -> None:
    """Warn when continued trials hold points the space of this fmin does not have (it was
    changed without from_mlflow(space=...))."""
    points = {doc["tid"]: point(doc) for doc in internals.all_docs(trials)
              if is_continued(doc)}
    if not points:
        return
    fit = fit_points(space, points)
    if fit.dropped:
        logger.warning("%d trials continued from MLflow run %s do not fit this fmin's space (%s): "
                       "pass the new space to SparkTrials.from_mlflow(run_id, space=...) to "
                       "leave them out", len(fit.dropped), run_id, fit.summary())


def describe(history: History, fit: Optional[Fit], kept: int) -> str:
    """The one line that says what was loaded."""
    line = (f"continuing search {history.search_id}: {kept} finished trials from MLflow run "
            f"{history.run_id} in experiment '{history.experiment_name}'")
    if fit is not None and fit.dropped:
        line += f" ({fit.summary()})"
    if history.unfinished:
        line += f"; {history.unfinished} that never finished left out"
    return line
