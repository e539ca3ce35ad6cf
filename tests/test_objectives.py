"""Several losses and constraints: the checks of a result, the names a search keeps, and the
Pareto front, in milliseconds on small histories, then in searches on the local backend and on
a real Spark session with a real MLflow store."""
import itertools
import math

import numpy as np
import pytest
from hyperopt import hp, rand

import hyperspark
from hyperspark import SparkTrials, tpe
from hyperspark.objectives import Objectives, named_values, non_dominated, pareto_front
from hyperspark.worker.results import InvalidResult, normalize_result


def brute_front(points):
    """Indices of the rows no other row dominates, pair by pair."""
    keep = []
    for i, p in enumerate(points):
        if not any(all(q <= p) and any(q < p) for j, q in enumerate(points) if j != i):
            keep.append(i)
    return keep


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_non_dominated_matches_a_pairwise_check(dims):
    rng = np.random.default_rng(dims)
    for _ in range(30):
        points = rng.integers(0, 6, size=(int(rng.integers(1, 40)), dims)).astype(float)
        assert np.flatnonzero(non_dominated(points)).tolist() == brute_front(points)


def test_non_dominated_keeps_20000_two_loss_points_fast_enough_to_run_in_a_test():
    points = np.random.default_rng(0).random((20_000, 2))
    mask = non_dominated(points)
    on_front = points[mask]
    assert 1 <= len(on_front) < 100
    # no point of the front is dominated by any point at all
    for row in on_front:
        assert not ((points <= row).all(axis=1) & (points < row).any(axis=1)).any()


def test_result_checks_name_the_key():
    assert normalize_result({"status": "ok", "losses": {"a": 1, "b": 2.5}}) == {
        "status": "ok", "losses": {"a": 1.0, "b": 2.5}, "loss": 1.0}
    kept = normalize_result({"status": "ok", "loss": 7.0, "losses": {"a": 1.0}})
    assert kept["loss"] == 7.0  # a "loss" of the objective's own is kept
    assert normalize_result({"status": "ok", "loss": 0.5, "constraints": {"mem": -1}})[
        "constraints"] == {"mem": -1.0}
    for bad, words in [({"losses": {"a": float("nan")}}, "losses['a'] must be a finite number"),
                       ({"losses": {}}, "at least one loss"),
                       ({"losses": [1.0, 2.0]}, "'losses' must be a dict"),
                       ({"losses": {"a": "x"}}, "losses['a'] must be a number"),
                       ({"loss": 1.0, "constraints": {"m": math.inf}},
                        "constraints['m'] must be a finite number")]:
        with pytest.raises(InvalidResult, match=words.replace("[", r"\[").replace("]", r"\]")):
            normalize_result({"status": "ok", **bad})
    with pytest.raises(ValueError, match="every name must be a non-empty string"):
        named_values({1: 0.5}, "losses")


def test_hypervolume_against_counting_a_grid():
    from hyperspark.objectives import hypervolume

    rng = np.random.default_rng(1)
    for dims in (2, 3):
        points = rng.integers(0, 8, size=(6, dims)).astype(float)
        reference = np.full(dims, 8.0)
        cells = np.stack(np.meshgrid(*[np.arange(8) + 0.5] * dims), -1).reshape(-1, dims)
        covered = sum(bool(((points <= cell).all(axis=1)).any()) for cell in cells)
        assert hypervolume(points, reference) == covered  # unit cells, each counted once


def test_front_with_constraints_and_without_any_feasible_trial():
    def doc(tid, a, b, c):
        return {"tid": tid, "result": {"status": "ok", "loss": a, "losses": {"a": a, "b": b},
                                       "constraints": {"c": c}}}
    docs = [doc(0, 1, 5, 0), doc(1, 2, 2, -1), doc(2, 0, 0, 3),  # 2 is best but infeasible
            doc(3, 3, 3, -1), doc(4, 5, 1, 0.0)]
    front, feasible = pareto_front(docs)
    assert feasible and [d["tid"] for d in front] == [0, 1, 4]
    infeasible = [doc(0, 1, 1, 2.0), doc(1, 2, 2, 0.5), doc(2, 0, 0, 0.5)]
    front, feasible = pareto_front(infeasible)
    assert not feasible and [d["tid"] for d in front] == [2, 1]
    names = Objectives(("a", "b"), ("c",))
    assert names.mismatch({"losses": {"a": 1, "b": 2}, "constraints": {"c": 0}}) is None
    assert "'constraints' has the names []" in names.mismatch({"losses": {"a": 1, "b": 2}})


# ---------------------------------------------------------------- searches
SPACE = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)}


def two_losses(params):
    x, y = params["x"], params["y"]
    return {"status": "ok", "losses": {"error": x, "size": (1 - x) ** 2 + y},
            "constraints": {"budget": y - 0.8}}


def check_front(trials):
    frame = trials.to_pandas()
    assert {"loss.error", "loss.size", "constraint.budget"} <= set(frame.columns)
    done = frame[frame["state"] == "done"]
    feasible = done[done["constraint.budget"] <= 0]
    points = feasible[["loss.error", "loss.size"]].to_numpy()
    expected = sorted(feasible["tid"].to_numpy()[brute_front(points)].tolist())
    front = trials.pareto_front()
    assert sorted(d["tid"] for d in front) == expected and expected
    assert [d["result"]["losses"]["error"] for d in front] == sorted(
        d["result"]["losses"]["error"] for d in front)  # ordered by the first loss
    assert all(d["result"]["loss"] == d["result"]["losses"]["error"] for d in front)
    return frame


def test_a_two_loss_search_on_the_local_backend_and_bad_results_fail_alone():
    calls = []

    def objective(params):
        calls.append(params)
        n = len(calls)
        if n == 5:
            return {"status": "ok", "losses": {"error": float("nan"), "size": 1.0}}
        if n == 7:
            return {"status": "ok", "losses": {"error": 0.5}}  # a name missing
        if n == 9:
            return {"status": "ok", "losses": {"size": 0.5, "error": 0.1},
                    "constraints": {"budget": -1.0}}  # other order: other names
        return two_losses(params)

    trials = SparkTrials(backend="local", parallelism=1, mlflow_tracking=False)
    best = hyperspark.fmin(objective, SPACE, algo=rand.suggest, max_evals=30, trials=trials,
                           rstate=np.random.default_rng(0), show_progressbar=False)
    frame = check_front(trials).set_index("tid")
    assert frame.loc[4, "state"] == "error" and "losses['error']" in frame.loc[4, "error"]
    assert frame.loc[6, "state"] == "error" and "'losses' has the names ['error']" in \
        frame.loc[6, "error"]
    assert frame.loc[8, "state"] == "error"
    assert (frame.drop(index=[4, 6, 8])["state"] == "done").all()
    assert best["x"] == trials.best_trial["misc"]["vals"]["x"][0]  # fmin: the first loss

    # the same trials, continued: the names come from the documents, and still hold
    more = iter([{"status": "ok", "loss": 0.0}])  # one loss only: not this search's names
    hyperspark.fmin(lambda p: next(more, None) or two_losses(p), SPACE, algo=rand.suggest,
                    max_evals=34, trials=trials, rstate=np.random.default_rng(1),
                    show_progressbar=False)
    frame = check_front(trials).set_index("tid")
    assert frame.loc[30, "state"] == "error" and "this search's are ['error', 'size']" in \
        frame.loc[30, "error"]
    assert (frame.loc[31:, "state"] == "done").all()


def test_one_loss_with_constraints_and_no_feasible_trial_warns(caplog):
    trials = SparkTrials(backend="local", parallelism=2, mlflow_tracking=False)
    hyperspark.fmin(lambda x: {"status": "ok", "loss": x, "constraints": {"c": 1 + x}},
                    hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=8, trials=trials,
                    rstate=np.random.default_rng(0), show_progressbar=False)
    with caplog.at_level("WARNING", logger="hyperspark"):
        front = trials.pareto_front()
    violations = [d["result"]["constraints"]["c"] for d in
                  (t for t in trials.trials if t["result"].get("status") == "ok")]
    assert [d["result"]["constraints"]["c"] for d in front] == [min(violations)]
    assert "no trial met every constraint" in caplog.text


@pytest.mark.spark
def test_a_two_loss_search_on_spark_with_tracking(spark, mlflow_store):
    trials = SparkTrials(spark_session=spark, parallelism=2)
    hyperspark.fmin(two_losses, SPACE, algo=rand.suggest, max_evals=12, trials=trials,
                    rstate=np.random.default_rng(2), show_progressbar=False)
    frame = check_front(trials)
    assert (frame["state"] == "done").all() and trials.run_id is not None
    for a, b in itertools.combinations(trials.pareto_front(), 2):  # no member dominates another
        pa = np.array([a["result"]["losses"][k] for k in ("error", "size")])
        pb = np.array([b["result"]["losses"][k] for k in ("error", "size")])
        assert not ((pa <= pb).all() and (pa < pb).any())
    # MLflow: every loss and constraint of a child run, prefixed, and their names in order
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{trials.run_id}'")
    assert len(children) == 12
    for child in children:
        doc = trials.trials[int(child.data.tags["trial_id"])]
        assert child.data.metrics["loss.error"] == doc["result"]["losses"]["error"]
        assert child.data.metrics["loss.size"] == doc["result"]["losses"]["size"]
        assert child.data.metrics["constraint.budget"] == doc["result"]["constraints"]["budget"]
        assert child.data.metrics["loss"] == doc["result"]["loss"]

    # the parent run: the front as a table, its size, hypervolume and reference; members tagged
    import csv
    import io

    parent = client.get_run(trials.run_id)
    front_tids = sorted(d["tid"] for d in trials.pareto_front())
    assert parent.data.metrics["pareto_front_size"] == len(front_tids)
    assert parent.data.metrics["hypervolume"] > 0
    assert {"hypervolume_reference.error", "hypervolume_reference.size"} <= set(
        parent.data.metrics)
    table = client.download_artifacts(trials.run_id, "pareto_front.csv")
    rows = list(csv.DictReader(io.StringIO(open(table).read())))
    assert sorted(int(r["tid"]) for r in rows) == front_tids
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{trials.run_id}'")
    tagged = sorted(int(c.data.tags["trial_id"]) for c in children
                    if c.data.tags.get("pareto_front") == "true")
    assert tagged == front_tids

    # continued from MLflow: the same front, and the names still hold
    loaded = SparkTrials.from_mlflow(trials.run_id, space=SPACE, backend="local",
                                     parallelism=1, mlflow_tracking=False)
    assert [d["tid"] for d in loaded.pareto_front()] == [d["tid"] for d in trials.pareto_front()]
    odd = iter([{"status": "ok", "losses": {"size": 1.0, "error": 0.0}}])
    hyperspark.fmin(lambda p: next(odd, None) or two_losses(p), SPACE, algo=rand.suggest,
                    max_evals=14, trials=loaded, rstate=np.random.default_rng(3),
                    show_progressbar=False)
    frame = check_front(loaded).set_index("tid")
    assert frame.loc[12, "state"] == "error" and frame.loc[13, "state"] == "done"


def test_a_checkpoint_keeps_the_losses_and_their_names(tmp_path):
    path = str(tmp_path / "search.ckpt")
    first = SparkTrials(backend="local", parallelism=2, mlflow_tracking=False, checkpoint=path)
    hyperspark.fmin(two_losses, SPACE, algo=rand.suggest, max_evals=8, trials=first,
                    rstate=np.random.default_rng(4), show_progressbar=False)
    second = SparkTrials(backend="local", parallelism=1, mlflow_tracking=False, checkpoint=path)
    odd = iter([{"status": "ok", "loss": 1.0, "constraints": {"budget": 0.0}}])  # no losses
    hyperspark.fmin(lambda p: next(odd, None) or two_losses(p), SPACE, algo=rand.suggest,
                    max_evals=10, trials=second, rstate=np.random.default_rng(4),
                    show_progressbar=False)
    frame = check_front(second).set_index("tid")
    assert (frame.loc[:7, "state"] == "done").all()
    assert frame.loc[8, "state"] == "error" and "'losses' has the names []" in frame.loc[8, "error"]
    resumed = pareto_front([d for d in second.trials if d["tid"] < 8])[0]
    assert [d["tid"] for d in resumed] == [d["tid"] for d in first.pareto_front()]


def test_a_reproducible_search_of_several_losses_repeats_its_points_and_front():
    """Trials finish in a random order (random sleeps) at parallelism 4: reproducible mode
    still gives the same points, so the same front, for the same seed."""
    import random
    import time

    def jittered(params):
        time.sleep(random.uniform(0, 0.02))
        return two_losses(params)

    runs = []
    for _ in range(2):
        trials = SparkTrials(backend="local", parallelism=4, mlflow_tracking=False,
                             reproducible=True)
        hyperspark.fmin(jittered, SPACE, algo=tpe.suggest, max_evals=40, trials=trials,
                        rstate=np.random.default_rng(11), show_progressbar=False)
        points = sorted((d["tid"], d["misc"]["vals"]["x"][0]) for d in trials.trials)
        runs.append((points, [d["tid"] for d in trials.pareto_front()]))
    assert runs[0] == runs[1] and runs[0][1]


# ---------------------------------------------------------------- algorithms
def test_best_first_takes_feasible_fronts_in_order_then_the_least_violation():
    from hyperspark.objectives import best_first

    vectors = np.array([[0., 4.], [1., 3.], [2., 2.], [3., 1.], [4., 0.],  # front 1
                        [2., 3.], [3., 3.],                                # fronts 2, 3
                        [-1., -1.], [-2., -2.]])                           # infeasible
    violations = np.array([0, 0, 0, 0, 0, 0, 0, 0.5, 0.1])
    assert best_first(vectors, violations, 3).tolist() == [0, 2, 4]  # spread along the front
    assert sorted(best_first(vectors, violations, 6).tolist()) == [0, 1, 2, 3, 4, 5]
    assert best_first(vectors, violations, 8).tolist()[-1] == 8  # least violation first
    assert best_first(vectors, violations, 9).tolist()[-2:] == [8, 7]
    three = np.random.default_rng(0).random((50, 3))
    chosen = best_first(three, np.zeros(50), 10)
    ranks, pool, rank = np.zeros(50, dtype=int), np.arange(50), 0
    while len(pool):  # every chosen row is of a front no worse than any row left out
        mask = non_dominated(three[pool])
        ranks[pool[mask]], pool, rank = rank, pool[~mask], rank + 1
    assert ranks[chosen].max() <= ranks[np.setdiff1d(np.arange(50), chosen)].min()


def test_tpe_splits_a_two_loss_history_by_rank_and_auto_hands_it_to_tpe(caplog):
    from hyperopt import Domain, Trials, fmin, tpe as hyperopt_tpe

    from hyperspark import auto, tpe
    from hyperspark.objectives import best_first
    from hyperspark.record import suggested_by
    from hyperspark.tpe import _Models, _state_for

    def objective(params):
        x, y = params["x"], params["y"]
        return {"status": "ok", "losses": {"f1": x, "f2": 1 - x ** 0.5 + y},
                "constraints": {"c": 0.2 - y}}  # feasible where y >= 0.2

    trials = Trials()  # hyperopt's own fmin requires "loss" itself (docs/guide.md)
    fmin(lambda p: {**objective(p), "loss": p["x"]}, SPACE, algo=tpe.suggest, max_evals=40,
         trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)
    domain = Domain(objective, SPACE)
    tpe.suggest([40], domain, trials, 0)
    history = _state_for(domain).history
    assert history.vectors.shape == (40, 2) and (history.violations >= 0).all()
    models = _Models(_state_for(domain).space, history, 1.0, 24, 0.1, "worst", True)
    _, good, weights = models._observations()
    n_good = int(good.sum())
    assert n_good == 4 and set(np.flatnonzero(good)) == set(
        best_first(history.vectors, history.violations, n_good).tolist())
    assert (history.violations[good] == 0).all()
    # l(x) weighs each good trial by what it adds to the good group's hypervolume
    assert len(weights) == n_good and weights.max() == 1.0 and (weights > 0).all()


    hs = SparkTrials(backend="local", parallelism=2, mlflow_tracking=False)
    hyperspark.fmin(objective, SPACE, algo=auto.suggest, max_evals=14, trials=hs,
                    rstate=np.random.default_rng(0), show_progressbar=False)
    made = [suggested_by(d) for d in sorted(hs.trials, key=lambda d: d["tid"])]
    first_tpe = made.index("tpe")  # before the first result the names are unknown
    assert first_tpe <= 3 and set(made[first_tpe:]) == {"tpe"}
    assert auto.decide(None, 5, history.objectives)[0] == "tpe"

    with caplog.at_level("WARNING", logger="hyperspark"):
        single = SparkTrials(backend="local", parallelism=2, mlflow_tracking=False)
        hyperspark.fmin(objective, SPACE, algo=hyperopt_tpe.suggest, max_evals=6,
                        trials=single, rstate=np.random.default_rng(0), show_progressbar=False)
    assert caplog.text.count("its algorithm knows one loss") == 1


def test_the_bar_counts_the_front_and_a_misnamed_result_fails_at_its_end():
    from hyperopt import Trials

    from hyperspark.backends.base import TrialFinished
    from hyperspark.progress import bar_text
    from hyperspark.pruning import PruningBook
    from hyperspark.search import Progress
    from hyperspark.trial_end import TrialEnds

    progress, finished = Progress(), []
    ends = TrialEnds(Trials(), progress, finished, PruningBook(None, []),
                     algorithm_ranks_losses=True)
    points = [(3, 1), (1, 3), (2, 2), (3, 3), (0, 4)]
    for tid, (a, b) in enumerate(points):
        doc = {"tid": tid, "misc": {"vals": {}}, "result": {}, "state": 0}
        ends.record(doc, TrialFinished(tid, {"status": "ok", "loss": float(a),
                                             "losses": {"a": float(a), "b": float(b)}},
                                       1, 0.0, 1.0), "")
    assert progress.front == 4 and bar_text(progress) == "front 4 "  # (3, 3) is dominated
    doc = {"tid": 5, "misc": {"vals": {}}, "result": {}, "state": 0}
    ends.record(doc, TrialFinished(5, {"status": "ok", "loss": 0.0}, 1, 0.0, 1.0), "")
    assert doc["state"] == 3 and "this search's are ['a', 'b']" in doc["result"]["error"]
    assert progress.front == 4 and len(finished) == 5


@pytest.mark.parametrize("how", ["pruner", "report"])
def test_pruning_and_report_are_refused_in_a_search_of_several_losses(how):
    from hyperspark import InvalidArgument
    from hyperspark.pruners import MedianStopping

    def objective(params):
        if how == "report":
            hyperspark.report(params["x"], step=1)
        return two_losses(params)

    trials = SparkTrials(backend="local", parallelism=1, mlflow_tracking=False,
                         pruner=MedianStopping() if how == "pruner" else None)
    with pytest.raises(InvalidArgument, match="take one loss, but this search's results "
                                              r"carry several \(error, size\)"):
        hyperspark.fmin(objective, SPACE, algo=rand.suggest, max_evals=6, trials=trials,
                        rstate=np.random.default_rng(0), show_progressbar=False)
    assert trials.to_pandas()["state"].iloc[0] == "done"  # the trial that showed it is kept


def test_front_weights_follow_each_trials_share_of_the_hypervolume():
    from hyperspark.tpe import WEIGHT_FLOOR, front_weights

    # three on a front (the reference point sits a tenth past the worst: the middle one adds
    # most), one dominated, one infeasible
    vectors = np.array([[0.0, 1.0], [0.45, 0.45], [1.0, 0.0], [0.9, 0.9], [0.0, 0.0]])
    violations = np.array([0.0, 0.0, 0.0, 0.0, 2.0])
    weights = front_weights(vectors, violations)
    assert weights[1] == 1.0 and WEIGHT_FLOOR < weights[0] < 1.0
    assert weights[0] == pytest.approx(weights[2])
    assert weights[3] == weights[4] == WEIGHT_FLOOR
    # brute force: the share each front member alone dominates, on a fine grid
    grid = np.stack(np.meshgrid(np.linspace(0, 1.1, 221), np.linspace(0, 1.1, 221)), -1)
    grid = grid.reshape(-1, 2)
    front = vectors[:3]
    covered = (front[None, :, :] <= grid[:, None, :]).all(axis=2)
    alone = (covered & (covered.sum(axis=1) == 1)[:, None]).sum(axis=0)
    assert weights[:3] == pytest.approx(alone / alone.max(), rel=0.05)
    assert (front_weights(vectors[:, :1], violations) == [1, 1, 1, 1, WEIGHT_FLOOR]).all()
