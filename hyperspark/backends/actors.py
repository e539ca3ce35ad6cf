"""Actors: long-lived workers inside Spark tasks, fed trial after trial by the driver.

Each actor is a one-task Spark job in its own job group whose task connects back to the driver
over ``multiprocessing.connection`` (authenticated with a per-search secret by HMAC challenge
before anything is unpickled), loads the objective and runs ``worker_setup`` once, then
evaluates the trials it is sent. A trial costs a round trip on an open socket, not a Spark job.

One job per actor rather than one barrier job: actors start and die independently (one lost
actor does not fail the others), they work with dynamic allocation, and more actors than free
slots just wait in Spark's queue. Cancelling a trial cancels its actor's job group, which kills
the actor's Python worker; a new actor replaces it.
"""
from __future__ import annotations

import functools
import logging
import secrets
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import (Client, Connection, Listener, answer_challenge,
                                        deliver_challenge)
from typing import Any, Dict, Iterable, List, Optional


from hyperspark import worker
from hyperspark.errors import summarize
from hyperspark.backends.base import Post, SearchContext, TrialState, run_trial_attempts
from hyperspark.backends.jobs import load_search, setup_failure
from hyperspark.outcome import FailureKind, Outcome
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")

AUTH_TIMEOUT_S = 10.0
HOST_CONF = "spark.hyperspark.actors.host"
START_TIMEOUT_CONF = "spark.hyperspark.actors.startTimeout"
DEFAULT_START_TIMEOUT_S = 120.0
STOP_GRACE_S = 3.0
"""After close(), how long stopped actors may take to end before their jobs are cancelled."""
MAX_START_FAILURES = 3
"""Actors that die before they are ready, in a row, before the search gives up on actors."""


# ---------------------------------------------------------------- executor side
def actor_task(address: Any, authkey: bytes, actor_id: int, search: Dict[str, Any],
               payload: Any, _rows: Iterable[Any]) -> List[int]:
    """The body of an actor's task: serve trials until told to stop or the driver goes away."""
    from pyspark import TaskContext

    for _ in _rows:
        pass
    context = TaskContext.get()
    if context is not None and context.attemptNumber() > 0:
        return [actor_id]  # Spark retried a dead actor's task: the driver starts a fresh actor
    connection = Client(address, authkey=authkey)
    try:
        connection.send(("hello", actor_id))
        try:
            domain = load_search(search["search_id"], payload.value)
        except Exception as exc:
            connection.send(("setup_failed", actor_id, setup_failure(exc)))
            return [actor_id]
        connection.send(("ready", actor_id))
        while True:
            try:
                message = connection.recv()
            except EOFError:
                break  # the driver closed the channel
            if message[0] == "stop":
                break
            _, tid, spec, env = message
            outcome = worker.run_attempt(domain, spec, tid, search["retry_on"], env)
            try:
                connection.send(("done", tid, outcome))
            except Exception as exc:  # the result itself cannot be pickled
                connection.send(("done", tid, worker.unpicklable_result(outcome, exc)))
    finally:
        connection.close()
    return [actor_id]


# ---------------------------------------------------------------- driver side
class _Actor:
    def __init__(self, actor_id: int, group: str) -> None:
        self.actor_id, self.group = actor_id, group
        self.connection: Optional[Connection] = None
        self.ready = False
        self.dead = False
        self.trial: Optional[int] = None
        self.result: Optional["Future[Outcome]"] = None
        self.ended = threading.Event()  # its Spark job is over


class _TrialState(TrialState):
    def __init__(self) -> None:
        super().__init__()
        self.actor: Optional[_Actor] = None  # the actor running its attempt, if any


class ActorsBackend:
    """Runs trials on ``parallelism`` long-lived actors held by Spark jobs."""

    def __init__(self, spark: Any, parallelism: int, *, backoff_s: Optional[float] = None,
                 start_timeout_s: Optional[float] = None) -> None:
        self._spark, self._sc = spark, spark.sparkContext
        self._parallelism = parallelism
        self._backoff_s = backoff_s
        runtime = spark.conf
        self._start_timeout_s = start_timeout_s or float(
            runtime.get(START_TIMEOUT_CONF, None) or DEFAULT_START_TIMEOUT_S)
        self._host = (runtime.get(HOST_CONF, None)
                      or self._sc.getConf().get("spark.driver.host", "127.0.0.1"))
        self._lock = threading.Condition()
        self._actors: Dict[int, _Actor] = {}
        self._idle: List[_Actor] = []
        self._next_actor = 0
        self._start_failures = 0
        self._fatal: Optional[Outcome] = None
        self._closed = threading.Event()
        self._states: Dict[int, _TrialState] = {}
        self._ready_count = 0
        self._channels: set = set()  # every accepted connection, closed by close()
        self.setups_started = 0
        """Actors that became ready (loaded the objective, ran worker_setup), replacements
        included."""

    # ---------------------------------------------------------------- life cycle
    def open(self, search: SearchContext, post: Post) -> None:
        self._search, self._post = search, post
        self._authkey = secrets.token_bytes(32)
        self._listener = Listener((self._host, 0))  # authentication per connection, below
        self.address = self._listener.address
        self._payload = self._sc.broadcast(search.payload)
        self._task_search = {"search_id": search.search_id, "retry_on": search.retry_on}
        self._no_ready_since = time.monotonic()
        threading.Thread(target=self._accept_loop, name="hyperspark-actors-accept",
                         daemon=True).start()
        self._trial_pool = ThreadPoolExecutor(self._parallelism,
                                              thread_name_prefix="hyperspark-trial")
        self._actor_pool = ThreadPoolExecutor(self._parallelism * 2,
                                              thread_name_prefix="hyperspark-actor")
        for _ in range(self._parallelism):
            self._start_actor()
        logger.info("actors: %d starting, channel at %s:%s", self._parallelism, *self.address)

    def _start_actor(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            actor_id = self._next_actor
            self._next_actor += 1
            actor = _Actor(actor_id, f"hyperspark-{self._search.search_id}-actor-{actor_id}")
            self._actors[actor_id] = actor
        self._actor_pool.submit(self._hold_actor, actor)

    def _hold_actor(self, actor: _Actor) -> None:
        """Runs the actor's job (it lasts as long as the actor), then handles its end."""
        error = ""
        if self._closed.is_set():
            actor.ended.set()
            return
        try:
            self._sc.setJobGroup(actor.group, f"hyperspark search {self._search.search_id}: "
                                 f"actor {actor.actor_id}", interruptOnCancel=True)
            task = functools.partial(actor_task, self.address, self._authkey, actor.actor_id,
                                     self._task_search, self._payload)
            self._sc.parallelize([0], 1).mapPartitions(task).collect()
        except Exception as exc:
            error = summarize(exc)
        actor.ended.set()
        self._actor_gone(actor, error or "its job ended")

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except OSError:
                return  # listener closed
            threading.Thread(target=self._serve, args=(connection,), daemon=True,
                             name="hyperspark-actor-channel").start()

    def _serve(self, connection: Connection) -> None:
        """Authenticate a peer, then read its messages until it goes away."""
        with self._lock:
            if self._closed.is_set():
                connection.close()
                return
            self._channels.add(connection)
        try:
            timer = threading.Timer(AUTH_TIMEOUT_S, connection.close)  # a silent peer
            timer.start()
            try:
                deliver_challenge(connection, self._authkey)
                answer_challenge(connection, self._authkey)
            finally:
                timer.cancel()
            kind, actor_id = connection.recv()  # authenticated: unpickling is safe now
        except Exception as exc:
            connection.close()
            if self._closed.is_set():  # close() closed it mid-handshake: not an intruder
                return
            logger.warning("actors: dropped a connection that failed authentication (%s)",
                           type(exc).__name__)
            return
        with self._lock:
            actor = self._actors.get(actor_id)
            if (kind != "hello" or actor is None or actor.connection is not None
                    or self._closed.is_set()):
                connection.close()
                return
            actor.connection = connection
        try:
            while True:
                message = connection.recv()
                if message[0] == "ready":
                    self._actor_ready(actor)
                elif message[0] == "setup_failed":
                    with self._lock:
                        self._fatal = message[2]
                        self._lock.notify_all()
                elif message[0] == "done":
                    result = actor.result
                    if result is not None and not result.done():
                        result.set_result(message[2])
        except Exception:  # EOF, or closed under us (a Connection closed by another thread
            pass             # raises TypeError in the read it interrupts)
        self._actor_lost(actor, "its channel closed")
        self._cancel_job(actor)  # the channel is gone: make sure the job is too

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
        """The actor's job ended: it is dead for sure; start a replacement."""
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
    def start(self, tid: int, spec: Dict[str, Any]) -> None:
        state = _TrialState()
        self._states[tid] = state
        self._trial_pool.submit(self._run_trial, tid, spec, state)

    def _run_trial(self, tid: int, spec: Dict[str, Any], state: _TrialState) -> None:
        env = self._search.env_for(tid)
        self._post(run_trial_attempts(
            tid, lambda attempt: self._attempt(tid, spec, env, state),
            max_retries=self._search.max_retries, cancelled=state.cancelled,
            cancel_reason=lambda: state.reason, backoff_s=self._backoff_s))

    def _attempt(self, tid: int, spec: Dict[str, Any], env: Dict[str, str],
                 state: _TrialState) -> Outcome:
        actor = self._take_actor(state)
        if actor is None:
            return self._fatal
        try:
            actor.connection.send(("run", tid, spec, env))
            outcome = actor.result.result()
        except (OSError, EOFError) as exc:
            raise AttemptLost(f"actor {actor.actor_id} unreachable: {exc}") from exc
        finally:
            with self._lock:
                actor.trial, actor.result, state.actor = None, None, None
        with self._lock:
            if not actor.dead and not self._closed.is_set():
                self._idle.append(actor)
                self._lock.notify_all()
        return outcome

    def _take_actor(self, state: _TrialState) -> Optional[_Actor]:
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
            actor.trial, actor.result = id(state), Future()
            state.actor = actor
            return actor

    def cancel(self, tid: int, reason: str) -> None:
        state = self._states.get(tid)
        if state is None or not state.request_cancel(reason):
            return
        with self._lock:
            actor = state.actor
            self._lock.notify_all()
        if actor is not None:  # the objective may never return: kill its actor
            threading.Thread(target=self._cancel_job, args=(actor,), daemon=True).start()

    def _cancel_job(self, actor: _Actor) -> None:
        try:
            self._sc.cancelJobGroup(actor.group)
        except Exception as exc:
            logger.debug("cancelJobGroup %s failed: %s", actor.group, exc)

    def close(self) -> None:
        """Idle actors are told to stop and end their tasks normally, so Spark keeps their
        Python workers for the next search; busy ones (a cancelled or hung trial) are killed
        now. Whatever still runs after STOP_GRACE_S is cancelled too."""
        self._closed.set()
        with self._lock:
            actors = list(self._actors.values())
            channels = list(self._channels)
            self._lock.notify_all()
        for actor in actors:
            if actor.connection is not None and actor.trial is None:
                try:
                    actor.connection.send(("stop",))
                except Exception:
                    self._cancel_job(actor)
            else:
                self._cancel_job(actor)
        try:  # closing a listening socket does not wake accept(); a connection does
            socket.create_connection(self.address, timeout=1).close()
        except OSError:
            pass
        self._listener.close()
        for channel in channels:  # an actor reading its channel sees EOF and ends its task
            try:
                channel.close()
            except OSError:
                pass
        threading.Thread(target=self._cancel_stragglers, args=(actors,), daemon=True,
                         name="hyperspark-actors-close").start()
        self._trial_pool.shutdown(wait=False, cancel_futures=True)
        self._actor_pool.shutdown(wait=False, cancel_futures=True)
        self._payload = None

    def _cancel_stragglers(self, actors: List[_Actor]) -> None:
        deadline = time.monotonic() + STOP_GRACE_S
        for actor in actors:
            while not actor.ended.is_set() and time.monotonic() < deadline:
                actor.ended.wait(deadline - time.monotonic())
            if not actor.ended.is_set():
                self._cancel_job(actor)


def _fatal(message: str) -> Outcome:
    return Outcome.message(FailureKind.SETUP, "ActorsUnavailable", message)
