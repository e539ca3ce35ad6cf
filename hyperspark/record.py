"""What hyperspark knows about one trial, in one typed record, and the one classification of it.

hyperopt stores a trial as a document (a dict); hyperspark keeps its own facts about the trial
in ``doc["misc"]["hyperspark"]``. This module is the only one that reads or writes that dict:
everything else reads a ``TrialRecord`` (``TrialRecord.from_doc(doc)``) and writes through the
small functions at the end of this module, on the loop's thread.

Every report of a search (the progress bar, the summary line, ``to_pandas()``, MLflow, the
counts, checkpoints, the bench, the search page) classifies a trial with ``TrialStatus``:

>>> from hyperopt import base
>>> doc = {"tid": 0, "state": base.JOB_STATE_DONE, "result": {"status": "fail"},
...        "misc": {"vals": {}}}
>>> TrialRecord.from_doc(doc).status
<TrialStatus.FAILED: 'failed'>
>>> TrialStatus.FAILED.counted_as
'failed'
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any, Dict, List, Optional, Tuple

from hyperopt import base

_KEY = "hyperspark"


class TrialStatus(str, enum.Enum):
    """Where a trial stands, or how it ended. The value is what ``to_pandas()``, MLflow's
    ``hyperspark_status`` tag and the search page show."""

    NEW = "new"
    """Queued: suggested (or inserted) but not started."""
    RUNNING = "running"
    """Started: waiting for a worker, or its objective runs."""
    OK = "ok"
    """The objective returned a result with status ``ok``."""
    PRUNED = "pruned"
    """The pruner stopped it; done, with its last reported loss."""
    FAILED = "failed"
    """The objective returned a result with status ``fail``."""
    ERROR = "error"
    """The objective raised, returned something hyperopt cannot record, could not be loaded,
    or every allowed attempt was lost to the infrastructure."""
    TIMED_OUT = "timed_out"
    """Cancelled because its objective ran past ``trial_timeout``."""
    CANCELLED = "cancelled"
    """Cancelled for another reason: the search's timeout, a stop rule, Ctrl-C."""

    @property
    def finished(self) -> bool:
        return self not in (TrialStatus.NEW, TrialStatus.RUNNING)

    @property
    def counted_as(self) -> Optional[str]:
        """The count a finished trial adds to in the bar, the summary and MLflow's
        ``*_trials_count`` metrics: ``succeeded``, ``pruned``, ``failed`` (FAILED and ERROR)
        or ``cancelled`` (CANCELLED and TIMED_OUT); None while it is not finished."""
        return _COUNTED_AS.get(self)


_COUNTED_AS = {TrialStatus.OK: "succeeded", TrialStatus.PRUNED: "pruned",
               TrialStatus.FAILED: "failed", TrialStatus.ERROR: "failed",
               TrialStatus.TIMED_OUT: "cancelled", TrialStatus.CANCELLED: "cancelled"}
COUNTS = ("succeeded", "pruned", "failed", "cancelled")
"""The four counts every report of a search shows, in that order."""


def classify(doc: Dict[str, Any]) -> TrialStatus:
    """The status of a trial document (hyperopt's state and result, and hyperspark's record)."""
    state = doc["state"]
    if state == base.JOB_STATE_NEW:
        return TrialStatus.NEW
    if state == base.JOB_STATE_RUNNING:
        return TrialStatus.RUNNING
    if state == base.JOB_STATE_DONE:
        result = doc.get("result") or {}
        if result.get("pruned"):
            return TrialStatus.PRUNED
        return TrialStatus.OK if result.get("status") == base.STATUS_OK else TrialStatus.FAILED
    if state == base.JOB_STATE_CANCEL:
        timed_out = doc["misc"].get(_KEY, {}).get("timed_out")
        return TrialStatus.TIMED_OUT if timed_out else TrialStatus.CANCELLED
    return TrialStatus.ERROR


ReportRow = Tuple[int, float, float, Dict[str, float]]
"""One stored ``hyperspark.report()``: step, loss, time (epoch seconds), other metrics."""


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial as hyperspark's readers see it: read it with ``TrialRecord.from_doc(doc)``.

    Times are epoch seconds (None when it did not happen): ``queued`` when the algorithm's
    point entered the loop's queue (this search's suggestions), ``booked`` when the loop handed
    the trial to its backend, ``start`` / ``end`` when its (last) attempt's objective ran,
    ``recorded`` when the loop recorded its end. ``waited`` is the time it spent waiting for a
    worker (summed over attempts).

    >>> record = TrialRecord(tid=3, status=TrialStatus.OK, loss=0.25, start=10.0, end=12.5)
    >>> record.duration
    2.5
    """

    tid: int
    status: TrialStatus
    loss: Optional[float] = None
    vals: Dict[str, List[Any]] = dataclasses.field(default_factory=dict)
    """hyperopt's ``misc["vals"]``: each label's value (a one-item list) when it is active."""
    attempts: int = 0
    waited: float = 0.0
    queued: Optional[float] = None
    booked: Optional[float] = None
    start: Optional[float] = None
    end: Optional[float] = None
    recorded: Optional[float] = None
    error: Optional[str] = None
    """Why it has no result: the failure's message, or ``cancelled: <reason>``."""
    error_type: Optional[str] = None
    failure_kind: Optional[str] = None
    """An ``outcome.FailureKind`` value for ERROR trials."""
    traceback: str = ""
    cancel_reason: Optional[str] = None
    reports: Tuple[ReportRow, ...] = ()
    pruned_at: Optional[int] = None
    """The step at whose report the pruner decided (None when it never did)."""
    resumed: bool = False
    """Run again after a resume (it was running when the previous driver stopped)."""
    continued: bool = False
    """Read back from an earlier search's MLflow run (``SparkTrials.from_mlflow``): it ran
    there, not in this search."""
    suggested_by: Optional[str] = None
    """The algorithm that made its point, where the algorithm says (``hyperspark.auto``:
    ``gp`` or ``tpe``)."""
    losses: Dict[str, float] = dataclasses.field(default_factory=dict)
    """Its result's ``"losses"`` (a search of several losses), in their order; else empty."""
    constraints: Dict[str, float] = dataclasses.field(default_factory=dict)
    """Its result's ``"constraints"`` (feasible when every value is at most 0); else empty."""
    size: Optional[Dict[str, Any]] = None
    """What it held, when trials are sized by their parameters: ``{"tasks", "cpus",
    "gpus"}`` (CPUs and GPUs per task); None for one fixed size."""

    @property
    def duration(self) -> Optional[float]:
        """Seconds its objective ran (its last attempt), or None."""
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    @property
    def pruned(self) -> bool:
        return self.status is TrialStatus.PRUNED

    @classmethod
    def from_doc(cls, doc: Dict[str, Any]) -> "TrialRecord":
        """The record of a hyperopt trial document (any state, with or without hyperspark's
        facts in it)."""
        info = doc["misc"].get(_KEY, {})
        result = doc.get("result") or {}
        status = classify(doc)
        loss = result.get("loss") if result.get("status") == base.STATUS_OK else None
        error = result.get("error") if status in (
            TrialStatus.FAILED, TrialStatus.ERROR, TrialStatus.TIMED_OUT,
            TrialStatus.CANCELLED) or (status is TrialStatus.PRUNED and loss is None) else None
        if status is TrialStatus.FAILED and error is None:
            error = "the objective returned status 'fail'"
        misc_error = doc["misc"].get("error")
        return cls(
            tid=doc["tid"], status=status, loss=loss, vals=doc["misc"].get("vals", {}),
            attempts=info.get("attempts", 0), waited=info.get("waited", 0.0),
            queued=info.get("queued"), booked=info.get("booked"), start=info.get("start"),
            end=info.get("end"),
            recorded=info.get("recorded"), error=error,
            error_type=misc_error[0] if misc_error else None,
            failure_kind=info.get("error_kind"), traceback=info.get("traceback", ""),
            cancel_reason=info.get("cancel_reason"),
            reports=tuple(tuple(row) for row in info.get("reports", ())),  # type: ignore
            pruned_at=info.get("pruned_at", result.get("step") if result.get("pruned")
                               else None),
            resumed=bool(info.get("resumed")), continued=bool(info.get("continued")),
            suggested_by=info.get("suggested_by"),
            losses=dict(result.get("losses") or {}) if loss is not None else {},
            constraints=dict(result.get("constraints") or {}) if loss is not None else {},
            size=info.get("size"))

    def into(self, doc: Dict[str, Any]) -> None:
        """Write hyperspark's facts of this record into ``doc["misc"]`` (hyperopt's state and
        result are the loop's to write)."""
        info: Dict[str, Any] = {"attempts": self.attempts, "waited": self.waited}
        optional = {"queued": self.queued, "booked": self.booked, "start": self.start,
                    "end": self.end,
                    "recorded": self.recorded, "error_kind": self.failure_kind,
                    "cancel_reason": self.cancel_reason, "pruned_at": self.pruned_at}
        info.update({key: value for key, value in optional.items() if value is not None})
        if self.traceback:
            info["traceback"] = self.traceback
        if self.reports:
            info["reports"] = [list(row) for row in self.reports]
        if self.status is TrialStatus.TIMED_OUT:
            info["timed_out"] = True
        if self.resumed:
            info["resumed"] = True
        if self.continued:
            info["continued"] = True
        if self.suggested_by:
            info["suggested_by"] = self.suggested_by
        if self.size:
            info["size"] = dict(self.size)
        doc["misc"][_KEY] = info


# ------------------------------------------------------------------- writers (the loop thread)
def _info(doc: Dict[str, Any]) -> Dict[str, Any]:
    return doc["misc"].setdefault(_KEY, {})


def note_queued(doc: Dict[str, Any], at: float) -> None:
    """The algorithm's point entered the loop's queue at ``at``: with trials sized by their
    parameters, it may wait there until it fits."""
    _info(doc)["queued"] = at


def note_booked(doc: Dict[str, Any], at: float) -> None:
    """The loop handed the trial to its backend at ``at``."""
    _info(doc)["booked"] = at


def note_size(doc: Dict[str, Any], size: Dict[str, Any]) -> None:
    """Trial ``doc`` holds ``size`` (tasks, CPUs and GPUs per task): decided from its
    parameters just before it starts."""
    _info(doc)["size"] = dict(size)


def add_waited(doc: Dict[str, Any], seconds: float) -> None:
    """The trial waited ``seconds`` more for a worker before an attempt ran."""
    info = _info(doc)
    info["waited"] = info.get("waited", 0.0) + seconds


def note_end(doc: Dict[str, Any], *, attempts: int, recorded: float,
             start: Optional[float] = None, end: Optional[float] = None,
             failure_kind: Optional[str] = None, traceback: Optional[str] = None,
             cancel_reason: Optional[str] = None, timed_out: bool = False) -> None:
    """What the loop learnt when the trial ended."""
    info = _info(doc)
    info.update(attempts=attempts, recorded=recorded, start=start, end=end)
    if failure_kind is not None:
        info.update(error_kind=failure_kind, traceback=traceback or "")
    if cancel_reason is not None:
        info["cancel_reason"] = cancel_reason
    if timed_out:
        info["timed_out"] = True


def append_report(doc: Dict[str, Any], row: ReportRow) -> None:
    """Store one ``hyperspark.report()`` of the trial (appended in place: O(1))."""
    _info(doc).setdefault("reports", []).append(list(row))


def clear_reports(doc: Dict[str, Any]) -> None:
    """A retried attempt starts its reports over."""
    _info(doc).pop("reports", None)


def note_pruned_at(doc: Dict[str, Any], step: int) -> None:
    _info(doc)["pruned_at"] = step


def stored_reports(doc: Dict[str, Any]) -> List[ReportRow]:
    """The trial's reports as stored (the live list; read it, do not change it)."""
    return doc["misc"].get(_KEY, {}).get("reports", [])


def reset_for_rerun(doc: Dict[str, Any]) -> None:
    """Forget what an interrupted run of the trial left; mark it run again after a resume
    (its point, and which algorithm made it, stay)."""
    suggested_by = doc["misc"].get(_KEY, {}).get("suggested_by")
    doc["misc"][_KEY] = {"resumed": True, **({"suggested_by": suggested_by}
                                             if suggested_by else {})}


def suggested_by(doc: Dict[str, Any]) -> Optional[str]:
    """The algorithm that made the trial's point, when it said (``note_suggested_by``)."""
    return doc["misc"].get(_KEY, {}).get("suggested_by")


def note_suggested_by(doc: Dict[str, Any], algorithm: str) -> None:
    """The algorithm that made a new trial's point (written into its document by the
    algorithm, before the trial is inserted)."""
    doc["misc"].setdefault(_KEY, {})["suggested_by"] = algorithm


def is_continued(doc: Dict[str, Any]) -> bool:
    """True for a trial read back from an earlier search's MLflow run (``from_mlflow``)."""
    return bool(doc["misc"].get(_KEY, {}).get("continued"))


# ------------------------------------------------------------------- the point (hyperopt's part)
def point(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The trial's point as hyperopt stores it: ``{label: value}`` of its active labels."""
    return {label: value[0] for label, value in doc["misc"]["vals"].items() if value}


def point_misc(tid: int, vals: Dict[str, List[Any]]) -> Dict[str, Any]:
    """The ``misc`` of a trial made outside an algorithm (``vals``: label -> [] or [value]),
    as hyperopt's own ``fmin`` makes it."""
    return {"tid": tid, "cmd": ("domain_attachment", "FMinIter_Domain"), "workdir": None,
            "idxs": {label: [tid] if value else [] for label, value in vals.items()},
            "vals": vals}


def add_inactive_labels(doc: Dict[str, Any], labels: List[str]) -> None:
    """Give the trial an inactive entry for each of ``labels`` it lacks (a label added to the
    space since it ran): hyperopt's algorithms expect every label in every trial's misc."""
    misc = doc["misc"]
    for label in labels:
        if label not in misc["vals"]:
            misc["vals"][label] = []
            misc["idxs"][label] = []


def note_error(doc: Dict[str, Any], error_type: str, message: str) -> None:
    """hyperopt's own record of a failed trial's error."""
    doc["misc"]["error"] = (error_type, message)


def is_cancel_for(doc: Dict[str, Any], reason: str) -> bool:
    """True when the trial was cancelled, and for ``reason``."""
    return (doc["state"] == base.JOB_STATE_CANCEL
            and doc["misc"].get(_KEY, {}).get("cancel_reason") == reason)
