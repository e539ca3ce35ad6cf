"""Continuing a finished search from its MLflow run (``SparkTrials.from_mlflow``): against a
real sqlite store, and against the real ``mlflow server`` on PostgreSQL. The searches run on
the local backend (what is read back does not depend on where trials ran); the gang and Spark
backends' runs are recorded the same way."""
import math
import os
import time

import mlflow
import numpy as np
import pytest
from hyperopt import hp
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import InvalidArgument, SparkTrials
from hyperspark.page import from_trials
from hyperspark.tracking.runs import CONTINUED_FROM_TAG

SPACE = {"lr": hp.loguniform("lr", math.log(1e-3), 0), "act": hp.choice("act", ["relu", "tanh"]),
         "layers": hp.randint("layers", 1, 6)}


def objective(params):
    """Fails for layers == 2, returns status fail for layers == 5, reports a curve (pruned
    by the Threshold pruner when it is high), else a loss."""
    if params["layers"] == 2:
        raise ValueError("two layers do not train")
    if params["layers"] == 5:
        return {"status": "fail"}
    loss = (math.log10(params["lr"]) + 2) ** 2 + (0.5 if params["act"] == "tanh" else 0)
    for step in range(1, 4):
        hyperspark.report(loss + 1 / step, step=step)
        time.sleep(0.05)  # time for the pruner's decision to arrive
    return loss


def first_search(uri, max_evals=40, seed=0):
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(f"continue-{time.time_ns()}")
    trials = SparkTrials(backend="local", parallelism=2,
                         pruner=hyperspark.pruners.Threshold(upper=2.0))
    hyperspark.fmin(objective, SPACE, max_evals=max_evals, trials=trials,
                    show_progressbar=False, rstate=np.random.default_rng(seed))
    return trials


def by_tid(trials):
    return {d["tid"]: d for d in trials._dynamic_trials}


@pytest.fixture(scope="module")
def searched(mlflow_store):
    return first_search(mlflow_store)


def test_same_space_continues_with_every_trial_and_the_algorithm_sees_them(searched,
                                                                          mlflow_store, caplog):
    run_id = searched.run_id
    assert run_id == searched.last_tracker.parent_run_id
    experiment = MlflowClient(mlflow_store).get_experiment(
        MlflowClient(mlflow_store).get_run(run_id).info.experiment_id).name
    with caplog.at_level("INFO", logger="hyperspark"):
        loaded = SparkTrials.from_mlflow(run_id, backend="local", parallelism=2)
    said = [r.getMessage() for r in caplog.records if "continuing search" in r.getMessage()]
    assert len(said) == 1  # one line: how many, from which run, in which experiment by name
    assert f"40 finished trials from MLflow run {run_id} in experiment '{experiment}'" in said[0]
    before, after = by_tid(searched), by_tid(loaded)
    assert sorted(after) == sorted(before) == list(range(40))
    for tid, doc in before.items():
        again = after[tid]
        assert again["state"] == doc["state"], tid
        assert again["misc"]["vals"] == doc["misc"]["vals"], tid  # exact values and types
        assert again["result"].get("status") == doc["result"].get("status"), tid
        assert again["result"].get("loss") == pytest.approx(doc["result"].get("loss")), tid
    for label in ("act", "layers"):
        assert all(isinstance(d["misc"]["vals"][label][0], int) for d in after.values())
    assert loaded.status_counts() == searched.status_counts()
    counts = loaded.status_counts()
    assert counts["error"] and counts["failed"] and counts["pruned"] and counts["ok"]

    seen = []

    def watching(new_ids, domain, trials, seed):
        seen.append(sum(1 for d in trials.trials if d["state"] == 2))
        return hyperspark.tpe.suggest(new_ids, domain, trials, seed)

    # the docs' "max_evals=trials.count_total_trials() + 100": failed ones count, as in fmin
    # (len(trials), hyperopt's, leaves out errors and cancellations)
    assert loaded.count_total_trials() == 40
    best = hyperspark.fmin(objective, SPACE, algo=watching,
                           max_evals=loaded.count_total_trials() + 10, trials=loaded,
                           show_progressbar=False)
    # Python numbers, as a fresh search returns (tests/test_first_hour.py)
    assert {k: type(v) for k, v in best.items()} == {"lr": float, "act": int, "layers": int}
    assert len(loaded._dynamic_trials) == 50  # 10 new ones, as hyperopt continues a Trials
    assert sorted(by_tid(loaded)) == list(range(50))
    assert seen and seen[0] >= sum(1 for d in before.values() if d["state"] == 2)
    client = MlflowClient(mlflow_store)
    parent = client.get_run(loaded.last_tracker.parent_run_id)
    assert parent.info.run_id != run_id
    assert parent.data.tags[CONTINUED_FROM_TAG] == run_id
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == list(range(40, 50))

    page = from_trials(loaded)  # the whole history, the continuation marked
    assert sorted(page["trials"]["tid"]) == list(range(50))
    assert page["continuation"] == {"trials": 40, "first_new_tid": 40, "from_run": run_id}


def test_a_narrowed_space_keeps_the_trials_inside_it(searched, caplog):
    run_id = searched.last_tracker.parent_run_id
    narrow = {**SPACE, "lr": hp.loguniform("lr", math.log(1e-2), math.log(0.5))}
    inside = {tid for tid, d in by_tid(searched).items()
              if 1e-2 <= d["misc"]["vals"]["lr"][0] <= 0.5}
    assert 0 < len(inside) < 40
    loaded = SparkTrials.from_mlflow(run_id, space=narrow, backend="local", parallelism=2)
    assert set(by_tid(loaded)) == inside
    said = [r.getMessage() for r in caplog.records if "continuing search" in r.getMessage()]
    assert len(said) == 1 and f"{len(inside)} of 40 kept" in said[0]
    assert f"{40 - len(inside)} with lr outside its bounds" in said[0]
    hyperspark.fmin(objective, narrow, max_evals=len(inside) + 8, trials=loaded,
                    show_progressbar=False)
    new = [d for tid, d in by_tid(loaded).items() if tid >= 40]
    assert len(new) == 8 and all(1e-2 <= d["misc"]["vals"]["lr"][0] <= 0.5 for d in new)


def test_an_added_parameter_is_missing_from_the_old_trials(searched):
    run_id = searched.last_tracker.parent_run_id
    wider = {**SPACE, "dropout": hp.uniform("dropout", 0, 0.5)}
    loaded = SparkTrials.from_mlflow(run_id, space=wider, backend="local", parallelism=2)
    assert len(loaded._dynamic_trials) == 40
    hyperspark.fmin(lambda p: objective(p) + p["dropout"], wider, max_evals=48, trials=loaded,
                    show_progressbar=False)
    docs = by_tid(loaded)
    assert all(docs[tid]["misc"]["vals"]["dropout"] == [] for tid in range(40))
    assert all(0 <= docs[tid]["misc"]["vals"]["dropout"][0] <= 0.5 for tid in range(40, 48))


def test_nothing_fits_is_an_error(searched):
    run_id = searched.last_tracker.parent_run_id
    elsewhere = {**SPACE, "lr": hp.uniform("lr", 5, 6)}
    with pytest.raises(InvalidArgument, match="no trial of MLflow run .* fits the space"):
        SparkTrials.from_mlflow(run_id, space=elsewhere, backend="local")


def test_runs_that_are_not_a_search_parent_are_refused(searched, mlflow_store):
    with mlflow.start_run() as plain:
        mlflow.log_param("x", 1)
    with pytest.raises(InvalidArgument, match="no hyperspark.search_id tag.*run_id must be"):
        SparkTrials.from_mlflow(plain.info.run_id, backend="local")
    client = MlflowClient(mlflow_store)
    parent = searched.last_tracker.parent_run_id
    child = client.search_runs([client.get_run(parent).info.experiment_id],
                               f"tags.mlflow.parentRunId = '{parent}'", max_results=1)[0]
    with pytest.raises(InvalidArgument, match=f"is trial .* this trial's search is run {parent}"):
        SparkTrials.from_mlflow(child.info.run_id, backend="local")
    with pytest.raises(InvalidArgument, match="no run 'nope' in the MLflow store"):
        SparkTrials.from_mlflow("nope", backend="local")


def test_a_continued_reproducible_search_gives_the_same_trials(searched):
    run_id = searched.last_tracker.parent_run_id
    points = []
    for _ in range(2):
        loaded = SparkTrials.from_mlflow(run_id, backend="local", parallelism=3,
                                         reproducible=True)
        hyperspark.fmin(objective, SPACE, max_evals=52, trials=loaded, show_progressbar=False,
                        rstate=np.random.default_rng(11))
        points.append({tid: d["misc"]["vals"] for tid, d in by_tid(loaded).items()
                       if tid >= 40})
    assert len(points[0]) == 12 and points[0] == points[1]


def test_a_continued_search_keeps_a_checkpoint_and_resumes_from_it(searched, tmp_path):
    run_id = searched.last_tracker.parent_run_id
    path = str(tmp_path / "continued.ckpt")
    loaded = SparkTrials.from_mlflow(run_id, backend="local", parallelism=2, checkpoint=path)
    hyperspark.fmin(objective, SPACE, max_evals=45, trials=loaded, show_progressbar=False)
    resumed = SparkTrials(backend="local", parallelism=2, checkpoint=path)
    hyperspark.fmin(objective, SPACE, max_evals=47, trials=resumed, show_progressbar=False)
    assert sorted(by_tid(resumed)) == list(range(47))
    assert by_tid(resumed)[3]["misc"]["vals"] == by_tid(searched)[3]["misc"]["vals"]


@pytest.mark.slow
def test_continue_against_a_real_mlflow_server_on_postgresql(tracking_server):
    uri = tracking_server.uri
    first = first_search(uri, max_evals=25, seed=3)
    previous = mlflow.get_tracking_uri()
    try:
        loaded = SparkTrials.from_mlflow(first.last_tracker.parent_run_id, backend="local",
                                         parallelism=2)
        assert {tid: d["misc"]["vals"] for tid, d in by_tid(loaded).items()} == \
            {tid: d["misc"]["vals"] for tid, d in by_tid(first).items()}
        assert loaded.status_counts() == first.status_counts()
        hyperspark.fmin(objective, SPACE, max_evals=30, trials=loaded, show_progressbar=False)
        assert sorted(by_tid(loaded)) == list(range(30))
        parent = MlflowClient(uri).get_run(loaded.last_tracker.parent_run_id)
        assert parent.data.tags[CONTINUED_FROM_TAG] == first.last_tracker.parent_run_id
    finally:
        mlflow.set_tracking_uri(previous)
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


def test_a_reproducible_search_continued_from_mlflow_is_the_search_in_one_go(mlflow_store):
    """In reproducible mode suggestion k depends on the seed, k and the earlier results only:
    continuing from what MLflow holds must give the very trials of the search run in one go,
    which shows the history comes back exactly as it was."""
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_experiment(f"exact-{time.time_ns()}")

    def run(trials, max_evals):
        hyperspark.fmin(objective, SPACE, max_evals=max_evals, trials=trials,
                        show_progressbar=False, rstate=np.random.default_rng(21))
        return trials

    one_go = run(SparkTrials(backend="local", parallelism=2, reproducible=True,
                             mlflow_tracking=False), 40)
    first = run(SparkTrials(backend="local", parallelism=2, reproducible=True), 15)
    continued = run(SparkTrials.from_mlflow(first.last_tracker.parent_run_id, backend="local",
                                            parallelism=2, reproducible=True,
                                            mlflow_tracking=False), 40)
    # trials 20 to 39 come from the model (hyperspark.tpe starts after 20), built from the
    # history: they match only if every value and loss came back as it was
    assert {tid: d["misc"]["vals"] for tid, d in by_tid(continued).items()} == \
        {tid: d["misc"]["vals"] for tid, d in by_tid(one_go).items()}
