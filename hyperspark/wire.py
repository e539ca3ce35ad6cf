"""The messages between the driver and the executors, in one place.

Everything that crosses the search's channel (``backends/channel.py``) is one of these small
frozen records, pickled after the connection has authenticated. Trial tasks and actor tasks
also carry ``PROTOCOL``: an executor whose hyperspark speaks another version refuses at once,
with an error that says so, instead of misreading a message.

Up (executor -> driver)::

    Hello(actor_id, protocol)      an actor connected
    Ready()                        its worker_setup ran
    SetupFailed(outcome)           its worker_setup raised
    Started(tid, attempt)          a trial's objective starts (jobs backend)
    Returned(tid, attempt, rank)   a rank's objective has returned (jobs backend)
    Reported(tid, attempt, report) hyperspark.report() inside a trial
    Done(tid, outcome)             an actor's trial ended (the outcome pickled by worker.pack)
    RankFailed(tid, attempt, rank, outcome)
                                   a rank of a trial of several tasks ended without a result:
                                   the driver cancels the others (they may wait on it forever)
    Gather(tid, attempt, round, rank, value)
                                   a rank's part of an all-gather (the driver coordinates)

Down (driver -> executor)::

    Load(search_id, payload, retry_on)   a search's objective, once per actor and search
    Run(search_id, tid, attempt, spec, env)
    Prune(tid, attempt)                  the pruner stopped this trial
    Gathered(tid, attempt, round, values)
                                         every rank's value of an all-gather, in rank order
    Stop()                               the actor ends

>>> Run("s1", 3, 1, {"x": 0.5}, {}).tid
3
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Tuple, Type

PROTOCOL = 4
"""Bumped whenever a message or a task's fields change."""


class ProtocolMismatch(RuntimeError):
    """The driver and an executor run hyperspark builds that speak different protocols."""


def check_protocol(theirs: Optional[int], where: str) -> None:
    """Raise ``ProtocolMismatch`` unless ``theirs`` is this build's ``PROTOCOL``."""
    if theirs != PROTOCOL:
        raise ProtocolMismatch(
            f"{where} speaks hyperspark wire protocol {theirs}, this process speaks {PROTOCOL}: "
            f"the driver and the executors run different hyperspark builds; install the same "
            f"version on both")


_frozen = dataclasses.dataclass(frozen=True, slots=True)


# ---------------------------------------------------------------- up
@_frozen
class Hello:
    actor_id: int
    protocol: int = PROTOCOL


@_frozen
class Ready:
    pass


@_frozen
class SetupFailed:
    outcome: Any  # outcome.Outcome


@_frozen
class Started:
    tid: int
    attempt: int


@_frozen
class Returned:
    tid: int
    attempt: int
    rank: int


@_frozen
class Reported:
    tid: int
    attempt: int
    report: Any  # reporting.Report


@_frozen
class Done:
    tid: int
    outcome: bytes


@_frozen
class RankFailed:
    tid: int
    attempt: int
    rank: int
    outcome: Any  # outcome.Outcome, its failure naming the rank


@_frozen
class Gather:
    tid: int
    attempt: int
    round: int
    rank: int
    value: Any


# ---------------------------------------------------------------- down
@_frozen
class Load:
    search_id: str
    payload: bytes
    retry_on: Tuple[Type[BaseException], ...]


@_frozen
class Run:
    search_id: str
    tid: int
    attempt: int
    spec: Dict[str, Any]
    env: Dict[str, str]


@_frozen
class Prune:
    tid: int
    attempt: int


@_frozen
class Gathered:
    tid: int
    attempt: int
    round: int
    values: Tuple[Any, ...]


@_frozen
class Stop:
    pass
