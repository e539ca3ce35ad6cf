"""The two things hyperspark needs from MLflow that its public API does not offer.

``active_experiment_id()``: the experiment a new run goes to, as ``mlflow.start_run()`` would
choose it. MLflow resolves it from, in order, ``mlflow.set_experiment(...)``, the
``MLFLOW_EXPERIMENT_ID`` / ``MLFLOW_EXPERIMENT_NAME`` environment variables, and the
environment's default experiment (a Databricks notebook's own one, for instance). The first
two are public and read here first; the last is only reachable through the private
``mlflow.tracking.fluent._get_experiment_id``, used as the fallback.

``update_run(client, run_id, name=..., end_status=...)``: name a run, and end it, in one
request. A store's ``update_run_info`` takes status, end time and name together (the REST
``UpdateRun`` call); the client offers them only apart (``set_terminated`` has no name, and
``update_run`` has no end time and makes a ``get_run`` first). The other way to name a run, a
``mlflow.runName`` tag in ``log_batch``, holds a third database connection inside that request
on a server (MLflow's SQL store sets the name in a session of its own, nested in the batch's),
which filled a tracking server's pool at 8 requests in flight. Falls back to the public calls
if the private path moves.

``tests/test_tracking_internals.py`` pins both against the installed MLflow (3.x).
"""
from __future__ import annotations

import os
from typing import Any, Optional


def active_experiment_id() -> Optional[str]:
    """The id of the experiment new runs go to; None when MLflow has none (then "0")."""
    experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
    if experiment_id:
        return experiment_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        import mlflow

        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
    from mlflow.tracking.fluent import _get_experiment_id  # no public equivalent (see above)

    return _get_experiment_id()


def update_run(client: Any, run_id: str, *, name: Optional[str] = None,
               end_status: Optional[str] = None) -> None:
    """Name ``run_id`` ``name`` and/or, with ``end_status`` ("FINISHED", "FAILED", "KILLED"),
    end it now, in one request to the store."""
    import time

    from mlflow.entities import RunStatus

    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None or not hasattr(store, "update_run_info"):
        if name:
            client.set_tag(run_id, "mlflow.runName", name)
        if end_status is not None:
            client.set_terminated(run_id, end_status)
        return
    if end_status is None:
        store.update_run_info(run_id, None, None, name)
    else:
        store.update_run_info(run_id, RunStatus.from_string(end_status),
                              int(time.time() * 1000), name)
