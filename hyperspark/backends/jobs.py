"""One Spark task per trial attempt, each in the trial's own group, so one trial can be
cancelled alone.

The objective travels once per search (``runner.ship``: a broadcast, or a Spark Connect
artifact) and each Python worker keeps it unpickled for the search, so a trial ships only its
point. A trial's thread on the driver runs each attempt through the seam
(``SparkRunner.run_task``) in the group ``hyperspark-<search id>-<tid>`` and blocks until it
ends; cancelling the trial cancels that group, which kills the Python worker running it.

The task tells the driver the moment its objective starts, over the search's authenticated
channel (one connection per Python worker, kept across tasks): that is when the trial's
``trial_timeout`` starts to count, not when Spark got the job.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Dict, Optional, Tuple, Type

from hyperspark import wire, worker
from hyperspark.backends.base import Post, SearchContext, TrialState
from hyperspark.backends.channel import (Channel, Peer, drop_shared_link,
                                         open_checked_channel, shared_link)
from hyperspark.backends.groups import keep_cancelling, probe_group, shipped_name, trial_group
from hyperspark.backends.spark.base import SparkJobFailed, SparkRunner
from hyperspark.config import CHANNEL_HOST_CONF
from hyperspark.backends.threaded import ThreadedBackend
from hyperspark.outcome import Lost, Outcome
from hyperspark.reporting import ChannelReporter
from hyperspark.retries import AttemptLost

logger = logging.getLogger("hyperspark")

# ---------------------------------------------------------------- executor side
@dataclasses.dataclass(frozen=True)
class TrialTask:
    """The body of one attempt's task: load the search (cached per worker), tell the driver
    when the objective starts, evaluate."""

    search_id: str
    payload: Any
    retry_on: Tuple[Type[BaseException], ...]
    tid: int
    attempt: int
    spec: Dict[str, Any]
    env: Dict[str, str]
    channel: Optional[Tuple[Tuple[str, int], bytes]]
    """(address, key) of the driver's channel; None when the driver cannot be reached."""
    protocol: int = wire.PROTOCOL

    def __call__(self) -> Outcome:
        try:
            wire.check_protocol(self.protocol, "the driver")
            domain = worker.load_search(self.search_id, self.payload)
        except Exception as exc:  # e.g. a module the objective needs is missing here
            return worker.setup_failure(exc)
        reporter = (ChannelReporter(lambda: shared_link(*self.channel), self.tid, self.attempt)
                    if self.channel is not None else None)
        return worker.run_attempt(domain, self.spec, self.tid, self.retry_on, self.env,
                                  on_start=self._announce, own_process=True,
                                  reporter=reporter)

    def _announce(self) -> None:
        if self.channel is None:
            return
        try:
            shared_link(*self.channel).send(wire.Started(self.tid, self.attempt))
        except Exception:  # the trial runs anyway; its clock starts late (see the driver)
            drop_shared_link()


# ---------------------------------------------------------------- driver side
class JobsBackend(ThreadedBackend):
    """Runs every trial attempt as one Spark task in the trial's own group."""

    ships_objective = True

    def __init__(self, runner: SparkRunner, parallelism: int, *, profile: Any = None,
                 backoff_s: Optional[float] = None) -> None:
        super().__init__(parallelism, backoff_s=backoff_s)
        self._runner = runner
        self._profile = profile
        self._channel: Optional[Channel] = None
        self._payload: Any = None

    def group_id(self, tid: int) -> str:
        return trial_group(self._search.search_id, tid)

    def open(self, search: SearchContext, post: Post) -> None:
        super().open(search, post)
        self._payload = self._runner.ship(shipped_name(search.search_id, "payload"),
                                          search.payload)
        self._channel, why = open_checked_channel(self._runner, search.search_id,
                                                  self._on_message)
        if why is not None:
            logger.warning(
                "executors cannot connect back to this process at %s:%s (%s): each trial's "
                "trial_timeout counts from the moment Spark starts its task (Python worker "
                "start-up and loading the objective included). Set the Spark conf %s to an "
                "address of this machine that executors can reach to count the objective's "
                "time alone (and to stream hyperspark.report() to the driver: without it, "
                "reports are dropped and no trial is pruned).", *self._channel.address, why,
                CHANNEL_HOST_CONF)
            self._channel = None

    def _on_message(self, peer: Peer, message: Any) -> None:
        state = self._states.get(getattr(message, "tid", None))
        if state is None:
            return
        if isinstance(message, wire.Started):
            self.running(state, message.attempt)
        elif isinstance(message, wire.Reported) and message.attempt == state.attempt:
            state.link = peer  # where a pruning decision for this trial goes
            self.reported(state, message.attempt, message.report)

    def deliver_prune(self, state: TrialState) -> None:
        if state.link is not None:
            state.link.send(wire.Prune(state.tid, state.attempt))

    def attempt(self, state: TrialState, spec: Dict[str, Any], env: Dict[str, str]) -> Outcome:
        attempt = state.attempt
        if self._channel is not None:  # the task says when its objective starts
            channel, on_start = (self._channel.address, self._channel.authkey), None
        else:  # the runner says when Spark starts the task
            channel, on_start = None, lambda: self.running(state, attempt)
        task = TrialTask(self._search.search_id, self._payload, self._search.retry_on,
                         state.tid, attempt, spec, env, channel)
        try:
            outcome = self._runner.run_task(
                self.group_id(state.tid),
                f"hyperspark search {self._search.search_id}: trial {state.tid}", task,
                self._profile, on_start)
        except SparkJobFailed as exc:
            raise AttemptLost("cancelled" if state.cancelled.is_set() else str(exc)) from exc
        if isinstance(outcome, Lost):
            raise AttemptLost(outcome.message)
        return outcome

    def interrupt(self, state: TrialState) -> None:
        group = self.group_id(state.tid)
        threading.Thread(target=keep_cancelling, args=(lambda: self._runner.cancel(group),
                                                       state.done),
                         kwargs=dict(until=self._closed.is_set, label=group),
                         name=f"hyperspark-cancel-{state.tid}", daemon=True).start()

    def close(self) -> None:
        super().close()
        for state in list(self._states.values()):  # one last cancel now, for any trial still on
            if not state.done.is_set():
                try:
                    self._runner.cancel(self.group_id(state.tid))
                except Exception:
                    pass
        if self._channel is not None:
            self._channel.close()
        try:  # a reachability probe cut short by Ctrl-C
            self._runner.cancel(probe_group(self._search.search_id))
        except Exception:
            pass
        # The payload is not removed here: a cancelled task may still be unwinding and read
        # it. Dropping the reference lets Spark free a broadcast once unused.
        self._payload = None
