"""Search quality against parallelism: ``python -m benchmarks search``.

Side by side in one run, on the problems of ``benchmarks/search_problems.py``, at each
parallelism P and over many seeds:

- ``random``: hyperopt's ``rand.suggest`` (its quality does not depend on P);
- ``hyperopt-tpe-finished``: hyperopt's ``tpe.suggest`` shown finished trials only, with one
  point queued ahead: what hyperspark did before the algorithm saw running trials;
- ``hyperopt-tpe``: hyperopt's ``tpe.suggest`` shown every trial, running ones included, as
  hyperopt's own loop shows them (at P=1: hyperopt's own serial ``fmin``);
- ``optuna``: Optuna's default ``TPESampler`` (multivariate, constant liar), the same problem
  written as Optuna calls, run by ``study.optimize(n_jobs=P)``;
- ``optuna-gp``: Optuna's ``GPSampler`` the same way. It needs PyTorch, which this project never
  installs: it runs in the Python given by ``--optuna-python`` (see ``benchmarks/gp_speed.py``);
- ``hyperspark-tpe``: ``hyperspark.tpe.suggest`` in hyperspark's loop (``backend="local"``);
- ``hyperspark-gp`` and ``hyperspark-auto``: ``hyperspark.gp.suggest`` and
  ``hyperspark.auto.suggest``, the same way;
- ``hyperspark-tpe-reproducible`` (when asked): the same with ``reproducible=True``.

At P > 1 every objective first sleeps a random 10-50 ms, so trials finish out of order, as on
a cluster (the SGD problem's fits vary by themselves too). Each run's best loss is
scored per problem so that 0 is the median of random search and 1 the median of hyperopt's
serial TPE (P=1); above 1 beats serial TPE. The table gives mean ± standard error over every
(problem, seed); a PNG shows the median best-so-far score against trials, one row per P.

The two grids of the GP issue (``--suite``), each scored per problem, with the standard error:

- ``synthetic``: Branin, Rosenbrock, Hartmann, Styblinski-Tang, Ackley, six categoricals and
  a conditional space; P 1, 8 and 32; 16 seeds; 200 trials; log10 regret (where the optimum
  is known) and the 2020 challenge's score, each read after 100 and 200 trials;
- ``tuning``: seven scikit-learn models on its bundled datasets (``tuning_problems.py``);
  P 1 and 8; 8 seeds; 128 evaluations; the 2020 challenge's score.

    python -m benchmarks search                       # the first score's run (half an hour)
    python -m benchmarks search --quick               # two problems, 4 seeds, P 1 and 16
    python -m benchmarks search --suite tuning --optuna-python /opt/optuna-gp/bin/python
    python -m benchmarks search --suite synthetic --quick --methods random hyperspark-gp
    python -m benchmarks search --methods hyperspark-tpe optuna --parallelism 16 --seeds 10
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Optional, Sequence

from benchmarks.search_problems import PROBLEMS
from benchmarks.search_runs import (ALL_PROBLEMS, OPTUNA_PYTHON_ENV,  # noqa: F401
                                    Objective, _check_variant, _has_torch, run_one)
from benchmarks.search_scores import (METHODS, by_problem_markdown,  # noqa: F401
                                      challenge_table, markdown, plot, references,
                                      regret_markdown, regret_table, score, table,
                                      versus_markdown)
from benchmarks.tuning_problems import TUNING_PROBLEMS

DEFAULT_METHODS = tuple(m for m in METHODS if m not in ("optuna-gp",
                                                         "hyperspark-tpe-reproducible"))
"""``optuna-gp`` (it needs PyTorch: ``--optuna-python``) and ``hyperspark-tpe-reproducible``
run when asked (``--methods``)."""
def _init_worker() -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # one BLAS thread per worker process: the runs are the parallelism
    except ImportError:
        pass


def run_all(problems: Sequence[str], methods: Sequence[str], parallelisms: Sequence[int],
            seeds: Sequence[int], jobs: int, progress: bool = True,
            budget: Optional[int] = None,
            jsonl: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every (problem, method, P, seed), random search and serial TPE once per seed (P=1).
    ``budget`` replaces the problems' own numbers of trials (for short checks). ``jsonl``: a
    file that gets each result as one JSON line as it comes; the runs already in it are not
    run again (a long grid resumes where it stopped)."""
    tasks = []
    for seed in seeds:
        for problem in problems:
            tasks.append((problem, "random", 1, seed, budget))
            tasks.append((problem, "hyperopt-tpe", 1, seed, budget))  # the reference
            for parallelism in parallelisms:
                for method in methods:
                    if method == "random" or (method == "hyperopt-tpe" and parallelism == 1):
                        continue
                    tasks.append((problem, method, parallelism, seed, budget))
    results: List[Dict[str, Any]] = []
    sink = None
    if jsonl:
        done = _read_jsonl(jsonl)
        keys = {_key(r) for r in done}
        results.extend(r for r in done if _key(r) in {_key(t) for t in tasks})
        tasks = [t for t in tasks if _key(t) not in keys]
        sink = open(jsonl, "a")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="search quality", unit="run")
    def keep(result: Dict[str, Any]) -> None:
        results.append(result)
        if sink is not None:
            sink.write(json.dumps({**result, "budget": budget}) + "\n")
            sink.flush()
        if bar:
            bar.update(1)

    try:
        if jobs <= 1:
            for task in tasks:
                keep(run_one(*task))
        else:
            with ProcessPoolExecutor(jobs, initializer=_init_worker) as pool:
                for result in pool.map(_star, tasks, chunksize=1):
                    keep(result)
    finally:
        if bar:
            bar.close()
        if sink is not None:
            sink.close()
    return results


def _key(run: Any) -> tuple:
    """What names one run: (problem, method, P, seed, budget), from a task or a result."""
    if isinstance(run, tuple):
        return run
    return (run["problem"], run["method"], run["parallelism"], run["seed"], run.get("budget"))


def _read_jsonl(path: str) -> List[Dict[str, Any]]:
    """The results already in ``path`` (none when it does not exist); a line cut short by a
    stop mid-write is skipped."""
    if not os.path.exists(path):
        return []
    found = []
    with open(path) as handle:
        for line in handle:
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def _star(task: tuple) -> Dict[str, Any]:
    return run_one(*task)


# ---------------------------------------------------------------------- command line
SUITES = {
    "synthetic": {"problems": ["branin", "rosenbrock4", "hartmann6", "styblinski8", "ackley10",
                               "mixed_cat", "conditional"],
                  "parallelism": [1, 8, 32], "seeds": 16, "budget": 200, "score_at": [100, 200]},
    "tuning": {"problems": list(TUNING_PROBLEMS), "parallelism": [1, 8], "seeds": 8,
               "budget": None, "score_at": [32, 128]},
}
"""The two grids of issue 35: synthetic problems with a known optimum (and one conditional
space) scored by regret, and real scikit-learn tuning scored as the 2020 challenge scored."""
SUITE_METHODS = ["random", "optuna", "optuna-gp", "hyperspark-tpe", "hyperspark-gp",
                 "hyperspark-auto"]
"""With a suite, hyperopt's TPE runs at P=1 only (the first score's reference)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=list(SUITES), default=None,
                        help="a whole grid: its problems, P, seeds, budget and the trial counts "
                             "its scores are read at; the options below still override them")
    parser.add_argument("--problems", nargs="+", default=None, choices=list(ALL_PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"of {', '.join(METHODS)}; or hyperspark-tpe:key=value,... for a "
                             "variant of hyperspark.tpe.suggest's keywords; or "
                             "hyperspark-tpe-reproducible-Nx[:key=value,...] for "
                             "reproducible=True with lag N x P")
    parser.add_argument("--parallelism", nargs="+", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None,
                        help="trials per search instead of each problem's own (100-150)")
    parser.add_argument("--score-at", nargs="+", type=int, default=None,
                        help="also read the regret and challenge scores at these trial counts")
    parser.add_argument("--optuna-python", default=None,
                        help="the Python of an environment with PyTorch and Optuna, where "
                             "optuna-gp runs (Optuna's GPSampler needs PyTorch, which this "
                             "project never installs)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="searches run at once, in separate processes")
    parser.add_argument("--out", default="benchmarks/results/search",
                        help="folder for search.json, search.md and search.png")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: two problems, 2-4 seeds, fewer P (and with a suite, "
                             "40 trials)")
    parser.add_argument("--jsonl", default=None,
                        help="a file that gets each run as one JSON line as it finishes; "
                             "runs already in it are not run again (default: "
                             "OUT/search.jsonl)")
    return parser


def _settle(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill what was not given: from the suite, else the first score's defaults; check it."""
    suite = SUITES.get(args.suite or "", {})
    default = {"problems": list(PROBLEMS), "parallelism": [1, 4, 16, 64], "seeds": 20,
               "budget": None, "score_at": []}
    for key in ("problems", "parallelism", "seeds", "budget", "score_at"):
        if getattr(args, key) is None:
            setattr(args, key, suite.get(key, default[key]))
    if args.methods is None:
        args.methods = list(SUITE_METHODS if suite else DEFAULT_METHODS)
    if args.quick:
        args.problems = args.problems[:2] if suite else ["rosenbrock4", "conditional"]
        args.seeds = 2 if suite else 4
        args.parallelism = args.parallelism[:2] if suite else [1, 16]
        if suite:
            args.budget, args.score_at = 40, [20, 40]
    if args.seeds < 2:
        parser.error(f"--seeds must be >= 2 (a standard error needs two), got {args.seeds}")
    if any(p < 1 for p in args.parallelism):
        parser.error(f"--parallelism: every value must be >= 1, got {args.parallelism}")
    if args.budget is not None and args.budget < 12:
        parser.error(f"--budget must be >= 12 (the random start is 10), got {args.budget}")
    for method in args.methods:
        if method not in METHODS and not method.startswith(("hyperspark-tpe:",
                                                            "hyperspark-tpe-reproducible-")):
            parser.error(f"--methods: {method!r} is not one of {', '.join(METHODS)} "
                         "(or hyperspark-tpe:key=value,..., "
                         "or hyperspark-tpe-reproducible-Nx[:key=value,...])")
        if ":" in method:
            _check_variant(parser, method)
    if "optuna-gp" in args.methods and not _has_torch():
        if not args.optuna_python or not os.path.exists(args.optuna_python):
            parser.error("--methods optuna-gp: Optuna's GPSampler needs PyTorch, which this "
                         "Python lacks; give --optuna-python PATH (the python of an "
                         f"environment with torch and optuna), got {args.optuna_python!r}")
        os.environ[OPTUNA_PYTHON_ENV] = args.optuna_python


def report(results: List[Dict[str, Any]], args: argparse.Namespace) -> str:
    """Every score of ``results`` as markdown: the first score, the regret (where the optimum
    is known) and the challenge score, each at the budget and at ``--score-at``; then
    hyperspark.auto and hyperspark.gp against the better of Optuna's two samplers."""
    ps = args.parallelism
    parts = ["score: 0 = median of random search, 1 = median of hyperopt's serial TPE\n\n"
             + markdown(table(results), ps)]
    for at in [*args.score_at, None]:
        label = f"after {at} trials" if at else "at the end"
        regrets = regret_table(results, at=at)
        if regrets:
            parts.append(f"### log10 regret, {label}\n\n"
                         + by_problem_markdown(regrets, ps, "log10 regret; lower is better"))
            for mine in ("hyperspark-auto", "hyperspark-gp"):
                parts.append(f"How far {mine} is better than the better of Optuna's TPE and "
                             f"GP, in log10 regret {label} (theirs minus its own: positive is "
                             f"better; 'level' within one standard error)\n\n" + versus_markdown(
                                 regrets, mine, ["optuna", "optuna-gp"], ps,
                                 higher_is_better=False))
        challenge = challenge_table(results, at=at)
        parts.append(f"### 2020-challenge score, {label}\n\n"
                     + by_problem_markdown(challenge, ps, "0 = random's mean, 1 = the best "
                                                          "any method found; higher is better"))
        for mine in ("hyperspark-auto", "hyperspark-gp"):
            parts.append(f"{mine} minus the better of Optuna's TPE and GP, challenge score "
                         f"{label} (positive is better)\n\n" + versus_markdown(challenge, mine,
                                                          ["optuna", "optuna-gp"], ps))
    return "\n\n".join(parts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv or []))
    _settle(parser, args)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    began = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    jsonl = args.jsonl or os.path.join(args.out, "search.jsonl")
    already = len(_read_jsonl(jsonl))
    if already:
        print(f"resuming: {already} runs already in {jsonl}", flush=True)
    results = run_all(args.problems, args.methods, args.parallelism, seeds, args.jobs,
                      budget=args.budget, jsonl=jsonl)
    text = report(results, args)
    with open(os.path.join(args.out, "search.json"), "w") as handle:
        json.dump({"args": vars(args), "results": results, "cells": table(results)}, handle)
    with open(os.path.join(args.out, "search.md"), "w") as handle:
        handle.write(text + "\n")
    plot(results, args.parallelism, os.path.join(args.out, "search.png"))
    print(f"\n{len(args.problems)} problems x {args.seeds} seeds, mean ± standard error "
          f"({time.perf_counter() - began:.0f} s)\n")
    print(text)
    print(f"\noutputs: {args.out}/search.json, search.md, search.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
