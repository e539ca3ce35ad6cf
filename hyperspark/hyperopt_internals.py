"""Every use hyperspark makes of ``hyperopt.base.Trials``' private attributes, in one place.

hyperopt has no public API to run its algorithms from an event loop, so hyperspark relies on
these facts about ``Trials`` (hyperopt 0.2.7 to 0.3.0). ``tests/test_hyperopt_internals.py``
pins each one against the installed hyperopt, so an upgrade that breaks one fails there first:

1. ``_dynamic_trials`` is the list of every trial document, in every state, in insertion
   order. ``insert_trial_docs`` appends the stored copy of each document to it. Documents
   changed in place there are what ``trials.trials`` shows after ``refresh()``.
2. ``_ids`` is the set of every tid handed out so far. ``new_trial_ids(n)`` returns ``n`` tids
   not in it and adds them, and ``refresh()`` adds the tids of listed documents.
3. ``_trials`` is the list that ``trials.trials`` returns. ``refresh()`` rebuilds it from
   ``_dynamic_trials``, keeping the NEW, RUNNING and DONE states.
4. ``_exp_key`` is the experiment key that documents carry (None for plain ``Trials``).
5. ``attachments`` is a dict; ``trial_attachments(doc)`` is a view on it for one trial.
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


def attachments(trials: base.Trials) -> Dict[str, Any]:
    """Every attachment of every trial: the live dict."""
    return trials.attachments
