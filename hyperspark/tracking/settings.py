"""Tracking's settings, read from the environment when a search starts (never at import), so
a value set in a notebook before ``fmin`` counts.

| variable | default | what |
|---|---|---|
| ``HYPERSPARK_MLFLOW`` | on | ``0`` turns tracking off |
| ``HYPERSPARK_CHILD_RUN_WAIT_S`` | 5 | how long a trial waits for its child run before it runs untracked |
| ``HYPERSPARK_TRACKING_RETRY_S`` | 120 | how long one MLflow call is retried while the store is unreachable |
| ``HYPERSPARK_TRACKING_FLUSH_TIMEOUT_S`` | 60 | at the end, how long to wait for pending writes while none completes |
| ``HYPERSPARK_SQLITE_WAL`` | on | ``0`` leaves a local sqlite store's journal mode as it is |
| ``HYPERSPARK_TRACKING_CONCURRENCY`` | 10 for a server, 1 for a local store | MLflow requests in flight at once |
| ``HYPERSPARK_TRACKING_SPARE_RUNS`` | parallelism + max_queue_len | child runs created ahead of need |

>>> TrackingSettings.from_env({"HYPERSPARK_TRACKING_RETRY_S": "3"}).retry_for_s
3.0
"""
from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Optional

from hyperspark import config
from hyperspark.errors import InvalidArgument


@dataclasses.dataclass(frozen=True)
class TrackingSettings:
    child_run_wait_s: float = 5.0
    retry_for_s: float = 120.0
    flush_timeout_s: float = 60.0
    sqlite_wal: bool = True
    concurrency: Optional[int] = None
    spare_runs: Optional[int] = None

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "TrackingSettings":
        environ = os.environ if environ is None else environ
        return cls(
            child_run_wait_s=_seconds(environ, "HYPERSPARK_CHILD_RUN_WAIT_S", cls.child_run_wait_s),
            retry_for_s=_seconds(environ, "HYPERSPARK_TRACKING_RETRY_S", cls.retry_for_s),
            flush_timeout_s=_seconds(environ, "HYPERSPARK_TRACKING_FLUSH_TIMEOUT_S",
                                     cls.flush_timeout_s),
            sqlite_wal=config.env_flag("HYPERSPARK_SQLITE_WAL", True, environ),
            concurrency=_count(environ, "HYPERSPARK_TRACKING_CONCURRENCY", minimum=1),
            spare_runs=_count(environ, "HYPERSPARK_TRACKING_SPARE_RUNS", minimum=0))


def _count(environ: Mapping[str, str], name: str, minimum: int) -> Optional[int]:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < minimum:
        raise InvalidArgument(f"environment variable {name}={raw!r}: expected a whole number "
                              f">= {minimum}")
    return int(raw)


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise InvalidArgument(f"environment variable {name}={raw!r}: expected a number of "
                              f"seconds >= 0")
    return value
