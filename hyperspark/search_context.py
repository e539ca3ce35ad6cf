"""What every trial of one search shares: handed by the face to the loop and to the backend
once per ``fmin``. Below both (the loop's listeners and the backends read it; it reads
nothing of theirs)."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple, Type


@dataclasses.dataclass(frozen=True)
class SearchContext:
    """What every trial of one ``fmin`` call shares, handed to the backend once."""

    search_id: str
    domain: Any
    """The ``hyperopt.base.Domain`` (objective and space)."""
    max_retries: int
    retry_on: Tuple[Type[BaseException], ...]
    payload: Optional[bytes] = None
    """``(domain, worker_setup)`` pickled (cloudpickle), for backends that run trials in other
    processes; they ship it once per search, not per trial. None for the in-process backend."""
    worker_setup: Optional[Callable[[], Any]] = None
    """Runs once per worker (actor or Python worker) before its first trial; its value is
    ``hyperspark.worker_state()`` inside the objective."""
    trial_env: Optional[Callable[[int], Dict[str, str]]] = None
    """Gives the environment variables set around trial ``tid`` on its worker (its MLflow run,
    credentials). Backends call it on the trial's own thread, never the loop's: it may wait."""

    restore_traceback: Optional[Callable[[str], str]] = None
    """Rewrites a worker's traceback so it names the user's files (``SourceMap.restore``);
    None when the objective runs in this process and its tracebacks already do."""

    objective_site: Optional[str] = None
    """Where the objective is defined, as a traceback frame (``source_map.definition_site``):
    a trial that returned an invalid result names it."""

    sizing: Any = None
    """A ``sizing.Sizing`` when trials are sized by their parameters (``tasks_per_trial`` or
    ``resource_profile`` a callable): the loop decides each trial's size before it starts, the
    backend reads it. None for one fixed size."""

    def env_for(self, tid: int) -> Dict[str, str]:
        return self.trial_env(tid) if self.trial_env is not None else {}
