"""What a person watching a search sees: a tqdm bar while it runs, one summary line at the end."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Dict, Optional

from tqdm import tqdm

from hyperspark import console
from hyperspark.outcome import short_type
from hyperspark.record import TrialRecord, TrialStatus
from hyperspark.search import Listener, Progress

logger = logging.getLogger("hyperspark")
REDRAW_S = 0.2
"""Least time between two redraws caused by trial starts (ends redraw as tqdm decides)."""


def summary_line(progress: Progress, seconds: float) -> str:
    """The line a search ends on.

    >>> summary_line(Progress(succeeded=3, failed=1), 2.0)
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


BAR_FORMAT = "hyperspark {n_fmt}/{total_fmt} {desc}|{bar}| {elapsed}<{remaining}{postfix}"
"""What a person watches first comes first (tqdm cuts the line at the terminal's edge): trials
done of the total, the best loss (the front's size, with several losses or constraints), the
failures; then the bar, the times, and the rest."""


def bar_text(progress: Progress) -> str:
    """The bar's left part after done/total: the best loss and the failures.

    >>> bar_text(Progress(succeeded=3, failed=1, best_loss=0.25))
    'best 0.25, 1 failed '
    >>> bar_text(Progress(succeeded=3, best_loss=0.25, front=2))
    'front 2 '
    """
    parts = []
    if progress.front is not None:  # several losses: no single best
        parts.append(f"front {progress.front}")
    elif progress.best_loss is not None:
        parts.append(f"best {progress.best_loss:.4g}")
    if progress.failed:
        parts.append(f"{progress.failed} failed")
    return ", ".join(parts) + " " if parts else ""


def bar_postfix(progress: Progress, reproducible: Any = None) -> str:
    """The bar's tail: what runs now, and what ended otherwise (cut first on a narrow terminal).

    >>> bar_postfix(Progress(running=2, waiting=1, cancelled=1))
    '2 running, 1 waiting, 1 cancelled'
    """
    parts = [f"{progress.running} running"]
    if progress.waiting:
        parts.append(f"{progress.waiting} waiting")
    if progress.pruned:
        parts.append(f"{progress.pruned} pruned")
    if progress.cancelled:
        parts.append(f"{progress.cancelled} cancelled")
    if reproducible:
        parts.append(f"reproducible (lag {reproducible['lag']})")
    return ", ".join(parts)


class ProgressReporter(Listener):
    """A bar of finished trials (best loss, failures, running, waiting) and a summary line.
    While the bar is drawn, log lines on the terminal go through it (``console``)."""

    def __init__(self, total: int, already_done: int, show_bar: bool) -> None:
        self._total, self._initial, self._show_bar = total, already_done, show_bar
        self._bar: Optional[tqdm] = None
        self._started = time.monotonic()
        self._start_drawn = 0.0
        self._first_failure: Optional[TrialRecord] = None
        self._reproducible: Any = None
        self._routing: Optional[contextlib.ExitStack] = None

    def search_started(self, search: Any, settings: Any) -> None:
        self._started = time.monotonic()
        if self._show_bar:
            self._reproducible = getattr(settings, "reproducible", None)
            self._bar = tqdm(total=self._total, initial=self._initial, unit="trial",
                             dynamic_ncols=True, bar_format=BAR_FORMAT, desc="")
            self._routing = contextlib.ExitStack()
            self._routing.enter_context(console.lines_through_bar(self._bar))

    def trial_started(self, doc: Dict[str, Any], progress: Progress) -> None:
        self._refresh(progress, advance=0)

    def trial_running(self, doc: Dict[str, Any], progress: Progress) -> None:
        self._refresh(progress, advance=0)

    def trial_ended(self, doc: Dict[str, Any], progress: Progress) -> None:
        if progress.failed and (self._first_failure is None
                                or doc["tid"] < self._first_failure.tid):
            trial = TrialRecord.from_doc(doc)  # "the first" is the lowest tid, as everywhere
            if trial.status.counted_as == "failed":
                self._first_failure = trial
        self._refresh(progress, advance=1)

    def _refresh(self, progress: Progress, advance: int) -> None:
        """Redraw with the counts; "waiting" are trials handed to Spark whose objective has not
        started (no task slot, worker or actor free yet): their trial_timeout is not running."""
        if self._bar is None:
            return
        self._bar.set_description_str(bar_text(progress), refresh=False)
        self._bar.set_postfix_str(bar_postfix(progress, self._reproducible), refresh=False)
        if advance:
            self._bar.update(advance)
        elif time.monotonic() - self._start_drawn >= REDRAW_S:  # a start changes only the
            self._bar.refresh()  # postfix, which update(0) does not redraw
            self._start_drawn = time.monotonic()

    def search_ended(self, progress: Progress, stop_reason: Optional[str],
                     error: Optional[BaseException]) -> None:
        if self._bar is not None:
            console.close_bar(self._bar)  # a line logged meanwhile lands below the bar
            if self._routing is not None:  # then the handlers' streams back, outside
                self._routing.close()      # tqdm's lock (console.lines_through_bar)
                self._routing = None
        line = summary_line(progress, time.monotonic() - self._started)
        logger.info(line + (f" (stopped: {stop_reason})" if stop_reason else ""))
        if progress.failed and self._first_failure is not None:
            logger.warning(failure_line(progress, self._first_failure))


def failure_line(progress: Progress, first: TrialRecord) -> str:
    """The one line a search with failures ends on.

    >>> first = TrialRecord(tid=4, status=TrialStatus.ERROR, error="x must be > 0",
    ...                     error_type="builtins.ValueError")
    >>> failure_line(Progress(succeeded=7, failed=3), first)
    '3 of 10 trials failed; the first (trial 4): ValueError: x must be > 0 (every error and traceback: trials.to_pandas())'
    """
    what = (f"{short_type(first.error_type)}: {first.error}" if first.error_type
            else first.error or "no error message")
    what = " ".join(what.split())  # one line, whatever the message held
    if len(what) > 300:
        what = what[:297] + "..."
    return (f"{progress.failed} of {progress.finished} trials failed; the first (trial "
            f"{first.tid}): {what} (every error and traceback: trials.to_pandas())")
