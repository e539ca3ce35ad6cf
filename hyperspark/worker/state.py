"""What a worker process keeps between trials: the value of ``worker_setup`` and the
objectives of recent searches."""
from __future__ import annotations

import collections
from typing import Any, Callable, Dict, Optional

from hyperspark.outcome import FailureKind, Outcome

_WORKER_STATE: Dict[str, Any] = {}
"""What ``worker_setup`` returned in this worker process, by search id; the current one under
the key ``"current"``."""


def worker_state() -> Any:
    """The object your ``worker_setup`` returned on this worker (run once per worker).

    Call it inside the objective to reach data or a model loaded once per worker::

        def load():
            return load_dataset()          # once per actor / Python worker

        def objective(params):
            data = hyperspark.worker_state()
            ...

        SparkTrials(backend="actors", worker_setup=load)
    """
    if "current" not in _WORKER_STATE:
        raise RuntimeError("no worker_setup ran on this worker: pass "
                           "SparkTrials(worker_setup=...) to use hyperspark.worker_state()")
    return _WORKER_STATE["current"]


def ensure_worker_setup(search_id: str, setup: Optional[Callable[[], Any]]) -> None:
    """Run ``setup`` once per search in this worker process and make its value current."""
    if setup is None:
        _WORKER_STATE.pop("current", None)
        return
    if search_id not in _WORKER_STATE:
        for old in [key for key in _WORKER_STATE if key != "current"]:
            del _WORKER_STATE[old]  # keep one search's state at a time
        _WORKER_STATE[search_id] = setup()
    _WORKER_STATE["current"] = _WORKER_STATE[search_id]


class SearchCache:
    """The objectives a worker keeps loaded, by search id: the ``kept`` most recently used.

    >>> cache = SearchCache(kept=2)
    >>> cache.put("a", 1); cache.put("b", 2); cache.get("a"); cache.put("c", 3)
    1
    >>> sorted(cache.ids())
    ['a', 'c']
    """

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._entries: "collections.OrderedDict[str, Any]" = collections.OrderedDict()

    def get(self, search_id: str) -> Any:
        """The entry of ``search_id`` (now the most recently used), or None."""
        if search_id not in self._entries:
            return None
        self._entries.move_to_end(search_id)
        return self._entries[search_id]

    def put(self, search_id: str, entry: Any) -> None:
        self._entries[search_id] = entry
        self._entries.move_to_end(search_id)
        while len(self._entries) > self._kept:
            self._entries.popitem(last=False)

    def ids(self) -> Any:
        return self._entries.keys()


_SEARCHES = SearchCache(kept=4)
"""The jobs backend's objectives, per Python worker process."""


def load_search(search_id: str, payload: Any) -> Any:
    """The search's objective (a hyperopt ``Domain``), unpickled once per worker process from
    ``payload`` (anything with ``read() -> bytes``), with its ``worker_setup`` run once there
    too. A few recent searches stay cached."""
    import cloudpickle

    domain = _SEARCHES.get(search_id)
    if domain is None:
        domain, setup = cloudpickle.loads(payload.read())
        ensure_worker_setup(search_id, setup)
        _SEARCHES.put(search_id, domain)
    return domain


def setup_failure(exc: BaseException) -> Outcome:
    """The outcome of a trial whose worker could not load the objective or run worker_setup."""
    return Outcome.failed(FailureKind.SETUP, exc, prefix="the objective or worker_setup could "
                          "not be loaded on the executor: ")
