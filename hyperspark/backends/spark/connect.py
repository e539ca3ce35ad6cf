"""Spark Connect (a session with no SparkContext): a task is a one-partition DataFrame job
(``spark.range(1, numPartitions=1).mapInArrow``; a gang of N: N partitions, ``barrier=True``)
carrying a tag added on the calling thread;
cancel is ``interruptTag``, which interrupts exactly that tag's jobs and kills their Python
workers. A payload is a session artifact (``addArtifacts(file=True)``), read on the executor
with ``SparkFiles``."""
from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import socket
import tempfile
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional

from hyperspark.backends.spark.base import SparkJobFailed, result_of, task_entry
from hyperspark.backends.spark.classic import task_cpus
from hyperspark.config import CHANNEL_HOST_CONF, LEGACY_CHANNEL_HOST_CONF
from hyperspark.errors import InvalidArgument, summarize

CONNECT_POOL = (
    "SparkTrials(scheduler_pool=...) is not supported on Spark Connect: a Connect session has "
    "no thread-local properties, so a fair-scheduler pool is a setting of the whole session. "
    "To run a search in a pool there, give it a session of its own "
    "(SparkSession.builder.remote(url).create()), call "
    "session.conf.set('spark.scheduler.pool', name) on it, and pass it as spark_session")

_SPLITS = re.compile(r"splits=(\d+)")


def _entry(body: Callable[[], Any], batches: Any) -> Iterator[Any]:
    import pyarrow

    yield pyarrow.RecordBatch.from_pydict({"result": [task_entry(body, batches)]},
                                          schema=pyarrow.schema([("result", pyarrow.binary())]))


@contextlib.contextmanager
def _active_on_this_thread(spark: Any) -> Iterator[None]:
    """Make ``spark`` the calling thread's active session for the block. pyspark's Connect
    client keeps the active session per thread, and a new thread has none; MLlib on Connect
    finds its session with ``SparkSession.getActiveSession()`` and fails on a trial's thread
    without this. (The holder is a private attribute: when absent, nothing is set.)"""
    holder = getattr(type(spark), "_active_session", None)
    if holder is None:
        yield
        return
    before = getattr(holder, "session", None)
    holder.session = spark
    try:
        yield
    finally:
        holder.session = before


class ArtifactPayload:
    """A payload shipped as a file artifact of the Connect session."""

    def __init__(self, name: str) -> None:
        self.name = name

    def read(self) -> bytes:
        from pyspark import SparkFiles

        with open(SparkFiles.get(self.name), "rb") as handle:
            return handle.read()


class _TaskStarts:
    """One progress handler per session: Spark Connect reports progress on the thread that
    runs the query, so a thread-local callback says which task started."""

    def __init__(self) -> None:
        self.local = threading.local()

    def __call__(self, stages: Any, inflight_tasks: int, operation_id: Any, done: bool) -> None:
        callback = getattr(self.local, "callback", None)
        if callback is not None and (inflight_tasks > 0 or done):
            self.local.callback = None
            callback()


_task_starts: Dict[int, _TaskStarts] = {}
_task_starts_lock = threading.Lock()


class ConnectRunner:
    """The ``SparkRunner`` of a Spark Connect session."""

    kind = "connect"
    executors_reach_driver: Optional[bool] = None

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def _task_starts(self) -> _TaskStarts:
        with _task_starts_lock:
            handler = _task_starts.get(id(self.spark))
            if handler is None:
                handler = _task_starts[id(self.spark)] = _TaskStarts()
                self.spark.registerProgressHandler(handler)
            return handler

    def run_task(self, group: str, description: str, body: Callable[[], Any],
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None) -> Any:
        return self._run(group, body, 1, profile, on_start)[0]

    def run_gang(self, group: str, description: str, body: Callable[[], Any], tasks: int,
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None
                 ) -> List[Any]:
        return self._run(group, body, tasks, profile, on_start)

    def _run(self, group: str, body: Callable[[], Any], tasks: int, profile: Any,
             on_start: Optional[Callable[[], None]]) -> List[Any]:
        """``tasks`` copies of ``body`` as one DataFrame job, in barrier mode when more than
        one (a partition's index is its rank; rows come back in partition order)."""
        starts = self._task_starts() if on_start is not None else None
        if starts is not None:
            starts.local.callback = on_start
        self.spark.addTag(group)
        try:
            frame = self.spark.range(tasks, numPartitions=tasks).mapInArrow(
                functools.partial(_entry, body), "result binary", barrier=tasks > 1,
                profile=profile)
            rows = frame.collect()
        except Exception as exc:
            raise SparkJobFailed(summarize(exc, limit=500)) from exc
        finally:
            self.spark.removeTag(group)
            if starts is not None:
                starts.local.callback = None
        return [result_of(row[0]) for row in rows]

    def cancel(self, group: str) -> None:
        self.spark.interruptTag(group)

    @contextlib.contextmanager
    def grouped(self, group: str, description: str) -> Iterator[None]:
        with _active_on_this_thread(self.spark):
            self.spark.addTag(group)
            try:
                yield
            finally:
                self.spark.removeTag(group)

    def in_pool(self, pool: str) -> Any:
        """Spark Connect has no thread-local properties: a fair-scheduler pool is a setting of
        the whole session (``spark.conf.set("spark.scheduler.pool", name)`` reaches every job
        of the session, measured). hyperspark cannot give one search's jobs a pool there."""
        raise InvalidArgument(CONNECT_POOL)

    def ship(self, name: str, data: bytes) -> ArtifactPayload:
        folder = tempfile.mkdtemp(prefix="hyperspark-")
        path = os.path.join(folder, name)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            self.spark.addArtifacts(path, file=True)
        finally:
            os.unlink(path)
            os.rmdir(folder)
        return ArtifactPayload(name)

    def task_slots(self, profile: Any = None) -> int:
        """Spark Connect has no ``defaultParallelism``; a one-row range without a partition
        count is split into exactly that many partitions, which its plan shows (no job)."""
        cpus = task_cpus(profile) or int(self.conf("spark.task.cpus", "1") or 1)
        return max(1, self.default_parallelism() // max(1, cpus))

    def default_parallelism(self) -> int:
        frame = self.spark.range(1)
        explain = getattr(frame, "_explain_string", None)
        if explain is not None:
            plan = explain(extended=False)
        else:  # only the printed form is public
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                frame.explain()
            plan = buffer.getvalue()
        match = _SPLITS.search(plan)
        return int(match.group(1)) if match else 1

    def conf(self, key: str, default: Optional[str] = None) -> Optional[str]:
        try:
            value = self.spark.conf.get(key, None)
        except Exception:  # a static key the server refuses to show
            value = None
        return value if value is not None else default

    def master(self) -> str:
        return self.conf("spark.master", "") or ""

    def channel_host(self) -> str:
        """The configured host, else the address this machine uses to reach the Connect server
        (a UDP socket's own address after connect(): no packet is sent)."""
        configured = self.conf(CHANNEL_HOST_CONF) or self.conf(LEGACY_CHANNEL_HOST_CONF)
        if configured:
            return configured
        server = self.spark.client.host.strip("[]")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect((server, 9))
                return probe.getsockname()[0]
        except OSError:
            return socket.gethostbyname(socket.gethostname())

    def application_id(self) -> str:
        return self.conf("spark.app.id", "") or ""
