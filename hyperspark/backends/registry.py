"""Which backend runs a search: the kinds ``SparkTrials(backend=...)`` accepts by name, with
their traits, and the ``BackendSource`` protocol for everything else (an ``ActorPool``, or a
``Backend`` instance of your own).

Adding a kind touches this file only: its factory and its traits.

>>> kind("actors").needs_session, kind("local").needs_session
(True, False)
>>> kind("driver").default_parallelism(None, None)
2
"""
from __future__ import annotations

import dataclasses
import os
import logging
from typing import Any, Callable, Dict, Optional, Protocol, Tuple, runtime_checkable

from hyperspark import config
from hyperspark.backends.base import Backend
from hyperspark.errors import InvalidArgument, InvalidArgumentType

logger = logging.getLogger("hyperspark")

DRIVER_DEFAULT_PARALLELISM = 2
"""The driver backend's parallelism when none is given: each of its trials already fans out
over the whole cluster, so a few at once fill the gaps between their jobs; more would only
make them compete for the same executors."""


@dataclasses.dataclass(frozen=True)
class BackendKind:
    """A backend kind and what the face needs to know about it."""

    name: str
    make: Callable[[Any, int, Any, int], Backend]
    """``make(runner, parallelism, resource_profile, tasks_per_trial)`` -> a new Backend for
    one search."""
    needs_session: bool
    """It runs on a SparkSession (its runner); ``local`` does not."""
    honours_resource_profile: bool
    """Its trials run in tasks hyperspark starts, which can hold a ``ResourceProfile``."""
    ships_objective: bool
    """Its trials run in other processes: the objective is pickled once per search."""
    fixed_parallelism: Optional[int] = None
    """The default parallelism when it does not follow the cluster's task slots."""
    runs_gangs: bool = False
    """A trial may span several tasks started together (``tasks_per_trial`` > 1)."""
    one_trial_is: str = "one task"
    """What runs one trial, for the error that refuses ``tasks_per_trial`` > 1."""

    def slots(self, runner: Any, profile: Any) -> Optional[int]:
        """The task slots its trials compete for (None when they do not hold slots)."""
        if runner is None or not self.honours_resource_profile:
            return None
        return runner.task_slots(profile)

    def default_parallelism(self, runner: Any, profile: Any) -> int:
        if self.fixed_parallelism is not None:
            return self.fixed_parallelism
        return self.slots(runner, profile) or os.cpu_count() or 1


def _jobs(runner: Any, parallelism: int, profile: Any, tasks: int) -> Backend:
    from hyperspark.backends.jobs import JobsBackend

    return JobsBackend(runner, parallelism, profile=profile, tasks_per_trial=tasks)


def _actors(runner: Any, parallelism: int, profile: Any, tasks: int) -> Backend:
    from hyperspark.backends.actors import ActorsBackend

    return ActorsBackend(runner, parallelism, profile=profile)


def _driver(runner: Any, parallelism: int, profile: Any, tasks: int) -> Backend:
    from hyperspark.backends.driver import DriverBackend

    return DriverBackend(runner, parallelism)


def _local(runner: Any, parallelism: int, profile: Any, tasks: int) -> Backend:
    from hyperspark.backends.local import LocalBackend

    return LocalBackend()


KINDS: Dict[str, BackendKind] = {k.name: k for k in (
    BackendKind("jobs", _jobs, needs_session=True, honours_resource_profile=True,
                ships_objective=True, runs_gangs=True),
    BackendKind("actors", _actors, needs_session=True, honours_resource_profile=True,
                ships_objective=True, one_trial_is="one long-lived actor task"),
    BackendKind("driver", _driver, needs_session=True, honours_resource_profile=False,
                ships_objective=False, fixed_parallelism=DRIVER_DEFAULT_PARALLELISM,
                one_trial_is="one thread on the driver"),
    BackendKind("local", _local, needs_session=False, honours_resource_profile=False,
                ships_objective=False, one_trial_is="one thread of this process"),
)}


def kind(name: Any) -> BackendKind:
    """The kind called ``name``; a clear error naming the ones there are."""
    if not isinstance(name, str) or name not in KINDS:
        raise InvalidArgument(
            f"backend must be one of {', '.join(repr(k) for k in KINDS)}, an ActorPool, or a "
            f"Backend instance (see hyperspark.backends.base.Backend), got {name!r}")
    return KINDS[name]


@runtime_checkable
class BackendSource(Protocol):
    """Gives each search on it a ``Backend``: what ``SparkTrials(backend=...)`` accepts besides
    a kind's name. ``ActorPool`` is one; ``SingleBackend`` wraps a Backend instance."""

    name: str
    """What ``SparkTrials.backend`` reports (``"actors"`` for a pool)."""
    ships_objective: bool
    runner: Any
    """The SparkRunner its trials run on, or None."""

    def check_search(self, parallelism: Optional[int], worker_setup: Any,
                     resource_profile: Any) -> None:
        """Refuse, with a clear error naming the argument, what a search cannot set here."""

    def slots(self) -> Optional[int]:
        """How many trials it can run at once (None: unknown)."""

    def backend_for_search(self, parallelism: int) -> Backend:
        """The Backend of one search, running up to ``parallelism`` trials at once."""


class SingleBackend:
    """A ``Backend`` instance given to ``SparkTrials(backend=...)``: used by every ``fmin`` of
    that trials object, one after another (a backend is opened and closed per search)."""

    name = "custom"
    runner = None

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.ships_objective = bool(getattr(backend, "ships_objective", False))

    def check_search(self, parallelism: Optional[int], worker_setup: Any,
                     resource_profile: Any) -> None:
        if resource_profile is not None:
            raise InvalidArgument("SparkTrials(resource_profile=...) does not apply to a "
                                  "Backend instance: give it to the backend itself")

    def slots(self) -> Optional[int]:
        return None

    def backend_for_search(self, parallelism: int) -> Backend:
        return self.backend


class KindSource:
    """A backend kind by name, on a session found or made when the kind needs one (at
    construction, or at the first search of an unpickled trials object)."""

    def __init__(self, backend_kind: BackendKind, spark_session: Any = None,
                 resource_profile: Any = None, connect: bool = True,
                 scheduler_pool: Optional[str] = None) -> None:
        if scheduler_pool is not None and not backend_kind.needs_session:
            raise InvalidArgument(f"scheduler_pool={scheduler_pool!r} does not apply to "
                                  f"backend={backend_kind.name!r}, which runs no Spark jobs")
        self.scheduler_pool = scheduler_pool
        self.kind = backend_kind
        self.name = backend_kind.name
        self.ships_objective = backend_kind.ships_objective
        self.spark: Any = None
        self._runner: Any = None
        self.resource_profile = resource_profile
        if callable(resource_profile) and not hasattr(resource_profile, "taskResources"):
            pass  # a size per trial: check_tasks_per_trial refuses it off the jobs backend
        elif resource_profile is not None and not backend_kind.honours_resource_profile:
            logger.warning("SparkTrials(resource_profile=...) is ignored with backend=%r: it "
                           "applies to the tasks hyperspark runs trials in (jobs, actors); "
                           "here the objective starts its own Spark jobs", self.name)
            self.resource_profile = None
        if connect and backend_kind.needs_session:
            self._connect(spark_session)

    def _connect(self, spark_session: Any = None) -> None:
        from hyperspark.backends.spark import get_or_create_session, runner_for

        from hyperspark.backends.spark.pooled import pooled

        self.spark = get_or_create_session(spark_session)
        self._runner = pooled(runner_for(self.spark), self.scheduler_pool)
        if self.resource_profile is not None:
            why_not = config.stage_level_scheduling_unsupported(self._runner.master())
            if why_not and callable(self.resource_profile):
                raise InvalidArgument(f"resource_profile as a callable cannot apply here: "
                                      f"{why_not}. Give trials a size with tasks_per_trial "
                                      f"instead, or run on a cluster master")
            if why_not:
                logger.warning("SparkTrials(resource_profile=...) is ignored: %s. Trials run "
                               "as plain tasks (spark.task.cpus each, no custom resources).",
                               why_not)
                self.resource_profile = None

    @property
    def runner(self) -> Any:
        if self._runner is None and self.kind.needs_session:
            self._connect()  # e.g. an unpickled trials object: find a session again
        return self._runner

    def check_search(self, parallelism: Optional[int], worker_setup: Any,
                     resource_profile: Any) -> None:
        return None

    def slots(self) -> Optional[int]:
        return self.kind.slots(self.runner, self.resource_profile)

    def default_parallelism(self) -> int:
        return self.kind.default_parallelism(self.runner, self.resource_profile)

    def backend_for_search(self, parallelism: int, tasks_per_trial: int = 1) -> Backend:
        return self.kind.make(self.runner, parallelism, self.resource_profile, tasks_per_trial)


def capacity_of(source: Any) -> Tuple[Optional[int], int]:
    """(the CPUs the cluster gives tasks, ``spark.task.cpus``) for trials sized by their
    parameters; None where it cannot be known: no session, or dynamic allocation (executors
    come and go), where Spark's own check for barrier stages refuses what never fits."""
    runner = getattr(source, "runner", None)
    if runner is None:
        return None, 1
    cpus = int(runner.conf("spark.task.cpus", "1") or 1)
    if str(runner.conf("spark.dynamicAllocation.enabled", "false")).lower() == "true":
        return None, cpus
    return runner.task_slots(None) * cpus, cpus


def check_tasks_per_trial(source: Any, tasks_per_trial: Any, resource_profile: Any = None
                          ) -> None:
    """Refuse ``tasks_per_trial`` > 1 where a trial cannot span several tasks, naming the
    backend that can; and trials sized by a callable anywhere but the jobs backend."""
    backend_kind = getattr(source, "kind", None)
    sized = [name for name, value in (("tasks_per_trial", tasks_per_trial),
                                      ("resource_profile", resource_profile))
             if callable(value) and not hasattr(value, "taskResources")]
    if sized and not (isinstance(source, KindSource) and backend_kind.runs_gangs):
        raise InvalidArgument(
            f"{sized[0]} as a callable (a size per trial) needs backend='jobs', which starts "
            f"a Spark job per trial; backend={source.name!r} cannot size its trials one by "
            f"one. Give a fixed {sized[0]}, or backend='jobs'")
    if sized or tasks_per_trial == 1:
        return
    if isinstance(source, KindSource) and backend_kind.runs_gangs:
        return
    what = (f"backend={source.name!r} runs a trial as {backend_kind.one_trial_is}"
            if isinstance(source, KindSource) else f"this backend ({type(source).__name__}) "
            f"runs a trial as one task")
    raise InvalidArgument(
        f"tasks_per_trial={tasks_per_trial} needs backend='jobs', which runs each trial as one "
        f"Spark barrier job of {tasks_per_trial} tasks started together; {what}")


def source_for(backend: Any, spark_session: Any = None, resource_profile: Any = None,
               scheduler_pool: Optional[str] = None) -> Any:
    """What runs the searches of ``SparkTrials(backend=backend)``: a kind by name, a
    ``BackendSource`` (an ``ActorPool``), or a ``Backend`` instance."""
    if isinstance(backend, str):
        return KindSource(kind(backend), spark_session, resource_profile,
                          scheduler_pool=scheduler_pool)
    if scheduler_pool is not None:
        where = ("an ActorPool's actors are started once, in the pool the ActorPool was given: "
                 "give scheduler_pool to ActorPool(...)" if getattr(backend, "name", None) ==
                 "actors" else "a Backend instance starts its own jobs")
        raise InvalidArgument(f"SparkTrials(scheduler_pool={scheduler_pool!r}) cannot apply "
                              f"here: {where}")
    if isinstance(backend, BackendSource):
        return backend
    if isinstance(backend, Backend):
        return SingleBackend(backend)
    raise InvalidArgumentType(
        f"backend must be one of {', '.join(repr(k) for k in KINDS)}, an ActorPool, or a "
        f"Backend instance (see hyperspark.backends.base.Backend), got {backend!r}")
