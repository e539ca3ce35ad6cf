"""The one thread that writes to MLflow for a search, so that nothing else waits on it.

Operations are queued; creating a child run goes before everything else (a trial is waiting
for it). A call that fails for a passing reason (server unreachable, 5xx, database locked) is
retried with backoff (tenacity) for up to ``retry_for_s`` (``TrackingSettings``), so a tracking server that restarts loses
nothing: the queue waits and drains when it is back. A call MLflow refuses for good (a bad
value) is dropped at once. A dropped call is a warning, never an error: tracking never fails a
search. If the server stays away past ``retry_for_s``, later calls get one try each (no queue of
two-minute waits) until one succeeds again.

Writes to one run are merged while they wait: a run's pending params, metrics and tags go out
in one ``log_batch``. A new child run's params wait behind the queued writes of finished
trials (when the queue is empty, that is at once), so under load a short trial's params, loss
and status tags reach the store in one call, and ending it in a second: three calls per trial
(create, log, end) instead of four. A merged call the store refuses for good is tried again
part by part, so one bad value never drops the rest.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import tenacity

from hyperspark.errors import summarize

logger = logging.getLogger("hyperspark")

_FINAL_ERRORS = ("INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST",
                 "BAD_REQUEST", "INVALID_STATE", "PERMISSION_DENIED", "UNAUTHENTICATED",
                 "ENDPOINT_NOT_FOUND", "NOT_FOUND")
_URGENT, _NORMAL, _IDLE, _LAST = 0, 1, 2, 3
MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 100, 100, 1000
"""MLflow's limits for one log_batch call: params, tags, and metrics + params + tags."""


@dataclass
class PendingBatch:
    """What waits to be logged to one run: merged until it is written."""

    params: Dict[str, str] = field(default_factory=dict)
    tags: Dict[str, str] = field(default_factory=dict)
    metrics: List[Any] = field(default_factory=list)  # mlflow.entities.Metric
    priority: int = _IDLE  # the most urgent write queued for it

    def empty(self) -> bool:
        return not (self.params or self.tags or self.metrics)

    def merge(self, other: "PendingBatch") -> None:
        self.params.update(other.params)
        self.tags.update(other.tags)
        self.metrics.extend(other.metrics)

    def calls(self) -> List[Dict[str, list]]:
        """The batch as log_batch keyword arguments, split to fit MLflow's limits."""
        from mlflow.entities import Param, RunTag

        params = [Param(k, v) for k, v in self.params.items()]
        tags = [RunTag(k, v) for k, v in self.tags.items()]
        metrics = list(self.metrics)
        chunks: List[Dict[str, list]] = []
        while params or tags or metrics or not chunks:
            chunk_params, params = params[:MAX_PARAMS], params[MAX_PARAMS:]
            chunk_tags, tags = tags[:MAX_TAGS], tags[MAX_TAGS:]
            room = MAX_ENTITIES - len(chunk_params) - len(chunk_tags)
            chunk_metrics, metrics = metrics[:room], metrics[room:]
            chunks.append(dict(params=chunk_params, metrics=chunk_metrics, tags=chunk_tags))
        return chunks


class TrackingWriter:
    """Queue of MLflow writes, run by one daemon thread."""

    def __init__(self, client: Any, retry_for_s: float = 120.0, backoff_s: float = 0.5,
                 flush_timeout_s: float = 60.0) -> None:
        self._client = client
        self._queue: "queue.PriorityQueue[Any]" = queue.PriorityQueue()
        self._order = itertools.count()
        self._pending: Dict[str, PendingBatch] = {}
        self._pending_lock = threading.Lock()
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
        self._thread = threading.Thread(target=self._run, name="hyperspark-mlflow", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- what can be queued
    def create_run(self, experiment_id: str, tags: Dict[str, str],
                   params: Dict[str, str]) -> "Future[Optional[str]]":
        """Create a run; the future gives its id (None when MLflow could not be reached)."""
        future: "Future[Optional[str]]" = Future()

        def create() -> None:
            try:
                run = self._call(lambda: self._client.create_run(experiment_id, tags=tags))
            except Exception:
                future.set_result(None)
                raise
            future.set_result(run.info.run_id)
            if params:  # behind queued writes: a finished trial's log may take them along
                self.log_batch(run.info.run_id, params=params, priority=_IDLE)

        self._put(_URGENT, create, "create a child run")
        return future

    def log_batch(self, run_id: str, *, params: Optional[Dict[str, str]] = None,
                  metrics: Optional[Dict[str, float]] = None,
                  tags: Optional[Dict[str, str]] = None, step: int = 0,
                  priority: int = _NORMAL) -> None:
        """Log to a run, merged with whatever else waits for that run."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = PendingBatch(params=dict(params or {}), tags=dict(tags or {}),
                             metrics=[Metric(k, v, now, step) for k, v in (metrics or {}).items()],
                             priority=priority)
        if self._merge(run_id, batch):
            self._put(priority, lambda: self._write_pending(run_id), f"log to run {run_id}")

    def log_step(self, run: "Future[Optional[str]]", metrics: Dict[str, float], step: int,
                 timestamp_ms: Optional[int] = None) -> None:
        """Log ``metrics`` at ``step`` to a child run (an intermediate report), merged with
        whatever else waits for that run."""
        from mlflow.entities import Metric

        at = timestamp_ms or int(time.time() * 1000)
        batch = PendingBatch(metrics=[Metric(k, v, at, step) for k, v in metrics.items()],
                             priority=_NORMAL)

        def log() -> None:
            run_id = run.result()
            if run_id is not None and self._merge(run_id, batch):
                self._write_pending(run_id)

        if run.done():  # as it nearly always is: the trial waited for its run to exist
            run_id = run.result()
            if run_id is not None and self._merge(run_id, batch):
                self._put(_NORMAL, lambda: self._write_pending(run_id), f"log to run {run_id}")
        else:
            self._put(_NORMAL, log, "log a report")

    def finish_run(self, run: "Future[Optional[str]]", metrics: Dict[str, float],
                   tags: Dict[str, str], status: str) -> None:
        def finish() -> None:
            run_id = run.result()
            if run_id is None:
                return
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self._merge(run_id, PendingBatch(  # with its params, if they are still waiting
                tags=dict(tags), metrics=[Metric(k, v, now, 0) for k, v in metrics.items()]))
            try:
                self._write_pending(run_id)
            finally:  # a refused value never leaves the run RUNNING
                self._call(lambda: self._client.set_terminated(run_id, status))

        self._put(_NORMAL, finish, "finish a child run")

    def log_best(self, parent_id: str, run: "Future[Optional[str]]", loss: float,
                 step: int) -> None:
        def best() -> None:
            run_id = run.result()
            tags = {"best_trial_run_id": run_id} if run_id else {}
            self.log_batch(parent_id, metrics={"best_trial_loss": loss}, tags=tags, step=step)

        self._put(_NORMAL, best, "log the best loss")

    def reopen(self, run_id: str) -> None:
        """Mark a run RUNNING again (a trial of a resumed search runs again in it)."""
        self._put(_URGENT, lambda: self._call(
            lambda: self._client.update_run(run_id, status="RUNNING")), f"reopen run {run_id}")

    def terminate(self, run_id: str, status: str, urgent: bool = False) -> None:
        """End a run; ``urgent`` puts it ahead of the queued writes (a search cut short)."""
        self._put(_URGENT if urgent else _NORMAL, lambda: self._call(
            lambda: self._client.set_terminated(run_id, status)), f"end run {run_id}")

    def close(self, timeout_s: Optional[float] = None) -> None:
        """Write what is queued, then stop the thread. Waits as long as writes go through; gives
        up once none has completed for ``timeout_s`` (default: the writer's
        ``flush_timeout_s``)."""
        timeout_s = self._flush_timeout_s if timeout_s is None else timeout_s
        self._put(_LAST, None, "stop")
        backlog = self._queue.qsize()
        if backlog > 100:
            logger.info("MLflow: writing the last %d queued records (Ctrl-C to leave them)",
                        backlog)
        done, last_progress = self.completed, time.monotonic()
        while self._thread.is_alive() and time.monotonic() - last_progress < timeout_s:
            self._thread.join(min(1.0, timeout_s))
            if self.completed != done:
                done, last_progress = self.completed, time.monotonic()
        if self._thread.is_alive():
            logger.warning("MLflow: %d write(s) still pending after %.0f s without progress; "
                           "they continue in the background and are lost if the process exits",
                           self._queue.qsize(), timeout_s)
        if self.failed_writes:
            logger.warning("MLflow: %d write(s) failed and were dropped", self.failed_writes)

    # ---------------------------------------------------------------- the thread
    def _merge(self, run_id: str, batch: PendingBatch) -> bool:
        """Add ``batch`` to what waits for ``run_id``; True when a write must be queued for it
        (none is queued yet, or only a later one)."""
        with self._pending_lock:
            pending = self._pending.get(run_id)
            if pending is None:
                self._pending[run_id] = batch
                return True
            pending.merge(batch)
            if batch.priority >= pending.priority:
                return False
            pending.priority = batch.priority
            return True

    def _write_pending(self, run_id: str) -> None:
        with self._pending_lock:
            batch = self._pending.pop(run_id, None)
        if batch is None:
            return  # written with an earlier call
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

    def _put(self, priority: int, action: Optional[Callable[[], None]], what: str) -> None:
        self._queue.put((priority, next(self._order), action, what))

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
        if not self._outage_noted:
            self._outage_noted = True
            logger.warning("MLflow: tracking store unreachable (%s); retrying for up to %.0f s, "
                           "the search goes on", summarize(state.outcome.exception(), limit=200),
                           self._retry_for_s)

    def _run(self) -> None:
        while True:
            priority, _, action, what = self._queue.get()
            if action is None:
                if self._queue.empty():
                    return
                self._put(_LAST, None, what)  # writes queued by the last ones go first
                continue
            try:
                action()
            except Exception as exc:
                self.failed_writes += 1
                logger.warning("MLflow: could not %s: %s", what, summarize(exc))
            self.completed += 1


def is_transient(exc: BaseException) -> bool:
    """True when a failed MLflow call may succeed if tried again later."""
    code = getattr(exc, "error_code", None)
    if type(exc).__name__ == "RestException":  # the server answered: only its 5xx-like codes
        return code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED",
                        "RESOURCE_EXHAUSTED")
    return code not in _FINAL_ERRORS
