"""How many MLflow writes a search keeps in flight: the default for a store, and a limit that
is lowered when a tracking server's database connection pool runs out.

>>> [concurrency_for(uri) for uri in ("sqlite:////tmp/m.db", "http://m:5000")]
[1, 10]
"""
from __future__ import annotations

import logging
from typing import Optional

logger = logging.getLogger("hyperspark")

SERVER_CONCURRENCY = 10
"""Requests in flight to a server. A server may route every request to one worker, whose
default database pool is 15 (5 + 10 overflow), and an MLflow ``log_batch`` holds two
connections at once (its own session, then one per part). Requests that hold one and wait for
a second can only take the whole pool if 15 are in flight, so 10 leaves room; it also fits
the MLflow client's HTTP pool (10 connections per host). Naming a run in ``log_batch`` holds a
third connection, so hyperspark names runs with an ``UpdateRun`` instead
(``mlflow_internals.update_run``): with the name in the batch, 8 in flight had filled the
pool."""

POOL_BACKOFF_S = 30.0
"""After lowering the limit for a full server pool, wait this long before lowering it again."""


def concurrency_for(tracking_uri: str, requested: Optional[int] = None) -> int:
    """Writer threads for a store: ``requested``, else 1 for a local store (sqlite or files:
    one writer at a time anyway), ``SERVER_CONCURRENCY`` for a server."""
    if requested:
        return requested
    local = tracking_uri.startswith(("sqlite:", "file:", "/")) or "://" not in tracking_uri
    return 1 if local else SERVER_CONCURRENCY


class InFlightLimit:
    """Writes allowed in flight at once (``value``); the writer holds its lock around it."""

    def __init__(self, concurrency: int) -> None:
        self.value = concurrency
        self._lowered_at = float("-inf")

    def lower(self, now: float) -> Optional[int]:
        """The server's pool ran out: halve the limit (at most once per ``POOL_BACKOFF_S``,
        never below 2). The new limit, or None when it stays as it is."""
        if self.value <= 2 or now - self._lowered_at < POOL_BACKOFF_S:
            return None
        self.value, self._lowered_at = max(2, self.value // 2), now
        return self.value


def warn_lowered(limit: int) -> None:
    logger.warning("MLflow: the tracking server's database connection pool is full; writing "
                   "%d runs at a time from now on. Each MLflow request can hold two "
                   "connections: give the server a larger pool "
                   "(MLFLOW_SQLALCHEMYSTORE_POOL_SIZE, MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW) or "
                   "more --workers", limit)
