"""SparkTrials: a ``hyperopt.Trials`` that runs its search on Spark through the event loop."""
from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
from hyperopt import base, tpe
from hyperopt.exceptions import AllTrialsFailed
from hyperopt.fmin import space_eval

from hyperspark import checkpoint as checkpoint_module
from hyperspark import config
from hyperspark import hyperopt_internals as internals
from hyperspark.backends.base import Backend, SearchContext
from hyperspark.backends.choice import make_backend
from hyperspark.errors import AllTrialsFailedError, InvalidArgument, InvalidArgumentType
from hyperspark.frame import trials_frame
from hyperspark.progress import ProgressReporter
from hyperspark.pruners import check_pruner
from hyperspark.record import TrialStatus, classify
from hyperspark.scheduler import STOP_INTERRUPTED, Scheduler
from hyperspark.search import Listener, Settings
from hyperspark.serialization import dumps_objective

logger = logging.getLogger("hyperspark")

class SparkTrials(base.Trials):
    """Drop-in replacement for ``hyperopt.SparkTrials``: evaluates trials in parallel on Spark.

    Example::

        from hyperopt import fmin, hp, tpe
        from hyperspark import SparkTrials

        trials = SparkTrials(parallelism=4, timeout=600, trial_timeout=60)
        best = fmin(lambda x: (x - 1) ** 2, hp.uniform("x", -5, 5), algo=tpe.suggest,
                    max_evals=50, trials=trials)
        trials.to_pandas()

    Args:
        parallelism: trials run at once; None means the cluster's task slots (the driver
            backend: 2). Trimmed to ``max_evals``; a warning says when it exceeds the slots.
        timeout: seconds for the whole ``fmin``; running trials are cancelled at the deadline,
            finished results are kept. ``fmin(timeout=...)`` may also set one; the smaller wins.
        loss_threshold: stop as soon as a trial's loss is below this.
        spark_session: the session to use, classic or Spark Connect; default the active one,
            else Spark Connect at ``SPARK_REMOTE`` when set, else a new ``local[*]`` one.
        resource_profile: a ``pyspark.resource.ResourceProfile`` every trial task runs with
            (jobs: each attempt's task; actors: each actor's task), e.g. GPUs or whole
            executors per trial. Needs a cluster master; in local mode it is ignored with a
            warning (docs/guide.md, "Resources and GPUs").
        trial_timeout: seconds one trial's objective may run before it alone is cancelled.
            The clock starts when the objective starts on its worker: time waiting for a task
            slot, a Python worker or ``worker_setup`` does not count.
        max_retries: extra attempts for a trial whose attempt the infrastructure lost.
        retry_on: exception types raised by the objective that are retried too.
        backend: ``"jobs"`` (one Spark job per trial), ``"actors"`` (long-lived workers held
            by Spark jobs, fed over an authenticated channel: milliseconds per trial), an
            ``ActorPool`` (warm actors shared by searches: no start-up per search),
            ``"driver"`` (trials on driver threads, for objectives that run Spark jobs
            themselves, e.g. MLlib: each trial's jobs carry its own group) or ``"local"``
            (threads in this process, no Spark).
        worker_setup: a function run once per worker (actor, or Python worker of the jobs
            backend) before its first trial; the objective gets its value from
            ``hyperspark.worker_state()``.
        mlflow_tracking: record the search in MLflow (parent run, a child run per trial).
            None (default): on when mlflow is importable and no switch turns it off (see
            docs/tracking.md); False: off.
        checkpoint: a file where the search's state is kept (same as ``fmin``'s
            ``trials_save_file``). If it exists when ``fmin`` starts, the search resumes from
            it: finished trials are kept, interrupted ones run again (docs/reliability.md).
        pruner: stops losing trials early, from what their objectives pass to
            ``hyperspark.report()``: ``hyperspark.pruners.ASHA()``, ``MedianStopping()``,
            ``Threshold()`` or any object with ``should_prune(tid, history)``. A pruned trial
            is done, with its last reported loss and ``"pruned": True`` (docs/pruning.md).
    """

    def __init__(self, parallelism: Optional[int] = None, timeout: Optional[float] = None,
                 loss_threshold: Optional[float] = None, spark_session: Any = None,
                 resource_profile: Any = None, *,
                 trial_timeout: Optional[float] = None,
                 max_retries: int = config.DEFAULT_MAX_RETRIES,
                 retry_on: Sequence[Type[BaseException]] = (), backend: Any = "jobs",
                 mlflow_tracking: Optional[bool] = None,
                 worker_setup: Optional[Callable[[], Any]] = None,
                 checkpoint: Optional[str] = None, pruner: Any = None) -> None:
        self.user_specified_parallelism = config.check_positive_int(
            "parallelism", parallelism, allow_none=True)
        self.timeout = config.check_positive_number("timeout", timeout)
        self.loss_threshold = config.check_loss_threshold(loss_threshold)
        self.trial_timeout = config.check_positive_number("trial_timeout", trial_timeout)
        self.max_retries = config.check_non_negative_int("max_retries", max_retries)
        self.retry_on: Tuple[Type[BaseException], ...] = config.check_retry_on(retry_on)
        self._pool = backend if hasattr(backend, "check_search_arguments") else None
        self.backend = "actors" if self._pool is not None else config.check_backend(backend)
        if self._pool is not None:  # an ActorPool
            self._pool.check_search_arguments(self.user_specified_parallelism, worker_setup,
                                              resource_profile)
        if worker_setup is not None and not callable(worker_setup):
            raise InvalidArgumentType(f"worker_setup must be a callable taking no arguments, "
                                      f"got {worker_setup!r}")
        self.worker_setup = worker_setup
        if mlflow_tracking not in (None, True, False):
            raise InvalidArgumentType(f"mlflow_tracking must be True, False or None, got "
                                      f"{mlflow_tracking!r}")
        self.mlflow_tracking = mlflow_tracking
        self.checkpoint = (checkpoint_module.check_path("checkpoint", checkpoint)
                           if checkpoint is not None else None)
        self.resource_profile = config.check_resource_profile(resource_profile)
        self.pruner = check_pruner(pruner)
        if self.resource_profile is not None and self.backend in ("driver", "local"):
            logger.warning("SparkTrials(resource_profile=...) is ignored with backend=%r: it "
                           "applies to the tasks hyperspark runs trials in (jobs, actors); "
                           "here the objective starts its own Spark jobs", self.backend)
            self.resource_profile = None
        super().__init__()
        self._spark: Any = None
        self._runner: Any = None
        if self._pool is not None:
            self._spark, self._runner = self._pool.spark, self._pool.runner
        elif self.backend != "local":
            self._connect(spark_session)
        self._fmin_cancelled_reason: Optional[str] = None
        self._space: Any = None
        self.last_search_id: Optional[str] = None
        self.actual_parallelism: Optional[int] = None
        self.last_tracker: Any = None
        """The MlflowTracker of the last fmin (its parent_run_id and fmin_uuid), or None."""

    def _connect(self, spark_session: Any = None) -> None:
        """Find the session and its runner; drop a resource profile the master cannot use."""
        from hyperspark.backends.spark import get_or_create_session, runner_for

        self._spark = get_or_create_session(spark_session)
        self._runner = runner_for(self._spark)
        if self.resource_profile is not None:
            why_not = config.stage_level_scheduling_unsupported(self._runner.master())
            if why_not:
                logger.warning("SparkTrials(resource_profile=...) is ignored: %s. Trials run "
                               "as plain tasks (spark.task.cpus each, no custom resources).",
                               why_not)
                self.resource_profile = None

    # ---------------------------------------------------------------- pickling
    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_spark"] = None  # a session does not travel; a loaded object finds one again
        state["_runner"] = None
        state["last_tracker"] = None
        state["resource_profile"] = None
        state["_pool"] = None  # a loaded object runs on fresh actors
        return state

    # ---------------------------------------------------------------- counts (hyperopt's names)
    @property
    def fmin_cancelled_reason(self) -> Optional[str]:
        """Why the last ``fmin`` ended before ``max_evals`` (None when it did not)."""
        return self._fmin_cancelled_reason

    def count_successful_trials(self) -> int:
        """Trials whose objective returned a result with status ``ok`` (pruned ones apart)."""
        return sum(1 for doc in internals.all_docs(self) if doc["state"] == base.JOB_STATE_DONE
                   and doc["result"].get("status") == base.STATUS_OK
                   and not doc["result"].get("pruned"))

    def count_pruned_trials(self) -> int:
        """Trials the pruner stopped (done, with their last reported loss)."""
        return sum(1 for doc in internals.all_docs(self) if doc["state"] == base.JOB_STATE_DONE
                   and doc["result"].get("pruned"))

    def count_failed_trials(self) -> int:
        """Trials that raised, returned an invalid result, or ran out of attempts
        (``TrialStatus.ERROR``), as hyperopt counts them. A trial whose objective returned
        ``{"status": "fail"}`` is not among them, though the bar, the summary and MLflow's
        ``failed_trials_count`` count it failed: see ``status_counts()``."""
        return self.count_by_state_unsynced(base.JOB_STATE_ERROR)

    def status_counts(self) -> Dict[str, int]:
        """Finished trials by ``TrialStatus`` value: ok, pruned, failed (returned status
        ``fail``), error (raised), timed_out, cancelled; zeros included.

        >>> trials.status_counts()  # doctest: +SKIP
        {'ok': 18, 'pruned': 0, 'failed': 1, 'error': 1, 'timed_out': 0, 'cancelled': 0}
        """
        counts = {status.value: 0 for status in TrialStatus if status.finished}
        for doc in internals.all_docs(self):
            status = classify(doc)
            if status.finished:
                counts[status.value] += 1
        return counts

    def count_cancelled_trials(self) -> int:
        return self.count_by_state_unsynced(base.JOB_STATE_CANCEL)

    def count_total_trials(self) -> int:
        return self.count_by_state_unsynced([base.JOB_STATE_DONE, base.JOB_STATE_ERROR,
                                             base.JOB_STATE_CANCEL])

    def delete_all(self) -> None:
        super().delete_all()
        self._fmin_cancelled_reason = None

    # ---------------------------------------------------------------- the search
    def fmin(self, fn: Callable, space: Any, algo: Optional[Callable] = None,
             max_evals: Optional[int] = None, timeout: Optional[float] = None,
             loss_threshold: Optional[float] = None, max_queue_len: int = 1,
             rstate: Optional[np.random.Generator] = None, pass_expr_memo_ctrl: Any = None,
             verbose: bool = True, catch_eval_exceptions: bool = False,
             return_argmin: bool = True, show_progressbar: bool = True,
             early_stop_fn: Optional[Callable] = None, trials_save_file: str = "",
             *, listeners: Sequence[Listener] = ()) -> Any:
        """Run the search; called by ``hyperopt.fmin`` (and ``hyperspark.fmin``)."""
        path = self._checkpoint_path(trials_save_file)
        saved = checkpoint_module.load(path, space) if path else None
        if saved is not None and internals.all_docs(self):
            logger.info("checkpoint %s not loaded: this SparkTrials already holds %d trials "
                        "(they are saved over it)", path, len(internals.all_docs(self)))
            saved = None  # a second fmin on this object: as without a checkpoint
        if saved is not None:
            rstate = self._restore(saved, path)
        settings, algo = self._settings(max_evals, timeout, loss_threshold, max_queue_len, rstate,
                                        early_stop_fn, algo)
        self.last_tracker = None
        domain = base.Domain(fn, space, pass_expr_memo_ctrl=pass_expr_memo_ctrl)
        resume = None
        if saved and saved.get("tracking"):
            resume = {**saved["tracking"], "tids": {doc["tid"] for doc in saved["trials"]},
                      "finished": {doc["tid"]: doc for doc in internals.all_docs(self)
                                   if doc["state"] != base.JOB_STATE_NEW}}
        tracker = self._make_tracker(space, algo, resume)
        extra: List[Listener] = []
        if path:
            writer = checkpoint_module.CheckpointWriter(path, self, space, settings.rstate,
                                                        tracker)
            writer.write_now()
            extra.append(writer)
        remote = self.backend in ("jobs", "actors")  # trials run in other processes
        search = SearchContext(search_id=uuid.uuid4().hex[:12], domain=domain,
                               max_retries=self.max_retries, retry_on=self.retry_on,
                               payload=(dumps_objective(domain, fn, self.worker_setup)
                                        if remote else None),
                               worker_setup=self.worker_setup,
                               trial_env=tracker.trial_env if tracker else None)
        self._space, self.last_search_id = space, search.search_id
        self.last_tracker = tracker
        self._fmin_cancelled_reason = None
        reporter = ProgressReporter(settings.max_evals, self.count_total_trials(),
                                    show_progressbar)
        scheduler = Scheduler(self, domain, algo, self._make_backend(settings.parallelism),
                              search, settings, [reporter, *([tracker] if tracker else []),
                                                 *extra, *listeners])
        logger.info("search %s: up to %d trials, parallelism %d, %s backend", search.search_id,
                    settings.max_evals, settings.parallelism, self.backend)
        status = "FAILED"
        try:
            self._fmin_cancelled_reason = scheduler.run()
            answer = self._answer(space, return_argmin)
            status = "FINISHED"
            return answer
        except KeyboardInterrupt:
            self._fmin_cancelled_reason = STOP_INTERRUPTED
            status = "KILLED"
            raise
        finally:
            if tracker is not None:
                tracker.close(status)

    def _checkpoint_path(self, trials_save_file: Any) -> Optional[str]:
        if not trials_save_file:
            return self.checkpoint
        path = checkpoint_module.check_path("trials_save_file", trials_save_file)
        if self.checkpoint and path != self.checkpoint:
            raise InvalidArgument(f"trials_save_file={path!r} differs from SparkTrials(checkpoint="
                             f"{self.checkpoint!r}); give one of them")
        return path

    def _restore(self, saved: Dict[str, Any], path: str) -> np.random.Generator:
        """Load a checkpoint's trials into this (empty) object; returns the saved random state
        to continue with."""
        docs = [checkpoint_module.as_new_trial(doc)
                if checkpoint_module.interrupted(doc, STOP_INTERRUPTED) else doc
                for doc in saved["trials"]]
        internals.add_docs(self, docs)
        internals.reserve_ids(self, saved["next_tid"])  # tids handed out, withdrawn ones too
        internals.attachments(self).update(saved["attachments"])
        self.refresh()
        rerun = sum(1 for doc in docs if doc["state"] == base.JOB_STATE_NEW)
        logger.info("resuming from %s: %d finished trials kept, %d to run again", path,
                    len(docs) - rerun, rerun)
        # hyperopt.fmin always passes an rstate (a fresh one when the caller gave none): the
        # resumed search continues the saved random sequence instead, so it is the same search
        state = saved["rstate"]
        generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
        generator.bit_generator.state = state
        return generator

    def _make_tracker(self, space: Any, algo: Callable,
                      resume: Optional[Dict[str, Any]] = None) -> Any:
        if not self._tracking_enabled():
            return None
        try:
            from hyperspark.tracking import MlflowTracker, is_local_store

            tracker = MlflowTracker(space, algo, self.user_specified_parallelism, resume)
        except Exception as exc:  # tracking never stops a search
            logger.warning("MLflow tracking is off: %s", exc)
            return None
        if self._runner is not None and is_local_store(tracker.tracking_uri):
            master = self._runner.master()
            if not master.startswith("local"):
                logger.warning("MLflow store %s is a local path but the master is %s: executors "
                               "on other machines cannot log to it; use a tracking server",
                               tracker.tracking_uri, master)
        return tracker

    def _tracking_enabled(self) -> bool:
        if self.mlflow_tracking is not None:
            return self.mlflow_tracking
        if not config.env_flag("HYPERSPARK_MLFLOW", True):
            return False
        if self._runner is not None:
            from hyperspark.backends.spark.session import conf_flag

            for key in config.TRACKING_CONF_KEYS:
                if conf_flag(self._runner, key) is False:
                    return False
        import importlib.util

        return importlib.util.find_spec("mlflow") is not None

    def _settings(self, max_evals: Any, timeout: Any, loss_threshold: Any, max_queue_len: Any,
                  rstate: Any, early_stop_fn: Any, algo: Any) -> Tuple[Settings, Callable]:
        timeout = config.check_positive_number("timeout", timeout)
        timeouts = [t for t in (self.timeout, timeout) if t is not None]
        if max_evals == sys.maxsize:  # hyperopt.fmin's stand-in for "not given"
            max_evals = None
        if max_evals is None and timeouts:
            max_evals = sys.maxsize  # with a deadline, running until it is fine
        max_evals = config.check_max_evals(max_evals)
        threshold = config.check_loss_threshold(loss_threshold)
        if early_stop_fn is not None and not callable(early_stop_fn):
            raise InvalidArgumentType(f"early_stop_fn must be callable, got {early_stop_fn!r}")
        if rstate is None:
            seed = os.environ.get("HYPEROPT_FMIN_SEED", "")
            rstate = np.random.default_rng(int(seed) if seed else None)
        settings = Settings(
            max_evals=max_evals,
            parallelism=self._decide_parallelism(max_evals - self.count_total_trials()),
            max_queue_len=config.check_max_queue_len(max_queue_len),
            timeout=min(timeouts) if timeouts else None,
            trial_timeout=self.trial_timeout,
            loss_threshold=threshold if threshold is not None else self.loss_threshold,
            early_stop_fn=early_stop_fn, rstate=rstate, pruner=self.pruner)
        return settings, algo or tpe.suggest

    def _decide_parallelism(self, remaining: int) -> int:
        requested = self.user_specified_parallelism
        slots = None
        if self.backend == "driver":
            requested = requested or config.DRIVER_DEFAULT_PARALLELISM
        elif self._pool is not None:
            slots = self._pool.size
        elif self._runner is not None:
            slots = self._runner.task_slots(self.resource_profile)
        parallelism = requested or slots or os.cpu_count() or 1
        if requested and slots and requested > slots:
            logger.warning("parallelism=%d exceeds the %d task slots the cluster has now: trials "
                           "beyond that wait for a free slot (waiting is not running: their "
                           "trial_timeout starts when their objective does)", requested, slots)
        self.actual_parallelism = max(1, min(parallelism, max(remaining, 1)))
        return self.actual_parallelism

    def _make_backend(self, parallelism: int) -> Backend:
        if self._pool is not None:
            return self._pool.backend(parallelism)
        if self._runner is None and self.backend != "local":  # e.g. unpickled: find a session
            self._connect()
        return make_backend(self.backend, self._runner, parallelism, self.resource_profile)

    def _answer(self, space: Any, return_argmin: bool) -> Any:
        """What fmin returns, as hyperopt's SparkTrials would: with no successful trial,
        ``return_argmin=False`` returns None when no trial is left that hyperopt counts (every
        one failed or was cancelled), and everything else raises, with the failures shown."""
        if any(doc["state"] == base.JOB_STATE_DONE and doc["result"].get("status") ==
               base.STATUS_OK for doc in internals.all_docs(self)):
            return self.argmin if return_argmin else space_eval(space, self.argmin)
        self.refresh()
        if not return_argmin and len(self.trials) == 0:
            logger.warning("no trial succeeded (%d finished); fmin returns None, as hyperopt "
                           "does with return_argmin=False", self.count_total_trials())
            return None
        failed = [d for d in internals.all_docs(self) if d["state"] == base.JOB_STATE_ERROR
                  or (d["state"] == base.JOB_STATE_DONE
                      and d["result"].get("status") != base.STATUS_OK)]
        total = self.count_total_trials()
        if failed:
            raise AllTrialsFailedError(failed, total)
        raise AllTrialsFailed(f"no trial succeeded ({total} finished; stopped: "
                              f"{self._fmin_cancelled_reason or 'max_evals reached'})")

    # ---------------------------------------------------------------- reports
    def to_pandas(self) -> Any:
        """One row per trial: tid, state (``pruned`` for a pruned trial), status, loss, params
        (resolved), start, end, duration, attempts, reports, error.

        >>> trials.to_pandas().sort_values("loss").head()  # doctest: +SKIP
        """
        return trials_frame(internals.all_docs(self), self._space)
