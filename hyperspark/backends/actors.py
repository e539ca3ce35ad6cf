"""The actors backend: one search's view on a fleet of actors (``backends/fleet.py``).

The fleet is owned either by the search (``backend="actors"``: it starts with the search and
ends with it) or by an ``ActorPool`` that many searches borrow from, one after another or at
the same time. A trial's thread borrows an actor, sends it the trial, and gives it back.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Tuple

from hyperspark import wire
from hyperspark.backends.base import Post, SearchContext, TrialState
from hyperspark.backends.fleet import Actors
from hyperspark.backends.spark.base import SparkRunner
from hyperspark.backends.threaded import ThreadedBackend
from hyperspark.outcome import Outcome


# ---------------------------------------------------------------- driver side: one search
class ActorsBackend(ThreadedBackend):
    """Runs one search's trials on actors: its own fleet of ``parallelism`` actors (started
    with the search, ended with it), or a shared one (``fleet=``, an ``ActorPool``'s)."""

    ships_objective = True

    def __init__(self, runner: Optional[SparkRunner], parallelism: int, *, profile: Any = None,
                 backoff_s: Optional[float] = None, start_timeout_s: Optional[float] = None,
                 fleet: Optional[Actors] = None) -> None:
        super().__init__(parallelism, backoff_s=backoff_s)
        self._runner, self._profile, self._start_timeout_s = runner, profile, start_timeout_s
        self._fleet, self._owns_fleet = fleet, fleet is None

    @property
    def address(self) -> Tuple[str, int]:
        return self._fleet.address

    @property
    def setups_started(self) -> int:
        return self._fleet.setups_started

    def open(self, search: SearchContext, post: Post) -> None:
        super().open(search, post)
        if self._owns_fleet:
            self._fleet = Actors(self._runner, self._parallelism,
                                 worker_setup=search.worker_setup, profile=self._profile,
                                 start_timeout_s=self._start_timeout_s,
                                 name=search.search_id)
            self._fleet.start()

    def attempt(self, state: TrialState, spec: Dict[str, Any], env: Dict[str, str]) -> Outcome:
        fleet, borrower = self._fleet, self._search.search_id
        actor = fleet.acquire(borrower, state.cancelled)
        if actor is None:
            return fleet.fatal
        state.worker = actor
        try:
            self.running(state, state.attempt)  # an idle actor starts the objective at once
            return fleet.run(actor, self._search, state.tid, state.attempt, spec, env,
                             lambda tid, attempt, report: self._on_report(state, tid, attempt,
                                                                          report))
        finally:
            state.worker = None
            fleet.release(actor, borrower)

    def _on_report(self, state: TrialState, tid: int, attempt: int, report: Any) -> None:
        if tid == state.tid and attempt == state.attempt:
            self.reported(state, attempt, report)

    def deliver_prune(self, state: TrialState) -> None:
        actor = state.worker
        if actor is not None and actor.peer is not None:
            actor.peer.send(wire.Prune(state.tid, state.attempt))

    def interrupt(self, state: TrialState) -> None:
        actor = state.worker
        self._fleet.wake()  # a trial waiting for an actor gives up
        if actor is not None:  # the objective may never return: kill its actor
            threading.Thread(target=self._fleet.kill, args=(actor,), daemon=True).start()

    def close(self) -> None:
        super().close()  # cancels (kills the actors of) trials still running
        if self._owns_fleet and self._fleet is not None:
            self._fleet.close()
