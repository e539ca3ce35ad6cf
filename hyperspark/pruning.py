"""The loop's record of intermediate reports and pruning decisions, for one search.

Reports are kept in each trial's record (``record.append_report``: ``[step, loss, time,
metrics]`` rows), so checkpoints carry them; the decision is the trial's result
(``"pruned": True``). A resumed search rebuilds the pruner's view by replaying the reports of
the trials the checkpoint kept. Only the event loop's thread uses this class.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Set

from hyperopt import base

from hyperspark import record
from hyperspark.pruners import History
from hyperspark.reporting import Report

logger = logging.getLogger("hyperspark")


class PruningBook:
    """Stores reports, asks the pruner (if any) about each one, and remembers its decisions."""

    def __init__(self, pruner: Any, docs: List[Dict[str, Any]]) -> None:
        self.pruner = pruner
        self.history = History()
        self._decided: Set[int] = set()
        kept = [(report, doc["tid"]) for doc in docs if doc["state"] != base.JOB_STATE_NEW
                for report in stored_reports(doc)]
        for report, tid in sorted(kept, key=lambda pair: pair[0].time):
            self.history.add(tid, report)
            if pruner is not None:
                self._ask(tid)  # rebuilds the pruner's own state; old decisions stand as they are
        self._decided.update(doc["tid"] for doc in docs if doc["result"].get("pruned"))

    def add(self, doc: Dict[str, Any], report: Report) -> bool:
        """Record ``report`` of the trial ``doc``; True when the pruner decides to stop it now
        (once per trial)."""
        tid = doc["tid"]
        record.append_report(doc, (report.step, report.loss, report.time,
                                   dict(report.metrics)))
        self.history.add(tid, report)
        if self.pruner is None or tid in self._decided:
            return False
        if self._ask(tid):
            self._decided.add(tid)
            record.note_pruned_at(doc, report.step)
            return True
        return False

    def _ask(self, tid: int) -> bool:
        try:
            return bool(self.pruner.should_prune(tid, self.history))
        except Exception:  # a broken pruner never stops the search, nor prunes anything
            logger.warning("pruner %r failed on a report of trial %s; the trial goes on",
                           self.pruner, tid, exc_info=True)
            return False

    def forget(self, doc: Dict[str, Any]) -> None:
        """The trial runs again from the start (a retried attempt): its reports so far go."""
        self.history.forget(doc["tid"])
        record.clear_reports(doc)

    def decided(self, tid: int) -> bool:
        return tid in self._decided

    def pruned_result(self, doc: Dict[str, Any]) -> Dict[str, Any]:
        """The result of a pruned trial: its last reported loss, so the algorithm learns from
        it (status ``fail`` when there is none, or it is not finite)."""
        last = self.last_report(doc)
        if last is None:
            return {"status": base.STATUS_FAIL, "pruned": True,
                    "error": "pruned before its first report"}
        if not math.isfinite(last.loss):
            return {"status": base.STATUS_FAIL, "pruned": True, "step": last.step,
                    "error": f"pruned with a loss of {last.loss}"}
        return {"status": base.STATUS_OK, "loss": last.loss, "pruned": True, "step": last.step}

    def last_report(self, doc: Dict[str, Any]) -> Optional[Report]:
        reports = self.history.reports(doc["tid"])
        return reports[-1] if reports else None


def stored_reports(doc: Dict[str, Any]) -> List[Report]:
    """The reports kept in a trial's document."""
    rows = record.stored_reports(doc)
    return [Report(step, loss, metrics, at) for step, loss, at, metrics in rows]
