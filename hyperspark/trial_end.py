"""How the loop writes a trial's end into its document and counts it: done (with a result, or
pruned), failed, or cancelled. Called on the loop's thread only."""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Dict, List, Optional

from hyperopt import base
from hyperopt.utils import coarse_utcnow

from hyperspark import record
from hyperspark.backends.base import TrialFailed, TrialFinished
from hyperspark.objectives import Objectives, objectives_of, pareto_front
from hyperspark.outcome import FailureKind, short_type
from hyperspark.pruning import PruningBook
from hyperspark.search import Progress

logger = logging.getLogger("hyperspark")
INVALID_RESULT_TYPE = "hyperspark.worker.results.InvalidResult"


class TrialEnds:
    """Records trial ends into the documents, ``progress`` and ``finished`` (the done trials
    the algorithm and the stop rules see)."""

    def __init__(self, trials: base.Trials, progress: Progress, finished: List[Dict[str, Any]],
                 pruning: PruningBook,
                 restore_traceback: Optional[Callable[[str], str]] = None,
                 objective_site: Optional[str] = None,
                 algorithm_ranks_losses: bool = True) -> None:
        self._trials, self._progress = trials, progress
        self._restore = restore_traceback
        self._site = objective_site
        self._finished, self._pruning = finished, pruning
        self._warned_failure = False
        self.objectives: Optional[Objectives] = objectives_of(finished)
        """The names of the search's losses and constraints (None before a trial finished)."""
        self._ranks_losses = algorithm_ranks_losses
        self._front: List[Dict[str, Any]] = []
        self.refusal: Optional[str] = None
        """Why the search must stop: pruning, or hyperspark.report(), in a search of several
        losses (both take one value). The loop raises it as InvalidArgument."""
        for doc in finished:
            self._grow_front(doc)

    def record(self, doc: Dict[str, Any], event: Any, cancel_reason: str,
               timed_out: bool = False) -> None:
        """Write ``event`` (TrialFinished, TrialFailed or TrialCancelled) into ``doc``;
        ``timed_out``: the loop cancelled it for running past ``trial_timeout``."""
        doc["refresh_time"] = coarse_utcnow()
        if isinstance(event, TrialFinished) and not self._is_pruned(event):
            event = self._admitted(event)
        times = dict(attempts=event.attempts, recorded=time.time(),
                     start=getattr(event, "start", None), end=getattr(event, "end", None))
        if self._is_pruned(event):
            record.note_end(doc, **times)
            self._pruned(doc)
        elif isinstance(event, TrialFinished):
            record.note_end(doc, **times)
            self._finished_with_result(doc, event)
        elif isinstance(event, TrialFailed):
            if event.kind is FailureKind.INVALID_RESULT and self._site is not None:
                event = self._at_objective(event)
            record.note_end(doc, **times, failure_kind=event.kind.value,
                            traceback=self._traceback(event.traceback))
            self._failed(doc, event)
        else:
            reason = event.reason or cancel_reason
            record.note_end(doc, **times, cancel_reason=reason, timed_out=timed_out)
            doc["result"] = {"status": base.STATUS_FAIL, "error": f"cancelled: {reason}"}
            doc["state"] = base.JOB_STATE_CANCEL
        self._progress.count(record.classify(doc))
        self._check_one_value(doc)

    def _check_one_value(self, doc: Dict[str, Any]) -> None:
        if self.refusal or self.objectives is None or not self.objectives.several:
            return
        what = ("pruner=" if self._pruning.pruner is not None
                else "hyperspark.report()" if record.stored_reports(doc) else None)
        if what:
            self.refusal = (f"{what}: pruning and hyperspark.report() take one loss, but this "
                            f"search's results carry several ({', '.join(self.objectives.losses)}"
                            "); leave the pruner and report() out of a search of several "
                            "losses")

    def _admitted(self, event: TrialFinished) -> Any:
        """``event``, or a failure where its result's losses or constraints are not named as
        the first finished trial's were (the first one sets them)."""
        result = event.result
        if result.get("status") != base.STATUS_OK or "loss" not in result:
            return event
        if self.objectives is None:
            self.objectives = Objectives.of(result)
            if not self.objectives.plain and not self._ranks_losses:
                logger.warning("this search's results carry several losses or constraints, "
                               "but its algorithm knows one loss: it sees 'loss' only (%s). "
                               "hyperspark.tpe and hyperspark.auto rank them all",
                               "the first of 'losses'" if self.objectives.losses
                               else "constraints ignored")
            return event
        why = self.objectives.mismatch(result)
        if why is None:
            return event
        return TrialFailed(tid=event.tid, error_type=INVALID_RESULT_TYPE, message=why,
                           traceback="", attempts=event.attempts,
                           kind=FailureKind.INVALID_RESULT, start=event.start, end=event.end)

    def _at_objective(self, event: TrialFailed) -> TrialFailed:
        """An invalid result is the objective's doing, not hyperspark's: its traceback is the
        objective's definition (the frames of the check that refused it say nothing)."""
        name = event.error_type.rsplit(".", 1)[-1]
        return dataclasses.replace(event, traceback=(
            "Traceback (most recent call last):\n"
            f"{self._site}{name}: the objective returned an invalid result: {event.message}\n"))

    def _traceback(self, text: str) -> str:
        if self._restore is None or not text:
            return text
        try:
            return self._restore(text)
        except Exception:  # a traceback as it came is better than none
            return text

    def _is_pruned(self, event: Any) -> bool:
        """A trial ends pruned when its objective raised TrialPruned, or when the pruner decided
        and it did not return a result of its own first."""
        if isinstance(event, TrialFailed) and event.kind is FailureKind.PRUNED:
            return True
        return self._pruning.decided(event.tid) and not isinstance(event, TrialFinished)

    def _pruned(self, doc: Dict[str, Any]) -> None:
        doc["result"] = self._pruning.pruned_result(doc)  # the result first: an algorithm
        doc["state"] = base.JOB_STATE_DONE  # reading on another thread sees DONE with it
        self._done(doc)

    def _finished_with_result(self, doc: Dict[str, Any], event: TrialFinished) -> None:
        result = dict(event.result)
        for name, value in (result.pop("attachments", None) or {}).items():
            self._trials.trial_attachments(doc)[name] = value
        doc["result"] = result  # before the state (see _pruned)
        doc["state"] = base.JOB_STATE_DONE
        self._done(doc)

    def _done(self, doc: Dict[str, Any]) -> None:
        """A done trial reaches the algorithm (and the best loss, when it has one)."""
        self._finished.append(doc)
        self._grow_front(doc)
        loss = doc["result"].get("loss")
        if doc["result"].get("status") == base.STATUS_OK and (
                self._progress.best_loss is None or loss < self._progress.best_loss):
            self._progress.best_loss = loss

    def _grow_front(self, doc: Dict[str, Any]) -> None:
        """The Pareto front with ``doc`` in it, for the bar (the front of the old front and
        one more trial is the new front); only where the search has several losses or
        constraints."""
        if self.objectives is None or self.objectives.plain:
            return
        self._front, _ = pareto_front(self._front + [doc], self.objectives)
        self._progress.front = len(self._front)

    def _failed(self, doc: Dict[str, Any], event: TrialFailed) -> None:
        doc["result"] = {"status": base.STATUS_FAIL, "error": event.message}
        doc["state"] = base.JOB_STATE_ERROR
        doc["misc"]["error"] = (event.error_type, event.message)
        # the first failure is a warning, the others are logged at INFO: the search's end
        # says how many failed (progress.py), so a thousand failures are not a thousand lines
        level = logging.INFO if self._warned_failure else logging.WARNING
        self._warned_failure = True
        logger.log(level, "trial %s failed (%s): %s: %s", doc["tid"], event.kind.value,
                   short_type(event.error_type), event.message)


def ranks_losses(algo: Any) -> bool:
    """Whether ``algo`` (or the function a ``functools.partial`` wraps) ranks several losses
    and constraints (its ``several_losses`` attribute: hyperspark.tpe's and auto's)."""
    while hasattr(algo, "func"):
        algo = algo.func
    return bool(getattr(algo, "several_losses", False))
