"""What only Spark Connect has: finding the session, tags instead of job groups, artifacts
instead of broadcasts, executors that may not reach the client. Against a real Spark Connect
server (pyspark's start-connect-server.sh) in front of ``local[2,3]``. The rest of the Spark
backend suite runs on Connect too (tests/test_spark_backends.py)."""
import json
import os
import subprocess
import sys
import time

import hyperopt
import mlflow
import pytest
from hyperopt import hp, rand, tpe
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import ChannelUnreachable, SparkTrials, worker_state
from hyperspark.backends.spark import get_or_create_session, is_connect, runner_for

from conftest import calls_in, no_active_jobs

pytestmark = pytest.mark.spark

SPACE = {"x": hp.uniform("x", 0, 1), "slow": hp.choice("slow", [False, True])}


def test_a_connect_session_is_found_and_driven_through_its_runner(connect_spark):
    assert is_connect(connect_spark)
    with pytest.raises(Exception, match="sparkContext"):
        connect_spark.sparkContext  # what hyperopt's SparkTrials needs, and fails on
    assert get_or_create_session(connect_spark) is connect_spark
    runner = runner_for(connect_spark)
    assert runner.kind == "connect" and runner.master() == "local[2,3]"
    assert runner.task_slots() == 2  # Spark Connect has no defaultParallelism
    assert SparkTrials(spark_session=connect_spark)._decide_parallelism(100) == 2


def test_spark_remote_gives_a_connect_session(connect_server, tmp_path):
    """SPARK_REMOTE set and no session: SparkTrials() connects there, as pyspark would."""
    script = ("import json, hyperspark\n"
              "from hyperopt import hp, rand\n"
              "trials = hyperspark.SparkTrials(parallelism=2, mlflow_tracking=False)\n"
              "trials.fmin(lambda x: x, hp.uniform('x', 0, 1), algo=rand.suggest, max_evals=4,"
              " show_progressbar=False)\n"
              "print(json.dumps([type(trials._source.spark).__module__,"
              " trials.count_successful_trials()]))\n")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_EXPERIMENT_ID"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180, env={**env, "SPARK_REMOTE": connect_server.url})
    assert done.returncode == 0, done.stderr[-3000:]
    module, succeeded = json.loads(done.stdout.strip().splitlines()[-1])
    assert module.startswith("pyspark.sql.connect") and succeeded == 4


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_tracked_tpe_search_with_trial_timeouts_on_connect(connect_spark, mlflow_store, backend,
                                                           tmp_path, counter_dir):
    """The headline: a tracked TPE search with per-trial timeouts, worker_setup, worker-side
    logging into each child run and a checkpoint, on a Spark Connect session."""
    def load():  # worker_setup's time never counts against trial_timeout: a cold MLflow
        import mlflow as worker_mlflow  # noqa: F401  (import takes seconds here) goes there
        return {"offset": 1.0}

    def objective(params):
        import mlflow as worker_mlflow

        open(counter_dir / f"call-{float(params['x'])!r}", "w").close()
        if params["slow"]:
            time.sleep(60)
        worker_mlflow.log_metric("seen_offset", worker_state()["offset"])
        return params["x"] + worker_state()["offset"]

    mlflow.set_tracking_uri(mlflow_store)
    experiment = mlflow.set_experiment(f"connect-{backend}-{time.time_ns()}").experiment_id
    checkpoint = tmp_path / "search.ckpt"
    # a fast trial's first log_metric opens the sqlite store in that Python worker, which took
    # over 3 s in a loaded CI run; 10 s still cancels the 60 s trial well before it ends
    trials = SparkTrials(spark_session=connect_spark, parallelism=2, backend=backend,
                         trial_timeout=10, worker_setup=load, checkpoint=str(checkpoint))
    hyperspark.fmin(objective, SPACE, algo=tpe.suggest, max_evals=8, trials=trials,
                    show_progressbar=False, points_to_evaluate=[{"x": 0.5, "slow": 1}],
                    rstate=__import__("numpy").random.default_rng(3))
    frame = trials.to_pandas().set_index("tid")
    assert frame.loc[0, "state"] == "cancelled" and "trial_timeout" in frame.loc[0, "error"]
    slow = {tid for tid, doc in frame.iterrows() if doc["params"]["slow"]}
    assert (frame.drop(index=list(slow))["state"] == "done").all()
    assert all(loss >= 1.0 for loss in trials.losses() if loss is not None)

    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.last_tracker.parent_run_id)
    assert parent.info.experiment_id == experiment and parent.info.status == "FINISHED"
    children = client.search_runs([experiment],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == list(range(8))
    for child in children:
        tid = int(child.data.tags["trial_id"])
        if tid in slow:
            assert child.info.status == "KILLED"
        else:
            assert child.info.status == "FINISHED"
            assert child.data.metrics.get("seen_offset") == 1.0, tid  # logged by the objective
    assert no_active_jobs(connect_spark)

    # the checkpoint resumes on Connect too: finished trials are kept, none runs twice
    again = SparkTrials(spark_session=connect_spark, parallelism=2, backend=backend,
                        worker_setup=load, mlflow_tracking=False)
    hyperspark.fmin(objective, SPACE, algo=tpe.suggest, max_evals=10, trials=again,
                    show_progressbar=False, trials_save_file=str(checkpoint))
    assert again.count_total_trials() == 10
    for doc in again.trials:
        assert calls_in(counter_dir, f"call-{float(doc['misc']['vals']['x'][0])!r}") == 1


def test_each_trial_carries_its_own_tag(connect_spark, connect_server):
    trials = SparkTrials(spark_session=connect_spark, parallelism=2, mlflow_tracking=False)
    hyperopt.fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=4,
                  trials=trials, show_progressbar=False)
    tags = connect_server.job_tags()
    for tid in range(4):
        mine = f"hyperspark-{trials.last_search_id}-{tid}"
        assert sum(1 for job in tags if any(tag.endswith(mine) for tag in job)) == 1, mine


def _advertise_a_closed_port(monkeypatch):
    """Executors are told a port where nothing listens: as if they could not reach this
    process (a laptop driving a remote cluster)."""
    from hyperspark.backends import channel

    real = channel.Channel.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self.address = (self.address[0], _closed_port())

    monkeypatch.setattr(channel.Channel, "__init__", init)


def _closed_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_actors_fail_fast_when_executors_cannot_reach_the_client(connect_spark, monkeypatch):
    _advertise_a_closed_port(monkeypatch)
    trials = SparkTrials(spark_session=connect_spark, parallelism=2, backend="actors",
                         mlflow_tracking=False)
    began = time.monotonic()
    with pytest.raises(ChannelUnreachable, match="backend='jobs'"):
        hyperopt.fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=2,
                      trials=trials, show_progressbar=False)
    assert time.monotonic() - began < 30
    assert no_active_jobs(connect_spark)


def test_jobs_work_when_executors_cannot_reach_the_client(connect_spark, monkeypatch, caplog):
    """Without the channel the clock starts when Spark reports the task running: a hung trial
    is still cancelled, quick ones still succeed."""
    _advertise_a_closed_port(monkeypatch)
    caplog.set_level("WARNING", logger="hyperspark")

    def objective(params):
        if params["slow"]:
            time.sleep(60)
        return params["x"]

    trials = SparkTrials(spark_session=connect_spark, parallelism=2, trial_timeout=4,
                         mlflow_tracking=False)
    hyperspark.fmin(objective, SPACE, algo=rand.suggest, max_evals=4, trials=trials,
                    show_progressbar=False,
                    points_to_evaluate=[{"x": 0.5, "slow": 1}] + [{"x": v / 10, "slow": 0}
                                                                 for v in range(3)])
    states = trials.to_pandas().set_index("tid")["state"]
    assert states[0] == "cancelled" and (states.drop(index=0) == "done").all()
    assert any("cannot connect back to this process" in r.message for r in caplog.records)
    assert no_active_jobs(connect_spark)


@pytest.mark.slow
def test_bench_on_a_connect_server(connect_server, tmp_path):
    from test_sweep import run_bench_elsewhere

    run_bench_elsewhere(tmp_path, None, remote=connect_server.url)
