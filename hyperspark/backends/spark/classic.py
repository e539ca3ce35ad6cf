"""Classic Spark (a session with a SparkContext): a task is a one-partition RDD job in a job
group set on the calling thread, with interrupt on cancel (which kills the task's Python
worker); a gang is the same job with N partitions in barrier mode; a payload is a broadcast
variable."""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, List, Optional

from hyperspark.backends.spark.base import SparkJobFailed, result_of, task_entry
from hyperspark.config import CHANNEL_HOST_CONF, LEGACY_CHANNEL_HOST_CONF
from hyperspark.errors import summarize



_GROUP_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")
"""The thread-local properties setJobGroup sets."""
POOL_PROPERTY = "spark.scheduler.pool"


def _entry(body: Callable[[], Any], rows: Any) -> Iterator[bytes]:
    yield task_entry(body, rows)


class BroadcastPayload:
    """A payload shipped as a broadcast variable."""

    def __init__(self, broadcast: Any) -> None:
        self._broadcast = broadcast

    def read(self) -> bytes:
        return self._broadcast.value


class ClassicRunner:
    """The ``SparkRunner`` of a classic session."""

    kind = "classic"
    executors_reach_driver: Optional[bool] = True

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._sc = spark.sparkContext

    def run_task(self, group: str, description: str, body: Callable[[], Any],
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None) -> Any:
        return self._run(group, description, body, 1, profile)[0]

    def run_gang(self, group: str, description: str, body: Callable[[], Any], tasks: int,
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None
                 ) -> List[Any]:
        return self._run(group, description, body, tasks, profile)

    def _run(self, group: str, description: str, body: Callable[[], Any], tasks: int,
             profile: Any) -> List[Any]:
        """``tasks`` copies of ``body`` as one job: a plain task, or a barrier stage of
        ``tasks`` partitions (a partition's index is its rank)."""
        self._sc.setJobGroup(group, description, interruptOnCancel=True)
        rdd = self._sc.parallelize(range(tasks), tasks)
        if profile is not None:
            rdd = rdd.withResources(profile)
        entry = functools.partial(_entry, body)
        try:
            mapped = rdd.barrier().mapPartitions(entry) if tasks > 1 else rdd.mapPartitions(entry)
            rows = mapped.collect()
        except Exception as exc:
            raise SparkJobFailed(summarize(exc, limit=500)) from exc
        return [result_of(row) for row in rows]

    def cancel(self, group: str) -> None:
        self._sc.cancelJobGroup(group)

    @contextlib.contextmanager
    def grouped(self, group: str, description: str) -> Iterator[None]:
        before = {key: self._sc.getLocalProperty(key) for key in _GROUP_PROPERTIES}
        self._sc.setJobGroup(group, description, interruptOnCancel=True)
        try:
            yield
        finally:  # the thread's own group again (None clears a property)
            for key, value in before.items():
                self._sc.setLocalProperty(key, value)

    @contextlib.contextmanager
    def in_pool(self, pool: str) -> Iterator[None]:
        """Inside the block, every job the calling thread starts runs in the fair-scheduler
        pool ``pool`` (the thread-local property ``spark.scheduler.pool``)."""
        before = self._sc.getLocalProperty(POOL_PROPERTY)
        self._sc.setLocalProperty(POOL_PROPERTY, pool)
        try:
            yield
        finally:
            self._sc.setLocalProperty(POOL_PROPERTY, before)

    def ship(self, name: str, data: bytes) -> BroadcastPayload:
        return BroadcastPayload(self._sc.broadcast(data))

    def task_slots(self, profile: Any = None) -> int:
        cpus = task_cpus(profile) or int(self._sc.getConf().get("spark.task.cpus", "1"))
        return max(1, self._sc.defaultParallelism // max(1, cpus))

    def conf(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = self.spark.conf.get(key, None)
        return value if value is not None else self._sc.getConf().get(key, default)

    def master(self) -> str:
        return self._sc.master

    def channel_host(self) -> str:
        return (self.conf(CHANNEL_HOST_CONF) or self.conf(LEGACY_CHANNEL_HOST_CONF)
                or self.conf("spark.driver.host") or "127.0.0.1")

    def application_id(self) -> str:
        return self._sc.applicationId


def task_cpus(profile: Any) -> Optional[int]:
    """The cpus each task of ``profile`` asks for (None when it does not say)."""
    if profile is None:
        return None
    request = (getattr(profile, "taskResources", None) or {}).get("cpus")
    return int(request.amount) if request is not None else None
