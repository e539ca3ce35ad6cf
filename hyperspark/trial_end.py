"""How the loop writes a trial's end into its document and counts it: done (with a result, or
pruned), failed, or cancelled. Called on the loop's thread only."""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List

from hyperopt import base
from hyperopt.utils import coarse_utcnow

from hyperspark.backends.base import TrialFailed, TrialFinished
from hyperspark.outcome import FailureKind
from hyperspark.pruning import PruningBook
from hyperspark.search import Progress

logger = logging.getLogger("hyperspark")


class TrialEnds:
    """Records trial ends into the documents, ``progress`` and ``finished`` (the done trials
    the algorithm and the stop rules see)."""

    def __init__(self, trials: base.Trials, progress: Progress, finished: List[Dict[str, Any]],
                 pruning: PruningBook) -> None:
        self._trials, self._progress = trials, progress
        self._finished, self._pruning = finished, pruning

    def record(self, doc: Dict[str, Any], event: Any, cancel_reason: str) -> None:
        """Write ``event`` (TrialFinished, TrialFailed or TrialCancelled) into ``doc``."""
        doc["refresh_time"] = coarse_utcnow()
        info = doc["misc"].setdefault("hyperspark", {})
        info["attempts"] = event.attempts
        info["recorded"] = time.time()  # with "booked", start and end: where a trial's time went
        if self._is_pruned(event):
            self._pruned(doc, event)
        elif isinstance(event, TrialFinished):
            self._finished_with_result(doc, event)
        elif isinstance(event, TrialFailed):
            self._failed(doc, event)
        else:
            self._cancelled(doc, event.reason or cancel_reason)

    def _is_pruned(self, event: Any) -> bool:
        """A trial ends pruned when its objective raised TrialPruned, or when the pruner decided
        and it did not return a result of its own first."""
        if isinstance(event, TrialFailed) and event.kind is FailureKind.PRUNED:
            return True
        return self._pruning.decided(event.tid) and not isinstance(event, TrialFinished)

    def _pruned(self, doc: Dict[str, Any], event: Any) -> None:
        doc["state"] = base.JOB_STATE_DONE
        doc["result"] = self._pruning.pruned_result(doc)
        doc["misc"]["hyperspark"].update(start=getattr(event, "start", None),
                                         end=getattr(event, "end", None))
        self._progress.pruned += 1
        self._done(doc)

    def _finished_with_result(self, doc: Dict[str, Any], event: TrialFinished) -> None:
        result = dict(event.result)
        for name, value in (result.pop("attachments", None) or {}).items():
            self._trials.trial_attachments(doc)[name] = value
        doc["state"] = base.JOB_STATE_DONE
        doc["result"] = result
        doc["misc"]["hyperspark"].update(start=event.start, end=event.end)
        if result.get("status") == base.STATUS_OK:
            self._progress.succeeded += 1
        else:
            self._progress.failed += 1
        self._done(doc)

    def _done(self, doc: Dict[str, Any]) -> None:
        """A done trial reaches the algorithm (and the best loss, when it has one)."""
        self._finished.append(doc)
        loss = doc["result"].get("loss")
        if doc["result"].get("status") == base.STATUS_OK and (
                self._progress.best_loss is None or loss < self._progress.best_loss):
            self._progress.best_loss = loss

    def _failed(self, doc: Dict[str, Any], event: TrialFailed) -> None:
        doc["state"] = base.JOB_STATE_ERROR
        doc["result"] = {"status": base.STATUS_FAIL, "error": event.message}
        doc["misc"]["error"] = (event.error_type, event.message)
        doc["misc"]["hyperspark"].update(start=event.start, end=event.end,
                                         error_kind=event.kind.value,
                                         traceback=event.traceback)
        self._progress.failed += 1
        logger.warning("trial %s failed (%s): %s: %s", doc["tid"], event.kind.value,
                       event.error_type, event.message)

    def _cancelled(self, doc: Dict[str, Any], reason: str) -> None:
        doc["state"] = base.JOB_STATE_CANCEL
        doc["result"] = {"status": base.STATUS_FAIL, "error": f"cancelled: {reason}"}
        doc["misc"]["hyperspark"]["cancel_reason"] = reason
        self._progress.cancelled += 1
