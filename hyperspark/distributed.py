"""``hyperspark.trial_context()``: inside the objective, which rank of its trial this is, and how
to talk to the trial's other ranks.

A trial of ``SparkTrials(tasks_per_trial=N)`` runs as one Spark barrier job of N tasks, started
together. Every task (a rank) runs the objective; they know one another through Spark's
``BarrierTaskContext``. This module wraps that context in a small typed object, the same on
classic Spark and on Spark Connect. Any other trial is rank 0 of 1, and every call still
works, so one objective runs at any ``tasks_per_trial``.

Example, data-parallel training with ``torch.distributed``::

    def objective(params):
        ctx = hyperspark.trial_context()
        torch.distributed.init_process_group(
            "gloo", init_method=f"tcp://{ctx.master_addr}:{ctx.master_port}",
            rank=ctx.rank, world_size=ctx.world_size)
        ...  # train on shard ctx.rank of ctx.world_size, all-reducing the gradients
        torch.distributed.destroy_process_group()
        return validation_loss  # rank 0's return value is the trial's result

>>> ctx = trial_context()
>>> (ctx.rank, ctx.world_size, ctx.all_gather("x"))
(0, 1, ['x'])
"""
from __future__ import annotations

import base64
import collections
import socket
import threading
from typing import Any, Callable, List, Optional, Sequence

import cloudpickle

from hyperspark import wire
from hyperspark.scoped import Scoped


def free_port(host: str = "") -> int:
    """A TCP port no one listens on now, on this machine (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class TrialContext:
    """Where this rank of a trial stands, and the trial's collective calls.

    ``rank``: 0 to ``world_size - 1`` (rank 0's return value is the trial's result, and only
    its ``hyperspark.report()`` calls count). ``addresses``: each rank's executor, as
    ``host:port``, in rank order. ``master_addr``, ``master_port``: rank 0's host and a port
    that was free there when the trial started, agreed by every rank (what
    ``torch.distributed`` and other all-reduce libraries need to meet).
    """

    __slots__ = ("rank", "world_size", "addresses", "master_addr", "master_port", "_gather")

    def __init__(self, rank: int, world_size: int, addresses: Sequence[str], master_addr: str,
                 master_port: int, gather: Optional[Callable[[Any], List[Any]]] = None) -> None:
        self.rank, self.world_size = rank, world_size
        self.addresses = tuple(addresses)
        self.master_addr, self.master_port = master_addr, master_port
        self._gather = gather

    def barrier(self) -> None:
        """Wait until every rank of the trial has called ``barrier()``."""
        self.all_gather(None)

    def all_gather(self, obj: Any) -> List[Any]:
        """Every rank's ``obj`` (any picklable object), in rank order, on every rank. Like
        ``barrier()``, every rank must call it, the same number of times. The objects travel
        through the driver: meant for small things (addresses, scores, a few arrays); move big
        tensors with ``torch.distributed``.

        >>> trial_context().all_gather({"loss": 0.5})
        [{'loss': 0.5}]
        """
        if self._gather is None:
            return [obj]
        return list(self._gather(obj))

    def __repr__(self) -> str:
        return (f"TrialContext(rank={self.rank}, world_size={self.world_size}, "
                f"master={self.master_addr}:{self.master_port})")


def solo() -> TrialContext:
    """The context of a trial of one task: rank 0 of 1, on this machine."""
    return TrialContext(0, 1, ("127.0.0.1",), "127.0.0.1", free_port("127.0.0.1"))


class ChannelGather:
    """All-gathers of one attempt's ranks through the driver, over the search's channel: each
    rank sends ``wire.Gather`` and waits for ``wire.Gathered`` with every rank's value.

    Why not Spark's own ``BarrierTaskContext.allGather``: when Spark kills a barrier task
    whose Python side waits in it (a cancelled or timed-out trial, a failed rank), the
    executor's barrier server thread dies of an uncaught ``TaskKilledException`` and takes the
    whole executor down (measured on Spark 4.3, classic and Connect). A rank that waits on
    hyperspark's socket instead dies alone, as any cancelled task's Python worker does.
    """

    def __init__(self, connection_for: Callable[[], Any], tid: int, attempt: int,
                 rank: int) -> None:
        self._connection_for, self._tid, self._attempt, self._rank = \
            connection_for, tid, attempt, rank
        self._round = 0

    def __call__(self, value: Any) -> List[Any]:
        self._round += 1
        key = (self._tid, self._attempt, self._round)
        with link_lock:
            connection = self._connection_for()
            connection.send(wire.Gather(*key, self._rank, value))
            while True:
                message = connection.recv()
                if isinstance(message, wire.Gathered) and \
                        (message.tid, message.attempt, message.round) == key:
                    return list(message.values)
                stash(message)  # e.g. a pruning decision: the reporter reads it there


def spark_gather(context: Any) -> Callable[[Any], List[Any]]:
    """All-gathers through Spark's ``BarrierTaskContext`` (objects pickled into its strings):
    the way when executors cannot reach the driver. See ``ChannelGather`` for its flaw."""

    def gather(value: Any) -> List[Any]:
        text = base64.b64encode(cloudpickle.dumps(value)).decode("ascii")
        return [cloudpickle.loads(base64.b64decode(part)) for part in context.allGather(text)]

    return gather


def from_barrier(context: Any, gather: Optional[Callable[[Any], List[Any]]] = None
                 ) -> TrialContext:
    """This rank's context, from Spark's ``BarrierTaskContext`` (ranks and addresses) and
    ``gather`` (default: Spark's own all-gather). Every rank calls it when its task starts:
    it takes one all-gather, where rank 0 tells the others its free port."""
    addresses = [info.address for info in context.getTaskInfos()]
    rank = context.partitionId()
    gather = gather or spark_gather(context)
    master_addr = addresses[0].rsplit(":", 1)[0]
    port = int(gather(free_port() if rank == 0 else None)[0])
    return TrialContext(rank, len(addresses), addresses, master_addr, port, gather)


link_lock = threading.RLock()
"""Held around every use of a Python worker's connection to the driver (reports, gathers)."""
_stashed: "collections.deque[Any]" = collections.deque()


def stash(message: Any) -> None:
    """Keep a message that arrived while a rank waited for an all-gather."""
    _stashed.append(message)


def take_stashed() -> List[Any]:
    """The messages kept by ``stash``, oldest first; they are forgotten."""
    taken = []
    while _stashed:
        taken.append(_stashed.popleft())
    return taken


_current = Scoped()


def installed(context: Optional[TrialContext], *, own_process: bool = False) -> Any:
    """``trial_context()`` answers ``context`` inside the block (on this thread; in the whole
    process too when the attempt owns it); None: a trial of one task (rank 0 of 1, made when
    asked, so a trial that never asks pays nothing)."""
    return _current.installed(context, own_process=own_process)


def trial_context() -> TrialContext:
    """This rank's ``TrialContext``, inside an objective; outside a trial of several tasks,
    rank 0 of 1 (``barrier()`` returns at once, ``all_gather(x)`` is ``[x]``)."""
    return _current.get() or solo()
