"""The executor side of an actor: the body of its Spark task (see ``backends/fleet.py``)."""
from __future__ import annotations

import dataclasses
from typing import Any, Tuple

import cloudpickle

from hyperspark import wire, worker
from hyperspark.backends.channel import connect
from hyperspark.outcome import Outcome
from hyperspark.reporting import ChannelReporter

SEARCHES_KEPT = 8
"""Objectives an actor keeps loaded (the most recently used searches)."""


@dataclasses.dataclass(frozen=True)
class ActorTask:
    """The body of an actor's task: serve until told to stop or the driver goes away. However
    the channel ends, the task ends quietly and successfully."""

    fleet_id: str
    actor_id: int
    channel: Tuple[Tuple[str, int], bytes]
    setup: Any
    """The fleet's ``worker_setup``, shipped (``Shipped``) or None."""
    protocol: int = wire.PROTOCOL

    def __call__(self) -> int:
        try:
            connection = connect(*self.channel)
        except (OSError, EOFError):
            return self.actor_id  # the driver is gone (the fleet closed) or unreachable
        try:
            self._serve(connection)
        except (OSError, EOFError):
            pass  # the driver closed the channel: the fleet is closed
        finally:
            connection.close()
        return self.actor_id

    def _serve(self, connection: Any) -> None:
        connection.send(wire.Hello(self.actor_id))  # the driver checks our protocol there
        try:
            wire.check_protocol(self.protocol, "the driver")
            setup = cloudpickle.loads(self.setup.read()) if self.setup is not None else None
            worker.ensure_worker_setup(self.fleet_id, setup)
        except Exception as exc:
            connection.send(wire.SetupFailed(worker.setup_failure(exc)))
            return
        connection.send(wire.Ready())
        searches = worker.SearchCache(kept=SEARCHES_KEPT)
        while True:
            message = connection.recv()
            if isinstance(message, wire.Prune):
                continue  # for a trial that has ended already
            if isinstance(message, wire.Load):
                searches.put(message.search_id, (_load(message.payload), message.retry_on))
                continue
            if not isinstance(message, wire.Run):
                return  # Stop
            domain, retry_on = searches.get(message.search_id)
            if isinstance(domain, Outcome):  # the objective could not be loaded here
                outcome = domain
            else:
                reporter = ChannelReporter(lambda: connection, message.tid, message.attempt)
                outcome = worker.run_attempt(domain, message.spec, message.tid, retry_on,
                                             message.env, own_process=True, reporter=reporter)
            connection.send(wire.Done(message.tid, worker.pack(outcome)))


def _load(payload: bytes) -> Any:
    """A search's objective (its ``Domain``), or the failure to load it, as an outcome."""
    try:
        domain, _ = cloudpickle.loads(payload)
        return domain
    except Exception as exc:  # e.g. a module the objective needs is missing here
        return worker.setup_failure(exc)
