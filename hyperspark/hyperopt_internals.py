"""Every use hyperspark makes of ``hyperopt.base.Trials``' private attributes, in one place.

hyperopt has no public API to run its algorithms from an event loop, so hyperspark relies on
these facts about ``Trials`` (hyperopt 0.2.7 to 0.3.0). ``tests/test_hyperopt_internals.py``
pins each one against the installed hyperopt, so an upgrade that breaks one fails there first:

1. ``_dynamic_trials`` is the list of every trial document, in every state, in insertion
   order. ``insert_trial_docs`` appends the stored copy of each document to it. Documents
   changed in place there are what ``trials.trials`` shows after ``refresh()``.
2. ``_ids`` is the set of every tid handed out so far. ``new_trial_ids(n)`` returns the ``n``
   tids from ``len(_ids)`` on and adds them, and ``refresh()`` adds the tids of listed
   documents.
3. ``_trials`` is the list that ``trials.trials`` returns. ``refresh()`` rebuilds it from
   ``_dynamic_trials``, keeping the NEW, RUNNING and DONE states.
4. ``_exp_key`` is the experiment key that documents carry (None for plain ``Trials``).
5. ``attachments`` is a dict; ``trial_attachments(doc)`` is a view on it for one trial.
6. ``Trials`` reads its valid documents from ``_trials`` (``trials``, ``len``, iteration,
   ``results``, ``losses()``...), and ``__init__(refresh=False)`` does not set it: a subclass
   can compute it lazily.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Set

from hyperopt import base


def all_docs(trials: base.Trials) -> List[Dict[str, Any]]:
    """Every trial document of ``trials``, in every state (the live list: change it only here
    or through the documents themselves)."""
    return trials._dynamic_trials


def add_docs(trials: base.Trials, docs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Insert ``docs``; returns the stored copies (hyperopt may convert what it stores)."""
    trials.insert_trial_docs(docs)
    return trials._dynamic_trials[len(trials._dynamic_trials) - len(docs):]


def remove_docs(trials: base.Trials, unwanted: Callable[[Dict[str, Any]], bool]) -> None:
    """Remove the documents for which ``unwanted(doc)`` is true."""
    trials._dynamic_trials[:] = [doc for doc in trials._dynamic_trials if not unwanted(doc)]


def handed_out_ids(trials: base.Trials) -> Set[int]:
    """The set of tids handed out so far (withdrawn ones included): the live set."""
    return trials._ids


def release_ids(trials: base.Trials, tids: List[int]) -> None:
    """Hand back tids that ``new_trial_ids`` gave out but no document uses (an algorithm
    returned fewer documents than it was given ids), so the next ones follow on."""
    trials._ids.difference_update(tids)


def reserve_ids(trials: base.Trials, below: int) -> None:
    """Mark tids ``0 .. below - 1`` as handed out, so new ones start at ``below``."""
    trials._ids.update(range(below))


def finished_view(docs: List[Dict[str, Any]], like: base.Trials) -> base.Trials:
    """A ``Trials`` that shows exactly ``docs`` (finished trials), for an algorithm or an
    ``early_stop_fn`` to read. Built in O(1): it shares ``like``'s set of handed-out tids
    instead of building one from ``docs`` (which made every suggestion O(trials so far))."""
    view = base.Trials(exp_key=like._exp_key, refresh=False)
    view._dynamic_trials = docs
    view._trials = docs
    view._ids = like._ids
    return view


class _AlgorithmView(base.Trials):
    """A ``Trials`` that shows an algorithm what hyperopt's own ``fmin`` shows it: every
    document in a valid state (new, running, done), in insertion order (which is tid order),
    as of when the view was made. Made in O(1) on the loop's thread; the documents are listed
    and shallow-copied only when the algorithm first reads them, on its own thread, so the
    loop may go on changing the originals. ``all_docs(view)`` is the live list, for an
    algorithm that follows it incrementally (``hyperspark.tpe``)."""

    def __init__(self, like: base.Trials, docs: Any = None) -> None:
        self._snapshot: Any = None
        super().__init__(exp_key=like._exp_key, refresh=False)
        self._dynamic_trials = like._dynamic_trials if docs is None else docs
        self._ids = like._ids
        self.attachments = like.attachments
        self._count = len(self._dynamic_trials)
        self._snapshot = None

    @property  # type: ignore[override]
    def _trials(self) -> List[Dict[str, Any]]:
        if self._snapshot is None:
            docs = self._dynamic_trials[:self._count]
            self._snapshot = [dict(doc) for doc in docs if doc["state"] in base.JOB_VALID_STATES
                              and (self._exp_key is None or doc["exp_key"] == self._exp_key)]
        return self._snapshot

    @_trials.setter
    def _trials(self, value: List[Dict[str, Any]]) -> None:
        self._snapshot = value


def algorithm_view(trials: base.Trials) -> base.Trials:
    """What an algorithm is shown at a suggestion: finished and running trials, as hyperopt's
    loop shows them (see ``_AlgorithmView``)."""
    return _AlgorithmView(trials)


def fixed_view(trials: base.Trials, docs: List[Dict[str, Any]]) -> base.Trials:
    """Like ``algorithm_view``, over ``docs`` (a list the caller keeps, in tid order) instead
    of the trials' own: the reproducible mode shows some running trials as running."""
    return _AlgorithmView(trials, docs)


def attachments(trials: base.Trials) -> Dict[str, Any]:
    """Every attachment of every trial: the live dict."""
    return trials.attachments
