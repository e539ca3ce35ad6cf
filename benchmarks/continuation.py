"""Continuing a search from MLflow: ``python -m benchmarks continue``.

- **Load time**: a finished search of 1,000 and of 20,000 trials, recorded in a sqlite MLflow
  store on disk by a real tracked search (actors on local Spark, a no-op objective), read back with
  ``SparkTrials.from_mlflow``; ``--repeats`` loads each, mean and standard error.
- **Quality**: on the search benchmark's problems and seeds, hyperspark.tpe at parallelism 1:
  300 trials in one go, against 150 trials, then 150 more continued from the first 150's
  MLflow run. The best loss of each, paired by (problem, seed); the continued search must be
  within one standard error of the search in one go. Both arms share their first 150 trials
  (the same seed), so they differ only by the second half's random stream; and in
  reproducible mode (suggestion k depends only on the seed, k and the history) the continued
  search must be the search in one go, trial for trial.

    python -m benchmarks continue
    python -m benchmarks continue --sizes 1000 --seeds 5 --problems rosenbrock4
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


def best_loss(problem: Any, seed: int, budget: int, first: int, folder: str) -> tuple:
    """The best loss of ``budget`` trials in one go, and of ``first`` trials continued from
    MLflow to ``budget``."""
    import mlflow

    import hyperspark

    def run(trials: Any, max_evals: int, rstate_seed: int) -> None:
        hyperspark.fmin(problem.loss, problem.space, algo=hyperspark.tpe.suggest,
                        max_evals=max_evals, trials=trials, show_progressbar=False,
                        rstate=np.random.default_rng(rstate_seed))

    one_go = hyperspark.SparkTrials(backend="local", parallelism=1, mlflow_tracking=False)
    run(one_go, budget, seed)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/quality.db")
    mlflow.set_experiment(f"quality-{problem.name}-{seed}")
    first_part = hyperspark.SparkTrials(backend="local", parallelism=1)
    run(first_part, first, seed)
    continued = hyperspark.SparkTrials.from_mlflow(first_part.last_tracker.parent_run_id,
                                                   backend="local", parallelism=1,
                                                   mlflow_tracking=False)
    run(continued, budget, seed + 10_000)
    assert len(continued._dynamic_trials) == budget
    return one_go.best_trial["result"]["loss"], continued.best_trial["result"]["loss"]


def exact(problem: Any, seed: int, budget: int, first: int, folder: str) -> bool:
    """Whether a reproducible search of ``budget`` trials in one go and one of ``first``
    trials continued from MLflow to ``budget`` are the same trials (suggestion k depends only
    on the seed, k and the history: they are, when the history comes back exactly)."""
    import mlflow

    import hyperspark

    def run(trials: Any, max_evals: int) -> Any:
        hyperspark.fmin(problem.loss, problem.space, algo=hyperspark.tpe.suggest,
                        max_evals=max_evals, trials=trials, show_progressbar=False,
                        rstate=np.random.default_rng(seed))
        return {d["tid"]: d["misc"]["vals"] for d in trials._dynamic_trials}

    one_go = run(hyperspark.SparkTrials(backend="local", parallelism=1, reproducible=True,
                                        mlflow_tracking=False), budget)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/quality.db")
    mlflow.set_experiment(f"exact-{problem.name}-{seed}")
    first_part = hyperspark.SparkTrials(backend="local", parallelism=1, reproducible=True)
    run(first_part, first)
    continued = hyperspark.SparkTrials.from_mlflow(first_part.last_tracker.parent_run_id,
                                                   backend="local", parallelism=1,
                                                   reproducible=True, mlflow_tracking=False)
    return run(continued, budget) == one_go


def quality(problems: Sequence[str], seeds: int, budget: int,
            exact_seeds: int = 0) -> List[Dict[str, Any]]:
    folder = tempfile.mkdtemp(prefix="hyperspark-continue-quality-")
    rows = []
    every = {**PROBLEMS, **MORE_PROBLEMS}
    for name in problems:
        pairs = [best_loss(every[name], seed, budget, budget // 2, folder)
                 for seed in range(seeds)]
        one, cont = [p[0] for p in pairs], [p[1] for p in pairs]
        spread = statistics.pstdev(one + cont) or 1.0
        diffs = [(c - o) / spread for o, c in pairs]  # in units of the losses' spread
        same = [exact(every[name], seed, budget, budget // 2, folder)
                for seed in range(exact_seeds)]
        rows.append({"problem": name, "one_go": mean_se(one), "continued": mean_se(cont),
                     "diff": mean_se(diffs), "exact": (sum(same), len(same))})
    return rows


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks continue",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--problems", nargs="+", default=["rosenbrock4", "hartmann6",
                                                         "conditional"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--exact-seeds", type=int, default=3,
                        help="seeds on which reproducible mode checks that the continued "
                             "search is the search in one go, trial for trial")
    args = parser.parse_args(list(argv))
    os.environ.setdefault("HYPERSPARK_QUIET", "1")
    import logging

    import mlflow  # noqa: F401  (it sets its loggers' levels when imported: first)

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    print("| finished trials | load with SparkTrials.from_mlflow | recording the search |")
    print("|---|---|---|")
    for row in load_times(args.sizes, args.repeats):
        print(f"| {row['trials']:,} | {row['load_s'][0]:.2f} ± {row['load_s'][1]:.2f} s | "
              f"{row['record_s']:.0f} s |", flush=True)
    print(f"\n| problem | best loss, {args.budget} in one go | {args.budget // 2} then "
          f"{args.budget - args.budget // 2} more from MLflow | difference (continued - one "
          f"go), in the losses' spread | reproducible: the same {args.budget} trials |")
    print("|---|---|---|---|---|")
    for row in quality(args.problems, args.seeds, args.budget, args.exact_seeds):
        within = abs(row["diff"][0]) <= row["diff"][1]
        print(f"| {row['problem']} | {row['one_go'][0]:.4g} ± {row['one_go'][1]:.2g} | "
              f"{row['continued'][0]:.4g} ± {row['continued'][1]:.2g} | "
              f"{row['diff'][0]:+.3f} ± {row['diff'][1]:.3f} "
              f"({'within' if within else 'NOT within'} one SE) | "
              f"{row['exact'][0]} of {row['exact'][1]} seeds |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
