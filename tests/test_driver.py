"""The driver backend: trials on driver threads whose objectives are Spark programs (MLlib,
DataFrame jobs), each trial's jobs in its own group. On the shared ``local[2,3]`` session and,
where it applies, on Spark Connect."""
import os
import time

import hyperopt
import mlflow
import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

from hyperspark import SparkTrials
from hyperspark import search as search_module

from conftest import InterruptWhenRunning, hyperspark_threads_left, no_active_jobs

pytestmark = pytest.mark.spark


@pytest.fixture
def frames(spark):
    return make_frames(spark)


def make_frames(spark):
    """A small binary classification problem, as train and test DataFrames (cached)."""
    import pyspark.sql.functions as F
    from pyspark.ml.feature import VectorAssembler

    data = spark.range(600).select(F.rand(1).alias("a"), F.rand(2).alias("b"))
    data = data.withColumn("label", (F.col("a") + 0.5 * F.col("b") + 0.3 * F.rand(3) > 0.9)
                           .cast("double"))
    data = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(data)
    train, test = data.randomSplit([0.7, 0.3], seed=1)
    return train.cache(), test.cache()


def mllib_objective(frames):
    train, test = frames

    def objective(params):
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.evaluation import BinaryClassificationEvaluator

        start = time.time()
        model = LogisticRegression(regParam=params["reg"], maxIter=10).fit(train)
        auc = BinaryClassificationEvaluator().evaluate(model.transform(test))
        mlflow.log_metric("auc", auc)  # lands in this trial's child run
        with mlflow.start_run(nested=True, run_name="inner"):  # nests under the child run
            mlflow.log_param("inner", "yes")
        return {"loss": 1 - auc, "status": "ok", "start": start, "end": time.time()}

    return objective


def test_mllib_trials_overlap_and_log_into_their_child_runs(any_spark, mlflow_store,
                                                            monkeypatch):
    """On classic Spark and on Spark Connect (where MLlib finds its session through the
    thread's active session, which a trial's thread gets from hyperspark)."""
    spark = any_spark
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        # What SparkSession.builder.remote() sets in a Connect user's process, and pyspark.ml
        # and pyspark.sql.functions read; the tests' mixed process builds its Connect session
        # without it, beside the classic one.
        monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
    frames = make_frames(spark)
    mlflow.set_tracking_uri(mlflow_store)
    experiment = mlflow.set_experiment(f"driver-{time.time_ns()}").experiment_id
    trials = SparkTrials(spark_session=spark, backend="driver", parallelism=2)
    hyperopt.fmin(mllib_objective(frames), {"reg": hp.loguniform("reg", -6, 0)},
                  algo=rand.suggest, max_evals=4, trials=trials, show_progressbar=False)
    assert trials.count_successful_trials() == 4 and trials.actual_parallelism == 2
    results = trials.results
    assert any(a["start"] < b["end"] and b["start"] < a["end"]  # two trials at once
               for i, a in enumerate(results) for b in results[i + 1:])

    client = MlflowClient(mlflow_store)
    parent_id = trials.last_tracker.parent_run_id
    runs = client.search_runs([experiment])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == [0, 1, 2, 3]
    losses = {doc["tid"]: doc["result"]["loss"] for doc in trials.trials}
    for child in children:
        tid = int(child.data.tags["trial_id"])
        assert child.data.metrics["auc"] == pytest.approx(1 - losses[tid])
        assert child.info.status == "FINISHED"
        inner = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == child.info.run_id]
        assert len(inner) == 1 and inner[0].data.params["inner"] == "yes"
    assert len(runs) == 1 + 4 + 4  # the parent, a child per trial, one nested each


def _hang(batches):
    time.sleep(3600)
    yield from batches


def _sleep_3s(batches):
    time.sleep(3)
    yield from batches


def _wait_for_marker(marker):
    """A Spark job that runs until ``marker`` exists (or a minute passes)."""
    def job(batches):
        deadline = time.monotonic() + 60
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield from batches
    return job


class TouchWhenTrialEnds(search_module.Listener):
    def __init__(self, tid, marker):
        self.tid, self.marker, self.ended_at = tid, marker, None

    def trial_ended(self, doc, progress):
        if doc["tid"] == self.tid:
            self.ended_at = time.time()
            open(self.marker, "w").close()


@pytest.mark.parametrize("session", ["classic", "connect"])
def test_trial_timeout_cancels_exactly_that_trials_spark_jobs(session, request, tmp_path):
    """Trial 0's Spark job never ends: cancelled at its trial_timeout, and its job is gone.
    Trial 1 sleeps 3 s; then trial 2's job runs until trial 0 has ended, so it spans the cancel
    (well inside its own timeout): untouched, it succeeds. Trial 1's job also waits for a
    Python worker with pandas (4-5 s here): with a timeout of 8 s it ran out of time 1 run in
    3; at 15 s trial 1 keeps about 7 s of margin, and trial 2 the 3 s of trial 1's sleep."""
    spark = request.getfixturevalue("classic_spark" if session == "classic"
                                    else "connect_spark")
    marker = str(tmp_path / "trial-0-ended")
    spans_the_cancel = _wait_for_marker(marker)

    def objective(x):
        job = _hang if x > 0.5 else _sleep_3s if x < 0.15 else spans_the_cancel
        spark.range(1, numPartitions=1).mapInPandas(job, "id long").collect()
        return x

    space = hp.uniform("x", 0, 1)
    trials = SparkTrials(spark_session=spark, backend="driver", parallelism=2, trial_timeout=15,
                         mlflow_tracking=False)
    trials.insert_points(space, [{"x": 0.9}, {"x": 0.1}, {"x": 0.2}])
    touch, began = TouchWhenTrialEnds(0, marker), time.monotonic()
    trials.fmin(objective, space, algo=rand.suggest, max_evals=3, show_progressbar=False,
                listeners=[touch])
    took = time.monotonic() - began
    frame = trials.to_pandas().set_index("tid")
    assert frame.loc[0, "state"] == "cancelled" and "trial_timeout" in frame.loc[0, "error"]
    assert frame.loc[1, "state"] == "done" and frame.loc[2, "state"] == "done"
    assert frame.loc[2, "end"].timestamp() > touch.ended_at  # trial 2 spanned the cancel
    assert took < 15 + 40  # cancelled at its timeout: trial 2 waits up to a minute otherwise
    assert no_active_jobs(spark, within_s=5)  # nothing keeps running after fmin returns



def test_ctrl_c_during_an_mllib_search_cancels_every_trial(spark, frames, mlflow_store):
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_experiment(f"driver-ctrl-c-{time.time_ns()}")
    fit_once = mllib_objective(frames)

    def objective(params):
        for _ in range(1000):  # fits until interrupted
            result = fit_once(params)
        return result

    trials = SparkTrials(spark_session=spark, backend="driver", parallelism=2)
    interrupt = InterruptWhenRunning(2, delay_s=1.5)  # mid-fit
    with pytest.raises(KeyboardInterrupt):
        trials.fmin(objective, {"reg": hp.loguniform("reg", -6, 0)}, algo=rand.suggest,
                    max_evals=4, show_progressbar=False, listeners=[interrupt])
    assert time.monotonic() - interrupt.sent_at < 1.5 + 10
    assert trials.count_cancelled_trials() == 2
    assert no_active_jobs(spark)
    assert hyperspark_threads_left(within_s=10) == []
    parent = MlflowClient(mlflow_store).get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "KILLED"


def test_driver_backend_defaults_to_a_small_parallelism(spark):
    trials = SparkTrials(spark_session=spark, backend="driver")
    assert trials._decide_parallelism(100) == 2


def test_user_errors_are_not_retried_on_the_driver_backend(spark):
    calls = []

    def objective(params):
        calls.append(1)
        spark.range(1, numPartitions=1).mapInPandas(_fails, "id long").collect()

    trials = SparkTrials(spark_session=spark, backend="driver", parallelism=1, max_retries=2,
                         mlflow_tracking=False)
    with pytest.raises(hyperopt.exceptions.AllTrialsFailed, match="no good point"):
        hyperopt.fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=1,
                      trials=trials, show_progressbar=False)
    assert len(calls) == 1 and trials.to_pandas().loc[0, "attempts"] == 1


def _fails(batches):
    raise ValueError("no good point")
    yield from batches


@pytest.mark.slow
def test_a_trial_whose_executor_died_is_retried(tmp_path):
    """On a real multi-JVM cluster, a trial's own Spark job loses its executor (SIGKILL), so
    the job fails: the trial is retried, and succeeds."""
    import json
    import subprocess
    import sys

    driver = os.path.join(os.path.dirname(__file__), "driver_retry_driver.py")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_EXPERIMENT_ID"}
    done = subprocess.run([sys.executable, driver, str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (tmp_path / "killed").exists()
    assert summary["state"] == 2 and summary["attempts"] == 2, summary
