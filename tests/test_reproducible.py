"""SparkTrials(reproducible=True): the same seed gives the same trials (tid -> parameters ->
loss), whatever the trials' durations and order of completion, the backend, the cluster's
slots, and across a resume."""
import logging
import os
import random
import signal
import threading
import time

import mlflow
import numpy as np
import pytest
from hyperopt import hp
from hyperopt import tpe as hyperopt_tpe
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import InvalidArgument, InvalidArgumentType, SparkTrials
from hyperspark.search import Listener

SPACE = {"x": hp.uniform("x", -3, 3),
         "kind": hp.choice("kind", [{"a": hp.uniform("a", 0, 1)},
                                    {"d": hp.quniform("d", 1, 9, 1)}])}


def objective(params):
    """Deterministic loss; a random sleep, so trials finish in a different order each run."""
    time.sleep(random.uniform(0.0, 0.03))
    return params["x"] ** 2 + params["kind"].get("a", params["kind"].get("d", 0) / 10)


def sequence(trials):
    return [(d["tid"], d["misc"]["vals"], d["result"].get("loss"))
            for d in sorted(trials._dynamic_trials, key=lambda d: d["tid"])]


def search(trials, max_evals=30, algo=None, seed=11, **kwargs):
    hyperspark.fmin(objective, SPACE, algo=algo or hyperspark.tpe.suggest, max_evals=max_evals,
                    trials=trials, rstate=np.random.default_rng(seed), show_progressbar=False,
                    **kwargs)
    return sequence(trials)


@pytest.mark.parametrize("algo", [hyperspark.tpe.suggest, hyperopt_tpe.suggest],
                         ids=["hyperspark.tpe", "hyperopt.tpe"])
def test_twice_the_same_on_the_local_backend(algo):
    first = search(SparkTrials(backend="local", parallelism=4, reproducible=True,
                               mlflow_tracking=False), algo=algo)
    second = search(SparkTrials(backend="local", parallelism=4, reproducible=True,
                                mlflow_tracking=False), algo=algo)
    assert first == second and len(first) == 30
    other_seed = search(SparkTrials(backend="local", parallelism=4, reproducible=True,
                                    mlflow_tracking=False), algo=algo, seed=12)
    assert [v for _, v, _ in other_seed] != [v for _, v, _ in first]


def test_the_seed_can_come_from_hyperopt_fmin_seed(monkeypatch):
    monkeypatch.setenv("HYPEROPT_FMIN_SEED", "5")
    runs = []
    for _ in range(2):
        trials = SparkTrials(backend="local", parallelism=3, reproducible=True,
                             mlflow_tracking=False)
        hyperspark.fmin(objective, SPACE, max_evals=12, trials=trials, show_progressbar=False)
        runs.append(sequence(trials))
    assert runs[0] == runs[1]


@pytest.mark.spark
@pytest.mark.parametrize("backend", ["jobs", "actors", "driver"])
def test_the_same_on_spark_backends_and_on_fewer_slots(spark, backend):
    """Parallelism 4 on a cluster of 2 slots (local[2,3]) gives the search that parallelism 4
    gives on the local backend: the lag is a setting of the search, not of the cluster."""
    reference = search(SparkTrials(backend="local", parallelism=4, reproducible=True,
                                   mlflow_tracking=False), max_evals=16)
    on_spark = search(SparkTrials(spark_session=spark, backend=backend, parallelism=4,
                                  reproducible=True, mlflow_tracking=False), max_evals=16)
    assert on_spark == reference


class InterruptAfter(Listener):
    def __init__(self, trials_ended):
        self.left = trials_ended

    def trial_ended(self, doc, progress):
        self.left -= 1
        if self.left == 0:
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()


def test_a_search_interrupted_and_resumed_continues_the_same_sequence(tmp_path):
    straight = search(SparkTrials(backend="local", parallelism=4, reproducible=True,
                                  mlflow_tracking=False), max_evals=24)
    path = str(tmp_path / "search.ckpt")
    first = SparkTrials(backend="local", parallelism=4, reproducible=True, mlflow_tracking=False)
    with pytest.raises(KeyboardInterrupt):
        first.fmin(objective, SPACE, algo=hyperspark.tpe.suggest, max_evals=24,
                   rstate=np.random.default_rng(11), show_progressbar=False,
                   trials_save_file=path, listeners=[InterruptAfter(10)])
    assert first.count_total_trials() < 24
    resumed = SparkTrials(backend="local", parallelism=4, reproducible=True,
                          mlflow_tracking=False)
    # a different rstate: the resumed search continues with the seed its checkpoint kept
    assert search(resumed, max_evals=24, seed=999, trials_save_file=path) == straight


def test_an_id_given_to_a_suggestion_in_flight_at_the_stop_is_not_a_gap(tmp_path):
    """A search stopped while a suggestion was being made saved the id it had handed out;
    the resumed search still gives suggestion k the tid k (staged: the checkpoint's counter
    is moved past its last trial)."""
    import pickle

    straight = search(SparkTrials(backend="local", parallelism=4, reproducible=True,
                                  mlflow_tracking=False), max_evals=20)
    path = tmp_path / "search.ckpt"
    search(SparkTrials(backend="local", parallelism=4, reproducible=True,
                       mlflow_tracking=False), max_evals=10, trials_save_file=str(path))
    saved = pickle.loads(path.read_bytes())
    saved["next_tid"] += 2
    path.write_bytes(pickle.dumps(saved))
    resumed = SparkTrials(backend="local", parallelism=4, reproducible=True,
                          mlflow_tracking=False)
    assert search(resumed, max_evals=20, trials_save_file=str(path)) == straight


def test_mlflow_and_the_bar_say_the_mode_is_on(mlflow_store, capsys):
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_experiment(f"reproducible-{time.time_ns()}")
    trials = SparkTrials(backend="local", parallelism=2, reproducible=True, lag=3,
                         mlflow_tracking=True)
    hyperspark.fmin(objective, SPACE, max_evals=6, trials=trials,
                    rstate=np.random.default_rng(1))
    parent = MlflowClient(mlflow_store).get_run(trials.last_tracker.parent_run_id)
    assert parent.data.tags["reproducible"] == "true"
    assert parent.data.params["reproducible_lag"] == "3"
    assert parent.data.params["reproducible_seed"] == str(
        trials.last_settings["reproducible seed"])
    assert "reproducible (lag 3)" in capsys.readouterr().err


def test_settings_that_depend_on_timing_are_named(caplog):
    trials = SparkTrials(backend="local", parallelism=2, reproducible=True, trial_timeout=5,
                         mlflow_tracking=False, pruner=hyperspark.pruners.ASHA())
    with caplog.at_level(logging.WARNING, logger="hyperspark"):
        search(trials, max_evals=4, loss_threshold=-1.0)
    warning = next(r.message for r in caplog.records if "reproducible=True" in r.message)
    for name in ("trial_timeout", "loss_threshold", "pruner"):
        assert name in warning


def test_bad_arguments_are_named():
    with pytest.raises(InvalidArgumentType, match="reproducible"):
        SparkTrials(backend="local", reproducible="yes")
    with pytest.raises(InvalidArgument, match="lag"):
        SparkTrials(backend="local", lag=4)
    with pytest.raises(InvalidArgument, match="lag"):
        SparkTrials(backend="local", reproducible=True, lag=0)


def test_the_throughput_benchmark_and_its_ideal_schedule(capsys):
    from benchmarks import reproducible as bench

    # trial 0 takes 3, the rest 1, on 2 slots: free, trials 1-3 run on the other slot; with
    # lag 1, trial 2 must wait for trial 0 (it may see trials < 1), and trial 3 starts with it
    assert bench.makespan([3, 1, 1, 1], 2, None) == 3
    assert bench.makespan([3, 1, 1, 1], 2, 1) == 4
    assert bench.ideal_ratio(4, 200, 10_000, range(3)) == 1.0  # a lag past the end: no wait
    assert bench.main(["--parallelism", "2", "--trials", "12", "--mean", "0.005",
                       "--lags", "1", "--repeats", "1"]) == 0
    table = capsys.readouterr().out
    assert "| reproducible, lag 2 (1 x P) |" in table and "ideal" in table
