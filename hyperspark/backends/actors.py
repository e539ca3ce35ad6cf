"""Actors: long-lived workers inside Spark tasks, fed trial after trial by the driver.

Each actor is one Spark task, run through the seam in its own group, whose body connects back
to the driver's authenticated channel, loads the objective and runs ``worker_setup`` once,
then evaluates the trials it is sent. A trial costs a round trip on an open socket, not a
Spark job.

One job per actor rather than one barrier job: actors start and die independently (one lost
actor does not fail the others), they work with dynamic allocation, and more actors than free
slots just wait in Spark's queue. Cancelling a trial cancels its actor's group, which kills
the actor's Python worker; a new actor replaces it.

Messages: ``("hello", actor)``, ``("ready",)``, ``("setup_failed", outcome)``,
``("report", tid, attempt, report)`` and ``("done", tid, packed outcome)`` up;
``("run", tid, attempt, spec, env)``, ``("prune", tid, attempt)`` and ``("stop",)`` down.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple, Type

import cloudpickle

from hyperspark import worker
from hyperspark.backends.base import Post, SearchContext, TrialState
from hyperspark.backends.channel import Channel, Peer, connect, unreachable_reason
from hyperspark.backends.spark.base import SparkRunner
from hyperspark.config import CHANNEL_HOST_CONF
from hyperspark.backends.threaded import ThreadedBackend
from hyperspark.errors import ChannelUnreachable, summarize
from hyperspark.outcome import FailureKind, Outcome
from hyperspark.reporting import ChannelReporter
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")

START_TIMEOUT_CONF = "spark.hyperspark.actors.startTimeout"
DEFAULT_START_TIMEOUT_S = 120.0
STOP_GRACE_S = 3.0
"""After close(), how long actors may take to end on their own before their jobs are
cancelled."""
MAX_START_FAILURES = 3
"""Actors that die before they are ready, in a row, before the search gives up on actors."""


# ---------------------------------------------------------------- executor side
@dataclasses.dataclass(frozen=True)
class ActorTask:
    """The body of an actor's task: serve trials until told to stop or the driver goes away.
    However the channel ends, the task ends quietly and successfully."""

    actor_id: int
    channel: Tuple[Tuple[str, int], bytes]
    search_id: str
    payload: Any
    retry_on: Tuple[Type[BaseException], ...]

    def __call__(self) -> int:
        try:
            connection = connect(*self.channel)
        except (OSError, EOFError):
            return self.actor_id  # the driver is gone (the search ended) or unreachable
        try:
            self._serve(connection)
        except (OSError, EOFError):
            pass  # the driver closed the channel: the search is over
        finally:
            connection.close()
        return self.actor_id

    def _serve(self, connection: Any) -> None:
        connection.send(("hello", self.actor_id))
        try:
            domain = worker.load_search(self.search_id, self.payload)
        except Exception as exc:
            connection.send(("setup_failed", worker.setup_failure(exc)))
            return
        connection.send(("ready",))
        while True:
            message = connection.recv()
            if message[0] == "prune":
                continue  # for a trial that has ended already
            if message[0] != "run":
                return  # "stop"
            _, tid, attempt, spec, env = message
            reporter = ChannelReporter(lambda: connection, tid, attempt)
            outcome = worker.run_attempt(domain, spec, tid, self.retry_on, env,
                                         own_process=True, reporter=reporter)
            connection.send(("done", tid, worker.pack(outcome)))


# ---------------------------------------------------------------- driver side
class _Actor:
    def __init__(self, actor_id: int, group: str) -> None:
        self.actor_id, self.group = actor_id, group
        self.peer: Optional[Peer] = None
        self.ready = False
        self.dead = False
        self.busy = False
        self.result: Optional["Future[Outcome]"] = None
        self.ended = threading.Event()  # its Spark job is over


class ActorsBackend(ThreadedBackend):
    """Runs trials on ``parallelism`` long-lived actors held by Spark tasks."""

    def __init__(self, runner: SparkRunner, parallelism: int, *, profile: Any = None,
                 backoff_s: Optional[float] = None,
                 start_timeout_s: Optional[float] = None) -> None:
        super().__init__(parallelism, backoff_s=backoff_s)
        self._runner, self._profile = runner, profile
        self._start_timeout_s = start_timeout_s or float(
            runner.conf(START_TIMEOUT_CONF) or DEFAULT_START_TIMEOUT_S)
        self._lock = threading.Condition()
        self._actors: Dict[int, _Actor] = {}
        self._idle: List[_Actor] = []
        self._next_actor = 0
        self._start_failures = 0
        self._ready_count = 0
        self._fatal: Optional[Outcome] = None
        self._channel: Optional[Channel] = None
        self._holders: Optional[ThreadPoolExecutor] = None
        self.setups_started = 0
        """Actors that became ready (loaded the objective, ran worker_setup), replacements
        included."""

    @property
    def address(self) -> Tuple[str, int]:
        return self._channel.address

    # ---------------------------------------------------------------- life cycle
    def open(self, search: SearchContext, post: Post) -> None:
        super().open(search, post)
        self._channel = Channel(self._runner.channel_host(), self._on_message,
                                self._on_closed)
        why = unreachable_reason(self._runner, self._channel,
                                 f"hyperspark-{search.search_id}-probe")
        if why is not None:
            self._channel.close()
            raise ChannelUnreachable(
                f"the actors backend needs executors to connect back to this process, and "
                f"they cannot reach it at {self._channel.address[0]}:"
                f"{self._channel.address[1]} ({why}). Use backend='jobs', which works without "
                f"it, or set the Spark conf {CHANNEL_HOST_CONF} to an address of this machine "
                f"that executors can reach.")
        self._payload = self._runner.ship(f"hyperspark-{search.search_id}.payload",
                                          search.payload)
        self._no_ready_since = time.monotonic()
        self._holders = ThreadPoolExecutor(self._parallelism * 2,
                                           thread_name_prefix="hyperspark-actor")
        for _ in range(self._parallelism):
            self._start_actor()
        logger.info("actors: %d starting, channel at %s:%s", self._parallelism,
                    *self._channel.address)

    def _start_actor(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            actor = _Actor(self._next_actor,
                           f"hyperspark-{self._search.search_id}-actor-{self._next_actor}")
            self._next_actor += 1
            self._actors[actor.actor_id] = actor
        self._holders.submit(self._hold_actor, actor)

    def _hold_actor(self, actor: _Actor) -> None:
        """Runs the actor's task (it lasts as long as the actor), then handles its end."""
        error = ""
        try:
            if not self._closed.is_set():
                self._runner.run_task(
                    actor.group, f"hyperspark search {self._search.search_id}: actor "
                    f"{actor.actor_id}", ActorTask(actor.actor_id, (self._channel.address,
                                                                   self._channel.authkey),
                                                   self._search.search_id, self._payload,
                                                   self._search.retry_on), self._profile)
        except Exception as exc:
            error = summarize(exc)
        actor.ended.set()
        self._actor_gone(actor, error or "its task ended")

    def _on_message(self, peer: Peer, message: Any) -> None:
        kind = message[0]
        if kind == "hello":
            with self._lock:
                actor = self._actors.get(message[1])
                if actor is None or actor.peer is not None or self._closed.is_set():
                    peer.close()
                    return
                actor.peer, peer.tag = peer, actor
        elif peer.tag is None:
            peer.close()  # authenticated, but never said which actor it is
        elif kind == "ready":
            self._actor_ready(peer.tag)
        elif kind == "setup_failed":
            with self._lock:
                self._fatal = message[1]
                self._lock.notify_all()
        elif kind == "report":
            state = self._states.get(message[1])
            if state is not None and state.worker is peer.tag and message[2] == state.attempt:
                self.reported(state, message[2], message[3])
        elif kind == "done":
            result = peer.tag.result
            if result is not None and not result.done():
                result.set_result(cloudpickle.loads(message[2]))

    def _on_closed(self, peer: Peer) -> None:
        actor = peer.tag
        if actor is not None:
            self._actor_lost(actor, "its channel closed")
            if not self._closed.is_set():  # mid-search: make sure its task is gone too (at
                self._cancel_job(actor)    # the end, a stopped actor's task ends by itself)

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
            if not actor.ready and self._fatal is None and not self._closed.is_set():
                self._start_failures += 1
                if self._start_failures >= MAX_START_FAILURES:
                    self._fatal = _fatal(f"actors could not start: {self._start_failures} died "
                                         f"before they were ready; last: {why}")
            self._lock.notify_all()
        if not self._closed.is_set() and self._fatal is None:
            self._start_actor()

    # ---------------------------------------------------------------- trials
    def attempt(self, state: TrialState, spec: Dict[str, Any], env: Dict[str, str]) -> Outcome:
        actor = self._take_actor(state)
        if actor is None:
            return self._fatal
        try:
            self.running(state, state.attempt)  # an idle actor starts the objective at once
            actor.peer.send(("run", state.tid, state.attempt, spec, env))
            outcome = actor.result.result()
        except (OSError, EOFError) as exc:
            raise AttemptLost(f"actor {actor.actor_id} unreachable: {exc}") from exc
        finally:
            with self._lock:
                actor.busy, actor.result, state.worker = False, None, None
        with self._lock:
            if not actor.dead and not self._closed.is_set():
                self._idle.append(actor)
                self._lock.notify_all()
        return outcome

    def _take_actor(self, state: TrialState) -> Optional[_Actor]:
        """An idle actor for this attempt; None when actors failed for good. Waits without
        polling: every change (actor ready, freed, dead; cancellation) notifies."""
        with self._lock:
            while not self._idle:
                if self._fatal is not None:
                    return None
                if state.cancelled.is_set() or self._closed.is_set():
                    raise AttemptLost("cancelled while waiting for an actor")
                if self._ready_count == 0:  # none ready: wait for one, but not forever
                    remaining = self._no_ready_since + self._start_timeout_s - time.monotonic()
                    if remaining <= 0:
                        self._fatal = _fatal(
                            f"no actor ready within {self._start_timeout_s:.0f} s: the cluster "
                            f"has no free task slot for them (set {START_TIMEOUT_CONF} to wait "
                            f"longer, or use backend='jobs')")
                        self._lock.notify_all()
                        return None
                    self._lock.wait(remaining)
                else:
                    self._lock.wait()  # a ready actor is busy: it notifies when free
            actor = self._idle.pop()
            actor.busy, actor.result = True, Future()
            state.worker = actor
            return actor

    def deliver_prune(self, state: TrialState) -> None:
        with self._lock:
            actor = state.worker
        if actor is not None and actor.peer is not None:
            actor.peer.send(("prune", state.tid, state.attempt))

    def interrupt(self, state: TrialState) -> None:
        with self._lock:
            actor = state.worker
            self._lock.notify_all()  # a trial waiting for an actor gives up
        if actor is not None:  # the objective may never return: kill its actor
            threading.Thread(target=self._cancel_job, args=(actor,), daemon=True).start()

    def _cancel_job(self, actor: _Actor) -> None:
        self._cancel_group(actor.group)

    def _cancel_group(self, group: str) -> None:
        try:
            self._runner.cancel(group)
        except Exception as exc:
            logger.debug("cancelling %s failed: %s", group, exc)

    def close(self) -> None:
        """End every actor before returning, so the application may stop Spark right after
        fmin. Idle actors are told to stop and end their tasks normally (Spark keeps their
        Python workers, and logs nothing); busy ones (a cancelled or hung trial) are killed
        now. An actor still starting finds the channel closed and ends quietly. Whatever runs
        after STOP_GRACE_S (an actor still queued in Spark) is cancelled."""
        super().close()
        if self._holders is None:  # open() stopped before any actor started
            if self._channel is not None:
                self._channel.close()
                self._cancel_group(f"hyperspark-{self._search.search_id}-probe")
            return
        with self._lock:
            actors = list(self._actors.values())
            self._lock.notify_all()
        for actor in actors:
            if actor.peer is None:
                continue
            if actor.busy:
                self._cancel_job(actor)
                continue
            try:
                actor.peer.send(("stop",))
            except Exception:
                self._cancel_job(actor)
        self._channel.stop_accepting()
        deadline = time.monotonic() + STOP_GRACE_S
        for actor in actors:
            actor.ended.wait(max(0.0, deadline - time.monotonic()))
        for actor in actors:
            if not actor.ended.is_set():
                self._cancel_job(actor)
        self._channel.close()
        self._holders.shutdown(wait=False, cancel_futures=True)
        self._payload = None


def _fatal(message: str) -> Outcome:
    return Outcome.message(FailureKind.SETUP, "ActorsUnavailable", message)
