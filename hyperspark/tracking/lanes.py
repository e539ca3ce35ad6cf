"""A run's pending writes, merged while they wait: the unit the tracking writer works in.

Each run has one ``Lane``: create it (if it does not exist yet), reopen it, one merged
``log_batch``, end it, always in that order. ``PendingBatch`` is what waits to be logged to
one run, split to MLflow's limits when it goes out.
"""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

URGENT, NORMAL, IDLE = 0, 1, 2
"""Lane priorities: a trial waits for it; an ordinary write; it can wait (running trials' params)."""
MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 100, 100, 1000
"""MLflow's limits for one log_batch call: params, tags, and metrics + params + tags."""


@dataclass
class PendingBatch:
    """What waits to be logged to one run: merged until it is written."""

    params: Dict[str, str] = field(default_factory=dict)
    tags: Dict[str, str] = field(default_factory=dict)
    metrics: List[Any] = field(default_factory=list)  # mlflow.entities.Metric

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


class Lane:
    """One run's writes, in order: create it (if it does not exist yet), reopen it, one merged
    ``log_batch``, end it. ``run`` gives the run's id (None once creating it failed)."""

    def __init__(self, run: "Future[Optional[str]]", create: Optional[Callable[[], Any]] = None,
                 what: str = "") -> None:
        self.run, self.create, self.what = run, create, what
        self.reopen = False
        self.batch = PendingBatch()
        self.texts: List[Tuple[str, str]] = []  # (artifact name, text) to log
        self.end_status: Optional[str] = None
        self.hold_until = 0.0  # its batch waits till then (monotonic), unless the run ends
        self.busy = False
        self.priority = IDLE + 1  # no work

    def has_work(self) -> bool:
        return bool(self.create or self.reopen or not self.batch.empty() or self.texts
                    or self.end_status is not None)

    def batch_held(self, now: float) -> bool:
        """Its batch waits (for the run's end, to go out with it) until ``hold_until``."""
        return self.end_status is None and now < self.hold_until

    def has_work_now(self, now: float) -> bool:
        return bool(self.create or self.reopen or self.texts or self.end_status is not None
                    or (not self.batch.empty() and not self.batch_held(now)))
