"""The environment variables of one attempt (its MLflow child run, credentials), set for the
attempt and restored after: worker processes are reused between trials."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, Mapping, Optional

from hyperspark.tracking.worker import end_active_runs

_env_lock = threading.Lock()
_env_users: Dict[str, int] = {}  # variable -> attempts in this process that set it now
_env_original: Dict[str, Optional[str]] = {}  # its value before the first of them


@contextmanager
def trial_environment(env: Mapping[str, str], *, own_process: bool = False) -> Iterator[None]:
    """Set ``env`` for the duration of one attempt and restore the previous values after.

    Python workers are reused between tasks, so nothing of one trial may leak into the next.
    Attempts that overlap in one process (the local backend's threads) share ``os.environ``:
    each variable gets its original value back when the last of them ends.

    ``own_process``: the attempt runs in a worker process that serves nothing else (an
    executor's Python worker, an actor). Every MLflow run left active there is then ended
    before and after the attempt: a run the objective started while tracking was off would
    otherwise catch the next trial's ``mlflow.log_*`` calls, even a tracked trial's.
    """
    if own_process:
        end_active_runs()
    with _env_lock:
        for key in env:
            if _env_users.get(key, 0) == 0:
                _env_original[key] = os.environ.get(key)
            _env_users[key] = _env_users.get(key, 0) + 1
        os.environ.update(env)
    try:
        yield
    finally:
        if own_process or "MLFLOW_RUN_ID" in env:
            end_active_runs()
        with _env_lock:
            for key in env:
                _env_users[key] -= 1
                if _env_users[key] == 0:
                    old = _env_original.pop(key)
                    if old is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = old
