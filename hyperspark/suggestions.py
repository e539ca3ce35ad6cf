"""Where the loop's points come from: when the algorithm is asked, what it is shown, and the
helper thread it runs on.

The loop (``scheduler.py``) holds a ``Suggester``; the ``Suggester`` holds a policy that
answers the two questions of every suggestion:

- **when**, and for how many points (``count``);
- **what the algorithm sees** (``view``) and **with which seed** (``seed``).

``JustInTime`` (the default) asks for a point per free slot as soon as one frees up, plus
``max_queue_len - 1`` ahead, and shows every trial, running ones included, as hyperopt's own
loop does: at parallelism 1 that is hyperopt's serial search. ``reproducible.FixedLag`` (the
reproducible mode) makes suggestion k wait for the results it is allowed to see.

The algorithm runs on one helper thread; its answer comes back to the loop as an event
(``SuggestionsReady`` or ``SuggestionsFailed``), like a trial's end.
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Protocol

import numpy as np
from hyperopt import base

from hyperspark import hyperopt_internals as internals


@dataclasses.dataclass(frozen=True)
class SuggestionsReady:
    docs: List[Dict[str, Any]]
    asked: List[int]  # the ids the algorithm was given; those it did not use are handed back


@dataclasses.dataclass(frozen=True)
class SuggestionsFailed:
    error: BaseException


@dataclasses.dataclass(frozen=True)
class Slots:
    """What the loop tells the policy when it could ask for points."""

    parallelism: int
    running: int
    """Started trials (running or waiting for a worker)."""
    queued: int
    """Points suggested and not started yet."""
    to_create: int
    """Points still to suggest before ``max_evals``."""
    max_queue_len: int


class SuggestionPolicy(Protocol):
    """When the algorithm is asked, what it sees, with which seed."""

    def count(self, slots: Slots) -> int:
        """How many points to ask for now (0: not now)."""

    def view(self, trials: base.Trials, new_ids: List[int]) -> base.Trials:
        """What the algorithm is shown, built on the loop's thread in O(1) (or O(new))."""

    def seed(self, rstate: np.random.Generator, new_ids: List[int]) -> int:
        """The seed handed to the algorithm for this call."""


class JustInTime:
    """A point per free slot, asked as soon as the slot frees up (plus ``max_queue_len - 1``
    ahead, to hide the algorithm's time behind trials too short for it); every trial shown.

    >>> JustInTime().count(Slots(parallelism=4, running=3, queued=0, to_create=10,
    ...                          max_queue_len=1))
    1
    """

    def count(self, slots: Slots) -> int:
        room = (slots.parallelism - slots.running - slots.queued + slots.max_queue_len - 1)
        # at most max_queue_len ids per call: one by default, so each point is made with
        # every result that came in while the one before it was made (a batch of points from
        # one model scored worse in benchmarks/search.py: 1.25 against 1.44 at P=16). A
        # larger max_queue_len trades that for throughput when trials are as short as a
        # suggestion (hyperspark.tpe then builds its model once for the whole call).
        return max(0, min(room, slots.to_create, slots.max_queue_len))

    def view(self, trials: base.Trials, new_ids: List[int]) -> base.Trials:
        return internals.algorithm_view(trials)

    def seed(self, rstate: np.random.Generator, new_ids: List[int]) -> int:
        return int(rstate.integers(2 ** 31 - 1))


class Suggester:
    """Asks ``algo`` for points on a helper thread when ``policy`` says so; one call at a
    time. ``post`` receives ``SuggestionsReady`` or ``SuggestionsFailed``."""

    def __init__(self, algo: Callable, domain: Any, trials: base.Trials,
                 rstate: np.random.Generator, policy: SuggestionPolicy,
                 post: Callable[[Any], None]) -> None:
        self.algo, self.domain, self.trials = algo, domain, trials
        self.rstate, self.policy, self._post = rstate, policy, post
        self.busy = False
        self.exhausted = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="hyperspark-suggest")

    def ask(self, slots: Slots) -> None:
        """Ask the algorithm now if the policy wants points and no call is in flight."""
        if self.busy or self.exhausted or slots.to_create <= 0:
            return
        count = self.policy.count(slots)
        if count <= 0:
            return
        new_ids = self.trials.new_trial_ids(count)
        seed = self.policy.seed(self.rstate, new_ids)
        view = self.policy.view(self.trials, new_ids)
        self.busy = True
        self._thread.submit(self._call, new_ids, view, seed)

    def _call(self, new_ids: List[int], view: base.Trials, seed: int) -> None:
        try:
            docs = self.algo(new_ids, self.domain, view, seed)
            self._post(SuggestionsReady(list(docs), list(new_ids)))
        except BaseException as exc:  # reported to the loop, raised from fmin
            self._post(SuggestionsFailed(exc))

    def received(self, event: Any) -> Optional[List[Dict[str, Any]]]:
        """The loop got ``event`` back: the new documents (None when the call failed).
        Ids the algorithm did not use are handed back; no document means no more points."""
        self.busy = False
        if isinstance(event, SuggestionsFailed):
            return None
        # ids above the last one used go back (new_trial_ids counts on them being the top
        # ones); an unused id below a used one stays a gap
        last = max((doc["tid"] for doc in event.docs), default=-1)
        internals.release_ids(self.trials, [tid for tid in event.asked if tid > last])
        if not event.docs:
            self.exhausted = True
        return event.docs

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
