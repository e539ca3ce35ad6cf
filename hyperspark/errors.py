"""Every exception hyperspark raises to its users, under one root: ``HypersparkError``.

Each one also derives from the built-in (or hyperopt) exception that code written before it
would catch, so ``except ValueError`` or ``except hyperopt.exceptions.AllTrialsFailed`` keep
working::

    try:
        fmin(...)
    except hyperspark.HypersparkError as error:
        ...

``summarize`` is the one way an exception becomes a one-line message in logs and outcomes.
"""
from __future__ import annotations

from typing import Any, Dict, List

from hyperopt.exceptions import AllTrialsFailed

from hyperspark.record import TrialRecord


class HypersparkError(Exception):
    """The root of every error hyperspark raises."""


class InvalidArgument(HypersparkError, ValueError):
    """An argument has a value hyperspark cannot use; the message names it and what it takes."""


class InvalidArgumentType(HypersparkError, TypeError):
    """An argument has the wrong type; the message names it and what it takes."""


class ObjectiveNotSerializable(HypersparkError, TypeError):
    """The objective (or something it refers to) cannot be pickled to send to the workers."""


class CheckpointError(HypersparkError, ValueError):
    """A checkpoint file cannot be resumed from: unreadable, not hyperspark's, another version."""


class CheckpointMismatch(CheckpointError):
    """The checkpoint file was written by a search over another space."""


class ChannelUnreachable(HypersparkError, RuntimeError):
    """Spark's executors cannot connect back to this process (for example a laptop driving a
    remote Spark Connect cluster): the actors backend cannot work there."""


class TrialPruned(HypersparkError):
    """Raised by ``hyperspark.report()`` once the search's pruner has decided to stop the
    running trial. Let it propagate out of the objective: the trial is recorded pruned (status
    ``ok``, its last reported loss, ``"pruned": True``). An objective may also raise it itself
    to stop early on its own terms."""


class AllTrialsFailedError(HypersparkError, AllTrialsFailed):
    """No trial of the search succeeded; the message shows the first failure's traceback
    (the lowest tid) once, and one line for each other kind of failure.

    A subclass of ``hyperopt.exceptions.AllTrialsFailed``, so code that catches hyperopt's error
    keeps working. ``failed_docs``: every failed trial's document, by tid.
    """

    def __init__(self, failed_docs: List[Dict[str, Any]], total: int, shown: int = 3) -> None:
        self.failed_docs = sorted(failed_docs, key=lambda doc: doc["tid"])
        records = [TrialRecord.from_doc(doc) for doc in self.failed_docs]
        head = (f"all {total} trial(s) failed" if len(records) == total else
                f"no trial succeeded: {len(records)} of {total} failed, the rest cancelled")
        first = records[0]
        detail = first.traceback.rstrip()
        message = first.error or ""
        if message and message not in detail:
            detail = f"{detail}\n{message}".strip()
        attempts = f"{first.attempts} attempt{'s' if first.attempts != 1 else ''}"
        parts = [f"{head}. The first, trial {first.tid} ({attempts}, "
                 f"{first.failure_kind or first.status.value}):", detail]
        alike: Dict[str, List[int]] = {}
        for record in records[1:]:
            alike.setdefault(_what(record), []).append(record.tid)
        for index, (what, tids) in enumerate(alike.items()):
            if index == shown:
                parts.append(f"... and {len(alike) - shown} other kinds of failure")
                break
            same = " (the same error)" if what == _what(first) else f": {what}"
            parts.append(f"{_tids(tids)}{same}")
        parts.append("every error and traceback: trials.to_pandas()")
        super().__init__("\n".join(parts))


def _what(record: TrialRecord) -> str:
    """A failure in one line, to tell failures alike from the others."""
    kind = (record.error_type or "").rsplit(".", 1)[-1]
    text = " ".join((record.error or "").split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{kind}: {text}" if kind and not text.startswith(kind) else text or kind


def _tids(tids: List[int]) -> str:
    shown = ", ".join(map(str, tids[:8])) + (", ..." if len(tids) > 8 else "")
    return f"{len(tids)} more: trial{'s' if len(tids) > 1 else ''} {shown}"


def summarize(exc: BaseException, limit: int = 300) -> str:
    """One line that says what went wrong: the exception's type and the most telling line of
    its message. Never fails, whatever the exception (an empty message gives the type alone).

    >>> summarize(TimeoutError())
    'TimeoutError'
    >>> summarize(ValueError("bad value\\nmore detail"))
    'ValueError: bad value'

    For Spark's long Java errors the first line naming an ``...Exception`` or ``...Error`` is
    the telling one, not the first line.
    """
    try:
        text = str(exc).strip()
    except Exception:  # a broken __str__
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = next((candidate for candidate in lines
                 if "Exception" in candidate or "Error" in candidate), lines[0] if lines else "")
    name = type(exc).__name__
    if not line:
        return name
    if len(line) > limit:
        line = line[:limit - 3] + "..."
    return line if line.startswith(name) else f"{name}: {line}"
