"""SparkTrials: a ``hyperopt.Trials`` that runs its search on Spark through the event loop."""
from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
from hyperopt import base

from hyperspark import checkpoint as checkpoint_module
from hyperspark import parallelism as parallelism_module
from hyperspark import reproducible as reproducible_module
from hyperspark import sizing as sizing_module
from hyperspark import config
from hyperspark import tpe as hyperspark_tpe
from hyperspark import hyperopt_internals as internals
from hyperspark import page as search_page
from hyperspark.backends import registry
from hyperspark.counts import TrialCounts
from hyperspark.search_context import SearchContext
from hyperspark.errors import InvalidArgument, InvalidArgumentType
from hyperspark.frame import trials_frame
from hyperspark.points import insert_points
from hyperspark.progress import ProgressReporter
from hyperspark.pruners import check_pruner
from hyperspark.scheduler import Scheduler
from hyperspark.stop_rules import STOP_INTERRUPTED
from hyperspark.search import Listener, Settings
from hyperspark.serialization import dumps_objective
from hyperspark.space import check_space
from hyperspark.source_map import SourceMap, definition_site
from hyperspark.summary import summary
from hyperspark.tracking import start_tracking

logger = logging.getLogger("hyperspark")


class SparkTrials(TrialCounts, base.Trials):
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
        reproducible: the same seed (``fmin(rstate=...)`` or ``HYPEROPT_FMIN_SEED``) gives the
            same trials (tid -> parameters -> loss, for a deterministic objective), whatever
            the timing, backend or cluster: suggestion k is made from the results of trials
            before k - ``lag`` only, and sees the ``lag`` trials before it as running
            (hyperspark/reproducible.py, docs/guide.md "Reproducible searches").
        lag: the reproducible mode's lag (default: twice ``parallelism``); keep it, or
            ``parallelism``, the same to get the same search.
        tasks_per_trial: the tasks of one trial (default 1), or a callable that takes a
            trial's parameters (as ``space_eval`` gives them) and returns them: each trial
            then waits until its tasks fit in the free slots (docs/guide.md, "Trials sized by
            their parameters"; ``resource_profile`` may be such a callable too). With N > 1
            each trial is one Spark barrier job of N tasks, started together (jobs backend):
            every task runs the objective as one rank, ``hyperspark.trial_context()`` gives
            its rank, the world size, the ranks' addresses, ``barrier()``, ``all_gather()``
            and a ``master_addr``/``master_port`` for ``torch.distributed``; rank 0's return
            value is the trial's result. Up to ``parallelism`` such trials run side by side
            (docs/guide.md, "Distributed trials").
        scheduler_pool: the fair-scheduler pool every Spark job of the search runs in
            (trials' tasks, gangs, actors' launch, a driver-backend objective's own jobs), so
            searches of one application share its slots by the pools' weights
            (``spark.scheduler.mode=FAIR``; docs/guide.md, "Sharing a cluster").
    """

    def __init__(self, parallelism: Optional[int] = None, timeout: Optional[float] = None,
                 loss_threshold: Optional[float] = None, spark_session: Any = None,
                 resource_profile: Any = None, *,
                 trial_timeout: Optional[float] = None,
                 max_retries: int = config.DEFAULT_MAX_RETRIES,
                 retry_on: Sequence[Type[BaseException]] = (), backend: Any = "jobs",
                 mlflow_tracking: Optional[bool] = None,
                 worker_setup: Optional[Callable[[], Any]] = None,
                 checkpoint: Optional[str] = None, pruner: Any = None,
                 reproducible: bool = False, lag: Optional[int] = None,
                 tasks_per_trial: int = 1, scheduler_pool: Optional[str] = None) -> None:
        self.user_specified_parallelism = config.check_positive_int(
            "parallelism", parallelism, allow_none=True)
        self.timeout = config.check_positive_number("timeout", timeout)
        self.loss_threshold = config.check_loss_threshold(loss_threshold)
        self.trial_timeout = config.check_positive_number("trial_timeout", trial_timeout)
        self.max_retries = config.check_non_negative_int("max_retries", max_retries)
        self.retry_on: Tuple[Type[BaseException], ...] = config.check_retry_on(retry_on)
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
        profile = config.check_resource_profile(resource_profile, sized=True)
        self.pruner = check_pruner(pruner)
        if not isinstance(reproducible, bool):
            raise InvalidArgumentType(f"reproducible must be True or False, got "
                                      f"{reproducible!r}")
        self.reproducible = reproducible
        self.lag = config.check_positive_int("lag", lag, allow_none=True)
        if self.lag is not None and not reproducible:
            raise InvalidArgument("lag applies to reproducible=True only; pass both, or "
                                  "neither")
        self.tasks_per_trial: Any = config.check_tasks_per_trial(tasks_per_trial)
        self.scheduler_pool = config.check_scheduler_pool(scheduler_pool)
        self._source = registry.source_for(backend, spark_session, profile, self.scheduler_pool)
        self._source.check_search(self.user_specified_parallelism, worker_setup, profile)
        registry.check_tasks_per_trial(self._source, self.tasks_per_trial, profile)
        self.backend: str = self._source.name
        """The backend's kind: ``jobs``, ``actors`` (an ActorPool too), ``driver``, ``local``,
        or ``custom`` (a Backend instance)."""
        self.resource_profile = getattr(self._source, "resource_profile", None)
        super().__init__()
        self._fmin_cancelled_reason: Optional[str] = None
        self._space: Any = None
        self.last_search_id: Optional[str] = None
        self.actual_parallelism: Optional[int] = None
        self.last_tracker: Any = None
        """The MlflowTracker of the last fmin (its parent_run_id and fmin_uuid), or None."""
        self.last_settings: Dict[str, Any] = {}
        """What the last fmin ran with (backend, parallelism, algo, limits, pruner)."""
        self.continued_from: Optional[str] = None
        """The MLflow parent run whose trials this object was made from (``from_mlflow``)."""
        self._run_id: Optional[str] = None

    @classmethod
    def from_mlflow(cls, run_id: str, *, space: Any = None, **kwargs: Any) -> "SparkTrials":
        """A ``SparkTrials`` holding the finished trials of the search whose MLflow parent run
        is ``run_id`` (read from the current tracking store, ``MLFLOW_TRACKING_URI``): their
        points, losses, statuses and tids. ``fmin(fn, space, max_evals=M, trials=t)`` then runs
        ``M - len(t.trials)`` new trials, the algorithm seeing all of them, as hyperopt
        continues a ``Trials``. ``space``: the space the continuation will search, when it
        changed: only the trials whose every value is still valid in it are kept (one line
        says how many, and why not the others). ``kwargs``: ``SparkTrials``' own.

        The continuation is recorded in a new parent run, tagged
        ``hyperspark.continued_from=<run_id>``; its page shows the whole history.

        >>> trials = SparkTrials.from_mlflow("3f9c2e...", parallelism=8)  # doctest: +SKIP
        >>> best = fmin(objective, space, max_evals=len(trials.trials) + 100,
        ...             trials=trials)  # doctest: +SKIP
        """
        from hyperspark import continuation

        return continuation.from_mlflow(cls, run_id, space, kwargs)

    @property
    def run_id(self) -> Optional[str]:
        """The MLflow parent run of the last search (after a resume: the run it wrote to);
        None before the first search and when tracking is off.

        >>> best = fmin(objective, space, max_evals=50, trials=trials)  # doctest: +SKIP
        >>> mlflow.get_run(trials.run_id).data.metrics["best_loss"]  # doctest: +SKIP
        """
        if self.last_tracker is not None:  # set once the search has started its parent run
            return self.last_tracker.parent_run_id
        return getattr(self, "_run_id", None)  # kept through pickling (the tracker is not)

    def __repr__(self) -> str:
        counts = ", ".join(f"{count} {name}" for name, count in self.status_counts().items()
                           if count) if internals.all_docs(self) else "no trials"
        return (f"SparkTrials(backend={self.backend!r}, parallelism="
                f"{self.actual_parallelism or self.user_specified_parallelism}, "
                f"trials={self.count_total_trials()} ({counts}), run_id={self.run_id!r})")

    @property
    def _runner(self) -> Any:
        return self._source.runner

    # ---------------------------------------------------------------- pickling
    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        # a session, a pool or a backend does not travel: a loaded object finds a session
        # again at its first search, and runs on a fresh backend of the same kind
        name = self.backend if self.backend in registry.KINDS else "actors"
        state["_source"] = registry.KindSource(registry.kind(name), connect=False,
                                               scheduler_pool=self.scheduler_pool)
        state["last_tracker"] = None
        state["resource_profile"] = None
        for name in ("tasks_per_trial", "resource_profile"):  # code does not travel in a
            if isinstance(sizing_module.named(self.__dict__[name]), str):  # pickle
                state[name] = sizing_module.Missing(sizing_module.named(self.__dict__[name]))
        return state

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
        check_space(space)
        sizing_module.refuse_missing(tasks_per_trial=self.tasks_per_trial,
                                     resource_profile=self.resource_profile)
        path = checkpoint_module.path_of(trials_save_file, self.checkpoint)
        saved = checkpoint_module.load(path, space) if path else None
        if saved is not None and internals.all_docs(self):
            logger.info("checkpoint %s not loaded: this SparkTrials already holds %d trials "
                        "(they are saved over it)", path, len(internals.all_docs(self)))
            saved = None  # a second fmin on this object: as without a checkpoint
        restored = (checkpoint_module.restore(self, saved, path, STOP_INTERRUPTED)
                    if saved is not None else None)
        if restored is not None:
            # hyperopt.fmin always passes an rstate (a fresh one when the caller gave none):
            # the resumed search continues the saved random sequence, so it is the same search
            rstate = restored.rstate
        settings, algo = self._settings(max_evals, timeout, loss_threshold, max_queue_len, rstate,
                                        early_stop_fn, algo)
        self.last_tracker, self._run_id = None, None
        domain = base.Domain(fn, space, pass_expr_memo_ctrl=pass_expr_memo_ctrl)
        # one id names the search everywhere: the log, the page's title, the Spark groups, and
        # MLflow's hyperspark.search_id and fmin_uuid tags; a resumed search keeps its own
        search_id = ((saved.get("settings") or {}).get("search id") if restored is not None
                     else None) or uuid.uuid4().hex[:12]
        self.last_settings = summary(self, search_id, settings, algo)
        policy = None
        if self.reproducible:
            policy, seed, lag = reproducible_module.plan(
                self, settings.rstate, self.user_specified_parallelism or settings.parallelism,
                self.lag, saved.get("settings") if saved else None, settings)
            settings.reproducible = {"seed": seed, "lag": lag}
            self.last_settings.update({reproducible_module.SEED_KEY: seed,
                                       reproducible_module.LAG_KEY: lag})
        resume = restored.tracking if restored is not None else None
        if self.continued_from:
            from hyperspark import continuation

            continuation.complete_labels(self, space)
            continuation.check_fit(self, space, self.continued_from)
            self.last_settings["continued from"] = self.continued_from
        tracker = start_tracking(space, algo, self.user_specified_parallelism, resume,
                                 self._runner, self.mlflow_tracking, search_id,
                                 self.continued_from)
        extra: List[Listener] = []
        if path:
            writer = checkpoint_module.CheckpointWriter(path, self, space, settings.rstate,
                                                        tracker, self.last_settings)
            writer.write_now()
            extra.append(writer)
        sizing = sizing_module.for_search(self.tasks_per_trial, self.resource_profile, space,
                                          lambda: registry.capacity_of(self._source))
        search = SearchContext(search_id=search_id, domain=domain, sizing=sizing,
                               max_retries=self.max_retries, retry_on=self.retry_on,
                               payload=(dumps_objective(domain, fn, self.worker_setup)
                                        if self._source.ships_objective else None),
                               worker_setup=self.worker_setup,
                               trial_env=tracker.trial_env if tracker else None,
                               restore_traceback=(SourceMap.of(fn, self.worker_setup).restore
                                                  if self._source.ships_objective else None),
                               objective_site=definition_site(fn))
        self._space, self.last_search_id = space, search.search_id
        self.last_tracker = tracker
        self._fmin_cancelled_reason = None
        reporter = ProgressReporter(settings.max_evals, self.count_total_trials(),
                                    show_progressbar)
        backend = (self._source.backend_for_search(settings.parallelism, self.tasks_per_trial)
                   if sizing is None and self.tasks_per_trial > 1
                   else self._source.backend_for_search(settings.parallelism))
        scheduler = Scheduler(self, domain, algo, backend,
                              search, settings, [reporter, *([tracker] if tracker else []),
                                                 *extra, *listeners], policy=policy)
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
            self._run_id = tracker.parent_run_id if tracker is not None else None
            if tracker is not None:
                tracker.close(status, page=lambda: search_page.render(
                    search_page.from_trials(self)))

    def to_html(self, path: str = "search.html") -> str:
        """Write this search's page to ``path``: one self-contained HTML file (charts of the
        loss, the slots' timeline, each parameter, parallel coordinates, importance, learning
        curves, settings). Works during a search too. Returns the absolute path.

        >>> trials.to_html("search.html")  # doctest: +SKIP
        '/home/me/search.html'
        """
        return search_page.write(search_page.from_trials(self), path)

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
            early_stop_fn=early_stop_fn, rstate=rstate, pruner=self.pruner,
            tasks_per_trial=sizing_module.named(self.tasks_per_trial),
            scheduler_pool=self.scheduler_pool)
        return settings, algo or hyperspark_tpe.suggest

    def _decide_parallelism(self, remaining: int) -> int:
        self.actual_parallelism = parallelism_module.decide(
            self._source, self.user_specified_parallelism,
            1 if callable(self.tasks_per_trial) else self.tasks_per_trial, remaining,
            None if callable(self.resource_profile) else self.resource_profile)
        return self.actual_parallelism

    def insert_points(self, space: Any, points: List[Dict[str, Any]]) -> None:
        """Queue ``points`` (``{label: value}``, the option's index for ``hp.choice``) to run
        first at the next ``fmin``, in parallel, counting toward its ``max_evals``: a warm
        start that also works with ``hyperopt.fmin`` (which does not pass on
        ``points_to_evaluate``). ``hyperspark.fmin(points_to_evaluate=...)`` calls this.

        >>> trials.insert_points(space, [{"x": 0.5}, {"x": 1.0}])  # doctest: +SKIP
        """
        insert_points(self, space, points)

    # ---------------------------------------------------------------- reports
    def to_pandas(self) -> Any:
        """One row per trial: tid, state (``pruned`` for a pruned trial), status, loss, params
        (resolved), start, end, duration, attempts, reports, error.

        >>> trials.to_pandas().sort_values("loss").head()  # doctest: +SKIP
        """
        return trials_frame(internals.all_docs(self), self._space)
