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
from typing import Any, Dict, List, Optional, Set, Tuple, Type

from hyperspark import distributed, wire, worker
from hyperspark.backends.base import Post, SearchContext, TrialState
from hyperspark.backends.channel import (Channel, Peer, drop_shared_link,
                                         open_checked_channel, shared_link)
from hyperspark.backends.groups import keep_cancelling, probe_group, shipped_name, trial_group
from hyperspark.backends.spark.base import (SparkJobFailed, SparkRunner,
                                           lost_to_infrastructure)
from hyperspark.config import CHANNEL_HOST_CONF
from hyperspark.backends.threaded import ThreadedBackend
from hyperspark.sizing import TrialSize
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
    tasks: int = 1
    """The trial's tasks (``tasks_per_trial``): more than one runs as a barrier stage, each
    task a rank that runs the objective."""
    protocol: int = wire.PROTOCOL

    def __call__(self) -> Outcome:
        context = None
        if self.tasks > 1:  # first, on every rank: the others wait for it in an all-gather
            from pyspark import BarrierTaskContext

            distributed.take_stashed()  # nothing of an earlier task of this worker counts
            barrier = BarrierTaskContext.get()
            gather = (distributed.ChannelGather(lambda: shared_link(*self.channel), self.tid,
                                                self.attempt, barrier.partitionId())
                      if self.channel is not None else None)
            context = distributed.from_barrier(barrier, gather)
        outcome = self._run(context)
        self._say(wire.Returned(self.tid, self.attempt, context.rank if context else 0))
        if context is not None:
            outcome = outcome.on_rank(context.rank, context.world_size)
            if not outcome.ok:
                self._say_rank_failed(context.rank, outcome)
        return outcome

    def _run(self, context: Optional[distributed.TrialContext]) -> Outcome:
        try:
            wire.check_protocol(self.protocol, "the driver")
            domain = worker.load_search(self.search_id, self.payload)
        except Exception as exc:  # e.g. a module the objective needs is missing here
            return worker.setup_failure(exc)
        first = context is None or context.rank == 0  # rank 0 speaks for the trial
        reporter = (ChannelReporter(lambda: shared_link(*self.channel), self.tid, self.attempt)
                    if self.channel is not None and first else None)
        env = self.env if first else {key: value for key, value in self.env.items()
                                      if key != "MLFLOW_RUN_ID"}  # rank 0 logs the trial
        return worker.run_attempt(domain, self.spec, self.tid, self.retry_on, env,
                                  on_start=self._announce if first else None, own_process=True,
                                  reporter=reporter, context=context)

    def _say_rank_failed(self, rank: int, outcome: Outcome) -> None:
        """Tell the driver, which cancels the other ranks: they may be waiting for this one
        in a barrier or an all-gather that it will never reach (if this message is lost, the
        others end at trial_timeout, or when they finish)."""
        self._say(wire.RankFailed(self.tid, self.attempt, rank, outcome))

    def _announce(self) -> None:
        self._say(wire.Started(self.tid, self.attempt))

    def _say(self, message: Any) -> None:
        """Send ``message`` to the driver, if it can be reached. A lost message costs time,
        never the trial: a clock that starts late, or stops only when Spark returns."""
        if self.channel is None:
            return
        try:
            shared_link(*self.channel).send(message)
        except Exception:
            drop_shared_link()


# ---------------------------------------------------------------- driver side
def trial_outcome(outcomes: List[Any]) -> Outcome:
    """The attempt's outcome from each rank's (one for a plain trial): lost if Spark re-ran
    any rank, else the first failed rank's failure, else rank 0's result."""
    lost = next((outcome for outcome in outcomes if isinstance(outcome, Lost)), None)
    if lost is not None:
        raise AttemptLost(lost.message)
    return next((outcome for outcome in outcomes if not outcome.ok), outcomes[0])


class JobsBackend(ThreadedBackend):
    """Runs every trial attempt as one Spark task in the trial's own group."""

    ships_objective = True

    def __init__(self, runner: SparkRunner, parallelism: int, *, profile: Any = None,
                 backoff_s: Optional[float] = None, tasks_per_trial: int = 1) -> None:
        super().__init__(parallelism, backoff_s=backoff_s)
        self._runner = runner
        self._profile = profile
        self._tasks = tasks_per_trial
        self._returned: Dict[Tuple[int, int], Set[int]] = {}
        """(tid, attempt) -> the ranks whose objective has returned, of trials of several
        tasks."""
        self._rank_failures: Dict[Tuple[int, int], Outcome] = {}
        """(tid, attempt) -> the first failed rank's outcome, of trials of several tasks."""
        self._gathers: Dict[Tuple[int, int, int], Dict[int, Tuple[Peer, Any]]] = {}
        """(tid, attempt, round) -> the parts of an all-gather received so far, by rank."""
        self._gathers_lock = threading.Lock()  # also guards _returned
        self._channel: Optional[Channel] = None
        self._probing = False
        self._payload: Any = None

    def group_id(self, tid: int) -> str:
        return trial_group(self._search.search_id, tid)

    def _size(self, tid: int) -> TrialSize:
        """Trial ``tid``'s tasks and profile: decided by the loop from its parameters when
        the search is sized that way, else the search's one fixed size."""
        if self._search.sizing is not None:
            return self._search.sizing.get(tid)
        return TrialSize(self._tasks, profile=self._profile)

    def open(self, search: SearchContext, post: Post) -> None:
        super().open(search, post)
        self._payload = self._runner.ship(shipped_name(search.search_id, "payload"),
                                          search.payload)
        self._probing = True  # stays True if Ctrl-C cuts the reachability probe short
        self._channel, why = open_checked_channel(self._runner, search.search_id,
                                                  self._on_message)
        self._probing = False
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
            if self._tasks > 1 or self._search.sizing is not None:
                logger.warning(
                    "without that connection, a trial's ranks meet through Spark's own "
                    "BarrierTaskContext, and a failed rank ends its trial only once every rank "
                    "has ended; and when Spark cancels a trial while a rank waits in barrier() "
                    "or all_gather(), that rank's executor exits (a Spark issue)")

    def _on_message(self, peer: Peer, message: Any) -> None:
        state = self._states.get(getattr(message, "tid", None))
        if state is None:
            return
        if isinstance(message, wire.Started):
            self.running(state, message.attempt)
        elif isinstance(message, wire.Returned):
            self._on_returned(state, message)
        elif isinstance(message, wire.Reported) and message.attempt == state.attempt:
            state.link = peer  # where a pruning decision for this trial goes
            self.reported(state, message.attempt, message.report)
        elif isinstance(message, wire.Gather):
            self._gather(peer, message)
        elif isinstance(message, wire.RankFailed):
            key = (message.tid, message.attempt)
            if message.attempt != state.attempt or state.done.is_set():
                return  # its attempt is over: a retry may run in the group now
            if key not in self._rank_failures:  # the first failure is the trial's
                self._rank_failures[key] = message.outcome
                try:  # the others' Python workers are killed; the attempt's job ends now
                    self._runner.cancel(self.group_id(message.tid))
                except Exception as exc:
                    logger.debug("could not cancel trial %s's other ranks: %s",
                                 message.tid, exc)

    def _on_returned(self, state: TrialState, message: wire.Returned) -> None:
        """The trial's clock stops once every rank has left the objective."""
        tasks = self._size(message.tid).tasks
        if tasks > 1:  # each rank's message comes on its own connection's thread
            key = (message.tid, message.attempt)
            with self._gathers_lock:
                ranks = self._returned.setdefault(key, set())
                ranks.add(message.rank)
                if len(ranks) < tasks:
                    return
                del self._returned[key]
        self.returned(state, message.attempt)

    def _gather(self, peer: Peer, message: wire.Gather) -> None:
        """Coordinate an all-gather of a trial's ranks: once every rank's part is in, each
        rank gets all of them (on the channel threads of the ranks' connections)."""
        key = (message.tid, message.attempt, message.round)
        tasks = self._size(message.tid).tasks
        with self._gathers_lock:
            parts = self._gathers.setdefault(key, {})
            parts[message.rank] = (peer, message.value)
            if len(parts) < tasks:
                return
            del self._gathers[key]
        values = tuple(parts[rank][1] for rank in range(tasks))
        for rank in range(tasks):
            try:
                parts[rank][0].send(wire.Gathered(*key, values))
            except Exception as exc:  # that rank's worker is gone; its trial ends anyway
                logger.debug("trial %s: rank %s missed an all-gather: %s", message.tid, rank,
                             exc)

    def deliver_prune(self, state: TrialState) -> None:
        if state.link is not None:
            state.link.send(wire.Prune(state.tid, state.attempt))

    def attempt(self, state: TrialState, spec: Dict[str, Any], env: Dict[str, str]) -> Outcome:
        attempt = state.attempt
        if self._channel is not None:  # the task says when its objective starts
            channel, on_start = (self._channel.address, self._channel.authkey), None
        else:  # the runner says when Spark starts the task
            channel, on_start = None, lambda: self.running(state, attempt)
        size = self._size(state.tid)
        task = TrialTask(self._search.search_id, self._payload, self._search.retry_on,
                         state.tid, attempt, spec, env, channel, size.tasks)
        description = f"hyperspark search {self._search.search_id}: trial {state.tid}"
        try:
            if size.tasks == 1:
                outcomes = [self._runner.run_task(self.group_id(state.tid), description, task,
                                                  size.profile, on_start)]
            else:
                outcomes = self._runner.run_gang(self.group_id(state.tid), description, task,
                                                 size.tasks, size.profile, on_start)
        except SparkJobFailed as exc:
            failed_rank = self._rank_failures.pop((state.tid, attempt), None)
            if failed_rank is not None and not state.cancelled.is_set() \
                    and not lost_to_infrastructure(str(exc)):
                return failed_rank  # the job was cancelled because that rank failed
            raise AttemptLost("cancelled" if state.cancelled.is_set() else str(exc)) from exc
        finally:
            if size.tasks > 1:
                self._forget_gathers(state.tid, attempt)
        self._rank_failures.pop((state.tid, attempt), None)
        return trial_outcome(outcomes)

    def _forget_gathers(self, tid: int, attempt: int) -> None:
        """Drop what an attempt that ended left unfinished: all-gathers (a rank died in one)
        and the count of returned ranks."""
        with self._gathers_lock:
            for key in [key for key in self._gathers if key[:2] == (tid, attempt)]:
                del self._gathers[key]
            self._returned.pop((tid, attempt), None)

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
        if self._probing:  # a reachability probe cut short by Ctrl-C (cancelling a group
            try:          # with no job makes Spark log a WARN on the user's console)
                self._runner.cancel(probe_group(self._search.search_id))
            except Exception:
                pass
        # The payload is not removed here: a cancelled task may still be unwinding and read
        # it. Dropping the reference lets Spark free a broadcast once unused.
        self._payload = None
