"""The one thing hyperspark needs from MLflow that its public API does not offer.

``active_experiment_id()``: the experiment a new run goes to, as ``mlflow.start_run()`` would
choose it. MLflow resolves it from, in order, ``mlflow.set_experiment(...)``, the
``MLFLOW_EXPERIMENT_ID`` / ``MLFLOW_EXPERIMENT_NAME`` environment variables, and the
environment's default experiment (a Databricks notebook's own one, for instance). The first
two are public and read here first; the last is only reachable through the private
``mlflow.tracking.fluent._get_experiment_id``, used as the fallback.
``tests/test_tracking_internals.py`` pins it against the installed MLflow (3.x).
"""
from __future__ import annotations

import os
from typing import Optional


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
