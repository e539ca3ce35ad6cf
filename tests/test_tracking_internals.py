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


@pytest.mark.parametrize("store", ["sqlite", "server"])
def test_update_run_names_and_ends_a_run_in_one_request(store, mlflow_store, request):
    """update_run's private path (a store's update_run_info) names a running run, and sets
    status, end time and name at once, on a sqlite store and through a real mlflow server."""
    from mlflow.tracking import MlflowClient

    from hyperspark.tracking.mlflow_internals import update_run

    uri = mlflow_store if store == "sqlite" else request.getfixturevalue("tracking_server").uri
    client = MlflowClient(uri)
    assert client._tracking_client.store.update_run_info  # the private path is there
    experiment = client.create_experiment(f"update-run-{time.time_ns()}")
    run = client.create_run(experiment, tags={"mlflow.runName": "spare"}).info.run_id
    update_run(client, run, name="trial-6")
    info = client.get_run(run).info
    assert (info.status, info.run_name, info.end_time) == ("RUNNING", "trial-6", None)
    before = int(time.time() * 1000)
    update_run(client, run, name="trial-7", end_status="KILLED")
    got = client.get_run(run)
    assert (got.info.status, got.info.run_name) == ("KILLED", "trial-7")
    assert got.data.tags["mlflow.runName"] == "trial-7"
    assert got.info.end_time >= before
