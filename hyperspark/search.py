"""What one search is, seen from outside the loop: its settings, its progress counts, and the
hooks a listener (progress bar, MLflow tracking) receives."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional

import numpy as np

from hyperspark import config
from hyperspark.search_context import SearchContext
from hyperspark.record import TrialStatus


@dataclasses.dataclass
class Settings:
    """The stop rules and limits of one search, already validated."""

    max_evals: int
    parallelism: int
    max_queue_len: int = 1
    timeout: Optional[float] = None
    trial_timeout: Optional[float] = None
    loss_threshold: Optional[float] = None
    early_stop_fn: Optional[Callable] = None
    rstate: Optional[np.random.Generator] = None
    cancel_grace_s: float = config.CANCEL_GRACE_S
    pruner: Any = None
    """Decides on each ``hyperspark.report()`` whether to stop the trial (``hyperspark.pruners``)."""
    reproducible: Optional[Dict[str, int]] = None
    """``{"seed": .., "lag": ..}`` when the search runs in the reproducible mode."""
    tasks_per_trial: int = 1
    """The tasks of one trial (a barrier job of that many when above 1): a trial is still one
    of ``parallelism``."""
    scheduler_pool: Optional[str] = None
    """The fair-scheduler pool of the search's Spark jobs (None: the thread's own, usually
    the default pool)."""


@dataclasses.dataclass
class Progress:
    """Counts of this search's trials, handed to listeners. The four counts follow
    ``TrialStatus.counted_as``; ``by_status`` keeps the finer split."""

    succeeded: int = 0
    """Trials whose objective returned status ``ok`` (TrialStatus.OK)."""
    failed: int = 0
    """Trials that returned status ``fail`` (FAILED) or raised (ERROR)."""
    cancelled: int = 0
    """Trials cancelled: by ``trial_timeout`` (TIMED_OUT) or otherwise (CANCELLED)."""
    pruned: int = 0
    """Trials the pruner stopped (recorded done, with their last reported loss)."""
    running: int = 0
    """Started trials whose objective runs now."""
    waiting: int = 0
    """Started trials waiting for a worker: a task slot, a Python worker, an actor."""
    best_loss: Optional[float] = None
    front: Optional[int] = None
    """With several losses or constraints: how many trials are on the Pareto front."""
    by_status: Dict[TrialStatus, int] = dataclasses.field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled + self.pruned

    def count(self, status: TrialStatus) -> None:
        """Count one finished trial of ``status``."""
        self.by_status[status] = self.by_status.get(status, 0) + 1
        name = status.counted_as
        if name is not None:
            setattr(self, name, getattr(self, name) + 1)


class Listener:
    """Hooks called from the loop thread. They must return fast; errors in them are logged and
    never stop the search."""

    def search_started(self, search: SearchContext, settings: Settings) -> None: ...

    def trial_started(self, doc: Dict[str, Any], progress: Progress) -> None:
        """The trial was handed to the backend: it waits for a worker until it runs."""

    def trial_running(self, doc: Dict[str, Any], progress: Progress) -> None:
        """The trial's objective started on its worker."""

    def trial_reported(self, doc: Dict[str, Any], report: Any, progress: Progress) -> None:
        """The trial's objective called ``hyperspark.report()`` (``report``: a ``Report``)."""

    def trial_ended(self, doc: Dict[str, Any], progress: Progress) -> None: ...

    def search_ended(self, progress: Progress, stop_reason: Optional[str],
                     error: Optional[BaseException]) -> None: ...
