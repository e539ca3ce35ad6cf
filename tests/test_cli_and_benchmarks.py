"""The demo command and the overhead benchmark run for real, on small sizes."""
import math

import pytest
from mlflow.tracking import MlflowClient

from benchmarks import search_problems
from benchmarks.search_problems import MORE_PROBLEMS, PROBLEMS
from benchmarks.tuning_problems import TUNING_PROBLEMS
from hyperspark import cli

pytestmark = pytest.mark.spark


def test_demo_runs_a_tracked_search_and_says_how_to_open_the_ui(spark, mlflow_store, capsys,
                                                              tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo writes its page here
    assert cli.main(["demo", "--max-evals", "6", "--parallelism", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 trials succeeded" in out and "mlflow ui --backend-store-uri" in out
    assert f"The search's page (open it in a browser): {tmp_path}/hyperspark-demo.html" in out
    assert 300_000 < (tmp_path / "hyperspark-demo.html").stat().st_size < 1_500_000
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name("hyperspark-demo")
    # the experiment by name, and a link that lands on the runs table filtered to the search
    assert "in experiment 'hyperspark-demo'" in out
    search_id = client.get_run(out.split("MLflow: parent run ")[1].split()[0]).data.tags[
        "hyperspark.search_id"]
    assert (f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs?searchFilter="
            f"tags.%60hyperspark.search_id%60%20%3D%20%27{search_id}%27") in out
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 6 and all("val_log_loss" in c.data.metrics for c in children)


def test_overhead_benchmark_table(spark):
    from benchmarks import overhead

    rows = overhead.run_table(spark, [1], trials=4, hyperopt_trials=1)
    assert len(rows) == 1
    row = rows[0]
    for key in ("raw_job_s", "hyperspark_s", "hyperspark_tracked_s", "hyperopt_sparktrials_s"):
        assert 0 < row[key] < 30, key
    table = overhead.markdown(rows, 4, 1)
    assert table.count("\n|") >= 2 and "hyperopt SparkTrials" in table


def test_cli_requires_a_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main([])


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "hyperspark demo" in out and "hyperspark html --run-id" in out


def test_throughput_benchmark_table(spark):
    from benchmarks import throughput

    rows = throughput.run_table(spark, [2], trials=30, jobs_trials=4, hyperopt_trials=1)
    sleep = throughput.efficiency_100ms(spark, 2, trials=10)
    row = rows[0]
    assert row["actors_trials_per_s"] > row["jobs_trials_per_s"] > 0
    assert row["hyperopt_sparktrials_trials_per_s"] > 0 and row["in_process_trials_per_s"] > 0
    assert 0 < sleep["efficiency"] <= 1.05 and 0 < sleep["steady_efficiency"] <= 1.1
    assert "efficiency" in throughput.markdown(rows, sleep)


def test_checkpoint_benchmark_table():
    from benchmarks import checkpoint

    rows = checkpoint.run([60], repeats=1)
    assert rows[0]["trials"] == 60 and rows[0]["writes"] >= 2 and rows[0]["file_mb"] > 0
    assert rows[0]["plain_ms"] > 0 and rows[0]["checkpoint_ms"] > 0
    assert "| 60 |" in checkpoint.markdown(rows)


def test_pruning_benchmark_table(spark):
    from benchmarks import pruning

    result = pruning.run(spark, [0], trials=6, parallelism=2)
    row = result["rows"][0]
    assert row["tpe"]["epochs"] == 6 * pruning.EPOCHS and row["tpe"]["pruned"] == 0
    assert row["tpe_asha"]["trials"] == 6
    for pruned, reported in row["tpe"]["per_trial"] + row["tpe_asha"]["per_trial"]:
        assert (1 <= reported < pruning.EPOCHS) if pruned else reported == pruning.EPOCHS
    assert 0 < row["compute_ratio"] <= 1 and row["tpe"]["best_loss"] < 1.0
    assert "| 0 |" in pruning.markdown(result)
    cost = pruning.report_cost(spark, calls=200)
    assert cost["calls"] == 200 and cost["report_ms_median"] > 0


def test_pool_benchmark_table(spark, tmp_path):
    from benchmarks import pool

    result = pool.run(spark, searches=2, size=2, trials=10, noop_trials=40, tracked_trials=30,
                      folder=str(tmp_path))
    assert result["tracked"]["wal_per_s"] > 0 and result["tracked"]["default_journal_per_s"] > 0
    back, side, noop = result["back_to_back"], result["side_by_side"], result["long_noop"]
    assert back["fresh_s"] > 0 and back["warm_s"] > 0 and back["ratio"] > 0
    assert side["ideal_per_s"] == 2 / 0.05 and 0 < side["efficiency"] <= 1.05
    assert noop["pool_s"] > 0 and noop["in_process_s"] > 0
    assert "warm pool" in pool.markdown(result)


def test_search_quality_benchmark_one_small_case(tmp_path):
    from benchmarks import search

    results = search.run_all(["rosenbrock4"], ["hyperopt-tpe-finished", "hyperspark-tpe",
                                               "optuna"], [1, 4], seeds=[0, 1], jobs=1,
                             progress=False, budget=24)
    assert {(r["method"], r["parallelism"]) for r in results} >= {
        ("random", 1), ("hyperopt-tpe", 1), ("hyperspark-tpe", 4), ("optuna", 4),
        ("hyperopt-tpe-finished", 4)}
    assert all(len(r["losses"]) == 24 for r in results)
    cells = search.table(results)
    assert cells["random"][1]["n"] == 2 and abs(cells["random"][1]["mean"]) < 5
    text = search.markdown(cells, [1, 4])
    assert "hyperspark-tpe" in text and "±" in text
    search.plot(results, [1, 4], str(tmp_path / "search.png"))
    assert (tmp_path / "search.png").stat().st_size > 1000


def test_search_benchmark_streams_runs_resumes_and_scores_regret(tmp_path):
    """Each run is a JSON line as it finishes; a second call with the same file runs nothing
    again; known optima give a log10-regret table."""
    from benchmarks import search

    jsonl = str(tmp_path / "runs.jsonl")
    first = search.run_all(["branin"], ["hyperspark-gp"], [1], seeds=[0, 1], jobs=1,
                           progress=False, budget=12, jsonl=jsonl)
    lines = open(jsonl).read().splitlines()
    assert len(lines) == len(first) == 6  # random, serial TPE, gp: two seeds each
    again = search.run_all(["branin"], ["hyperspark-gp"], [1], seeds=[0, 1], jobs=1,
                           progress=False, budget=12, jsonl=jsonl)
    assert open(jsonl).read().splitlines() == lines  # nothing ran twice
    assert sorted(r["wall_s"] for r in again) == sorted(r["wall_s"] for r in first)
    regrets = search.regret_table(first)
    optimum = search_problems.BRANIN.optimum
    expected = [math.log10(min(r["losses"]) - optimum) for r in first
                if r["method"] == "hyperspark-gp"]
    cell = regrets["branin"]["hyperspark-gp"][1]
    assert cell["n"] == 2 and cell["mean"] == pytest.approx(sum(expected) / 2)
    assert "**branin**" in search.regret_markdown(regrets, [1])


@pytest.mark.parametrize("name", [*PROBLEMS, *MORE_PROBLEMS, *TUNING_PROBLEMS])
def test_each_search_problem_is_the_same_problem_in_hyperopt_and_optuna(name):
    """Written twice (a hyperopt space, Optuna's calls): Optuna's parameters always have a
    shape the hyperopt space gives too (names, nesting, text or number), and both give a
    finite loss."""
    import math

    import numpy as np
    import optuna
    from hyperopt.pyll import stochastic

    problem = {**PROBLEMS, **MORE_PROBLEMS, **TUNING_PROBLEMS}[name]
    rng = np.random.default_rng(0)
    from_hyperopt = [stochastic.sample(problem.space, rng=rng) for _ in range(60)]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    from_optuna = [problem.optuna_params(study.ask()) for _ in range(20)]
    assert {_shape(p) for p in from_optuna} <= {_shape(p) for p in from_hyperopt}
    checked = 1 if name == "sgd_digits" or name in TUNING_PROBLEMS else 5  # a real model: one
    # fit of each is enough
    assert all(math.isfinite(problem.loss(p)) for p in from_hyperopt[:checked])
    assert all(math.isfinite(problem.loss(p)) for p in from_optuna[:checked])


def _shape(params, prefix=""):
    """The frozenset of (path, "text" | "number") of a nested params dict."""
    shape = set()
    for key, value in params.items():
        if isinstance(value, dict):
            shape |= _shape(value, f"{prefix}{key}.")
        else:
            shape.add((prefix + key, "text" if isinstance(value, str) else "number"))
    return frozenset(shape)


def test_tuning_problems_cache_repeated_points():
    problem = TUNING_PROBLEMS["knn_diabetes"]
    params = {"n_neighbors": 7.0, "weights": "distance", "p": 2, "leaf_size": 30.0}
    first = problem.loss(params)
    assert problem.loss(dict(params)) == first and 0 < first < 2
    assert problem.loss({**params, "n_neighbors": 8.0}) != first


def test_multiobjective_benchmark_small_streams_and_resumes(tmp_path, capsys):
    import json

    from benchmarks import multiobjective

    jsonl = tmp_path / "mo.jsonl"
    argv = ["--problems", "zdt1", "constr", "--methods", "random", "hyperspark-tpe",
            "--parallelism", "1", "--seeds", "2", "--budget", "16", "--jsonl", str(jsonl)]
    assert multiobjective.main(argv) == 0
    first = capsys.readouterr().out
    runs = [json.loads(line) for line in open(jsonl)]
    assert len(runs) == 8 and all(len(r["found"]) == 16 for r in runs)
    assert "**zdt1** (hypervolume / the true front)" in first and "**constr**" in first
    assert multiobjective.main(argv) == 0  # everything is in the file: nothing runs again
    assert len(open(jsonl).read().splitlines()) == 8
    table = multiobjective.scores(runs)
    for cell in table["zdt1"]["hyperspark-tpe"].values():
        assert 0 <= cell["mean"] <= 1  # never above the true front (16 trials: often 0)
    constr = table["constr"]
    assert max(c[1]["mean"] for c in constr.values()) > 0  # by the best found: someone is 1
    assert 0 <= constr["random"][1]["feasible"] <= 1


def test_suggestion_speed_benchmark_small():
    import hyperspark.tpe
    from benchmarks import suggest

    assert 0 < suggest.time_hyperopt_style(hyperspark.tpe.suggest, 200, 8, repeats=3) < 5
    assert 0 < suggest.time_optuna(50, 4, repeats=2) < 5
    rate = suggest.search_rate(300, parallelism=8)
    assert rate["trials"] == 300 and rate["overall_per_s"] > 0


def test_tracking_benchmark_small_on_the_session_server(spark, tracking_server, tmp_path):
    from benchmarks import tracking

    result = tracking.run(tracking_server.uri, [2], [0.05], ceiling_trials=10,
                          ceiling_threads=[1, 2], repeats=1, folder=tmp_path, spark=spark,
                          seconds_of_work=0.5)
    assert set(result["ceiling"]) == {1, 2} and all(v > 0 for v in result["ceiling"].values())
    (row,) = result["searches"]
    assert row["recorded"] == row["trials"] and row["tracked"] > 0 and row["untracked"] > 0
    assert "tracked / untracked" in tracking.markdown(result)


@pytest.mark.parametrize("method, words", [
    ("hyperspark-tpe:liar=lies", "liar must be one of"),
    ("hyperspark-tpe-reproducible-2x:liar", "key=value"),
    ("hyperspark-tpe:foo=1", "foo is not one of"),
])
def test_search_benchmark_refuses_a_bad_variant_by_name(method, words, capsys):
    from benchmarks import search

    with pytest.raises(SystemExit) as exit_info:
        search.main(["--methods", method, "--seeds", "2", "--parallelism", "1"])
    assert exit_info.value.code == 2 and words in capsys.readouterr().err


def test_continue_benchmark_quality_small(capsys):
    """The continue benchmark's quality part on a small case: both arms scored as the search
    benchmark scores them, and reproducible mode's trial-for-trial check (runs in processes of
    their own, with their own MLflow stores)."""
    import mlflow

    from benchmarks import continuation

    before = mlflow.get_tracking_uri()
    assert continuation.main(["--sizes", "--problems", "rosenbrock4", "--seeds", "2",
                              "--budget", "12", "--jobs", "1", "--exact-seeds", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| rosenbrock4 x 2 |" in printed and "| **all: 1 x 2** |" in printed
    assert "1 of 1 seeds" in printed  # the continued reproducible search is the one-go one
    assert mlflow.get_tracking_uri() == before
