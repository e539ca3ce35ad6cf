"""What an attempt needs to log into its trial's child run, where the objective runs.

- On a worker process (an executor's Python worker, an actor), the driver hands the attempt
  an environment (``FORWARDED_ENV``, the tracking URI, the experiment and ``MLFLOW_RUN_ID``):
  the objective's ``mlflow.log_*`` then resume the child run. ``end_active_runs`` ends what
  the objective left active, since the process serves other trials after.
- On a driver thread (the driver and local backends), ``child_run_active`` makes the child
  run the thread's active run for the attempt (MLflow keeps it per thread).

Nothing here imports mlflow unless the objective or the search uses it.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Iterator, Optional

logger = logging.getLogger("hyperspark")

FORWARDED_ENV = ("MLFLOW_TRACKING_", "MLFLOW_ALLOW_FILE_STORE", "MLFLOW_HTTP_REQUEST_",
                 "MLFLOW_S3_", "AWS_", "AZURE_STORAGE_", "GOOGLE_APPLICATION_CREDENTIALS")
"""Prefixes of the driver's environment variables forwarded to the workers (credentials
included; never logged)."""


def end_active_runs() -> None:
    """End every MLflow run the objective left active in this process.

    The run ends FINISHED here; the driver sets the trial's real final status afterwards.
    mlflow is not imported when the objective did not use it.
    """
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return
    try:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    except Exception:  # tracking must never turn a result into a failure
        pass


@contextlib.contextmanager
def child_run_active(run_id: Optional[str],
                     cancelled: Optional[threading.Event] = None) -> Iterator[None]:
    """Make ``run_id`` (the trial's child run) the active MLflow run of this thread for the
    attempt; end it, and any run the objective left open, after. A cancelled trial's run ends
    KILLED: the driver may have recorded its end already, and FINISHED would overwrite it."""
    if not run_id:
        yield
        return
    import mlflow

    try:
        mlflow.start_run(run_id=run_id)
    except Exception as exc:  # tracking never fails a trial
        logger.warning("trial runs outside its MLflow child run %s: %s", run_id, exc)
        yield
        return
    try:
        yield
    finally:
        status = "KILLED" if cancelled is not None and cancelled.is_set() else "FINISHED"
        try:
            while mlflow.active_run() is not None:
                mlflow.end_run(status=status)
        except Exception:
            logger.debug("could not end the MLflow runs of a trial", exc_info=True)
