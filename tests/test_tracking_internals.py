"""Pins what tracking assumes of MLflow beyond its public API (tracking/mlflow_internals.py),
and that tracking's settings are read when a search starts, not at import."""
import time

import mlflow
import pytest

from hyperspark.errors import InvalidArgument
from hyperspark.tracking.mlflow_internals import active_experiment_id
from hyperspark.tracking.settings import TrackingSettings


def test_active_experiment_follows_set_experiment_through_the_public_env_and_the_private_call(
        mlflow_store, monkeypatch):
    mlflow.set_tracking_uri(mlflow_store)
    experiment = mlflow.set_experiment(f"pinned-{time.time_ns()}")
    assert active_experiment_id() == experiment.experiment_id  # MLFLOW_EXPERIMENT_ID (public)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    # without the variable, only MLflow's private _get_experiment_id knows it
    assert active_experiment_id() == experiment.experiment_id
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment.name)
    assert active_experiment_id() == experiment.experiment_id


def test_settings_are_read_when_asked_not_at_import(monkeypatch):
    monkeypatch.setenv("HYPERSPARK_CHILD_RUN_WAIT_S", "1.5")
    monkeypatch.setenv("HYPERSPARK_TRACKING_RETRY_S", "7")
    monkeypatch.setenv("HYPERSPARK_SQLITE_WAL", "0")
    settings = TrackingSettings.from_env()
    assert (settings.child_run_wait_s, settings.retry_for_s, settings.sqlite_wal) == (1.5, 7.0,
                                                                                     False)
    monkeypatch.setenv("HYPERSPARK_TRACKING_RETRY_S", "soon")
    with pytest.raises(InvalidArgument, match="HYPERSPARK_TRACKING_RETRY_S"):
        TrackingSettings.from_env()


def test_a_tracker_takes_the_settings_of_the_moment_it_starts(mlflow_store, monkeypatch):
    from hyperopt import hp

    from hyperspark.tracking.runs import MlflowTracker

    mlflow.set_tracking_uri(mlflow_store)
    monkeypatch.setenv("HYPERSPARK_TRACKING_FLUSH_TIMEOUT_S", "3")
    tracker = MlflowTracker(hp.uniform("x", 0, 1), None, 2)
    assert tracker.settings.flush_timeout_s == 3.0
