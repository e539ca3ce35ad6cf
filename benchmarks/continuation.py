"""Continuing a search from MLflow: ``python -m benchmarks continue``.

- **Load time**: a finished search of 1,000 and of 20,000 trials, recorded in a sqlite MLflow
  store on disk by a real tracked search (actors on local Spark, a no-op objective), read back with
  ``SparkTrials.from_mlflow``; ``--repeats`` loads each, mean and standard error.
- **Quality**: on the search benchmark's problems and seeds (20 seeds; sgd_digits only when
  asked, see ``QUALITY_PROBLEMS``), scored as it scores them (0 = the median best loss of
  random search, 1 = that of hyperopt's serial TPE, per problem): hyperspark.tpe at
  parallelism 1, 300 trials in one go, against 150 trials continued from their MLflow run to
  300 with a fresh random stream, as a user continues a search another day. The continued
  search's mean score must be within one standard error of the one-go search's, or above it
  (the paired difference's standard error: both arms run the same problems and seeds). Both
  share their first 150 trials (the same seed), so they differ only by the second
  half's random stream; and in reproducible mode (suggestion k depends only on the seed, k
  and the history) the continued search must be the search in one go, trial for trial.

    python -m benchmarks continue
    python -m benchmarks continue --sizes 1000 --seeds 5 --problems rosenbrock4 hartmann6
    python -m benchmarks continue --sizes --seeds 10          # the quality part only
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Sequence

import numpy as np

from benchmarks.search_problems import MORE_PROBLEMS, PROBLEMS


QUALITY_PROBLEMS = ("rosenbrock4", "hartmann6", "conditional")
"""The search benchmark's problems but sgd_digits: one of its fits takes about a second here,
and four arms of 300 trials over 20 seeds would take hours (``--problems sgd_digits`` runs
it)."""


def mean_se(values: Sequence[float]) -> tuple:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def recorded_search(trials: int, folder: str) -> str:
    """A finished, tracked search of ``trials`` no-op trials (actors on a local Spark session:
    their tracking is batched on the writer's threads, so 20,000 trials take minutes, not an
    hour); its parent run id."""
    import mlflow
    from hyperopt import hp, rand

    import hyperspark

    mlflow.set_experiment(f"continue-benchmark-{trials}")
    space = {"x": hp.uniform("x", -5, 5), "y": hp.loguniform("y", -7, 0),
             "kind": hp.choice("kind", ["a", "b", "c"]), "n": hp.randint("n", 1, 9)}
    search = hyperspark.SparkTrials(backend="actors", parallelism=8)
    hyperspark.fmin(lambda p: p["x"] ** 2 + p["y"], space, algo=rand.suggest, max_evals=trials,
                    trials=search, show_progressbar=False, rstate=np.random.default_rng(0))
    return search.last_tracker.parent_run_id


def load_times(sizes: Sequence[int], repeats: int) -> List[Dict[str, Any]]:
    import mlflow

    from hyperspark import SparkTrials

    rows = []
    folder = tempfile.mkdtemp(prefix="hyperspark-continue-")
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    for size in sizes:
        began = time.perf_counter()
        run_id = recorded_search(size, folder)
        recorded_s = time.perf_counter() - began
        seconds = []
        for _ in range(repeats):
            began = time.perf_counter()
            loaded = SparkTrials.from_mlflow(run_id, backend="local")
            seconds.append(time.perf_counter() - began)
            assert len(loaded._dynamic_trials) == size, len(loaded._dynamic_trials)
        rows.append({"trials": size, "load_s": mean_se(seconds), "record_s": recorded_s})
    return rows


def continued_best(problem_name: str, seed: int, budget: int, first: int, folder: str) -> float:
    """The best loss of ``first`` trials of hyperspark.tpe (P=1, tracked to MLflow), continued
    from their MLflow run to ``budget`` with a fresh random stream, as a user continues a
    search another day. Its first ``first`` trials are the one-go search's own (same seed)."""
    import dataclasses

    import mlflow

    import hyperspark
    from benchmarks.search_runs import Objective

    problem = dataclasses.replace({**PROBLEMS, **MORE_PROBLEMS}[problem_name], budget=budget)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow-{os.getpid()}.db")  # one per process
    mlflow.set_experiment(f"quality-{problem_name}-{seed}")

    def run(trials: Any, max_evals: int, rstate_seed: int) -> None:
        hyperspark.fmin(Objective(problem, seed, False), problem.space,
                        algo=hyperspark.tpe.suggest, max_evals=max_evals, trials=trials,
                        show_progressbar=False, rstate=np.random.default_rng(rstate_seed))

    first_part = hyperspark.SparkTrials(backend="local", parallelism=1)
    run(first_part, first, seed)
    continued = hyperspark.SparkTrials.from_mlflow(first_part.last_tracker.parent_run_id,
                                                   backend="local", parallelism=1,
                                                   mlflow_tracking=False)
    run(continued, budget, seed + 10_000)
    assert continued.count_total_trials() == budget, continued.count_total_trials()
    return continued.best_trial["result"]["loss"]


def exact(problem_name: str, seed: int, budget: int, first: int, folder: str) -> bool:
    """Whether a reproducible search of ``budget`` trials in one go and one of ``first``
    trials continued from MLflow to ``budget`` are the same trials (suggestion k depends only
    on the seed, k and the history: they are, when the history comes back exactly)."""
    import mlflow

    import hyperspark

    problem = {**PROBLEMS, **MORE_PROBLEMS}[problem_name]

    def run(trials: Any, max_evals: int) -> Any:
        hyperspark.fmin(problem.loss, problem.space, algo=hyperspark.tpe.suggest,
                        max_evals=max_evals, trials=trials, show_progressbar=False,
                        rstate=np.random.default_rng(seed))
        return {d["tid"]: d["misc"]["vals"] for d in trials._dynamic_trials}

    one_go = run(hyperspark.SparkTrials(backend="local", parallelism=1, reproducible=True,
                                        mlflow_tracking=False), budget)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow-{os.getpid()}.db")
    mlflow.set_experiment(f"exact-{problem_name}-{seed}")
    first_part = hyperspark.SparkTrials(backend="local", parallelism=1, reproducible=True)
    run(first_part, first)
    continued = hyperspark.SparkTrials.from_mlflow(first_part.last_tracker.parent_run_id,
                                                   backend="local", parallelism=1,
                                                   reproducible=True, mlflow_tracking=False)
    return run(continued, budget) == one_go


def _exact_task(task: tuple) -> bool:
    return exact(*task)


def _quality_task(task: tuple) -> Dict[str, Any]:
    """One (problem, seed): the best loss of random search, of hyperopt's serial TPE (the
    search benchmark's two references), of hyperspark.tpe in one go, and continued."""
    import logging

    from benchmarks.search import run_one

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    problem, seed, budget, folder = task
    best = {method: min(run_one(problem, method, 1, seed, budget)["losses"])
            for method in ("random", "hyperopt-tpe", "hyperspark-tpe")}
    best["continued"] = continued_best(problem, seed, budget, budget // 2, folder)
    return {"problem": problem, "seed": seed, **best}


def quality(problems: Sequence[str], seeds: int, budget: int, jobs: int = 1,
            exact_seeds: int = 0) -> Dict[str, Any]:
    """Scores as the search benchmark gives them (0 = the median of random search, 1 = the
    median of hyperopt's serial TPE, per problem), for hyperspark.tpe in one go and continued;
    mean and standard error over every (problem, seed), overall and per problem."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from benchmarks.search import _init_worker, score

    folder = tempfile.mkdtemp(prefix="hyperspark-continue-quality-")
    tasks = [(name, seed, budget, folder) for seed in range(seeds) for name in problems]
    checks = [(name, seed, budget, budget // 2, folder) for seed in range(exact_seeds)
              for name in problems]
    # every run in a process of its own: each sets its own MLflow store, not the caller's
    with ProcessPoolExecutor(jobs, initializer=_init_worker) as pool:
        rows = list(tqdm(pool.map(_quality_task, tasks, chunksize=1), total=len(tasks),
                         desc="continue: quality", unit="run"))
        same = list(pool.map(_exact_task, checks, chunksize=1))
    for name in problems:
        mine = [r for r in rows if r["problem"] == name]
        ref = {"random": statistics.median(r["random"] for r in mine),
               "tpe": statistics.median(r["hyperopt-tpe"] for r in mine)}
        for r in mine:
            r["score_one_go"] = score(r["hyperspark-tpe"], ref)
            r["score_continued"] = score(r["continued"], ref)

    def cell(subset: List[Dict[str, Any]]) -> Dict[str, Any]:
        return {"one_go": mean_se([r["score_one_go"] for r in subset]),
                "continued": mean_se([r["score_continued"] for r in subset]),
                "diff": mean_se([r["score_continued"] - r["score_one_go"] for r in subset]),
                "n": len(subset)}

    exact_rows = {name: [ok for (check, ok) in zip(checks, same) if check[0] == name]
                  for name in problems}
    return {"overall": cell(rows),
            "problems": {name: {**cell([r for r in rows if r["problem"] == name]),
                                "exact": (sum(exact_rows[name]), len(exact_rows[name]))}
                         for name in problems},
            "runs": rows}


def within_one_se(cell: Dict[str, Any]) -> bool:
    """The continued search scores within one standard error of the one-go search, or above
    it (a higher score is better). The standard error is the paired difference's: both arms
    run the same (problem, seed), so that is the comparison's own error."""
    return cell["diff"][0] >= -cell["diff"][1]


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks continue",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 20000],
                        help="finished trials to load (none: skip the load times)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--problems", nargs="*", default=list(QUALITY_PROBLEMS),
                        choices=sorted({**PROBLEMS, **MORE_PROBLEMS}),
                        help="the search benchmark's problems (none: skip the quality part)")
    parser.add_argument("--seeds", type=int, default=20, help="the search benchmark's default")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="(problem, seed) runs at once, one process each")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--exact-seeds", type=int, default=3,
                        help="seeds on which reproducible mode checks that the continued "
                             "search is the search in one go, trial for trial")
    args = parser.parse_args(list(argv))
    if args.problems and args.seeds < 2:
        parser.error(f"--seeds must be >= 2 (a standard error needs two), got {args.seeds}")
    if args.problems and args.budget < 4:
        parser.error(f"--budget must be >= 4 (two halves of two trials), got {args.budget}")
    os.environ.setdefault("HYPERSPARK_QUIET", "1")
    import logging

    import mlflow  # noqa: F401  (it sets its loggers' levels when imported: first)

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if args.sizes:
        print("| finished trials | load with SparkTrials.from_mlflow | recording the search |")
        print("|---|---|---|")
        for row in load_times(args.sizes, args.repeats):
            print(f"| {row['trials']:,} | {row['load_s'][0]:.2f} ± {row['load_s'][1]:.2f} s | "
                  f"{row['record_s']:.0f} s |", flush=True)
    if not args.problems:
        return 0
    result = quality(args.problems, args.seeds, args.budget, args.jobs, args.exact_seeds)
    if args.json:
        import json

        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    half = args.budget // 2
    print(f"\nScore (0 = random search's median, 1 = hyperopt serial TPE's, per problem), "
          f"mean ± standard error; hyperspark.tpe at P=1, {args.budget} trials in one go "
          f"against {half} then {args.budget - half} more continued from MLflow:\n")
    print("| problems x seeds | in one go | continued from MLflow | continued - one go "
          "(paired) | within one SE | reproducible: the same trials |")
    print("|---|---|---|---|---|---|")
    rows = [(f"{name} x {cell['n']}", cell) for name, cell in result["problems"].items()]
    rows.append((f"**all: {len(args.problems)} x {args.seeds}**", result["overall"]))
    for label, cell in rows:
        same = cell.get("exact")
        print(f"| {label} | {cell['one_go'][0]:.2f} ± {cell['one_go'][1]:.2f} | "
              f"{cell['continued'][0]:.2f} ± {cell['continued'][1]:.2f} | "
              f"{cell['diff'][0]:+.3f} ± {cell['diff'][1]:.3f} | "
              f"{'yes' if within_one_se(cell) else 'NO'} | "
              f"{f'{same[0]} of {same[1]} seeds' if same else ''} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
