"""The threads that write to MLflow for a search, so that nothing else waits on them.

Every write belongs to a run, and each run has a lane (``lanes.py``): its writes wait there,
merged, and go out in order (create, one ``log_batch``, end). ``concurrency`` threads write
lanes, one lane per thread at a time (``in_flight.py``: 10 for a server, one for sqlite).
Creating a run a trial waits for goes first. A starting trial's name and params are held a
moment (``delay_s``) so a short trial sends them with its end: three calls per trial. A name
goes in an ``UpdateRun``, never in ``log_batch`` (``mlflow_internals.update_run`` says why).

A call that fails for a passing reason (``transient.py``: unreachable, 5xx, database busy) is
retried with backoff (tenacity) for up to ``retry_for_s``, so a server that restarts loses
nothing; a call refused for good (a bad value) is dropped, and a merged call is then tried
part by part so one bad value never drops the rest. A dropped call is a warning, never an
error: tracking never fails a search. Past ``retry_for_s``, later calls get one try each
until one succeeds again.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple

import tenacity

from hyperspark.errors import summarize
from hyperspark.tracking.in_flight import InFlightLimit, warn_lowered
from hyperspark.tracking.lanes import IDLE, NORMAL, URGENT, Lane, PendingBatch
from hyperspark.tracking.mlflow_internals import update_run
from hyperspark.tracking.transient import is_transient, pool_is_full

logger = logging.getLogger("hyperspark")


class TrackingWriter:
    """MLflow writes, merged per run and written by ``concurrency`` daemon threads (how
    many: ``in_flight.concurrency_for``)."""

    def __init__(self, client: Any, retry_for_s: float = 120.0, backoff_s: float = 0.5,
                 flush_timeout_s: float = 60.0, concurrency: int = 1) -> None:
        self._client = client
        self._lock = threading.Condition()
        self._lanes: Dict[Any, Lane] = {}  # by run id, or by future until the run exists
        self._ready = [collections.deque() for _ in range(IDLE + 1)]  # by priority
        self._busy = 0
        self._closing = False
        self._closing_soon = False  # close() was called: delayed writes go now
        self._delayed: List[Any] = []  # heap of (due, order, lane, priority)
        self._order = itertools.count()
        self._retry_for_s = retry_for_s
        self._flush_timeout_s = flush_timeout_s
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_delay(retry_for_s),
            wait=tenacity.wait_exponential(multiplier=backoff_s, max=5),
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=self._note_outage, reraise=True)
        self._unreachable = False  # a call ran out of retries; the next ones get one try
        self._outage_noted = False
        self.failed_writes = 0
        self.completed = 0  # operations done (or dropped): close() waits while this moves
        self.concurrency = max(1, int(concurrency))
        self._limit = InFlightLimit(self.concurrency)  # lowered when the server's pool is full
        self._threads = [threading.Thread(target=self._run, name=f"hyperspark-mlflow-{n}",
                                          daemon=True) for n in range(self.concurrency)]
        for thread in self._threads:
            thread.start()

    # ---------------------------------------------------------------- what can be queued
    def create_run(self, experiment_id: str, tags: Dict[str, str],
                   params: Dict[str, str], urgent: bool = True) -> "Future[Optional[str]]":
        """Create a run; the future gives its id (None when MLflow could not be reached).
        ``params`` go after, with the run's next write (at once when the writer is idle).
        ``urgent``: a trial waits for it (else: made ahead of need)."""
        future: "Future[Optional[str]]" = Future()

        def create() -> str:
            return self._call(lambda: self._client.create_run(experiment_id, tags=tags)
                              ).info.run_id

        lane = Lane(future, create, "create a child run")
        with self._lock:
            self._lanes[future] = lane
            if params:
                lane.batch.params.update(params)
            self._ready_locked(lane, URGENT if urgent else NORMAL)
        return future

    def log_batch(self, run: Any, *, params: Optional[Dict[str, str]] = None,
                  metrics: Optional[Dict[str, float]] = None,
                  tags: Optional[Dict[str, str]] = None, step: int = 0,
                  priority: int = NORMAL, delay_s: float = 0.0) -> None:
        """Log to a run (its id, or the future ``create_run`` gave), merged with whatever else
        waits for it. ``delay_s``: written no sooner than that, unless another write to the
        run goes first and takes it along (a starting trial's name and params go with its
        end when it is short: one call instead of two)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._add(run, PendingBatch(params=dict(params or {}), tags=dict(tags or {}),
                                    metrics=[Metric(k, v, now, step)
                                             for k, v in (metrics or {}).items()]), priority,
                  delay_s=delay_s)

    def log_step(self, run: Any, metrics: Dict[str, float], step: int,
                 timestamp_ms: Optional[int] = None) -> None:
        """Log ``metrics`` at ``step`` to a run (an intermediate report)."""
        from mlflow.entities import Metric

        at = timestamp_ms or int(time.time() * 1000)
        self._add(run, PendingBatch(metrics=[Metric(k, v, at, step)
                                             for k, v in metrics.items()]), NORMAL)

    def finish_run(self, run: Any, metrics: Dict[str, float], tags: Dict[str, str],
                   status: str) -> None:
        """Log a finished trial's metrics and tags, then end its run with ``status``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._add(run, PendingBatch(tags=dict(tags), metrics=[Metric(k, v, now, 0)
                                                              for k, v in metrics.items()]),
                  NORMAL, end_status=status)

    def log_best(self, parent_id: str, run: "Future[Optional[str]]", loss: float,
                 step: int) -> None:
        """Log the best loss so far to the parent, and which child run it came from."""
        def best(future: "Future[Optional[str]]") -> None:
            run_id = future.result()
            tags = {"best_trial_run_id": run_id} if run_id else {}
            self.log_batch(parent_id, metrics={"best_trial_loss": loss}, tags=tags, step=step)

        run.add_done_callback(best)

    def reopen(self, run_id: str) -> None:
        """Mark a run RUNNING again (a trial of a resumed search runs again in it)."""
        with self._lock:
            lane = self._lane_locked(run_id)
            lane.reopen = True
            self._ready_locked(lane, URGENT)

    def hurry(self, run: "Future[Optional[str]]") -> None:
        """A trial now waits for ``run`` (made ahead of need, not created yet): create it
        before everything else."""
        with self._lock:
            lane = self._lanes.get(run)
            if lane is not None and lane.create is not None:
                self._ready_locked(lane, URGENT)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        """Log ``text`` as the artifact ``name`` of a run (after its queued writes, before its
        end)."""
        with self._lock:
            lane = self._lane_locked(run_id)
            lane.texts.append((name, text))
            self._ready_locked(lane, NORMAL)

    def terminate(self, run_id: str, status: str, urgent: bool = False) -> None:
        """End a run; ``urgent`` puts it ahead of the queued writes (a search cut short)."""
        self._add(run_id, PendingBatch(), URGENT if urgent else NORMAL, end_status=status)

    def delete(self, run: "Future[Optional[str]]") -> None:
        """Delete a run (a spare child run nobody used), once it exists."""
        def delete(future: "Future[Optional[str]]") -> None:
            run_id = future.result()
            if run_id is None:
                return
            try:
                self._call(lambda: self._client.delete_run(run_id))
            except Exception as exc:
                self.failed_writes += 1
                logger.debug("MLflow: could not delete run %s: %s", run_id, summarize(exc))

        run.add_done_callback(delete)

    def close(self, timeout_s: Optional[float] = None) -> None:
        """Write what is queued, then stop the threads. Waits as long as writes go through;
        gives up once none has completed for ``timeout_s`` (default: the writer's
        ``flush_timeout_s``)."""
        timeout_s = self._flush_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            backlog = sum(1 for lane in self._lanes.values() if lane.has_work())
        if backlog > 100:
            logger.info("MLflow: writing the last %d runs' records (Ctrl-C to leave them)",
                        backlog)
        done, last_progress = self.completed, time.monotonic()
        with self._lock:
            self._closing_soon = True
            self._due_locked()
            self._lock.notify_all()
            while self._pending_locked() and time.monotonic() - last_progress < timeout_s:
                self._lock.wait(min(1.0, timeout_s))
                if self.completed != done:
                    done, last_progress = self.completed, time.monotonic()
            left = self._pending_locked()
            self._closing = True
            self._lock.notify_all()
        if left:
            logger.warning("MLflow: writes to %d run(s) still pending after %.0f s without "
                           "progress; they continue in the background and are lost if the "
                           "process exits", left, timeout_s)
        if self.failed_writes:
            logger.warning("MLflow: %d write(s) failed and were dropped", self.failed_writes)

    # ---------------------------------------------------------------- lanes
    def _add(self, run: Any, batch: PendingBatch, priority: int,
             end_status: Optional[str] = None, delay_s: float = 0.0) -> None:
        with self._lock:
            lane = self._lane_locked(run)
            lane.batch.merge(batch)
            if end_status is not None:
                lane.end_status = end_status
            if delay_s > 0 and end_status is None and not self._closing_soon:
                lane.hold_until = max(lane.hold_until, time.monotonic() + delay_s)
                self._hold_locked(lane, priority)
            else:
                self._ready_locked(lane, priority)

    def _hold_locked(self, lane: Lane, priority: int) -> None:
        """The lane's batch is held: ready it when the hold ends (a copy left in the heap
        after the batch went out with the run's end is skipped)."""
        heapq.heappush(self._delayed, (lane.hold_until, next(self._order), lane, priority))
        self._lock.notify()

    def _lane_locked(self, run: Any) -> Lane:
        """The lane of ``run`` (a run id, or a future from ``create_run``)."""
        if isinstance(run, Future) and run.done() and run.result() is not None:
            run = run.result()  # a created run is known by its id from now on
        lane = self._lanes.get(run)
        if lane is None:
            future: "Future[Optional[str]]" = Future()
            future.set_result(run)
            lane = self._lanes[run] = Lane(future)
        return lane

    def _ready_locked(self, lane: Lane, priority: int) -> None:
        if priority < lane.priority:
            lane.priority = priority
            if not lane.busy:
                self._ready[priority].append(lane)  # a copy left in a slower queue is skipped
                self._lock.notify()

    def _pending_locked(self) -> int:
        return self._busy + sum(1 for lane in self._lanes.values() if lane.has_work())

    def _next_lane_locked(self) -> Optional[Lane]:
        for queue in self._ready:
            while queue:
                lane = queue.popleft()
                if lane.busy:
                    continue  # its thread readies it again when done
                if lane.has_work_now(time.monotonic()):
                    return lane
                lane.priority = IDLE + 1  # only a held batch: readied when its hold ends
        return None

    def _due_locked(self) -> Optional[float]:
        """Make the delayed lanes that are due ready; seconds until the next one (or None)."""
        now = time.monotonic()
        while self._delayed and (self._delayed[0][0] <= now or self._closing_soon):
            _, _, lane, priority = heapq.heappop(self._delayed)
            if self._closing_soon:
                lane.hold_until = 0.0
            if lane.has_work_now(now):
                self._ready_locked(lane, priority)
        return self._delayed[0][0] - now if self._delayed else None

    def _run(self) -> None:
        while True:
            with self._lock:
                wait = self._due_locked()
                lane = self._next_lane_locked() if self._busy < self._limit.value else None
                while lane is None:
                    if self._closing:
                        return
                    self._lock.wait(wait)
                    wait = self._due_locked()
                    lane = self._next_lane_locked() if self._busy < self._limit.value else None
                lane.busy, self._busy = True, self._busy + 1
                create, lane.create = lane.create, None
                reopen, lane.reopen = lane.reopen, False
                batch = PendingBatch()
                if not lane.batch_held(time.monotonic()):
                    batch, lane.batch = lane.batch, batch
                texts, lane.texts = lane.texts, []
                end_status, lane.end_status = lane.end_status, None
                lane.priority = IDLE + 1
            try:
                self._write(lane, create, reopen, batch, texts, end_status)
            finally:
                with self._lock:
                    lane.busy, self._busy = False, self._busy - 1
                    priority, lane.priority = lane.priority, IDLE + 1
                    if lane.has_work_now(time.monotonic()):  # more came while it was written
                        self._ready_locked(lane, priority if priority <= IDLE else NORMAL)
                    elif lane.has_work():  # a held batch: it goes when its hold ends
                        self._hold_locked(lane, NORMAL)
                    self._lock.notify_all()

    def _write(self, lane: Lane, create: Optional[Callable[[], Any]], reopen: bool,
               batch: PendingBatch, texts: List[Tuple[str, str]],
               end_status: Optional[str]) -> None:
        """One lane's turn: its writes in order. Each failed write is counted and logged."""
        if create is not None:
            try:
                run_id = create()
            except Exception as exc:
                self._failed(lane.what, exc)
                with self._lock:  # nothing more can be written to a run that does not exist
                    lane.batch, lane.end_status = PendingBatch(), None
                lane.run.set_result(None)
                return
            with self._lock:
                self._lanes.pop(lane.run, None)
                self._lanes[run_id] = lane
            lane.run.set_result(run_id)  # callbacks (log_best, delete) run here
        run_id = lane.run.result()
        if run_id is None:
            return
        if reopen:
            self._attempt(f"reopen run {run_id}", lambda: self._call(
                lambda: self._client.update_run(run_id, status="RUNNING")))
        run_name = batch.tags.pop("mlflow.runName", None)
        if not batch.empty():
            self._attempt(f"log to run {run_id}", lambda: self._write_batch(run_id, batch))
        if run_name and end_status is None:
            self._attempt(f"name run {run_id}", lambda: self._call(
                lambda: update_run(self._client, run_id, name=run_name)))
        for name, text in texts:
            self._attempt(f"log {name} to run {run_id}", lambda: self._call(
                lambda: self._client.log_text(run_id, text, name)))
        if end_status is not None:  # a refused value never leaves the run RUNNING
            self._attempt(f"end run {run_id}", lambda: self._call(lambda: update_run(
                self._client, run_id, name=run_name, end_status=end_status)))

    def _attempt(self, what: str, write: Callable[[], Any]) -> None:
        try:
            write()
        except Exception as exc:
            self._failed(what, exc)
            return
        self.completed += 1

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failed_writes += 1
        self.completed += 1
        logger.warning("MLflow: could not %s: %s", what, summarize(exc))

    def _write_batch(self, run_id: str, batch: PendingBatch) -> None:
        parts = [PendingBatch(params=batch.params), PendingBatch(tags=batch.tags),
                 PendingBatch(metrics=list(batch.metrics))]
        try:
            for call in batch.calls():
                self._call(lambda: self._client.log_batch(run_id, **call))
        except Exception as exc:
            if is_transient(exc) or sum(1 for part in parts if not part.empty()) < 2:
                raise
            refused = 0  # the store refused the merged call: each part alone, so only the
            for part in parts:  # part with the bad value is lost
                if part.empty():
                    continue
                try:
                    for call in part.calls():
                        self._call(lambda: self._client.log_batch(run_id, **call))
                except Exception:
                    refused += 1
            if refused:
                raise

    def _call(self, request: Callable[[], Any]) -> Any:
        try:
            answer = request() if self._unreachable else self._retrying(request)
        except Exception as exc:
            self._unreachable = self._unreachable or is_transient(exc)
            raise
        if self._outage_noted or self._unreachable:
            logger.warning("MLflow: the tracking store answers again; queued writes go on")
        self._unreachable = self._outage_noted = False
        return answer

    def _note_outage(self, state: Any) -> None:
        exc = state.outcome.exception()
        if pool_is_full(exc):
            self._lower_concurrency()
        if not self._outage_noted:
            self._outage_noted = True
            logger.warning("MLflow: tracking store unreachable (%s); retrying for up to %.0f s, "
                           "the search goes on", summarize(state.outcome.exception(), limit=200),
                           self._retry_for_s)

    def _lower_concurrency(self) -> None:
        """The server's database connection pool ran out: fewer runs at once from now on."""
        with self._lock:
            limit = self._limit.lower(time.monotonic())
        if limit is not None:
            warn_lowered(limit)
