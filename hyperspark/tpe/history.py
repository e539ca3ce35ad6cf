"""What TPE knows of a search: finished observations as arrays, updated by tid, and the points
still pending (running, or queued to run).

``History.update(docs)`` follows hyperopt's list of trial documents without re-reading it: it
looks at the documents appended since the last call and at the ones that were still open then,
so a suggestion costs O(new + open) here, whatever the number of trials so far. If the list
was rebuilt (``delete_all``, trials withdrawn), it starts over.

Documents are read from another thread than the one that writes them (hyperspark's loop):
the loop writes a trial's result before its state, so a document seen ``DONE`` has its result.
"""
from __future__ import annotations

import math
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from hyperopt import base
from hyperopt.base import miscs_update_idxs_vals

from hyperspark.objectives import Objectives
from hyperspark.space.reader import Space

_OPEN = (base.JOB_STATE_NEW, base.JOB_STATE_RUNNING)


class History:
    """Observations of one search over ``space``: ``values`` (n x labels, model coordinates,
    NaN where inactive), ``losses`` (n; +inf for a trial that returned status ``fail``), in
    the order they finished; ``pending`` holds the open trials' points."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.labels = list(space.params)
        self._column = {label: i for i, label in enumerate(self.labels)}
        self._docs: Optional[List[Dict[str, Any]]] = None
        self._reset()

    def _reset(self) -> None:
        self._cursor = 0
        self._last_tid: Any = None
        self._open: Dict[Any, Dict[str, Any]] = {}
        self._pending_rows: Dict[Any, np.ndarray] = {}
        self._values = np.empty((64, len(self.labels)))
        self._losses = np.empty(64)
        self.count = 0
        self.finished_ok = 0
        self.objectives: Optional[Objectives] = None
        """The names of the search's losses and constraints, from its first result."""
        self._vectors: Optional[np.ndarray] = None  # n x losses, when several or constrained
        self._violations: Optional[np.ndarray] = None

    # ---------------------------------------------------------------- reading documents
    def update(self, docs: List[Dict[str, Any]]) -> None:
        """Catch up with ``docs`` (hyperopt's list of every trial document, in order)."""
        if docs is not self._docs or len(docs) < self._cursor or (
                self._cursor and docs[self._cursor - 1]["tid"] != self._last_tid):
            self._docs = docs
            self._reset()
        for tid, doc in list(self._open.items()):
            if doc["state"] not in _OPEN:
                del self._open[tid]
                self._pending_rows.pop(tid, None)
                self._add(doc)
        end = len(docs)
        for doc in docs[self._cursor:end]:
            if doc["state"] in _OPEN:
                self._open[doc["tid"]] = doc
                self._pending_rows[doc["tid"]] = self.row(doc["misc"].get("vals", {}))
            else:
                self._add(doc)
        if end:
            self._cursor, self._last_tid = end, docs[end - 1]["tid"]

    def _add(self, doc: Dict[str, Any]) -> None:
        if doc["state"] != base.JOB_STATE_DONE:
            return  # raised or cancelled: no evidence about its point (hyperopt skips them)
        result = doc.get("result") or {}
        ok = result.get("status") == base.STATUS_OK
        if ok:
            loss = float(result.get("loss", math.inf))
            self.finished_ok += 1
        else:
            loss = math.inf  # returned status 'fail': a bad region, as hyperopt counts it
        if not math.isfinite(loss):
            loss = math.inf
        if self.count == len(self._losses):
            self._values = np.concatenate([self._values, np.empty_like(self._values)])
            self._losses = np.concatenate([self._losses, np.empty_like(self._losses)])
            if self._vectors is not None:
                self._vectors = np.vstack([self._vectors, np.full_like(self._vectors, np.inf)])
                self._violations = np.concatenate([self._violations,
                                                   np.full_like(self._violations, np.inf)])
        self._values[self.count] = self._complete(self.row(doc["misc"].get("vals", {})),
                                                  doc["tid"])
        self._losses[self.count] = loss
        self._note_objectives(result if ok and "loss" in result else None)
        self.count += 1

    def _note_objectives(self, result: Optional[Dict[str, Any]]) -> None:
        """The losses and violation of the row being added, where the search has several
        losses or constraints (names from its first result; a result named otherwise, or none,
        counts as the worst)."""
        if result is not None and self.objectives is None:
            self.objectives = Objectives.of(result)
            if not self.objectives.plain:
                size = len(self._losses)
                self._vectors = np.full((size, max(1, len(self.objectives.losses))), np.inf)
                self._violations = np.full(size, np.inf)
        if self._vectors is None or result is None or self.objectives is None:
            return
        if self.objectives.mismatch(result) is None:
            vector = self.objectives.loss_vector(result)
            if all(math.isfinite(v) for v in vector):
                self._vectors[self.count] = vector
                self._violations[self.count] = self.objectives.violation(result)

    def _complete(self, row: np.ndarray, tid: int) -> np.ndarray:
        """Fill the labels a finished trial lacks although their group is active for it: a
        label added to the space after the trial ran (a search continued from MLflow). The
        value is drawn from the label's prior, seeded by the tid, so the trial still informs
        the model of the labels it has, and the same history gives the same model."""
        if not np.isnan(row).any():
            return row
        choices: Dict[str, int] = {}
        for group in self.space.groups:
            if not group.active(choices):
                continue
            for param in group.params:
                column = self._column[param.label]
                if math.isnan(row[column]):
                    row[column] = param.sample_prior(np.random.default_rng([tid, column]), 1)[0]
                if param.categorical:
                    choices[param.label] = int(row[column])
        return row

    def row(self, vals: Dict[str, List[Any]]) -> np.ndarray:
        """A point as a row of model coordinates (NaN for inactive labels)."""
        row = np.full(len(self.labels), np.nan)
        for label, value in vals.items():
            column = self._column.get(label)
            if column is not None and len(value):
                row[column] = self.space.params[label].to_model(value[0])
        return row

    # ---------------------------------------------------------------- what the model reads
    @property
    def values(self) -> np.ndarray:
        return self._values[:self.count]

    @property
    def losses(self) -> np.ndarray:
        return self._losses[:self.count]

    @property
    def vectors(self) -> Optional[np.ndarray]:
        """Each observation's losses (n x losses; +inf rows for failed or misnamed ones) where
        the search has several losses or constraints; None otherwise."""
        return None if self._vectors is None else self._vectors[:self.count]

    @property
    def violations(self) -> Optional[np.ndarray]:
        """Each observation's total constraint violation (0: feasible), beside ``vectors``."""
        return None if self._violations is None else self._violations[:self.count]

    @property
    def finished(self) -> int:
        """Trials done with a result (ok or fail)."""
        return self.count

    def pending(self) -> np.ndarray:
        """The open trials' points (running, or queued), as rows."""
        if not self._pending_rows:
            return np.empty((0, len(self.labels)))
        return np.vstack(list(self._pending_rows.values()))


def trial_docs(new_id: int, row: np.ndarray, history: History, domain: Any,
               trials: Any) -> List[Any]:
    """The new trial document of a suggested row (model coordinates, NaN where inactive), as
    hyperopt's algorithms make them: hyperspark.tpe's and hyperspark.gp's."""
    idxs: Dict[str, List[int]] = {}
    vals: Dict[str, List[Any]] = {}
    for label in domain.params:
        column = history.labels.index(label)
        t = row[column]
        active = not math.isnan(t)
        idxs[label] = [new_id] if active else []
        vals[label] = [history.space.params[label].to_value(t)] if active else []
    misc = {"tid": new_id, "cmd": domain.cmd, "workdir": domain.workdir}
    miscs_update_idxs_vals([misc], idxs, vals)
    return trials.new_trial_docs([new_id], [None], [domain.new_result()], [misc])


class PerSearch:
    """What an algorithm keeps between the suggestions of one search, made by ``factory``
    from the search's ``Domain`` at its first suggestion, and dropped with the domain.

    >>> from hyperopt import Domain, hp
    >>> states = PerSearch(lambda domain: {"made for": domain})
    >>> domain = Domain(lambda p: 0.0, hp.uniform("x", 0, 1))
    >>> states.get(domain) is states.get(domain)
    True
    """

    def __init__(self, factory: Callable[[Any], Any]) -> None:
        self._factory = factory
        self._states: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, domain: Any) -> Any:
        with self._lock:
            if domain not in self._states:
                self._states[domain] = self._factory(domain)
            return self._states[domain]
