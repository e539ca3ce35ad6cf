"""Reproducible parallel searches: the same seed gives the same trials, whatever the timing.

In a parallel search, suggestion k usually depends on which trials happened to finish before
it was made, and that depends on timing. ``FixedLag`` removes the timing: suggestion k is
made

- from a seed derived from the search's seed and k alone,
- from the results of trials ``0 .. k - L - 1`` (the loop waits for them before asking),
- and with trials ``k - L .. k - 1`` shown as running, whether or not they have finished,

so it is a function of the search's seed, k and the results of earlier trials only. With an
objective that is itself deterministic, tid -> parameters -> loss is the same on every run,
on every backend, whatever the durations, the order of completion or the number of
executors, and across a resume (the seed and L are stored in the checkpoint).

The lag L is a setting of the search (default: twice ``parallelism``), not of the cluster:
keep ``parallelism`` (or ``lag``), the seed, the space and the algorithm equal to get the same
search. A larger L keeps the slots busier (a slow trial holds back only the suggestion L
after it) and shows the algorithm less; ``python -m benchmarks reproducible`` measures both.

>>> seed_for(1234, 7) == seed_for(1234, 7), seed_for(1234, 7) == seed_for(1234, 8)
(True, False)
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from hyperopt import base

from hyperspark import hyperopt_internals as internals
from hyperspark.suggestions import Slots

logger = logging.getLogger("hyperspark")

_FINAL = (base.JOB_STATE_DONE, base.JOB_STATE_ERROR, base.JOB_STATE_CANCEL)
SEED_KEY, LAG_KEY = "reproducible seed", "reproducible lag"
"""Where the search's seed and lag are kept in ``SparkTrials.last_settings`` and checkpoints."""


def plan(trials: base.Trials, rstate: np.random.Generator, parallelism: int,
         lag: Optional[int], saved: Optional[Dict[str, Any]],
         settings: Any) -> Tuple["FixedLag", int, int]:
    """The policy of a reproducible search, its seed and its lag. A resumed search continues
    with the seed and lag its checkpoint recorded; a new one draws its seed from ``rstate``
    (``fmin(rstate=...)`` or ``HYPEROPT_FMIN_SEED``)."""
    saved = saved or {}
    if saved.get(SEED_KEY) is not None:
        seed, lag = int(saved[SEED_KEY]), int(saved.get(LAG_KEY) or lag or 0) or None
    else:
        seed = int(rstate.integers(2 ** 31 - 1))
    lag = lag or default_lag(parallelism)
    warn_timing_dependent(settings)
    return FixedLag(trials, seed, lag), seed, lag


def warn_timing_dependent(settings: Any) -> None:
    """Say which settings make a trial's result, or the set of trials, depend on timing."""
    reasons = []
    if settings.trial_timeout:
        reasons.append("trial_timeout (whether a slow trial is cut off depends on the machine)")
    if settings.timeout:
        reasons.append("timeout (where the search stops depends on speed; the trials it runs "
                       "are the same, in the same order)")
    if settings.loss_threshold is not None or settings.early_stop_fn is not None:
        reasons.append("loss_threshold / early_stop_fn (the trials still running when the "
                       "search stops are cancelled, and which ones those are depends on "
                       "timing)")
    if settings.pruner is not None:
        reasons.append("a pruner (its decisions compare trials by what they reported so far, "
                       "which depends on timing)")
    if reasons:
        logger.warning("reproducible=True: these settings depend on timing, so runs may "
                       "differ where they act: %s", "; ".join(reasons))


def seed_for(search_seed: int, tid: int) -> int:
    """The algorithm's seed for suggestion ``tid``: a function of the two numbers only."""
    return int(np.random.SeedSequence([search_seed, tid]).generate_state(1)[0] % (2 ** 31 - 1))


def default_lag(parallelism: int) -> int:
    """The lag used when none is given: twice the parallelism. A longer lag keeps more
    throughput and loses more search quality; 2 x P kept normal mode's quality at P=4 and
    0.75-0.77 of its throughput with exponential trial durations (``python -m benchmarks
    reproducible`` and ``search``; docs/guide.md "Reproducible searches")."""
    return 2 * max(1, parallelism)


class FixedLag:
    """The suggestion policy of ``SparkTrials(reproducible=True)`` (see the module's doc)."""

    def __init__(self, trials: base.Trials, search_seed: int, lag: int) -> None:
        self.trials, self.search_seed, self.lag = trials, search_seed, lag
        self._shown: List[Dict[str, Any]] = []  # what algorithms see, in tid order
        self._masked: Dict[int, int] = {}  # tid -> position in _shown, while masked
        self._by_tid: Dict[int, Dict[str, Any]] = {}
        self._next = 0  # position in all_docs already copied into _shown
        # Suggestion k must get tid k. A resumed search's checkpoint may count an id that
        # the stopped search gave to a point it never made (a suggestion in flight): hand
        # back every id above the last trial.
        last = max((doc["tid"] for doc in internals.all_docs(trials)), default=-1)
        internals.release_ids(trials, [tid for tid in list(internals.handed_out_ids(trials))
                                       if tid > last])

    # ---------------------------------------------------------------- when
    def count(self, slots: Slots) -> int:
        """One point at a time, once every trial it may see has a result."""
        if slots.to_create <= 0 or slots.running + slots.queued >= slots.parallelism:
            return 0
        k = self._next_tid()
        docs = self._docs()
        for doc in docs:
            if doc["tid"] < k - self.lag and doc["state"] not in _FINAL:
                return 0  # a result it must see is not in yet: wait
        return 1

    def _next_tid(self) -> int:
        return len(internals.handed_out_ids(self.trials))  # what new_trial_ids gives next

    def _docs(self) -> List[Dict[str, Any]]:
        """The trials that are not final yet, and the recent ones (checked each turn: the
        open ones are few, so this stays cheap)."""
        return [self._by_tid[tid] for tid in sorted(self._masked)] + [
            doc for doc in internals.all_docs(self.trials)[self._next:]]

    # ---------------------------------------------------------------- what it sees, which seed
    def seed(self, rstate: np.random.Generator, new_ids: List[int]) -> int:
        return seed_for(self.search_seed, new_ids[0])

    def view(self, trials: base.Trials, new_ids: List[int]) -> base.Trials:
        """Trials below k - L as they are (finished); k - L .. k - 1 as running. The list is
        kept from call to call (an algorithm that follows it incrementally sees a masked
        trial turn into its result when it leaves the window)."""
        k = new_ids[0]
        docs = internals.all_docs(trials)
        for doc in docs[self._next:]:
            self._by_tid[doc["tid"]] = doc
            self._masked[doc["tid"]] = len(self._shown)
            self._shown.append(_as_running(doc))
        self._next = len(docs)
        for tid in [t for t in self._masked if t < k - self.lag]:
            shown = self._shown[self._masked.pop(tid)]
            real = self._by_tid[tid]
            shown["misc"] = real["misc"]
            shown["result"] = copy.deepcopy(real["result"])  # result, then state (readers
            shown["state"] = real["state"]                   # on another thread)
        return internals.fixed_view(trials, self._shown)


def _as_running(doc: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``doc`` that shows it running, with no result."""
    shown = dict(doc)
    shown["state"] = base.JOB_STATE_RUNNING
    shown["result"] = {"status": base.STATUS_NEW}
    return shown
