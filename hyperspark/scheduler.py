"""The event loop of a search. Pure Python: no Spark in here, so it is tested in milliseconds.

One thread (the one that called ``fmin``) runs the loop. Each turn it

1. starts queued trials while fewer than ``parallelism`` run;
2. asks the algorithm for points when its suggestion policy says so (``suggestions.py``: by
   default a point per free slot, every trial shown, as hyperopt's own loop shows them);
3. waits for the next event (a trial's end, suggestions ready) or the nearest deadline;
4. applies the event to the trial documents and checks the stop rules.

Backends and the helper thread talk to the loop only by posting events on one queue.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

import numpy as np
from hyperopt import base
from hyperopt.utils import coarse_utcnow

from hyperspark import hyperopt_internals as internals
from hyperspark import record
from hyperspark.backends.base import (Backend, SearchContext, TrialCancelled, TrialFailed,
                                      TrialReported, TrialReturned, TrialRunning,
                                      TrialWaiting)
from hyperspark.errors import InvalidArgument
from hyperspark.outcome import FailureKind
from hyperspark.pruners import grace_of
from hyperspark.pruning import PruningBook
from hyperspark.search import Listener, Progress, Settings
from hyperspark.sizing import SizeError
from hyperspark.stop_rules import (STOP_ERROR, STOP_EXHAUSTED, STOP_INTERRUPTED, STOP_TIMEOUT,
                                   StopRules)
from hyperspark.suggestions import (JustInTime, Slots, Suggester, SuggestionPolicy,
                                    SuggestionsFailed, SuggestionsReady)
from hyperspark.trial_end import TrialEnds, ranks_losses

logger = logging.getLogger("hyperspark")

WAIT_NOTICE_S = 10.0
"""A trial that waited this long for a slot before its objective started is logged (INFO)."""


@dataclasses.dataclass
class _Running:
    """A started trial, as the loop tracks it: waiting for a slot until the backend says its
    objective runs (``TrialRunning``); only then does its ``trial_timeout`` count."""

    doc: Dict[str, Any]
    waiting_since: float  # monotonic
    deadline: float = float("inf")  # per-trial timeout, monotonic; inf while waiting or none
    running: bool = False
    attempt: int = 1
    cancel_by: Optional[float] = None  # set once cancelled: give up waiting for the backend then
    cancel_reason: str = ""
    timed_out: bool = False  # cancelled for running past trial_timeout
    prune_by: Optional[float] = None  # set once pruned: cancel it then if it goes on


class Scheduler:
    """Runs one search to its end: ``Scheduler(...).run()`` returns why it stopped early (or
    None when it reached ``max_evals``) and leaves every started trial in a final state."""

    def __init__(self, trials: base.Trials, domain: Any, algo: Callable, backend: Backend,
                 search: SearchContext, settings: Settings,
                 listeners: Sequence[Listener] = (), policy: Optional[SuggestionPolicy] = None
                 ) -> None:
        self._trials, self._domain, self._algo = trials, domain, algo
        self._backend, self._search, self._settings = backend, search, settings
        self._listeners = list(listeners)
        self._events: "queue.Queue[Any]" = queue.Queue()
        self._queue: Deque[Dict[str, Any]] = collections.deque()  # suggestions, not started
        self._suggested: set = set()  # tids the algorithm proposed in this run (vs. inserted by
        # the user beforehand): withdrawn from the trials object if never started
        self._running: Dict[int, _Running] = {}
        self._history: List[Dict[str, Any]] = []  # done docs, in the order they finished:
        # what early_stop_fn sees (as in hyperopt's serial loop, the last one is the newest)
        self._stop_reason: Optional[str] = None
        self._error: Optional[BaseException] = None
        self._rules = StopRules(settings)
        self.progress = Progress()

        trials.refresh()
        for doc in internals.all_docs(trials):
            if doc["state"] == base.JOB_STATE_NEW:
                self._queue.append(doc)  # inserted earlier, e.g. points_to_evaluate
            elif doc["state"] == base.JOB_STATE_DONE:
                self._history.append(doc)
        self._to_create = max(0, settings.max_evals - len(internals.all_docs(trials)))
        self._pruning = PruningBook(settings.pruner, internals.all_docs(trials))
        self._ends = TrialEnds(trials, self.progress, self._history, self._pruning,
                               search.restore_traceback, search.objective_site,
                               algorithm_ranks_losses=ranks_losses(algo))
        rstate = settings.rstate if settings.rstate is not None else np.random.default_rng()
        self._suggester = Suggester(algo, domain, trials, rstate,
                                    policy if policy is not None else JustInTime(),
                                    self._events.put)

    # ---------------------------------------------------------------- the loop
    def run(self) -> Optional[str]:
        start = time.monotonic()
        self._global_deadline = start + (self._settings.timeout or float("inf"))
        try:  # Ctrl-C may come anywhere, opening the backend too
            self._notify("search_started", self._search, self._settings)
            self._backend.open(self._search, self._events.put)
            while True:
                if self._stop_reason is None:
                    self._start_queued_trials()
                    self._request_suggestions()  # after starting: the queue has room again
                if self._is_over():
                    break
                self._apply_events()
                self._enforce_deadlines()
        except KeyboardInterrupt:
            self._stop(STOP_INTERRUPTED, grace_s=min(3.0, self._settings.cancel_grace_s))
            try:
                self._wait_for_cancellations()
            finally:
                self._finish()
            raise
        except BaseException as exc:
            self._error = self._error or exc
            self._stop(STOP_ERROR)
            self._finish()
            raise
        self._finish()
        if self._error is not None:
            raise self._error
        return self._stop_reason

    def _is_over(self) -> bool:
        if self._running:
            return False
        if self._stop_reason is not None:
            return True
        return not self._queue and not self._suggester.busy and (
            self._to_create == 0 or self._suggester.exhausted)

    def _apply_events(self) -> None:
        """Wait for the next event (up to the nearest deadline), then apply it and every event
        already queued behind it: a deadline is judged only once the loop has caught up, so a
        trial whose end is queued is never cancelled for being late."""
        event = self._next_event()
        while event is not None:
            self._apply(event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                event = None

    def _next_event(self) -> Any:
        wait = self._nearest_deadline() - time.monotonic()
        try:
            if wait == float("inf"):
                return self._events.get()
            return self._events.get(timeout=max(0.0, wait))
        except queue.Empty:
            return None

    def _nearest_deadline(self) -> float:
        nearest = self._global_deadline if self._stop_reason is None else float("inf")
        for run in self._running.values():
            nearest = min(nearest, run.deadline if run.cancel_by is None else run.cancel_by,
                          run.prune_by or float("inf"))
        return nearest

    def _wait_for_cancellations(self) -> None:
        while self._running:
            self._apply_events()
            self._enforce_deadlines()

    # ---------------------------------------------------------------- suggestions
    def _request_suggestions(self) -> None:
        self._suggester.ask(Slots(self._settings.parallelism, len(self._running),
                                  len(self._queue), self._to_create,
                                  self._settings.max_queue_len))

    # ---------------------------------------------------------------- starting trials
    def _start_queued_trials(self) -> None:
        sizing = self._search.sizing
        while self._queue and len(self._running) < self._settings.parallelism:
            doc = self._queue[0]
            if doc["state"] != base.JOB_STATE_NEW:
                self._queue.popleft()
                continue
            size, unsized = None, None
            if sizing is not None:  # sized by its parameters: it starts once it fits, in order
                try:
                    size = sizing.admit(doc["tid"], base.spec_from_misc(doc["misc"]),
                                        alone=not self._running)
                except SizeError as exc:
                    unsized = exc
                if size is None and unsized is None:
                    break  # it waits; nothing queued behind it overtakes it
            self._queue.popleft()
            now = coarse_utcnow()
            doc["state"] = base.JOB_STATE_RUNNING
            doc["book_time"] = doc["refresh_time"] = now
            record.note_booked(doc, time.time())
            self._running[doc["tid"]] = _Running(doc, waiting_since=time.monotonic())
            if size is not None:
                record.note_size(doc, size.as_record())
            self._count_running()
            self._notify("trial_started", doc, self.progress)
            if unsized is not None:  # the search goes on without it
                self._apply(TrialFailed(doc["tid"], "SizeError", str(unsized), "", attempts=0,
                                        kind=FailureKind.USER))
                continue
            try:
                self._backend.start(doc["tid"], base.spec_from_misc(doc["misc"]))
            except Exception as exc:
                logger.exception("could not start trial %s", doc["tid"])
                self._apply(TrialFailed(doc["tid"], type(exc).__name__, str(exc), "",
                                        attempts=0, kind=FailureKind.INFRASTRUCTURE))

    def _insert(self, docs: List[Dict[str, Any]]) -> None:
        """Add the algorithm's new docs to the trials object and to the start queue."""
        now = time.time()
        for stored in internals.add_docs(self._trials, docs):
            record.note_queued(stored, now)
            self._queue.append(stored)
            self._suggested.add(stored["tid"])
        self._to_create = max(0, self._to_create - len(docs))

    def _count_running(self) -> None:
        running = sum(1 for run in self._running.values() if run.running)
        self.progress.running, self.progress.waiting = running, len(self._running) - running

    # ---------------------------------------------------------------- events
    def _apply(self, event: Any) -> None:
        if isinstance(event, (TrialRunning, TrialReturned, TrialWaiting)):
            self._apply_phase(event)
            return
        if isinstance(event, TrialReported):
            self._apply_report(event)
            return
        if isinstance(event, (SuggestionsReady, SuggestionsFailed)):
            docs = self._suggester.received(event)
            if docs is None:
                self._error = event.error
                self._stop(STOP_ERROR)
            elif docs and self._stop_reason is None:
                self._insert(docs)
            return
        running = self._running.pop(event.tid, None)
        if self._search.sizing is not None:
            self._search.sizing.release(event.tid)
        if running is None:
            return  # already given up on (cancel grace over); a late report changes nothing
        self._count_running()
        doc = running.doc
        self._ends.record(doc, event, running.cancel_reason, running.timed_out)
        self._notify("trial_ended", doc, self.progress)
        if self._ends.refusal and self._error is None:
            self._error = InvalidArgument(self._ends.refusal)
            self._stop(STOP_ERROR)
        if doc["state"] == base.JOB_STATE_DONE:
            self._check_result_stop_rules(doc)

    def _apply_phase(self, event: Any) -> None:
        """A trial's objective started running (its clock starts), returned (its clock stops;
        the outcome is on its way), or the trial waits again for a retry (its clock stops).
        Reports of an older attempt change nothing."""
        run = self._running.get(event.tid)
        if run is None or event.attempt < run.attempt:
            return
        now = time.monotonic()
        started = isinstance(event, TrialRunning) and not run.running
        if isinstance(event, TrialReturned):
            if event.attempt == run.attempt and run.cancel_by is None:
                run.deadline = float("inf")
            return
        if isinstance(event, TrialWaiting):
            run.attempt, run.running, run.waiting_since = event.attempt, False, now
            if run.cancel_by is None:
                run.deadline = float("inf")
        elif started:
            if event.attempt > 1 and not self._pruning.decided(event.tid):
                self._pruning.forget(run.doc)  # a retry starts its reports over
            run.attempt, run.running = event.attempt, True
            waited = now - run.waiting_since
            if run.cancel_by is None and self._settings.trial_timeout:
                run.deadline = now + self._settings.trial_timeout
            record.add_waited(run.doc, waited)
            log = logger.info if waited >= WAIT_NOTICE_S else logger.debug
            log("trial %s runs (attempt %d) after waiting %.1f s for a worker", event.tid,
                event.attempt, waited)
        self._count_running()
        if started:
            self._notify("trial_running", run.doc, self.progress)

    def _apply_report(self, event: TrialReported) -> None:
        """Record a report; ask the pruner; tell a pruned trial, and cancel it after its grace
        period if it goes on. Reports of an older attempt, or of a cancelled trial, are dropped."""
        run = self._running.get(event.tid)
        if run is None or event.attempt < run.attempt or run.cancel_by is not None:
            return
        prune = self._pruning.add(run.doc, event.report)
        self._notify("trial_reported", run.doc, event.report, self.progress)
        if not prune:
            return
        grace = grace_of(self._pruning.pruner)
        run.prune_by = time.monotonic() + grace
        logger.info("trial %s pruned at step %s (loss %.6g)", event.tid, event.report.step,
                    event.report.loss)
        try:
            self._backend.prune(event.tid)
        except Exception:
            logger.exception("could not tell trial %s it is pruned", event.tid)

    def _check_result_stop_rules(self, doc: Dict[str, Any]) -> None:
        if self._stop_reason is not None:
            return
        reason = self._rules.after_result(
            self.progress.best_loss,
            lambda: internals.finished_view(self._history, self._trials))
        if reason == STOP_ERROR:
            self._error = self._rules.error
        if reason is not None:
            self._stop(reason)

    # ---------------------------------------------------------------- deadlines and stopping
    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        if self._stop_reason is None and now >= self._global_deadline:
            self._stop(STOP_TIMEOUT)
        for tid, running in list(self._running.items()):
            if running.cancel_by is None and now >= (running.prune_by or float("inf")):
                self._cancel(tid, "pruned, and its objective did not stop at its next report "
                             f"within {grace_of(self._pruning.pruner):g} s")
            elif running.cancel_by is None and now >= running.deadline:
                running.timed_out = True
                self._cancel(tid, f"trial_timeout of {self._settings.trial_timeout:g} s exceeded")
            elif running.cancel_by is not None and now >= running.cancel_by:
                logger.warning("trial %s did not confirm its cancellation; recorded cancelled", tid)
                self._apply(TrialCancelled(tid, running.cancel_reason, attempts=0))

    def _cancel(self, tid: int, reason: str, grace_s: Optional[float] = None) -> None:
        running = self._running[tid]
        if running.cancel_by is not None:
            return
        running.cancel_reason = reason
        running.cancel_by = time.monotonic() + (grace_s or self._settings.cancel_grace_s)
        try:
            self._backend.cancel(tid, reason)
        except Exception:
            logger.exception("could not cancel trial %s", tid)

    def _stop(self, reason: str, grace_s: Optional[float] = None) -> None:
        """Start no more trials and cancel the running ones (max_evals ends without this)."""
        if self._stop_reason is not None:
            return
        self._stop_reason = reason
        self._withdraw_queued_suggestions()
        logger.info("stopping the search: %s", reason)
        for tid in list(self._running):
            self._cancel(tid, reason, grace_s)

    def _withdraw_queued_suggestions(self) -> None:
        """Suggestions never started are not trials: remove them. Points the user inserted
        before the search (warm start) stay queued in the trials object for the next fmin."""
        dropped = {doc["tid"] for doc in self._queue if doc["tid"] in self._suggested}
        self._queue.clear()
        if dropped:
            internals.remove_docs(self._trials, lambda doc: doc["tid"] in dropped
                                  and doc["state"] == base.JOB_STATE_NEW)

    def _finish(self) -> None:
        for tid, running in list(self._running.items()):
            self._apply(TrialCancelled(tid, running.cancel_reason or self._stop_reason or "",
                                       attempts=0))
        if self._suggester.exhausted and self._stop_reason is None:
            self._stop_reason = STOP_EXHAUSTED
        try:
            self._backend.close()
        except Exception:
            logger.exception("error while closing the backend")
        self._suggester.close()
        self._trials.refresh()
        self._notify("search_ended", self.progress, self._stop_reason, self._error)

    def _notify(self, hook: str, *args: Any) -> None:
        for listener in self._listeners:
            try:
                getattr(listener, hook)(*args)
            except Exception:
                logger.warning("listener %s failed in %s", type(listener).__name__, hook,
                               exc_info=True)

