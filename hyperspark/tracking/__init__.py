"""MLflow tracking, in one package: every MLflow call hyperspark makes is in here.

What the rest of hyperspark uses:

- ``start_tracking(...)``: when tracking is on for this search, the scheduler listener that
  records it (``runs.MlflowTracker``: the parent run, a child run per trial on every
  backend), else None. Settings are read now, from the environment (``settings.py``);
- ``tracking.worker``: what an attempt needs to log into its child run, on a worker process
  or a driver thread.

The other modules: ``writer.py`` (the writer thread: merged batches, retries through
outages), ``store.py`` (the store's URI), ``mlflow_internals.py`` (the one private MLflow
call, pinned by a test).

>>> tracking_enabled(False, None)
False
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
from typing import Any, Callable, Dict, Iterator, Optional

from hyperspark import config

logger = logging.getLogger("hyperspark")

CONF_KEYS = ("spark.databricks.mlflow.trackHyperopt.enabled", "spark.hyperspark.mlflow.enabled")
"""Spark conf keys that turn automatic MLflow tracking off when set to false."""
PAGE_CONF_KEY = "spark.hyperspark.mlflow.searchPage"
"""Spark conf key that stops tracked searches logging their page when set to false."""


def page_enabled(runner: Any) -> bool:
    """Whether a tracked search logs its page (``search.html``) with its parent run: on
    unless ``HYPERSPARK_SEARCH_PAGE=0`` or the Spark conf ``PAGE_CONF_KEY`` is false."""
    if not config.env_flag("HYPERSPARK_SEARCH_PAGE", True):
        return False
    if runner is not None:
        return config.conf_flag(runner, PAGE_CONF_KEY) is not False
    return True


def tracking_enabled(argument: Optional[bool], runner: Any) -> bool:
    """Whether a search records itself: the ``mlflow_tracking`` argument when given, else on
    unless ``HYPERSPARK_MLFLOW=0`` or one of ``CONF_KEYS`` is false, and mlflow importable."""
    if argument is not None:
        return argument
    if not config.env_flag("HYPERSPARK_MLFLOW", True):
        return False
    if runner is not None:
        for key in CONF_KEYS:
            if config.conf_flag(runner, key) is False:
                return False
    return importlib.util.find_spec("mlflow") is not None


@contextlib.contextmanager
def _quiet_store_set_up() -> Iterator[None]:
    """MLflow says at INFO that it creates a new sqlite store's tables; hyperspark opening the
    store is not news to the person running the search (its warnings still show)."""
    store_logger = logging.getLogger("mlflow.store.db.utils")
    level = store_logger.level
    store_logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        store_logger.setLevel(level)


def start_tracking(space: Any, algo: Callable, requested_parallelism: Optional[int],
                   resume: Optional[Dict[str, Any]], runner: Any,
                   argument: Optional[bool] = None, search_id: Optional[str] = None,
                   continued_from: Optional[str] = None) -> Any:
    """The tracker of one search (a scheduler listener), or None when tracking is off or
    MLflow cannot be set up (a warning says why: tracking never stops a search)."""
    if not tracking_enabled(argument, runner):
        return None
    try:
        from hyperspark.tracking.runs import MlflowTracker

        with _quiet_store_set_up():
            tracker = MlflowTracker(space, algo, requested_parallelism, resume,
                                    search_id=search_id, continued_from=continued_from)
        tracker.log_page = page_enabled(runner)
    except Exception as exc:  # tracking never stops a search
        logger.warning("MLflow tracking is off: %s", exc)
        return None
    from hyperspark.tracking.store import is_local_store

    if runner is not None and is_local_store(tracker.tracking_uri):
        master = runner.master()
        if not master.startswith("local"):
            logger.warning("MLflow store %s is a local path but the master is %s: executors on "
                           "other machines cannot log to it; use a tracking server",
                           tracker.tracking_uri, master)
    return tracker
