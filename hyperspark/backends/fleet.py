"""A fleet of actors: long-lived workers inside Spark tasks, fed trial after trial by the
driver, kept at its size until closed, and lent fairly to the searches that borrow them.

Each actor is one Spark task, run through the seam in its own group, whose body connects back
to the driver's authenticated channel and runs the fleet's ``worker_setup`` once, then serves
what the driver sends: a search's objective (once per actor and search), then that search's
trials. A trial costs a round trip on an open socket, not a Spark job.

One job per actor rather than one barrier job: actors start and die independently (one lost
actor does not fail the others), they work with dynamic allocation, and more actors than free
slots just wait in Spark's queue. Cancelling a trial cancels its actor's group, which kills
the actor's Python worker; a new actor replaces it, so the fleet keeps its size.

Sharing: an idle actor goes to the waiting search that holds the fewest actors (the longest
waiting one among equals), so concurrent searches share the fleet fairly and none starves.

Messages (``hyperspark/wire.py``) up: ``Hello``, ``Ready``, ``SetupFailed``, ``Reported``,
``Done``; down: ``Load``, ``Run``, ``Prune``, ``Stop``. An actor whose hyperspark speaks
another protocol is refused at its ``Hello``, and the fleet fails with that reason.
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

import cloudpickle

from hyperspark import wire
from hyperspark.backends.actor_task import ActorTask
from hyperspark.backends.base import SearchContext
from hyperspark.backends.channel import Channel, Peer, open_checked_channel
from hyperspark.backends.groups import actor_group, probe_group, shipped_name
from hyperspark.backends.spark.base import SparkRunner
from hyperspark.config import CHANNEL_HOST_CONF
from hyperspark.errors import ChannelUnreachable, summarize
from hyperspark.outcome import FailureKind, Outcome
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")

START_TIMEOUT_CONF = "spark.hyperspark.actors.startTimeout"
DEFAULT_START_TIMEOUT_S = 120.0
STOP_GRACE_S = 3.0
"""After close(), how long actors may take to end on their own before their jobs are
cancelled. A search's end (a timeout, Ctrl-C) waits for it, so it stays short."""
ENDING_GRACE_S = 20.0
"""After close(), how long an actor that was told to stop and has closed its channel (its
Python side is done) may take for Spark to finish its task. Cancelling it then would only make
Spark log a lost task, so it is waited for, up to this bound, on a loaded machine."""
MAX_START_FAILURES = 3
"""Actors that die before they are ready, in a row, before the fleet gives up."""


# ---------------------------------------------------------------- driver side: the fleet
class _Actor:
    def __init__(self, actor_id: int, group: str) -> None:
        self.actor_id, self.group = actor_id, group
        self.peer: Optional[Peer] = None
        self.ready = False
        self.dead = False
        self.busy = False
        self.loaded: set = set()  # searches whose objective it has
        self.result: Optional["Future[Outcome]"] = None
        self.on_report: Optional[Callable[[int, int, Any], None]] = None
        self.ended = threading.Event()  # its Spark job is over
        self.hung_up = threading.Event()  # its channel closed


class Actors:
    """A fleet of ``size`` actors on ``runner``'s cluster, kept at its size until closed."""

    def __init__(self, runner: SparkRunner, size: int, *,
                 worker_setup: Optional[Callable[[], Any]] = None, profile: Any = None,
                 start_timeout_s: Optional[float] = None, name: Optional[str] = None) -> None:
        self.runner, self.size, self._profile = runner, size, profile
        self._worker_setup = worker_setup
        self.name = name or f"pool-{uuid.uuid4().hex[:8]}"
        self._start_timeout_s = start_timeout_s or float(
            runner.conf(START_TIMEOUT_CONF) or DEFAULT_START_TIMEOUT_S)
        self._lock = threading.Condition()
        self._actors: Dict[int, _Actor] = {}
        self._idle: List[_Actor] = []
        self._waiting: List[Tuple[int, str]] = []  # (ticket, borrower), in arrival order
        self._held: Dict[str, int] = collections.Counter()
        self._tickets = itertools.count()
        self._next_actor = 0
        self._start_failures = 0
        self._ready_count = 0
        self._no_ready_since = time.monotonic()
        self.fatal: Optional[Outcome] = None
        self.closed = threading.Event()
        self._channel: Optional[Channel] = None
        self._holders: Optional[ThreadPoolExecutor] = None
        self._setup: Any = None
        self.setups_started = 0
        self._probing = False
        """Actors that became ready (ran worker_setup), replacements included."""

    @property
    def address(self) -> Tuple[str, int]:
        return self._channel.address

    # ---------------------------------------------------------------- life cycle
    def start(self) -> None:
        """Open the channel, check that executors can reach it, start the actors."""
        self._probing = True  # stays True if Ctrl-C cuts the reachability probe short
        self._channel, why = open_checked_channel(self.runner, self.name, self._on_message,
                                                  self._on_closed)
        self._probing = False
        if why is not None:
            raise ChannelUnreachable(
                f"actors need executors to connect back to this process, and they cannot "
                f"reach it at {self._channel.address[0]}:{self._channel.address[1]} ({why}). "
                f"Use backend='jobs', which works without it, or set the Spark conf "
                f"{CHANNEL_HOST_CONF} to an address of this machine that executors can reach.")
        if self._worker_setup is not None:
            self._setup = self.runner.ship(shipped_name(self.name, "setup"),
                                           cloudpickle.dumps(self._worker_setup))
        self._holders = ThreadPoolExecutor(self.size * 2, thread_name_prefix="hyperspark-actor")
        for _ in range(self.size):
            self._start_actor()
        logger.info("actors: %d starting, channel at %s:%s", self.size, *self._channel.address)

    def _start_actor(self) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            actor = _Actor(self._next_actor, actor_group(self.name, self._next_actor))
            self._next_actor += 1
            self._actors[actor.actor_id] = actor
        self._holders.submit(self._hold_actor, actor)

    def _hold_actor(self, actor: _Actor) -> None:
        """Runs the actor's task (it lasts as long as the actor), then handles its end."""
        error = ""
        try:
            if not self.closed.is_set():
                self.runner.run_task(
                    actor.group, f"hyperspark {self.name}: actor {actor.actor_id}",
                    ActorTask(self.name, actor.actor_id, (self._channel.address,
                                                          self._channel.authkey),
                              self._setup), self._profile)
        except Exception as exc:
            error = summarize(exc)
        actor.ended.set()
        self._actor_gone(actor, error or "its task ended")

    def _on_message(self, peer: Peer, message: Any) -> None:
        if isinstance(message, wire.Hello):
            self._hello(peer, message)
        elif peer.tag is None:
            peer.close()  # authenticated, but never said which actor it is
        elif isinstance(message, wire.Ready):
            self._actor_ready(peer.tag)
        elif isinstance(message, wire.SetupFailed):
            self._fail(message.outcome)
        elif isinstance(message, wire.Reported):
            on_report = peer.tag.on_report
            if on_report is not None:
                on_report(message.tid, message.attempt, message.report)
        elif isinstance(message, wire.Done):
            result = peer.tag.result
            if result is not None and not result.done():
                result.set_result(cloudpickle.loads(message.outcome))

    def _hello(self, peer: Peer, hello: "wire.Hello") -> None:
        try:
            wire.check_protocol(hello.protocol, f"actor {hello.actor_id}")
        except wire.ProtocolMismatch as exc:
            peer.close()
            self._fail(Outcome.message(FailureKind.SETUP, "ProtocolMismatch", str(exc)))
            return
        with self._lock:
            actor = self._actors.get(hello.actor_id)
            if actor is None or actor.peer is not None or self.closed.is_set():
                peer.close()
                return
            actor.peer, peer.tag = peer, actor

    def _fail(self, outcome: Outcome) -> None:
        """The fleet cannot serve trials (setup failed, builds differ): every attempt that
        waits for an actor gets ``outcome``."""
        with self._lock:
            self.fatal = outcome
            self._lock.notify_all()

    def _on_closed(self, peer: Peer) -> None:
        actor = peer.tag
        if actor is not None:
            actor.hung_up.set()
            self._actor_lost(actor, "its channel closed")
            if not self.closed.is_set():  # make sure its task is gone too (at the end, a
                self.kill(actor)          # stopped actor's task ends by itself)

    def _actor_ready(self, actor: _Actor) -> None:
        with self._lock:
            if actor.dead:
                return
            actor.ready = True
            self._start_failures = 0
            self.setups_started += 1
            self._ready_count += 1
            self._idle.append(actor)
            self._lock.notify_all()

    def _actor_lost(self, actor: _Actor, why: str) -> None:
        """Mark ``actor`` dead (idempotent) and fail the attempt it was running."""
        with self._lock:
            if not actor.dead:
                actor.dead = True
                if actor.ready:
                    self._ready_count -= 1
                    if self._ready_count == 0:
                        self._no_ready_since = time.monotonic()
            if actor in self._idle:
                self._idle.remove(actor)
            if actor.result is not None and not actor.result.done():
                actor.result.set_exception(AttemptLost(f"actor {actor.actor_id} died: {why}"))
            self._lock.notify_all()

    def _actor_gone(self, actor: _Actor, why: str) -> None:
        """The actor's task ended: it is dead for sure; start a replacement."""
        self._actor_lost(actor, why)
        with self._lock:
            self._actors.pop(actor.actor_id, None)
            if not actor.ready and self.fatal is None and not self.closed.is_set():
                self._start_failures += 1
                if self._start_failures >= MAX_START_FAILURES:
                    self.fatal = _fatal(f"actors could not start: {self._start_failures} died "
                                        f"before they were ready; last: {why}")
            self._lock.notify_all()
        if not self.closed.is_set() and self.fatal is None:
            self._start_actor()

    # ---------------------------------------------------------------- lending actors
    def acquire(self, borrower: str, cancelled: threading.Event) -> Optional[_Actor]:
        """An idle actor for ``borrower`` (a search); None when the fleet failed for good
        (``fatal`` says why). Raises ``AttemptLost`` when ``cancelled`` is set or the fleet
        closes while waiting. Waits without polling: every change notifies."""
        with self._lock:
            ticket = (next(self._tickets), borrower)
            self._waiting.append(ticket)
            try:
                while not (self._idle and self._next_in_line() == ticket):
                    if self.fatal is not None:
                        return None
                    if cancelled.is_set() or self.closed.is_set():
                        raise AttemptLost("cancelled while waiting for an actor")
                    if self._ready_count == 0:  # none ready: wait for one, but not forever
                        remaining = (self._no_ready_since + self._start_timeout_s
                                     - time.monotonic())
                        if remaining <= 0:
                            self.fatal = _fatal(
                                f"no actor ready within {self._start_timeout_s:.0f} s: the "
                                f"cluster has no free task slot for them (set "
                                f"{START_TIMEOUT_CONF} to wait longer, or use backend='jobs')")
                            return None
                        self._lock.wait(remaining)
                    else:
                        self._lock.wait()
                actor = self._idle.pop()
                actor.busy = True
                self._held[borrower] += 1
                return actor
            finally:
                self._waiting.remove(ticket)
                self._lock.notify_all()

    def _next_in_line(self) -> Tuple[int, str]:
        """The waiting request served next: its search holds the fewest actors; the oldest
        request among equals."""
        return min(self._waiting, key=lambda ticket: (self._held[ticket[1]], ticket[0]))

    def release(self, actor: _Actor, borrower: str) -> None:
        with self._lock:
            actor.busy, actor.result, actor.on_report = False, None, None
            self._held[borrower] -= 1
            if not actor.dead and not self.closed.is_set():
                self._idle.append(actor)
            self._lock.notify_all()

    def run(self, actor: _Actor, search: SearchContext, tid: int, attempt: int,
            spec: Dict[str, Any], env: Dict[str, str],
            on_report: Callable[[int, int, Any], None]) -> Outcome:
        """Run one attempt on ``actor`` (acquired), sending the search's objective first if
        the actor does not have it yet; raises ``AttemptLost`` if the actor dies."""
        with self._lock:
            actor.result, actor.on_report = Future(), on_report
        try:
            if search.search_id not in actor.loaded:
                actor.peer.send(wire.Load(search.search_id, search.payload, search.retry_on))
                actor.loaded.add(search.search_id)
            actor.peer.send(wire.Run(search.search_id, tid, attempt, spec, env))
            return actor.result.result()
        except (OSError, EOFError) as exc:
            raise AttemptLost(f"actor {actor.actor_id} unreachable: {exc}") from exc

    def wake(self) -> None:
        """Let waiting ``acquire`` calls look at their cancellation again."""
        with self._lock:
            self._lock.notify_all()

    def kill(self, actor: _Actor) -> None:
        """Cancel the actor's task (its Python worker dies); a replacement starts."""
        try:
            self.runner.cancel(actor.group)
        except Exception as exc:
            logger.debug("cancelling %s failed: %s", actor.group, exc)

    # ---------------------------------------------------------------- the end
    def close(self) -> None:
        """End every actor before returning, so the application may stop Spark right after.
        Idle actors are told to stop and end their tasks normally (Spark keeps their Python
        workers and logs nothing); busy ones are killed now. An actor still starting finds the
        channel closed and ends quietly. Whatever still runs after STOP_GRACE_S (an actor
        queued in Spark, one that did not answer its stop) is cancelled, except an actor that
        has hung up: its task is ending and gets up to ENDING_GRACE_S more."""
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
            actors = list(self._actors.values())
            self._lock.notify_all()
        if self._channel is None:
            return
        if self._holders is None:  # start() stopped before any actor started
            self._channel.close()
            if self._probing:  # no job in the group otherwise: Spark would log a WARN
                self.kill(_Actor(-1, probe_group(self.name)))
            return
        for actor in actors:
            if actor.peer is None:
                continue
            if actor.busy:
                self.kill(actor)
                continue
            try:
                actor.peer.send(wire.Stop())
            except Exception:
                self.kill(actor)
        self._channel.stop_accepting()
        deadline = time.monotonic() + STOP_GRACE_S
        for actor in actors:
            actor.ended.wait(max(0.0, deadline - time.monotonic()))
        ending = []
        for actor in actors:
            if actor.ended.is_set():
                continue
            if actor.hung_up.is_set() and not actor.busy:
                ending.append(actor)  # stopped, its task is finishing in Spark
            else:
                self.kill(actor)
        deadline = time.monotonic() + ENDING_GRACE_S
        for actor in ending:
            if not actor.ended.wait(max(0.0, deadline - time.monotonic())):
                self.kill(actor)
        self._channel.close()
        self._holders.shutdown(wait=False, cancel_futures=True)
        self._setup = None


def _fatal(message: str) -> Outcome:
    return Outcome.message(FailureKind.SETUP, "ActorsUnavailable", message)
