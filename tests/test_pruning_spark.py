"""Reports and pruning on real Spark: the jobs and actors backends stream reports over the
search's channel (classic and Spark Connect), the driver backend in process."""
import time

import hyperopt
import mlflow
import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import SparkTrials
from hyperspark.pruners import Threshold

from conftest import no_active_jobs

pytestmark = pytest.mark.spark

SPACE = hp.uniform("x", 0, 1)
BAD, GOOD = [0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.4]


def curve(x):
    """Six reports, 0.2 s apart: loss x + 1/step, and an accuracy."""
    for step in range(1, 7):
        hyperspark.report(x + 1 / step, accuracy=1 - x)
        time.sleep(0.2)
    return x


def run(spark, backend, objective, points, pruner):
    trials = SparkTrials(spark_session=spark, backend=backend, parallelism=2, pruner=pruner)
    trials.insert_points(SPACE, [{"x": x} for x in points])
    hyperopt.fmin(objective, SPACE, algo=rand.suggest, max_evals=len(points), trials=trials,
                  show_progressbar=False)
    return trials


@pytest.mark.parametrize("backend", ["jobs", "actors", "driver"])
def test_cooperative_trials_stop_at_their_next_report_and_curves_reach_mlflow(any_spark,
                                                                               backend):
    if backend == "driver" and getattr(any_spark, "is_remote", lambda: False)():
        pytest.skip("the driver backend reports in process: once, on classic Spark, is enough")
    mlflow.set_experiment(f"pruning-{backend}-{time.time_ns()}")
    points = [BAD[0], GOOD[0], BAD[1], GOOD[1], BAD[2], GOOD[2]]
    trials = run(any_spark, backend, curve, points, Threshold(upper=1.0, warmup_steps=1))

    frame = trials.to_pandas().set_index("tid")
    pruned = [tid for tid, x in enumerate(points) if x > 0.5]
    assert trials.count_pruned_trials() == 3 and trials.count_successful_trials() == 3
    assert list(frame.loc[pruned, "state"]) == ["pruned"] * 3  # nothing lost: all six ended
    for doc in trials.trials:
        info, result = doc["misc"]["hyperspark"], doc["result"]
        if doc["tid"] in pruned:
            assert info["pruned_at"] == 2 and len(info["reports"]) <= 3  # at most one more
            assert result == {"status": "ok", "loss": info["reports"][-1][1], "pruned": True,
                              "step": info["reports"][-1][0]}
        else:
            assert len(info["reports"]) == 6 and result["loss"] == points[doc["tid"]]
    assert frame.loc[pruned, "duration"].max() < frame.drop(index=pruned)["duration"].min()

    client = MlflowClient()
    parent = client.get_run(trials.last_tracker.parent_run_id)
    assert parent.data.metrics["pruned_trials_count"] == 3
    children = {int(run.data.tags["trial_id"]): run for run in client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")}
    for tid, child in children.items():
        curve_points = client.get_metric_history(child.info.run_id, "loss")
        steps = sorted({point.step for point in curve_points})
        accuracy = client.get_metric_history(child.info.run_id, "accuracy")
        assert child.info.status == "FINISHED"
        if tid in pruned:
            assert child.data.tags["trial_status"] == "pruned"
            assert steps == [1, 2] or steps == [1, 2, 3]
        else:
            assert child.data.tags["trial_status"] == "success"
            assert steps == [1, 2, 3, 4, 5, 6] and len(accuracy) == 6
            assert child.data.metrics["loss"] == pytest.approx(points[tid])  # ends the curve


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_uncooperative_trial_is_cancelled_after_the_grace_period(classic_spark, backend):
    def objective(x):
        hyperspark.report(x + 0.5)
        if x > 0.5:
            time.sleep(120)  # never reports again
        return x

    began = time.monotonic()
    trials = run(classic_spark, backend, objective, [BAD[0], GOOD[0], GOOD[1], GOOD[2]],
                 Threshold(upper=1.0, grace_s=2))
    assert time.monotonic() - began < 60
    first = trials.trials[0]
    assert first["result"] == {"status": "ok", "loss": BAD[0] + 0.5, "pruned": True, "step": 1}
    assert "cancel_reason" not in first["misc"]["hyperspark"]
    assert trials.count_successful_trials() == 3  # its slot was used by the others
    assert no_active_jobs(classic_spark)
