"""The seam between hyperspark and Spark: "run this function as one Spark task, in its own
cancellable group". Everything above it (the jobs, actors and driver backends) is the same on
classic Spark and on Spark Connect; only the two runners below know the difference:

- ``ClassicRunner``: a one-partition RDD job; the group is a job group set on the calling
  thread (interrupt on cancel); cancel is ``cancelJobGroup``.
- ``ConnectRunner``: a one-partition DataFrame job (``mapInArrow``); the group is a tag added
  on the calling thread; cancel is ``interruptTag``.

A gang (``run_gang``, a trial of several tasks) is the same job with N partitions in barrier
mode: ``rdd.barrier().mapPartitions`` on classic Spark, ``mapInArrow(..., barrier=True)`` on
Spark Connect.

A task body is a picklable callable that takes no argument and runs on an executor. What it
returns comes back from ``run_task``. Every task starts with the same preamble (``task_entry``).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, List, Optional, Protocol

import cloudpickle

from hyperspark import worker
from hyperspark.outcome import Lost


class SparkJobFailed(Exception):
    """Spark failed or cancelled the job of a task (executor lost, task killed, interrupted).
    The message is one line; the Spark exception is the ``__cause__``."""


class Shipped(Protocol):
    """Bytes made readable by tasks once per search (a broadcast, or a session artifact)."""

    def read(self) -> bytes:
        """The bytes, on an executor (cached by the caller)."""


class SparkRunner(Protocol):
    """What a backend may ask of Spark. Blocking calls block only the calling thread."""

    kind: str
    """``"classic"`` or ``"connect"``: for logs and messages. A backend asks a capability
    (``executors_reach_driver``), never which kind it has."""

    executors_reach_driver: Optional[bool]
    """True when executors can connect back to this process by construction (classic: the
    driver is where executors connect); None when it must be checked (a Spark Connect client
    may sit outside the cluster's network)."""

    def run_task(self, group: str, description: str, body: Callable[[], Any],
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None) -> Any:
        """Run ``body()`` as one Spark task in group ``group`` (set on the calling thread),
        wait for it and return what it returned, or ``Lost`` when Spark re-ran a task whose
        first try died. Raises ``SparkJobFailed``. ``profile``: a ``ResourceProfile``.
        ``on_start``: called once, on the calling thread, when Spark reports the task
        running, where the runner can see that (Spark Connect's progress reports)."""

    def run_gang(self, group: str, description: str, body: Callable[[], Any], tasks: int,
                 profile: Any = None, on_start: Optional[Callable[[], None]] = None
                 ) -> List[Any]:
        """Run ``body()`` as ``tasks`` tasks of one barrier stage in group ``group``: Spark
        starts them together or not at all, and each can reach the others through
        ``BarrierTaskContext`` (its partition is its rank). Returns what each returned, in
        rank order (``Lost`` where Spark re-ran the stage). Raises ``SparkJobFailed``."""

    def cancel(self, group: str) -> None:
        """Cancel every job of ``group`` now, interrupting (killing) its running tasks."""

    @contextlib.contextmanager
    def grouped(self, group: str, description: str) -> Iterator[None]:
        """Inside the block, every job the calling thread starts belongs to ``group``."""

    def ship(self, name: str, data: bytes) -> Shipped:
        """Make ``data`` readable by this session's tasks; ``name`` is unique per search."""

    def task_slots(self, profile: Any = None) -> int:
        """How many tasks (each holding ``profile``, if given) the cluster runs at once now."""

    def conf(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """A Spark conf value (runtime or static), or ``default``."""

    def master(self) -> str:
        """The master URL, as the cluster sees it (``local[2]``, ``spark://...``)."""

    def channel_host(self) -> str:
        """An address of this process that executors should be able to reach."""

    def application_id(self) -> str:
        """The Spark application's id (what this session's jobs run in)."""


INFRASTRUCTURE_SIGNS = ("ExecutorLostFailure", "Executor heartbeat timed out",
                        "Python worker exited unexpectedly", "FetchFailedException",
                        "Remote RPC client disassociated")
"""Words in a failed Spark job's error that say an executor or worker was lost: the job's
failure is the infrastructure's, not the code's (classic and Spark Connect errors alike)."""


def lost_to_infrastructure(message: str) -> bool:
    """True when a Spark job failed because an executor or worker died (retry it), not
    because of the code it ran (do not)."""
    return any(sign in message for sign in INFRASTRUCTURE_SIGNS)


def task_entry(body: Callable[[], Any], rows: Any) -> bytes:
    """The preamble of every hyperspark task: consume the input, refuse to run twice, run the
    body, pickle what it returned (an Outcome whose result cannot be pickled is replaced by an
    invalid-result failure)."""
    from pyspark import TaskContext

    for _ in rows:
        pass  # Spark reuses a Python worker only when its task consumed its whole input
    context = TaskContext.get()
    if context is not None and context.attemptNumber() > 0:
        # Spark retried the task: the previous try died (worker or executor lost). Say so
        # instead of running again, so hyperspark's own policy counts and limits attempts.
        # (A barrier stage is never re-run: Spark fails its job when one of its tasks fails.)
        return cloudpickle.dumps(Lost(
            f"Spark task attempt {context.attemptNumber()}: the previous try of this task died "
            f"(its Python worker or executor was lost)"))
    return worker.pack(body())


def result_of(data: bytes) -> Any:
    """What ``task_entry`` returned, on the driver."""
    return cloudpickle.loads(data)
