"""Names of the Spark groups hyperspark's work runs in, and cancelling one until it is gone.

Every trial's Spark work runs in its own group (a job group on classic Spark, a tag on Spark
Connect), so that cancelling it touches nothing else. A cancel can reach Spark before the
trial's job exists, and an objective may start new jobs after one was cancelled, so a
cancelled group is cancelled again every ``RECANCEL_EVERY_S`` until its trial's thread ends.

>>> trial_group("a1b2c3", 7)
'hyperspark-a1b2c3-7'
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable, Optional

logger = logging.getLogger("hyperspark")

RECANCEL_EVERY_S = 0.5
"""How often a cancelled trial's group is cancelled again while the trial's thread lives."""


def trial_group(search_id: str, tid: int) -> str:
    """The group of trial ``tid``'s Spark work."""
    return f"hyperspark-{search_id}-{tid}"


def probe_group(name: str) -> str:
    """The group of the reachability probe of a search or a fleet (``channel``)."""
    return f"hyperspark-{name}-probe"


def actor_group(fleet: str, actor_id: int) -> str:
    """The group of an actor's task."""
    return f"hyperspark-{fleet}-actor-{actor_id}"


def shipped_name(name: str, what: str) -> str:
    """The name under which a search or a fleet ships ``what`` (payload, setup) to tasks."""
    return f"hyperspark-{name}.{what}"


def keep_cancelling(cancel: Callable[[], None], done: threading.Event, *,
                    until: Callable[[], bool] = lambda: False, for_s: float = math.inf,
                    after: Optional[Callable[[float], bool]] = None,
                    label: str = "") -> None:
    """Call ``cancel()`` now and every ``RECANCEL_EVERY_S`` until ``done`` is set, ``until()``
    is true, or ``for_s`` seconds have passed. ``after(elapsed_s)`` runs after each cancel and
    ends the loop by returning True. A ``cancel`` that raises (the session stopping) ends it
    too. Runs on the calling thread: start it on its own."""
    began = time.monotonic()
    while not done.is_set() and time.monotonic() - began < for_s:
        try:
            cancel()
        except Exception as exc:
            logger.debug("cancelling %s failed: %s", label, exc)
            return
        if after is not None and after(time.monotonic() - began):
            return
        if done.wait(RECANCEL_EVERY_S) or until():
            return
