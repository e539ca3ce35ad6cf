"""The MLflow writer on a real sqlite store (MLflow's own SqlAlchemyStore, with the calls it
receives counted): writes to one run merge while they wait, a merged call the store refuses
is retried part by part, and batches split to fit MLflow's limits."""
import threading

import pytest
from mlflow.tracking import MlflowClient

from hyperspark.tracking.writer import TrackingWriter


class CountingStore:
    """Builds MLflow's sqlite store that counts log_batch calls and can hold create_run."""

    log_batches = 0
    hold = threading.Event()

    @classmethod
    def build(cls, store_uri, artifact_uri=None):
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        class Store(SqlAlchemyStore):
            def create_run(self, *args, **kwargs):
                cls.hold.wait(30)
                return super().create_run(*args, **kwargs)

            def log_batch(self, run_id, metrics, params, tags):
                cls.log_batches += 1
                return super().log_batch(run_id, metrics, params, tags)

        path = store_uri.split(":///", 1)[1]
        return Store(store_uri.replace("countingsqlite:", "sqlite:", 1),
                     artifact_uri or path + "-artifacts")


@pytest.fixture
def client(tmp_path):
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_store_registry.register("countingsqlite", CountingStore.build)
    CountingStore.log_batches = 0
    CountingStore.hold.set()
    client = MlflowClient(f"countingsqlite:///{tmp_path}/count.db")
    client.experiment = client.create_experiment("writer")
    return client


def _done(run_id):
    from concurrent.futures import Future

    future = Future()
    future.set_result(run_id)
    return future


def test_under_load_a_trials_params_loss_and_tags_go_in_one_call(client):
    """Trials that start and end while the writer is busy: their params wait behind the
    finished trials' writes and go with their own, so one log_batch per trial, not two."""
    writer = TrackingWriter(client)
    CountingStore.hold.clear()  # the store is slow: creates queue up behind the first
    runs = [writer.create_run(client.experiment, {"trial_id": str(i)}, {"x": str(i)})
            for i in range(20)]
    for i, run in enumerate(runs):
        writer.finish_run(run, {"loss": float(i)}, {"trial_status": "success"}, "FINISHED")
    CountingStore.hold.set()
    writer.close(timeout_s=30)

    assert writer.failed_writes == 0
    assert CountingStore.log_batches == 20
    for i, run in enumerate(runs):
        got = client.get_run(run.result())
        assert got.data.params == {"x": str(i)} and got.data.metrics == {"loss": float(i)}
        assert got.data.tags["trial_status"] == "success" and got.info.status == "FINISHED"


def test_an_idle_writer_logs_params_at_once(client):
    """With nothing queued, a running trial's params reach the store before it ends."""
    writer = TrackingWriter(client)
    run = writer.create_run(client.experiment, {"trial_id": "0"}, {"x": "1"})
    run_id = run.result(timeout=30)
    deadline = threading.Event()
    for _ in range(100):
        if client.get_run(run_id).data.params == {"x": "1"}:
            break
        deadline.wait(0.05)
    assert client.get_run(run_id).data.params == {"x": "1"}
    assert client.get_run(run_id).info.status == "RUNNING"
    writer.finish_run(run, {"loss": 0.5}, {}, "FINISHED")
    writer.close(timeout_s=30)
    assert client.get_run(run_id).data.metrics == {"loss": 0.5}


def test_a_merged_call_refused_for_a_bad_value_loses_only_that_part(client):
    """MLflow refuses the param name "bad!name": the merged call fails as a whole, then its
    parts go one by one, so the loss and the status tag still land and the run ends."""
    writer = TrackingWriter(client, retry_for_s=0)
    CountingStore.hold.clear()
    first = writer.create_run(client.experiment, {"trial_id": "0"}, {"x": "0"})
    bad = writer.create_run(client.experiment, {"trial_id": "1"}, {"bad!name": "1"})
    writer.finish_run(first, {"loss": 0.0}, {"trial_status": "success"}, "FINISHED")
    writer.finish_run(bad, {"loss": 1.0}, {"trial_status": "success"}, "FINISHED")
    CountingStore.hold.set()
    writer.close(timeout_s=30)

    got = client.get_run(bad.result())
    assert got.data.params == {}
    assert got.data.metrics == {"loss": 1.0} and got.data.tags["trial_status"] == "success"
    assert got.info.status == "FINISHED"
    assert writer.failed_writes == 1
    assert client.get_run(first.result()).data.params == {"x": "0"}


def test_batches_split_to_fit_mlflows_limits(client):
    """250 params and 1,200 metrics for one run: more than one log_batch may carry (100 params,
    1,000 entities), all written."""
    run_id = client.create_run(client.experiment).info.run_id
    writer = TrackingWriter(client)
    writer.log_batch(run_id, params={f"p{i}": str(i) for i in range(250)},
                     metrics={f"m{i}": float(i) for i in range(1200)})
    writer.close(timeout_s=30)
    got = client.get_run(run_id)
    assert writer.failed_writes == 0
    assert len(got.data.params) == 250 and len(got.data.metrics) == 1200
    assert CountingStore.log_batches >= 3
