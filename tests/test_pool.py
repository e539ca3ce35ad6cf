"""ActorPool on real Spark (local[2,3]): warm actors shared by searches, one after another and
side by side from threads."""
import os
import threading
import time

import hyperopt
import mlflow
import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import ActorPool, InvalidArgument, SparkTrials

from conftest import calls_in, no_active_jobs, wait_until

pytestmark = pytest.mark.spark

SPACE = hp.uniform("x", 0, 1)


def run(trials, objective, max_evals, **kwargs):
    return hyperopt.fmin(objective, SPACE, algo=rand.suggest, max_evals=max_evals,
                         trials=trials, show_progressbar=False, **kwargs)


@pytest.fixture(scope="module")
def pool(classic_spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool-setup")

    def setup():
        open(folder / f"call-setup-{os.getpid()}-{time.time_ns()}", "w").close()
        return {"offset": 0.0}

    with ActorPool(classic_spark, worker_setup=setup) as warm:
        warm.setup_dir = folder
        yield warm
    assert no_active_jobs(classic_spark)  # closing the pool leaves no Spark job behind


def test_sequential_searches_reuse_the_actors_and_their_setup(pool):
    assert wait_until(lambda: pool.setups_started == pool.size)  # every actor is up
    before = calls_in(pool.setup_dir)
    for _ in range(3):
        trials = SparkTrials(backend=pool, mlflow_tracking=False)
        run(trials, lambda x: x + hyperspark.worker_state()["offset"], max_evals=6)
        assert trials.count_successful_trials() == 6 and trials.actual_parallelism == pool.size
    assert calls_in(pool.setup_dir) == before == pool.setups_started == pool.size


def test_concurrent_searches_each_get_every_trial_once_and_their_own_runs(pool, counter_dir):
    mlflow.set_experiment(f"pool-concurrent-{time.time_ns()}")
    searches = {name: SparkTrials(backend=pool) for name in "abcd"}
    spans, errors = {}, []

    def one(name):
        def objective(x):
            open(counter_dir / f"{name}-{time.time_ns()}", "w").close()
            time.sleep(0.01)
            return x

        try:
            began = time.time()
            run(searches[name], objective, max_evals=60)
            spans[name] = (began, time.time())
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(name,)) for name in searches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors
    client = MlflowClient()
    parents = set()
    for name, trials in searches.items():
        assert trials.count_successful_trials() == 60 == trials.count_total_trials()
        assert sorted(doc["tid"] for doc in trials.trials) == list(range(60))
        assert len([f for f in os.listdir(counter_dir) if f.startswith(name + "-")]) == 60
        parent = client.get_run(trials.last_tracker.parent_run_id)
        children = client.search_runs([parent.info.experiment_id],
                                      f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                      max_results=200)
        assert sorted(int(c.data.tags["trial_id"]) for c in children) == list(range(60))
        parents.add(parent.info.run_id)
    assert len(parents) == 4
    # side by side, not one after another: every search started before any had finished
    assert max(start for start, _ in spans.values()) < min(end for _, end in spans.values())


def test_a_dead_actor_or_a_cancelled_trial_in_one_search_leaves_the_other_alone(pool,
                                                                               counter_dir):
    marker = counter_dir / "died-once"

    def a_objective(x):
        if x == 0.99:
            time.sleep(120)  # trial 0 hangs: cancelled by trial_timeout, its actor killed
        if not marker.exists():
            marker.touch()
            os._exit(1)  # the actor serving A dies mid-trial
        time.sleep(0.05)
        return x

    def b_objective(x):
        time.sleep(0.05)
        return x

    a = SparkTrials(backend=pool, trial_timeout=3, max_retries=2, mlflow_tracking=False)
    b = SparkTrials(backend=pool, mlflow_tracking=False)
    a.insert_points(SPACE, [{"x": 0.99}])
    side = threading.Thread(target=run, args=(b, b_objective, 30))
    side.start()
    run(a, a_objective, max_evals=10)
    side.join(120)
    frame_a, frame_b = a.to_pandas().set_index("tid"), b.to_pandas()
    assert frame_a.loc[0, "state"] == "cancelled" and "trial_timeout" in frame_a.loc[0, "error"]
    assert (frame_a.drop(index=0)["state"] == "done").all()
    assert frame_a["attempts"].max() == 2  # the trial whose actor died ran again
    assert (frame_b["state"] == "done").all() and (frame_b["attempts"] == 1).all()
    assert len(frame_b) == 30
    # the pool is back at its size: replacements for the dead and the killed actor
    assert wait_until(lambda: pool.setups_started >= pool.size + 2)
    trials = SparkTrials(backend=pool, mlflow_tracking=False)
    run(trials, b_objective, max_evals=4)
    assert trials.count_successful_trials() == 4


def test_bad_pool_arguments_say_what_is_wrong(pool, classic_spark):
    with pytest.raises(InvalidArgument, match="size"):
        ActorPool(classic_spark, size=0)
    with pytest.raises(InvalidArgument, match="exceeds the ActorPool's size"):
        SparkTrials(backend=pool, parallelism=pool.size + 1)
    with pytest.raises(InvalidArgument, match="worker_setup"):
        SparkTrials(backend=pool, worker_setup=lambda: 1)
    with pytest.raises(InvalidArgument, match="backend must be one of"):
        SparkTrials(backend="pool")


def test_a_closed_pool_refuses_searches(classic_spark):
    small = ActorPool(classic_spark, size=1)
    small.close()
    small.close()  # idempotent
    with pytest.raises(InvalidArgument, match="closed"):
        run(SparkTrials(backend=small, mlflow_tracking=False), lambda x: x, max_evals=1)
    tracker = classic_spark.sparkContext.statusTracker()

    def running_jobs_of_the_small_pool():
        return [job for n in range(4)
                for job in tracker.getJobIdsForGroup(f"hyperspark-{small._fleet.name}-actor-{n}")
                if tracker.getJobInfo(job).status == "RUNNING"]

    assert wait_until(lambda: running_jobs_of_the_small_pool() == [], within_s=15)


def test_a_pool_on_spark_connect(connect_spark, tmp_path):
    """The same pool on a Spark Connect session: the actors connect back to this client, the
    setup travels as an artifact, and searches reuse the actors."""
    def setup():
        open(tmp_path / f"call-setup-{os.getpid()}-{time.time_ns()}", "w").close()
        return 1.0

    with ActorPool(connect_spark, worker_setup=setup) as remote_pool:
        for _ in range(2):
            trials = SparkTrials(backend=remote_pool, mlflow_tracking=False)
            run(trials, lambda x: x * hyperspark.worker_state(), max_evals=4)
            assert trials.count_successful_trials() == 4
        assert wait_until(lambda: remote_pool.setups_started == remote_pool.size)
        assert calls_in(tmp_path) == remote_pool.size
    assert no_active_jobs(connect_spark)
