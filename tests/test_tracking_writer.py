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
    batch_tag_keys: list = []  # the tag keys of each log_batch call
    hold = threading.Event()
    pool_full_answers = 0  # this many log_batch calls answer as a server whose pool ran out

    @classmethod
    def build(cls, store_uri, artifact_uri=None):
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        class Store(SqlAlchemyStore):
            def create_run(self, *args, **kwargs):
                cls.hold.wait(30)
                return super().create_run(*args, **kwargs)

            def log_batch(self, run_id, metrics, params, tags):
                cls.log_batches += 1
                cls.batch_tag_keys.append({tag.key for tag in tags})
                if cls.pool_full_answers > 0:
                    from mlflow.exceptions import RestException

                    cls.pool_full_answers -= 1
                    raise RestException({"error_code": "BAD_REQUEST", "message": (
                        "QueuePool limit of size 5 overflow 10 reached, connection timed out")})
                return super().log_batch(run_id, metrics, params, tags)

        path = store_uri.split(":///", 1)[1]
        return Store(store_uri.replace("countingsqlite:", "sqlite:", 1),
                     artifact_uri or path + "-artifacts")


@pytest.fixture
def client(tmp_path):
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_store_registry.register("countingsqlite", CountingStore.build)
    CountingStore.log_batches = 0
    CountingStore.batch_tag_keys = []
    CountingStore.pool_full_answers = 0
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


def test_a_spare_named_before_it_exists_sends_its_name_with_its_end(client):
    """A spare run taken while its creation is still queued: the trial's name and params are
    held, and go with the trial's end: params, metrics and tags in one log_batch, the name in
    the request that ends the run (a name in log_batch costs a server a third connection)."""
    writer = TrackingWriter(client, concurrency=2)
    CountingStore.hold.clear()
    spare = writer.create_run(client.experiment, {"mlflow.runName": "spare"}, {}, urgent=False)
    writer.log_batch(spare, tags={"mlflow.runName": "trial-0"}, params={"x": "1"}, delay_s=30)
    CountingStore.hold.set()
    run_id = spare.result(timeout=30)
    writer.finish_run(spare, {"loss": 0.5}, {"trial_status": "success"}, "FINISHED")
    writer.close(timeout_s=30)
    got = client.get_run(run_id)
    assert CountingStore.log_batches == 1
    assert CountingStore.batch_tag_keys == [{"trial_status"}]
    assert got.data.tags["mlflow.runName"] == "trial-0" and got.data.params == {"x": "1"}
    assert got.info.run_name == "trial-0" and got.info.end_time is not None
    assert got.data.metrics == {"loss": 0.5} and got.info.status == "FINISHED"


def test_a_held_name_goes_out_when_its_hold_ends(client):
    """A long trial's name does not wait for its end: it is written once the hold is over, in
    one UpdateRun (a name in log_batch costs a server a third connection)."""
    writer = TrackingWriter(client)
    run = writer.create_run(client.experiment, {"mlflow.runName": "spare"}, {}, urgent=False)
    run_id = run.result(timeout=30)
    writer.log_batch(run, tags={"mlflow.runName": "trial-7"}, delay_s=0.3)
    assert client.get_run(run_id).data.tags["mlflow.runName"] == "spare"
    for _ in range(200):
        if client.get_run(run_id).data.tags["mlflow.runName"] == "trial-7":
            break
        threading.Event().wait(0.05)
    assert client.get_run(run_id).data.tags["mlflow.runName"] == "trial-7"
    assert client.get_run(run_id).info.status == "RUNNING"
    assert client.get_run(run_id).info.run_name == "trial-7"
    assert CountingStore.log_batches == 0  # named by UpdateRun, not a tag in log_batch
    writer.close(timeout_s=30)


def test_a_full_server_pool_lowers_concurrency_and_loses_nothing(client, caplog):
    """A server answering "QueuePool limit ... reached" (its database connections ran out):
    the writer retries, writes half as many runs at once from then on, and says how to size
    the server."""
    writer = TrackingWriter(client, concurrency=8, backoff_s=0.01)
    CountingStore.pool_full_answers = 3
    runs = [writer.create_run(client.experiment, {"trial_id": str(i)}, {"x": str(i)})
            for i in range(12)]
    for i, run in enumerate(runs):
        writer.finish_run(run, {"loss": float(i)}, {}, "FINISHED")
    with caplog.at_level("WARNING", logger="hyperspark"):
        writer.close(timeout_s=30)
    assert writer.failed_writes == 0 and writer._limit.value == 4
    assert "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW" in caplog.text
    for i, run in enumerate(runs):
        got = client.get_run(run.result())
        assert got.data.params == {"x": str(i)} and got.data.metrics == {"loss": float(i)}
        assert got.info.status == "FINISHED"


def test_a_report_while_the_name_is_held_waits_with_it_and_both_land(client):
    """A learning-curve step logged while the trial's name is held goes out with the name
    when the hold ends, not before and not never."""
    writer = TrackingWriter(client)
    run = writer.create_run(client.experiment, {"mlflow.runName": "spare"}, {}, urgent=False)
    run_id = run.result(timeout=30)
    writer.log_batch(run, tags={"mlflow.runName": "trial-3"}, delay_s=0.3)
    writer.log_step(run, {"loss": 0.9}, step=1)
    for _ in range(200):
        if client.get_run(run_id).data.tags["mlflow.runName"] == "trial-3":
            break
        threading.Event().wait(0.05)
    got = client.get_run(run_id)
    assert got.data.tags["mlflow.runName"] == "trial-3" and got.data.metrics == {"loss": 0.9}
    assert CountingStore.log_batches == 1
    writer.close(timeout_s=30)
