"""What a person watching a search sees: a tqdm bar while it runs, one summary line at the end."""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional

from tqdm import tqdm

from hyperspark.record import TrialStatus
from hyperspark.search import Listener, Progress

logger = logging.getLogger("hyperspark")
REDRAW_S = 0.2
"""Least time between two redraws caused by trial starts (ends redraw as tqdm decides)."""


def summary_line(progress: Progress, seconds: float) -> str:
    """>>> summary_line(Progress(succeeded=3, failed=1), 2.0)
    '4 trials: 3 succeeded, 1 failed, 0 cancelled in 2.0 s'
    """
    pruned = f", {progress.pruned} pruned" if progress.pruned else ""
    timed_out = progress.by_status.get(TrialStatus.TIMED_OUT, 0)
    returned_fail = progress.by_status.get(TrialStatus.FAILED, 0)
    failed_detail = f" ({returned_fail} returned status 'fail')" if returned_fail else ""
    cancelled_detail = f" ({timed_out} timed out)" if timed_out else ""
    return (f"{progress.finished} trials: {progress.succeeded} succeeded{pruned}, "
            f"{progress.failed} failed{failed_detail}, {progress.cancelled} cancelled"
            f"{cancelled_detail} in {seconds:.1f} s")


class ProgressReporter(Listener):
    """A bar of finished trials (with running / failed / cancelled / best loss) and a summary."""

    def __init__(self, total: int, already_done: int, show_bar: bool) -> None:
        self._total, self._initial, self._show_bar = total, already_done, show_bar
        self._bar: Optional[tqdm] = None
        self._started = time.monotonic()
        self._start_drawn = 0.0

    def search_started(self, search: Any, settings: Any) -> None:
        self._started = time.monotonic()
        if self._show_bar:
            mode = getattr(settings, "reproducible", None)
            self._bar = tqdm(total=self._total, initial=self._initial, unit="trial",
                             dynamic_ncols=True,
                             desc=f"hyperspark (reproducible, lag {mode['lag']})" if mode
                             else "hyperspark")

    def trial_started(self, doc: Dict[str, Any], progress: Progress) -> None:
        self._refresh(progress, advance=0)

    def trial_running(self, doc: Dict[str, Any], progress: Progress) -> None:
        self._refresh(progress, advance=0)

    def trial_ended(self, doc: Dict[str, Any], progress: Progress) -> None:
        self._refresh(progress, advance=1)

    def _refresh(self, progress: Progress, advance: int) -> None:
        """Redraw with the counts; "waiting" are trials handed to Spark whose objective has not
        started (no task slot, worker or actor free yet): their trial_timeout is not running."""
        if self._bar is None:
            return
        postfix = {"running": progress.running, "waiting": progress.waiting,
                   "failed": progress.failed, "cancelled": progress.cancelled}
        if progress.pruned:
            postfix["pruned"] = progress.pruned
        if progress.best_loss is not None:
            postfix["best"] = f"{progress.best_loss:.4g}"
        self._bar.set_postfix(postfix, refresh=False)
        if advance:
            self._bar.update(advance)
        elif time.monotonic() - self._start_drawn >= REDRAW_S:  # a start changes only the
            self._bar.refresh()  # postfix, which update(0) does not redraw
            self._start_drawn = time.monotonic()

    def search_ended(self, progress: Progress, stop_reason: Optional[str],
                     error: Optional[BaseException]) -> None:
        if self._bar is not None:
            self._bar.close()
        line = summary_line(progress, time.monotonic() - self._started)
        logger.info(line + (f" (stopped: {stop_reason})" if stop_reason else ""))
