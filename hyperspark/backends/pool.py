"""``ActorPool``: warm actors that many searches borrow, one after another or side by side."""
from __future__ import annotations

import atexit
import logging
import uuid
import weakref
from typing import Any, Callable, Optional

from hyperspark import config
from hyperspark.backends.actors import ActorsBackend
from hyperspark.backends.fleet import Actors
from hyperspark.errors import InvalidArgument, InvalidArgumentType
from hyperspark.serialization import dumps_objective

logger = logging.getLogger("hyperspark")

_open_pools: "weakref.WeakSet[ActorPool]" = weakref.WeakSet()


class ActorPool:
    """A fleet of actors that stays up across searches: start-up, ``worker_setup`` (loading
    the training data, say) and Python imports are paid once, not once per ``fmin``.

    Example::

        from hyperspark import ActorPool, SparkTrials

        with ActorPool(size=8, worker_setup=load_data) as pool:
            for store in stores:                      # hundreds of small searches
                fmin(objective_for(store), space, algo=tpe.suggest, max_evals=50,
                     trials=SparkTrials(backend=pool))

    Searches may run at once on one pool, from threads: an idle actor goes to the waiting
    search that holds the fewest actors, so none starves, and cancelling one search's trial
    never touches another's. An actor that dies (or is killed to cancel its trial) is
    replaced, so the pool keeps its size.

    Args:
        spark: the SparkSession (classic or Spark Connect); default as for ``SparkTrials``.
        size: how many actors; default the cluster's task slots.
        worker_setup: runs once per actor for the life of the pool; the objective reads its
            value with ``hyperspark.worker_state()``.
        resource_profile: a ``pyspark.resource.ResourceProfile`` each actor's task holds (on
            a cluster master; ignored with a warning in local mode).
        scheduler_pool: the fair-scheduler pool the actors' tasks are launched in (and
            replacements). A pool decides which waiting task gets a free slot; it never takes
            a slot back, so it orders the actors' start, not the trials they then run.
    """

    def __init__(self, spark: Any = None, size: Optional[int] = None,
                 worker_setup: Optional[Callable[[], Any]] = None,
                 resource_profile: Any = None, scheduler_pool: Optional[str] = None) -> None:
        from hyperspark.backends.spark import get_or_create_session, runner_for
        from hyperspark.backends.spark.pooled import pooled

        size = config.check_positive_int("size", size, allow_none=True)
        if worker_setup is not None and not callable(worker_setup):
            raise InvalidArgumentType(f"worker_setup must be a callable taking no arguments, "
                                      f"got {worker_setup!r}")
        dumps_objective(None, None, worker_setup)  # a clear error now if it cannot travel
        profile = config.check_resource_profile(resource_profile)
        self.spark = get_or_create_session(spark)
        self.runner = pooled(runner_for(self.spark),
                             config.check_scheduler_pool(scheduler_pool))
        if profile is not None:
            why_not = config.stage_level_scheduling_unsupported(self.runner.master())
            if why_not:
                logger.warning("ActorPool(resource_profile=...) is ignored: %s. Actors run as "
                               "plain tasks (spark.task.cpus each, no custom resources).",
                               why_not)
                profile = None
        self.resource_profile = profile
        self._fleet = Actors(self.runner, size or self.runner.task_slots(profile),
                             worker_setup=worker_setup, profile=profile,
                             name=f"pool-{uuid.uuid4().hex[:8]}")
        self._fleet.start()
        _open_pools.add(self)

    @property
    def size(self) -> int:
        return self._fleet.size

    @property
    def closed(self) -> bool:
        return self._fleet.closed.is_set()

    @property
    def setups_started(self) -> int:
        """Actors that ran ``worker_setup`` so far (replacements included)."""
        return self._fleet.setups_started

    # ---------------------------------------------------------------- the BackendSource protocol
    name = "actors"
    ships_objective = True

    def slots(self) -> Optional[int]:
        return self.size

    def check_search(self, parallelism: Optional[int], worker_setup: Any = None,
                     resource_profile: Any = None) -> None:
        """What a search on this pool cannot set (its actors are already started): a clear
        error naming the argument."""
        if parallelism is not None and parallelism > self.size:
            raise InvalidArgument(f"parallelism={parallelism} exceeds the ActorPool's size "
                                  f"{self.size}; give parallelism <= {self.size}, or None")
        for name, value in (("worker_setup", worker_setup),
                            ("resource_profile", resource_profile)):
            if value is not None:
                raise InvalidArgument(f"SparkTrials({name}=...) cannot change an ActorPool's "
                                      f"actors: give {name} to ActorPool(...) instead")

    def backend_for_search(self, parallelism: int) -> ActorsBackend:
        """A view on the pool for one search of up to ``parallelism`` trials at once."""
        if self.closed:
            raise InvalidArgument("this ActorPool is closed: create a new one")
        self.check_search(parallelism)
        return ActorsBackend(None, parallelism, fleet=self._fleet)

    def close(self) -> None:
        """End every actor (their Spark jobs end too). Call it once the searches are over: a
        search still running on the pool loses its actors. Idempotent."""
        self._fleet.close()

    def __enter__(self) -> "ActorPool":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ActorPool(size={self.size}, {'closed' if self.closed else 'open'}, "
                f"{self._fleet.name})")


@atexit.register
def _close_open_pools() -> None:
    """Pools left open when the process ends: end their actors' jobs first."""
    for pool in list(_open_pools):
        try:
            pool.close()
        except Exception:
            logger.debug("could not close %r at exit", pool, exc_info=True)
