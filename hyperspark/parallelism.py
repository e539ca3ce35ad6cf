"""How many trials of a search run at once: the parallelism asked for against the task slots
the cluster has, and, for trials of several tasks (``tasks_per_trial``), whether a trial can
ever start at all.

A barrier job of N tasks starts only when N slots are free together, so a trial wider than
the cluster would wait forever: it is refused by name at search start. Parallelism beyond the
slots is allowed, with a warning: the extra trials wait their turn, holding no slot.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Optional

from hyperspark import config
from hyperspark.errors import InvalidArgument

logger = logging.getLogger("hyperspark")


def decide(source: Any, requested: Optional[int], tasks: int, remaining: int,
           resource_profile: Any = None) -> int:
    """The parallelism of a search with ``remaining`` trials to run on ``source`` (a backend
    source): ``requested``, else the slots (divided by ``tasks``), trimmed to ``remaining``."""
    slots = gang_slots(source, tasks, resource_profile) if tasks > 1 else source.slots()
    default = getattr(source, "default_parallelism", None)
    parallelism = requested or ((slots // tasks if tasks > 1 and slots else None) or
                                (default() if default else slots)) or os.cpu_count() or 1
    if tasks > 1 and slots and requested and requested * tasks > slots:
        logger.warning("parallelism=%d x tasks_per_trial=%d = %d tasks exceeds the %d task "
                       "slots the cluster has now: at most %d trials run at once, the others "
                       "wait their turn holding no slot (a barrier job starts only when all "
                       "its tasks fit; waiting is not running: trial_timeout starts when the "
                       "objective does)", requested, tasks, requested * tasks, slots,
                       slots // tasks)
    elif requested and slots and requested > slots:
        logger.warning("parallelism=%d exceeds the %d task slots the cluster has now: trials "
                       "beyond that wait for a free slot (waiting is not running: their "
                       "trial_timeout starts when their objective does)", requested, slots)
    return max(1, min(parallelism, max(remaining, 1)))


def gang_slots(source: Any, tasks: int, resource_profile: Any = None) -> Optional[int]:
    """The cluster's task slots, when a trial of ``tasks`` tasks fits in them; refused by name
    when it never can. Executors register a few seconds after a session starts, so a count too
    small is read again for a while (``HYPERSPARK_GANG_SLOTS_WAIT_S``) before the refusal."""
    deadline = time.monotonic() + config.GANG_SLOTS_WAIT_S
    slots = source.slots()
    while slots is not None and slots < tasks and time.monotonic() < deadline:
        time.sleep(0.5)
        slots = source.slots()
    if slots is not None and slots < tasks:
        profile = " with its resource_profile" if resource_profile is not None else ""
        raise InvalidArgument(
            f"tasks_per_trial={tasks} is more than the {slots} task slots this cluster "
            f"has{profile}: a trial's {tasks} tasks must all run at once (a Spark barrier "
            f"job), so no trial could ever start. Give tasks_per_trial <= {slots}, or a "
            f"bigger cluster")
    return slots
