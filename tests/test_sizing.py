"""Trials sized by their own parameters (issue 37): the loop's fit rule in milliseconds on the
local backend (a ``Sizing`` with a known capacity), then real barrier jobs of several sizes
on a real Spark session, with the sizes recorded in MLflow, the frame and the page."""
import threading
import time

import numpy as np
import pytest
from hyperopt import hp, rand, space_eval
from hyperopt.base import Domain

import hyperspark
from hyperspark import SparkTrials
from hyperspark.backends.local import LocalBackend
from hyperspark.errors import InvalidArgument, InvalidArgumentType
from hyperspark.record import TrialRecord
from hyperspark.scheduler import Scheduler
from hyperspark.search import Settings
from hyperspark.search_context import SearchContext
from hyperspark.sizing import Sizing, SizeError, TrialSize

SPACE = {"big": hp.choice("big", [False, True]), "x": hp.uniform("x", 0, 1)}


def tasks_of(params):
    return 4 if params["big"] else 1


class Slots:
    """Counts the CPUs the running objectives hold, as the cluster would see them."""

    def __init__(self):
        self.lock, self.held, self.most, self.starts = threading.Lock(), 0, 0, []

    def objective(self, params):
        need = tasks_of(params)
        with self.lock:
            self.held += need
            self.most = max(self.most, self.held)
            self.starts.append((time.monotonic(), params["x"]))
        time.sleep(0.004 if need == 1 else 0.01)
        with self.lock:
            self.held -= need
        return params["x"]


def sized_search(objective, *, capacity, parallelism, max_evals, tasks=tasks_of, seed=0,
                 max_queue_len=1):
    """The loop of one search on the local backend, its trials sized by ``tasks``."""
    trials = SparkTrials(backend="local", parallelism=parallelism, mlflow_tracking=False)
    domain = Domain(objective, SPACE)
    sizing = Sizing(tasks, None, lambda spec: space_eval(SPACE, spec), capacity=capacity)
    search = SearchContext(search_id="sized", domain=domain, max_retries=0, retry_on=(),
                           sizing=sizing)
    settings = Settings(max_evals=max_evals, parallelism=parallelism,
                        rstate=np.random.default_rng(seed), max_queue_len=max_queue_len)
    Scheduler(trials, domain, rand.suggest, LocalBackend(), search, settings).run()
    return trials


def test_trials_start_only_when_they_fit_and_in_order():
    slots = Slots()
    trials = sized_search(slots.objective, capacity=4, parallelism=4, max_evals=60,
                          max_queue_len=3)
    docs = sorted(trials.trials, key=lambda d: d["tid"])
    assert all(d["result"]["status"] == "ok" for d in docs) and len(docs) == 60
    sizes = [TrialRecord.from_doc(d).size for d in docs]
    assert {s["tasks"] for s in sizes} == {1, 4}  # both sizes ran, each recorded
    assert slots.most <= 4  # never more CPUs held than the cluster has
    # the rule against starving a large trial: none overtakes another; start order is tid order
    booked = [TrialRecord.from_doc(d).booked for d in docs]
    assert booked == sorted(booked)
    # small trials still share the cluster: some ran side by side
    assert slots.most >= 2


def test_a_size_that_cannot_be_decided_or_never_fits_fails_that_trial_alone():
    def tasks(params):
        if params["x"] < 0.2:
            raise ValueError("no size for small x")
        if params["x"] > 0.8:
            return 0
        return 8 if params["big"] else 1  # 8 never fits in 4

    trials = sized_search(lambda p: p["x"], capacity=4, parallelism=2, max_evals=40,
                          tasks=tasks, seed=1)
    frame = trials.to_pandas().set_index("tid")
    for tid, row in frame.iterrows():
        x, big = row["params"]["x"], row["params"]["big"]
        if x < 0.2:
            assert row["status"] == "error" and "tasks_per_trial(params) raised ValueError: " \
                "no size for small x" in row["error"]
        elif x > 0.8:
            assert row["status"] == "error" and "returned 0" in row["error"]
        elif big:
            assert row["status"] == "error" and "8 CPUs" in row["error"] \
                and "4 CPUs in all" in row["error"] and "could never start" in row["error"]
        else:
            assert row["status"] == "ok" and row["tasks"] == 1
    assert set(frame["status"]) == {"ok", "error"}


def test_sizing_reads_profiles_and_refuses_what_is_not_a_size():
    class Request:
        def __init__(self, amount):
            self.amount = amount

    class Profile:  # what Sizing reads of a pyspark ResourceProfile: its task requests
        taskResources = {"cpus": Request(2), "gpu": Request(1)}

    sizing = Sizing(lambda p: 3, lambda p: Profile() if p["gpu"] else None, lambda s: s,
                    capacity=8)
    assert sizing.size_of(0, {"gpu": True}) == TrialSize(3, 2, 1.0)
    assert sizing.size_of(1, {"gpu": False}) == TrialSize(3, 1, 0.0)
    assert sizing.get(0).total_cpus == 6 and not sizing.fits(sizing.get(0), held=3)
    with pytest.raises(SizeError, match="resource_profile\\(params\\) returned 'gpu'"):
        Sizing(1, lambda p: "gpu", lambda s: s).size_of(2, {})
    with pytest.raises(SizeError, match="returned True"):
        Sizing(lambda p: True, None, lambda s: s).size_of(3, {})


def test_a_size_callable_is_refused_where_it_cannot_apply():
    with pytest.raises(InvalidArgument, match="tasks_per_trial as a callable.*backend='jobs'"):
        SparkTrials(backend="local", tasks_per_trial=tasks_of)
    with pytest.raises(InvalidArgument, match="resource_profile as a callable.*backend='jobs'"):
        SparkTrials(backend="local", resource_profile=lambda p: None)
    with pytest.raises(InvalidArgumentType, match="tasks_per_trial must be a positive integer"):
        SparkTrials(backend="local", tasks_per_trial=0)


# ---------------------------------------------------------------- on real Spark
def world_size(params):
    """Each rank's view of its trial: how many ranks it has."""
    return {"status": "ok", "loss": params["x"],
            "ranks": hyperspark.trial_context().world_size}


def test_real_barrier_jobs_of_two_sizes_recorded_everywhere(spark, mlflow_store, tmp_path,
                                                            monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    from hyperspark.tracking.page_source import page_data

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_experiment(f"sized-{time.time_ns()}")

    def two_when_big(params):
        return 2 if params["big"] else 1

    trials = SparkTrials(spark_session=spark, parallelism=2, tasks_per_trial=two_when_big)
    hyperspark.fmin(world_size, SPACE, algo=rand.suggest, max_evals=8, trials=trials,
                    rstate=np.random.default_rng(2), show_progressbar=False)
    frame = trials.to_pandas()
    assert (frame["status"] == "ok").all()
    for doc in trials.trials:  # each trial ran as a job of the size its parameters asked
        expected = 2 if space_eval(SPACE, {k: v[0] for k, v in doc["misc"]["vals"].items()
                                           })["big"] else 1
        assert doc["result"]["ranks"] == expected == TrialRecord.from_doc(doc).size["tasks"]
    assert set(frame["tasks"]) == {1, 2}
    assert trials.last_settings["tasks_per_trial"] == (
        f"callable:{__name__}.test_real_barrier_jobs_of_two_sizes_recorded_everywhere."
        "<locals>.two_when_big")
    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.last_tracker.parent_run_id)
    assert parent.data.params["tasks_per_trial"].startswith("callable:")
    data = page_data(parent.info.run_id, mlflow_store)
    tids = data["trials"]["tid"]
    by_tid = {d["tid"]: TrialRecord.from_doc(d).size["tasks"] for d in trials.trials}
    for tid, text in zip(tids, data["trials"]["size"]):
        assert text.startswith(f"{by_tid[tid]} task")


def test_a_sized_search_resumes_with_its_callable_given_again_and_a_pickle_asks_for_it(
        spark, tmp_path):
    import pickle

    def two_when_big(params):
        return 2 if params["big"] else 1

    checkpoint = str(tmp_path / "sized.ckpt")
    first = SparkTrials(spark_session=spark, parallelism=2, tasks_per_trial=two_when_big,
                        mlflow_tracking=False)
    hyperspark.fmin(world_size, SPACE, algo=rand.suggest, max_evals=4, trials=first,
                    rstate=np.random.default_rng(5), show_progressbar=False,
                    trials_save_file=checkpoint)
    again = SparkTrials(spark_session=spark, parallelism=2, tasks_per_trial=two_when_big,
                        mlflow_tracking=False)
    hyperspark.fmin(world_size, SPACE, algo=rand.suggest, max_evals=8, trials=again,
                    rstate=np.random.default_rng(5), show_progressbar=False,
                    trials_save_file=checkpoint)
    docs = sorted(again.trials, key=lambda d: d["tid"])
    assert [d["tid"] for d in docs] == list(range(8))  # 4 kept, 4 new
    for doc in docs:  # every trial, kept or new, ran at the size its parameters asked
        assert doc["result"]["ranks"] == TrialRecord.from_doc(doc).size["tasks"]

    loaded = pickle.loads(pickle.dumps(again))  # code does not travel: asked for by name
    with pytest.raises(InvalidArgument, match="unpickled without its tasks_per_trial "
                                              r"\(callable:.*two_when_big\)"):
        hyperspark.fmin(world_size, SPACE, algo=rand.suggest, max_evals=9, trials=loaded,
                        show_progressbar=False)
    loaded.tasks_per_trial = two_when_big
    hyperspark.fmin(world_size, SPACE, algo=rand.suggest, max_evals=9, trials=loaded,
                    show_progressbar=False)
    assert len(loaded.trials) == 9
