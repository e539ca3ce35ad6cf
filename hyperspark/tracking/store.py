"""Where tracking writes: the store's URI as every process must see it, and a local sqlite
store's journal mode."""
from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger("hyperspark")

URL_PRINTING = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_before: "str | None" = None


def quiet_run_urls(on: bool) -> None:
    """While a tracked search runs, MLflow does not print each ended run's URL: against a
    server it fetches the run again to print it, one more request per trial (and two lines
    on the console per trial). ``on=True`` when a search starts, ``False`` when it ends;
    searches at once share it; the variable's own value comes back after the last one."""
    global _quiet_users, _quiet_before
    with _quiet_lock:
        if on:
            if _quiet_users == 0:
                _quiet_before = os.environ.get(URL_PRINTING)
                os.environ[URL_PRINTING] = "true"
            _quiet_users += 1
        elif _quiet_users > 0:
            _quiet_users -= 1
            if _quiet_users == 0:
                if _quiet_before is None:
                    os.environ.pop(URL_PRINTING, None)
                else:
                    os.environ[URL_PRINTING] = _quiet_before


def absolute_tracking_uri(uri: str) -> str:
    """Make a relative local store (``sqlite:///mlflow.db``, ``./mlruns``) absolute, so workers
    with another working directory reach the same store."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + os.path.abspath(uri[len("sqlite:///"):])
    if "://" not in uri:
        return "file://" + os.path.abspath(uri)
    return uri


def prefer_write_ahead_log(uri: str, enabled: bool = True) -> None:
    """Put a local sqlite store in write-ahead-log mode, where a write costs one fsync instead
    of several: about 3x the writes per second on this project's machine. The mode is kept in
    the database file; readers and writers on this machine (the MLflow UI, other searches)
    are unaffected. ``HYPERSPARK_SQLITE_WAL=0`` leaves the file as it is."""
    if not uri.startswith("sqlite:///") or not enabled:
        return
    path = uri[len("sqlite:///"):]
    if not os.path.isfile(path):
        return
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(path, timeout=1.0)) as connection:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                logger.info("MLflow: the sqlite store %s now uses journal_mode=%s (faster "
                            "writes; HYPERSPARK_SQLITE_WAL=0 leaves it as it was)", path, mode)
    except Exception as exc:  # busy, read-only, not sqlite: tracking works as before
        logger.debug("could not switch %s to write-ahead logging: %s", path, exc)


def is_local_store(uri: str) -> bool:
    """True for a store in this machine's files (sqlite, a file store): executors on other
    machines cannot write there."""
    return uri.startswith(("sqlite:", "file:", "/")) or "://" not in uri
