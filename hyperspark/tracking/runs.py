"""Automatic MLflow tracking: one parent run per ``fmin``, one child run per trial.
The names are the ones Databricks' hyperopt integration uses, so existing queries keep working.
Writes go through a ``TrackingWriter`` thread with retries: tracking never blocks the event loop
and never fails the search. The only wait is on the trial's own thread (never the loop's): the
child run must exist before the trial starts, so the objective's ``mlflow.log_*`` calls resume it.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple

from hyperspark.params import ParamResolver
from hyperspark.record import TrialRecord
from hyperspark.search import Listener, Progress, Settings
from hyperspark.space import describe_space, space_line
from hyperspark.tracking.ui_link import (SEARCH_ID_TAG, experiment_name, runs_link,
                                         server_url)
from hyperspark.tracking.child_runs import (MAX_PARAM, MAX_TAG, OBJECTIVES_TAG, cut, outcome_of,
                                            trial_tags)
from hyperspark.tracking.front import log_front
from hyperspark.tracking.in_flight import concurrency_for
from hyperspark.tracking.mlflow_internals import active_experiment_id
from hyperspark.tracking.resumed import adopt_children
from hyperspark.tracking.settings import TrackingSettings
from hyperspark.tracking.spares import SpareRuns
from hyperspark.tracking.store import (absolute_tracking_uri, prefer_write_ahead_log,
                                       quiet_run_urls)
from hyperspark.tracking.worker import FORWARDED_ENV
from hyperspark.tracking.writer import TrackingWriter

logger = logging.getLogger("hyperspark")

RUN_SOURCE = "hyperoptAutoTracking"
NAME_DELAY_S = 1.0
"""A starting trial's name and params are written this long after it starts, or with its end
if that comes first: a short trial then costs one write less."""
PAGE_ARTIFACT = "search.html"
"""The search page's name among the parent run's artifacts."""
SPACE_ARTIFACT = "space.json"
"""The space, each label with its distribution and bounds, among the parent run's artifacts
(the ``space`` tag has the same on one line)."""
CONTINUED_FROM_TAG = "hyperspark.continued_from"
"""On the parent run of a search continued with ``SparkTrials.from_mlflow``: the parent run
whose trials it started from."""


def algorithm_name(algo: Any) -> str:
    """The module of a suggest function (``hyperspark.tpe``, ``hyperopt.tpe``), through
    ``functools.partial``; its repr when it has none."""
    inner = getattr(algo, "func", algo)
    return getattr(inner, "__module__", None) or repr(algo)


class MlflowTracker(Listener):
    """Listens to one search and records it. Create one per ``fmin`` call."""

    def __init__(self, fn_space: Any, algo: Any, requested_parallelism: Optional[int],
                 resume: Optional[Dict[str, Any]] = None,
                 settings: Optional[TrackingSettings] = None,
                 search_id: Optional[str] = None,
                 continued_from: Optional[str] = None) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.settings = settings or TrackingSettings.from_env()
        self._mlflow = mlflow
        self.tracking_uri = absolute_tracking_uri(mlflow.get_tracking_uri())
        self._client = MlflowClient(self.tracking_uri)
        self._resolver = ParamResolver(fn_space)
        self._space = describe_space(fn_space)
        self._algo_name = algorithm_name(algo)
        self._requested_parallelism = requested_parallelism
        self.continued_from = continued_from
        self.search_id = search_id or uuid.uuid4().hex[:12]
        self.fmin_uuid = self.search_id
        """hyperopt's name for the search's id (its SparkTrials tags every run with it): the
        search id, or the id a resumed checkpoint's runs already carry."""
        self.parent_run_id: Optional[str] = None
        self._owns_parent = False
        self._experiment_id: Optional[str] = None
        self.experiment_name: Optional[str] = None
        """The parent run's experiment, by name (what a person is shown; links use the id)."""
        self._writer: Optional[TrackingWriter] = None
        self._spares: Optional[SpareRuns] = None
        self._quiet = False
        self.log_page = True
        """Log the search page with the parent run at the end (``tracking.page_enabled``)."""
        self._child_runs: Dict[int, "Future[Optional[str]]"] = {}
        self._user = _user()
        self._worker_env: Dict[str, str] = {}  # forwarded to every trial; set at search start
        self._best_loss: Optional[float] = None
        self._named: Dict[int, Tuple[Dict[str, Any], Any]] = {}  # tid -> (doc, child run)
        self._resumed_runs: Dict[int, str] = {}  # tid -> child run of a resumed parent
        self._unfinished: List[Tuple[Dict[str, Any], str]] = []  # finished trial, open run
        self._runless: List[Dict[str, Any]] = []  # finished trials whose run the crash lost
        self._resume = resume if resume and resume.get("tracking_uri") == self.tracking_uri \
            else None
        if resume and self._resume is None:
            logger.warning("MLflow: the checkpoint's runs are in %s, not in %s: this search "
                           "starts a new parent run", resume.get("tracking_uri"),
                           self.tracking_uri)

    # ---------------------------------------------------------------- search start
    def search_started(self, search: Any, settings: Settings) -> None:
        """Find or create the parent run and log the search's settings (synchronous, once)."""
        active = self._mlflow.active_run()
        try:
            if active is not None:
                self.parent_run_id = active.info.run_id
                self._experiment_id = active.info.experiment_id
            elif self._resume is not None and self._reopen_parent():
                pass
            else:
                self._experiment_id = active_experiment_id() or "0"
                run = self._client.create_run(self._experiment_id, tags=self._context_tags())
                self.parent_run_id, self._owns_parent = run.info.run_id, True
            existing = self._client.get_run(self.parent_run_id).data
            self.experiment_name = experiment_name(self._client, self._experiment_id)
            # the store file exists by now
            prefer_write_ahead_log(self.tracking_uri, self.settings.sqlite_wal)
        except Exception as exc:
            logger.warning("MLflow tracking is off for this search: cannot reach %s (%s)",
                           self.tracking_uri, exc)
            self.parent_run_id = None
            return
        suffix = f"_{self.fmin_uuid}"
        params = {"max_evals": settings.max_evals, "parallelism": self._requested_parallelism,
                  "actual_parallelism": settings.parallelism, "timeout": settings.timeout,
                  "algo": self._algo_name, "max_queue_len": settings.max_queue_len,
                  "tasks_per_trial": settings.tasks_per_trial,
                  **({"scheduler_pool": settings.scheduler_pool} if settings.scheduler_pool
                     else {})}
        params = {(key + suffix if key in existing.params else key): str(value)
                  for key, value in params.items()
                  if existing.params.get(key) != str(value) or not self._resume}
        if settings.reproducible:  # the mode is on: say so, with what it needs to repeat
            params.update(reproducible_lag=str(settings.reproducible["lag"]),
                          reproducible_seed=str(settings.reproducible["seed"]))
        tags = {"runSource": RUN_SOURCE, "space": cut(space_line(self._space), MAX_TAG),
                SEARCH_ID_TAG: self.search_id,
                **({CONTINUED_FROM_TAG: self.continued_from} if self.continued_from else {}),
                "reproducible": "true" if settings.reproducible else "false",
                **{f"hyperspark.version.{name}": version
                   for name, version in _versions().items()}}
        if existing.tags.get("fmin_uuid") != self.fmin_uuid:
            tags["fmin_uuid" + (suffix if "fmin_uuid" in existing.tags else "")] = self.fmin_uuid
        quiet_run_urls(True)
        self._quiet = True
        self._writer = TrackingWriter(
            self._client, retry_for_s=self.settings.retry_for_s,
            flush_timeout_s=self.settings.flush_timeout_s,
            concurrency=concurrency_for(self.tracking_uri, self.settings.concurrency))
        spares = (self.settings.spare_runs if self.settings.spare_runs is not None
                  else settings.parallelism + settings.max_queue_len)
        self._spares = SpareRuns(self._writer, self._experiment_id, self._child_tags(),
                                 target=spares, remaining=settings.max_evals - len(
                                     self._resumed_runs))
        self._writer.log_batch(self.parent_run_id, params=params, tags=tags)
        self._writer.log_text(self.parent_run_id, json.dumps(self._space, indent=2),
                              SPACE_ARTIFACT)
        for doc, run_id in self._unfinished:
            self._writer.finish_run(_done(run_id), *outcome_of(doc))
        for doc in self._runless:  # finished, but its run was a spare not yet named: remake it
            self._writer.finish_run(self._create_child_run(doc), *outcome_of(doc))
        self._worker_env = {key: value for key, value in os.environ.items()
                            if key.startswith(FORWARDED_ENV)}
        self._worker_env.update(MLFLOW_TRACKING_URI=self.tracking_uri,
                                MLFLOW_EXPERIMENT_ID=self._experiment_id)
        link = self.ui_link()
        logger.info("MLflow: search recorded in run %s of experiment '%s' at %s%s",
                    self.parent_run_id, self.experiment_name, self.tracking_uri,
                    f" (its runs: {link})" if link else "")

    def ui_link(self, base_url: Optional[str] = None) -> Optional[str]:
        """The MLflow UI's runs table of this search's experiment, filtered to its runs;
        ``base_url``: where the UI is served (default: the tracking server, when the store
        is one). None before the search started, or with no UI to point at.

        >>> tracker.ui_link("http://127.0.0.1:5000")  # doctest: +SKIP
        "http://127.0.0.1:5000/#/experiments/1/runs?searchFilter=tags.%60hyperspark..."
        """
        base = base_url or server_url(self.tracking_uri)
        if base is None or self._experiment_id is None:
            return None
        return runs_link(base, self._experiment_id, self.search_id)

    @property
    def experiment_id(self) -> Optional[str]:
        """The parent run's experiment id (None before the search starts)."""
        return self._experiment_id

    def __repr__(self) -> str:
        return (f"MlflowTracker(run_id={self.parent_run_id!r}, experiment="
                f"{self.experiment_name!r}, search_id={self.search_id!r}, "
                f"tracking_uri={self.tracking_uri!r})")

    def _reopen_parent(self) -> bool:
        """Continue the checkpoint's parent run, if it still exists; True when it does."""
        resume = self._resume
        try:
            run = self._client.get_run(resume["parent_run_id"])
        except Exception as exc:
            logger.warning("MLflow: the checkpoint's parent run %s is gone (%s); this search "
                           "starts a new one", resume["parent_run_id"], exc)
            self._resume = None
            return False
        if run.info.lifecycle_stage != "active":
            logger.warning("MLflow: the checkpoint's parent run %s was deleted; this search "
                           "starts a new one", resume["parent_run_id"])
            self._resume = None
            return False
        self.parent_run_id, self._owns_parent = run.info.run_id, True
        self._experiment_id = run.info.experiment_id
        self.fmin_uuid = resume.get("fmin_uuid") or self.fmin_uuid
        self._best_loss = resume.get("best_loss")
        adopted = adopt_children(self._client, self._experiment_id, self.parent_run_id,
                                 resume.get("finished", {}), resume.get("tids", ()))
        self._resumed_runs, self._unfinished = adopted.runs, adopted.unfinished
        self._runless = adopted.runless
        self._client.update_run(self.parent_run_id, status="RUNNING")
        logger.info("MLflow: resuming parent run %s", self.parent_run_id)
        return True

    def resume_info(self) -> Optional[Dict[str, Any]]:
        """What a resumed search needs to continue these runs (stored in the checkpoint)."""
        if self.parent_run_id is None:
            return None
        return {"tracking_uri": self.tracking_uri, "parent_run_id": self.parent_run_id,
                "fmin_uuid": self.fmin_uuid, "best_loss": self._best_loss}

    def _context_tags(self, name: Optional[str] = None) -> Dict[str, str]:
        tags = {"mlflow.source.name": "hyperspark", "mlflow.user": self._user}
        if name:
            tags["mlflow.runName"] = name
        return tags

    # ---------------------------------------------------------------- trials
    def trial_started(self, doc: Dict[str, Any], progress: Progress) -> None:
        if self._writer is None:
            return
        tid = doc["tid"]
        earlier = self._resumed_runs.get(tid)
        if earlier is not None:  # run again after a resume: continue its child run
            self._writer.reopen(earlier)
            self._child_runs[tid] = _done(earlier)
            return
        spare = self._spares.take() if self._spares is not None else None
        if spare is not None:  # made ahead of need: name it; the trial need not wait
            self._writer.log_batch(spare, tags=trial_tags(doc), params=self._params(doc),
                                   delay_s=NAME_DELAY_S)
            self._child_runs[tid] = spare
            return
        self._child_runs[tid] = self._create_child_run(doc)

    def _params(self, doc: Dict[str, Any]) -> Dict[str, str]:
        return {cut(str(k), 250): cut(str(v), MAX_PARAM)
                for k, v in self._resolver.resolve(doc["misc"]["vals"]).items()}

    def _create_child_run(self, doc: Dict[str, Any]) -> "Future[Optional[str]]":
        """A new child run for the trial, named and with its params."""
        return self._writer.create_run(
            self._experiment_id, {**self._child_tags(), **trial_tags(doc)},
            self._params(doc))

    def _child_tags(self) -> Dict[str, str]:
        """What every child run of this search carries from its creation."""
        return {**self._context_tags(), "mlflow.parentRunId": self.parent_run_id,
                "fmin_uuid": self.fmin_uuid, SEARCH_ID_TAG: self.search_id,
                "runSource": RUN_SOURCE}

    def trial_env(self, tid: int) -> Dict[str, str]:
        """Environment for trial ``tid`` on its worker; called on the trial's own thread."""
        future = self._child_runs.get(tid)
        if future is None:
            return {}
        try:
            run_id = future.result(timeout=self.settings.child_run_wait_s)
        except Exception:
            run_id = None
        if run_id is None:
            logger.warning("trial %s runs without its MLflow child run (not created in %.0f s)",
                           tid, self.settings.child_run_wait_s)
            return {}
        return {**self._worker_env, "MLFLOW_RUN_ID": run_id}

    def trial_reported(self, doc: Dict[str, Any], report: Any, progress: Progress) -> None:
        """Log the report as ``loss`` (and its other metrics) at its step: a learning curve."""
        future = self._child_runs.get(doc["tid"])
        if self._writer is None or future is None:
            return
        self._writer.log_step(future, {**report.metrics, "loss": report.loss}, report.step,
                              int(report.time * 1000))

    def trial_ended(self, doc: Dict[str, Any], progress: Progress) -> None:
        future = self._child_runs.pop(doc["tid"], None)
        if self._writer is None or future is None:
            return
        metrics, tags, status = outcome_of(doc)
        if OBJECTIVES_TAG in tags:  # kept for the front, logged when the search ends
            self._named[doc["tid"]] = (doc, future)
        reports = TrialRecord.from_doc(doc).reports
        if reports and "loss" in metrics:  # ends its learning curve, at the last step
            self._writer.log_step(future, {"loss": metrics.pop("loss")}, reports[-1][0])
        self._writer.finish_run(future, metrics, tags, status)
        loss = doc["result"].get("loss") if doc["result"].get("status") == "ok" else None
        if loss is not None and (self._best_loss is None or loss < self._best_loss):
            self._best_loss = loss
            self._writer.log_best(self.parent_run_id, future, loss, progress.finished)

    # ---------------------------------------------------------------- search end
    def search_ended(self, progress: Progress, stop_reason: Optional[str],
                     error: Optional[BaseException]) -> None:
        if self._writer is None:
            return
        counts = {"successful_trials_count": progress.succeeded,
                  "failed_trials_count": progress.failed,
                  "cancelled_trials_count": progress.cancelled,
                  "pruned_trials_count": progress.pruned,
                  "total_trials_count": progress.finished}
        self._writer.log_batch(self.parent_run_id, metrics=counts)
        if self._named:
            log_front(self._writer, self.parent_run_id, self._named)

    def close(self, status: str, page: Optional[Callable[[], str]] = None) -> None:
        """Log the search page (``page()`` gives its HTML) when ``log_page``; end the parent
        run if this search created it (FINISHED / FAILED / KILLED); then wait a bounded time
        for every pending write."""
        if self._writer is None:
            return
        if page is not None and self.log_page:
            try:
                self._writer.log_text(self.parent_run_id, page(), PAGE_ARTIFACT)
            except Exception as exc:  # the page never fails a search
                logger.warning("MLflow: the search page could not be made: %s", exc)
        if self._owns_parent:  # a search cut short says so first
            self._writer.terminate(self.parent_run_id, status, urgent=status != "FINISHED")
        if self._spares is not None:
            self._spares.discard()
        self._writer.close()
        if self._quiet:
            quiet_run_urls(False)
            self._quiet = False


def _versions() -> Dict[str, str]:
    from hyperspark.page import versions

    return versions()


def _done(run_id: str) -> "Future[Optional[str]]":
    future: "Future[Optional[str]]" = Future()
    future.set_result(run_id)
    return future


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "unknown"
