"""The executor side of an actor: the body of its Spark task (see ``backends/fleet.py``)."""
from __future__ import annotations

import collections
import dataclasses
from typing import Any, Tuple

import cloudpickle

from hyperspark import worker
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
        connection.send(("hello", self.actor_id))
        try:
            setup = cloudpickle.loads(self.setup.read()) if self.setup is not None else None
            worker.ensure_worker_setup(self.fleet_id, setup)
        except Exception as exc:
            connection.send(("setup_failed", worker.setup_failure(exc)))
            return
        connection.send(("ready",))
        searches: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
        while True:
            message = connection.recv()
            kind = message[0]
            if kind == "prune":
                continue  # for a trial that has ended already
            if kind == "load":
                _, search_id, payload, retry_on = message
                searches[search_id] = (_load(payload), retry_on)
                while len(searches) > SEARCHES_KEPT:
                    searches.popitem(last=False)
                continue
            if kind != "run":
                return  # "stop"
            _, search_id, tid, attempt, spec, env = message
            domain, retry_on = searches[search_id]
            searches.move_to_end(search_id)
            if isinstance(domain, Outcome):  # the objective could not be loaded here
                outcome = domain
            else:
                outcome = worker.run_attempt(domain, spec, tid, retry_on, env,
                                             own_process=True,
                                             reporter=ChannelReporter(lambda: connection, tid,
                                                                      attempt))
            connection.send(("done", tid, worker.pack(outcome)))


def _load(payload: bytes) -> Any:
    """A search's objective (its ``Domain``), or the failure to load it, as an outcome."""
    try:
        domain, _ = cloudpickle.loads(payload)
        return domain
    except Exception as exc:  # e.g. a module the objective needs is missing here
        return worker.setup_failure(exc)
