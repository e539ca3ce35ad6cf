"""Checkpoints: a search's state on disk, so that a new driver process can resume it.

A checkpoint holds the trial documents, their attachments, the algorithm's random state and the
MLflow run ids. It is rewritten atomically (temporary file, then ``os.replace``) after every
trial that starts or ends. Pickling happens on a writer thread from a snapshot taken on the loop
thread; when trials end faster than the file can be written, writes coalesce (the writer keeps
to a fraction of the driver's time), so a long fast search does not turn quadratic. The last
state is always written before ``fmin`` returns or raises.

On resume, finished trials are kept as they are; trials that were running (or cancelled by the
interruption) when the driver died become new trials again and run first.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
import pickle
import tempfile
import threading
import time
from typing import Any, Dict, Optional

import numpy as np
from hyperopt import base

from hyperspark import hyperopt_internals as internals
from hyperspark import record
from hyperspark.errors import (CheckpointError, CheckpointMismatch, InvalidArgument,
                               InvalidArgumentType)
from hyperspark.search import Listener, Progress
from hyperspark.space import fingerprint as space_fingerprint
from hyperspark.space import labels as space_labels

logger = logging.getLogger("hyperspark")

FORMAT = "hyperspark-checkpoint"
VERSION = 1
WRITER_SHARE = 0.2
"""At most this fraction of the wall time goes into writing the checkpoint during a search."""
_FINAL_STATES = (base.JOB_STATE_DONE, base.JOB_STATE_ERROR, base.JOB_STATE_CANCEL)


def check_path(argument: str, path: Any) -> str:
    """Validate a checkpoint path given as ``argument``; returns it as an absolute path."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidArgumentType(f"{argument} must be a file path (str or os.PathLike), got {path!r}")
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise InvalidArgument(f"{argument}={path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise InvalidArgument(f"{argument}={path!r} is a folder; give a file path")
    return path


def load(path: str, space: Any) -> Optional[Dict[str, Any]]:
    """The checkpoint at ``path`` (None when there is no file), checked against ``space``."""
    if not os.path.exists(path):
        return None
    state = read_state(path)
    if state["space"] != space_fingerprint(space):
        labels = space_labels(space)
        raise CheckpointMismatch(
            f"checkpoint {path!r} was written by a search over another space (its labels: "
            f"{state.get('labels')}; this space's: {labels}); pass another path or delete the "
            "file to start afresh")
    return state


def read_state(path: str) -> Dict[str, Any]:
    """A checkpoint's content, whatever its space (``hyperspark html --checkpoint``)."""
    try:
        with open(path, "rb") as handle:
            state = pickle.load(handle)
    except Exception as exc:
        raise CheckpointError(f"cannot read the checkpoint {path!r}: {type(exc).__name__}: {exc}; "
                         "move it away to start a new search") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} is not a hyperspark checkpoint (hyperopt's own "
                         "trials_save_file pickles are not read); move it away or pass "
                         "another path")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {state.get('version')}; "
                         f"this hyperspark reads version {VERSION}")
    return state


def interrupted(doc: Dict[str, Any], interrupted_reason: str) -> bool:
    """True for a trial that has no result because the search was cut short under it."""
    if doc["state"] in (base.JOB_STATE_NEW, base.JOB_STATE_RUNNING):
        return True
    return record.is_cancel_for(doc, interrupted_reason)


def as_new_trial(doc: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``doc`` reset to a trial not yet run (same tid and point)."""
    fresh = copy.deepcopy(doc)
    fresh.update(state=base.JOB_STATE_NEW, result={"status": base.STATUS_NEW}, book_time=None,
                 refresh_time=None)
    fresh["misc"].pop("error", None)
    record.reset_for_rerun(fresh)
    return fresh


def _pickled(space: Any) -> Optional[bytes]:
    """The space, pickled for a page drawn from the file later (None when it cannot be)."""
    try:
        import cloudpickle

        return cloudpickle.dumps(space)
    except Exception:
        return None


@dataclasses.dataclass(frozen=True)
class Restored:
    """What a resumed search continues from (``restore``)."""

    rstate: np.random.Generator
    """The algorithm's random sequence, where the checkpoint left it."""
    kept: int
    """Finished trials kept as they were."""
    rerun: int
    """Trials that run again (they were running, or cancelled by the interruption)."""
    tracking: Optional[Dict[str, Any]]
    """What the MLflow tracker needs to continue the parent run (None when untracked)."""


def restore(trials: base.Trials, saved: Dict[str, Any], path: str,
            interrupted_reason: str) -> Restored:
    """Load the checkpoint ``saved`` (from ``load``) into ``trials`` (empty)."""
    docs = [as_new_trial(doc) if interrupted(doc, interrupted_reason) else doc
            for doc in saved["trials"]]
    docs = internals.add_docs(trials, docs)  # the stored copies
    internals.reserve_ids(trials, saved["next_tid"])  # tids handed out, withdrawn ones too
    internals.attachments(trials).update(saved["attachments"])
    trials.refresh()
    rerun = sum(1 for doc in docs if doc["state"] == base.JOB_STATE_NEW)
    logger.info("resuming from %s: %d finished trials kept, %d to run again", path,
                len(docs) - rerun, rerun)
    state = saved["rstate"]
    generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
    generator.bit_generator.state = state
    tracking = None
    if saved.get("tracking"):
        tracking = {**saved["tracking"], "tids": {doc["tid"] for doc in saved["trials"]},
                    "finished": {doc["tid"]: doc for doc in docs
                                 if doc["state"] != base.JOB_STATE_NEW}}
    return Restored(generator, len(docs) - rerun, rerun, tracking)


class CheckpointWriter(Listener):
    """Keeps the checkpoint at ``path`` up to date during one search (a scheduler listener)."""

    def __init__(self, path: str, trials: base.Trials, space: Any, rstate: Any,
                 tracker: Any = None, settings: Optional[Dict[str, Any]] = None) -> None:
        self.path = path
        self._trials, self._rstate, self._tracker = trials, rstate, tracker
        self._header = {"format": FORMAT, "version": VERSION, "space": space_fingerprint(space),
                        "labels": space_labels(space), "space_pickle": _pickled(space),
                        "settings": dict(settings or {})}
        self._lock = threading.Condition()
        self._pending: Optional[Dict[str, Any]] = None
        self._closing = False
        self._thread: Optional[threading.Thread] = None
        # Kept up to date from the hooks, so that a snapshot only copies references: finished
        # documents never change again and are only appended; open ones (queued points,
        # running trials) are frozen copies, taken once when they enter, since the loop keeps
        # changing the originals while the writer thread pickles.
        docs = internals.all_docs(trials)
        self._finished = [doc for doc in docs if doc["state"] in _FINAL_STATES]
        self._open = {doc["tid"]: copy.deepcopy(doc) for doc in docs
                      if doc["state"] not in _FINAL_STATES}
        self.writes = 0
        self.write_seconds = 0.0

    def write_now(self) -> None:
        """Write the current state at once, on this thread; errors are raised (called before
        the search starts, so a path that cannot be written fails before any trial runs)."""
        self._write(self._snapshot())

    # ---------------------------------------------------------------- listener hooks
    def search_started(self, search: Any, settings: Any) -> None:
        self._thread = threading.Thread(target=self._run, name="hyperspark-checkpoint",
                                        daemon=True)
        self._thread.start()

    def trial_started(self, doc: Dict[str, Any], progress: Progress) -> None:
        self._open[doc["tid"]] = copy.deepcopy(doc)  # as it starts: enough to run it again
        self._offer()

    def trial_ended(self, doc: Dict[str, Any], progress: Progress) -> None:
        self._open.pop(doc["tid"], None)
        self._finished.append(doc)
        self._offer()

    def search_ended(self, progress: Progress, stop_reason: Optional[str],
                     error: Optional[BaseException]) -> None:
        with self._lock:
            self._closing = True
            self._pending = None
            self._lock.notify()
        if self._thread is not None:
            self._thread.join()
        self._write(self._snapshot())
        logger.info("checkpoint %s: %d writes, %.2f s in all", self.path, self.writes,
                    self.write_seconds)

    # ---------------------------------------------------------------- snapshot and write
    def _snapshot(self) -> Dict[str, Any]:
        """The state as of now, taken on the loop thread without copying a document: finished
        ones are referenced by count (the writer thread slices them), open ones are frozen."""
        tracking = self._tracker.resume_info() if self._tracker is not None else None
        return {**self._header, "written": time.time(),
                "finished": (self._finished, len(self._finished)),
                "open": list(self._open.values()),
                "next_tid": len(internals.handed_out_ids(self._trials)),
                "attachments": dict(internals.attachments(self._trials)),
                "rstate": self._rstate.bit_generator.state,  # a new dict at each read
                "tracking": tracking}

    def _offer(self) -> None:
        snapshot = self._snapshot()
        with self._lock:
            self._pending = snapshot
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                snapshot, self._pending = self._pending, None
            try:
                took = self._write(snapshot)
            except Exception as exc:  # the next write may succeed; the search goes on
                logger.warning("could not write the checkpoint %s: %s", self.path, exc)
                took = 1.0
            with self._lock:  # pace: leave the driver the rest of its time
                self._lock.wait_for(lambda: self._closing, timeout=took / WRITER_SHARE - took)

    def _write(self, snapshot: Dict[str, Any]) -> float:
        began = time.perf_counter()
        state = dict(snapshot)
        finished, count = state.pop("finished")
        state["trials"] = sorted(finished[:count] + state.pop("open"), key=lambda d: d["tid"])
        folder = os.path.dirname(self.path)
        handle, temporary = tempfile.mkstemp(prefix=".checkpoint-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        took = time.perf_counter() - began
        self.writes += 1
        self.write_seconds += took
        return took


def path_of(trials_save_file: Any, configured: Optional[str]) -> Optional[str]:
    """The checkpoint of a search: ``fmin``'s ``trials_save_file``, or
    ``SparkTrials(checkpoint=...)`` (``configured``); refuses two different ones."""
    if not trials_save_file:
        return configured
    path = check_path("trials_save_file", trials_save_file)
    if configured and path != configured:
        raise InvalidArgument(f"trials_save_file={path!r} differs from SparkTrials(checkpoint="
                              f"{configured!r}); give one of them")
    return path
