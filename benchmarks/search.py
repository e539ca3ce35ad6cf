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
- ``hyperspark-tpe``: ``hyperspark.tpe.suggest`` in hyperspark's loop (``backend="local"``);
- ``hyperspark-gp`` and ``hyperspark-auto``: ``hyperspark.gp.suggest`` and
  ``hyperspark.auto.suggest``, the same way;
- ``hyperspark-tpe-reproducible`` (when asked): the same with ``reproducible=True``.

At P > 1 every objective first sleeps a random 10-50 ms, so trials finish out of order, as on
a cluster (the SGD problem's fits vary by themselves too). Each run's best loss is
scored per problem so that 0 is the median of random search and 1 the median of hyperopt's
serial TPE (P=1); above 1 beats serial TPE. The table gives mean ± standard error over every
(problem, seed); a PNG shows the median best-so-far score against trials, one row per P.

    python -m benchmarks search                       # the full run (about half an hour)
    python -m benchmarks search --quick               # two problems, 4 seeds, P 1 and 16
    python -m benchmarks search --methods hyperspark-tpe optuna --parallelism 16 --seeds 10
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from benchmarks.search_problems import MORE_PROBLEMS, PROBLEMS, Problem

METHODS = ("random", "hyperopt-tpe-finished", "hyperopt-tpe", "optuna", "hyperspark-tpe",
           "hyperspark-gp", "hyperspark-auto", "hyperspark-tpe-reproducible")
DEFAULT_METHODS = METHODS[:-1]
"""``hyperspark-tpe-reproducible`` runs when asked (``--methods``)."""
SLEEP_S = (0.01, 0.05)


# ---------------------------------------------------------------------- one run
class Objective:
    """The problem's loss, after a random sleep when trials run in parallel; thread-safe."""

    def __init__(self, problem: Problem, seed: int, sleep: bool) -> None:
        self.problem, self.sleep = problem, sleep
        self._rng = np.random.default_rng(seed + 10_000)
        self._lock = threading.Lock()

    def __call__(self, params: Dict[str, Any]) -> float:
        if self.sleep:
            with self._lock:
                pause = float(self._rng.uniform(*SLEEP_S))
            time.sleep(pause)
        return float(self.problem.loss(params))


def _hyperopt_serial(problem: Problem, algo: Callable, seed: int) -> List[float]:
    from hyperopt import Trials, fmin

    trials = Trials()
    fmin(Objective(problem, seed, False), problem.space, algo=algo, max_evals=problem.budget,
         trials=trials, rstate=np.random.default_rng(seed), show_progressbar=False)
    return [doc["result"]["loss"] for doc in trials.trials]


def _hyperspark_loop(problem: Problem, algo: Callable, seed: int, parallelism: int,
                     max_queue_len: int = 1, reproducible: bool = False,
                     lag: Optional[int] = None) -> List[float]:
    from hyperspark import SparkTrials, fmin
    from hyperspark.hyperopt_internals import all_docs
    from hyperspark.record import TrialRecord

    trials = SparkTrials(backend="local", parallelism=parallelism, mlflow_tracking=False,
                         reproducible=reproducible, lag=lag)
    fmin(Objective(problem, seed, parallelism > 1), problem.space, algo=algo,
         max_evals=problem.budget, trials=trials, rstate=np.random.default_rng(seed),
         max_queue_len=max_queue_len, show_progressbar=False)
    records = sorted((TrialRecord.from_doc(d) for d in all_docs(trials)),
                     key=lambda r: r.recorded or 0)
    return [r.loss for r in records if r.loss is not None]


def _variant(method: str) -> tuple:
    """``name[:key=value,...]`` -> (name, hyperspark.tpe.suggest with those options)."""
    import hyperspark.tpe

    name, _, spec = method.partition(":")
    options = {k: _parse(v) for k, v in (item.split("=") for item in spec.split(",") if item)}
    return name, functools.partial(hyperspark.tpe.suggest, **options)


def _check_variant(parser: argparse.ArgumentParser, method: str) -> None:
    """Refuse a variant's options up front, by name, rather than in a worker mid-run."""
    import hyperspark.tpe
    from hyperspark.errors import InvalidArgument

    try:
        _, algo = _variant(method)
    except ValueError:
        parser.error(f"--methods: {method!r}: options are key=value, separated by commas")
    unknown = set(algo.keywords) - set(hyperspark.tpe.DEFAULTS)
    if unknown:
        parser.error(f"--methods: {method!r}: {', '.join(sorted(unknown))} is not one of "
                     f"hyperspark.tpe's options ({', '.join(hyperspark.tpe.DEFAULTS)})")
    from hyperopt import Domain, Trials, hp

    try:  # one suggestion on a throwaway space: hyperspark.tpe checks its own options
        algo([0], Domain(lambda params: 0.0, {"x": hp.uniform("x", 0, 1)}), Trials(), 0)
    except (InvalidArgument, TypeError) as error:
        parser.error(f"--methods: {method!r}: {error}")


def _finished_only(algo: Callable) -> Callable:
    """``algo`` shown the finished trials only (hyperspark's view before the parity fix)."""
    from hyperopt import base

    from hyperspark import hyperopt_internals as internals

    def suggest(new_ids: Any, domain: Any, trials: Any, seed: int) -> Any:
        done = [d for d in trials.trials if d["state"] == base.JOB_STATE_DONE]
        return algo(new_ids, domain, internals.finished_view(done, trials), seed)

    return suggest


def _optuna(problem: Problem, seed: int, parallelism: int) -> List[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = Objective(problem, seed, parallelism > 1)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda trial: objective(problem.optuna_params(trial)),
                   n_trials=problem.budget, n_jobs=parallelism)
    done = [t for t in study.trials if t.value is not None]
    done.sort(key=lambda t: t.datetime_complete)
    return [t.value for t in done]


def run_one(problem_name: str, method: str, parallelism: int, seed: int,
            budget: Optional[int] = None) -> Dict[str, Any]:
    """One search; returns its losses in the order they arrived, and its wall time."""
    import dataclasses

    from hyperopt import rand, tpe

    import hyperspark.tpe

    problem = {**PROBLEMS, **MORE_PROBLEMS}[problem_name]
    if budget is not None:
        problem = dataclasses.replace(problem, budget=budget)
    began = time.perf_counter()
    if method == "random":
        losses = _hyperopt_serial(problem, rand.suggest, seed)
    elif method == "hyperopt-tpe" and parallelism == 1:
        losses = _hyperopt_serial(problem, tpe.suggest, seed)
    elif method == "hyperopt-tpe":
        losses = _hyperspark_loop(problem, tpe.suggest, seed, parallelism)
    elif method == "hyperopt-tpe-finished":
        losses = _hyperspark_loop(problem, _finished_only(tpe.suggest), seed, parallelism, 2)
    elif method == "optuna":
        losses = _optuna(problem, seed, parallelism)
    elif method == "hyperspark-tpe":
        losses = _hyperspark_loop(problem, hyperspark.tpe.suggest, seed, parallelism)
    elif method == "hyperspark-gp":
        import hyperspark.gp

        losses = _hyperspark_loop(problem, hyperspark.gp.suggest, seed, parallelism)
    elif method == "hyperspark-auto":
        import hyperspark.auto

        losses = _hyperspark_loop(problem, hyperspark.auto.suggest, seed, parallelism)
    elif method.startswith("hyperspark-tpe-reproducible"):
        # -reproducible[-Nx][:key=value,...]: lag N x P, and hyperspark.tpe's options
        name, algo = _variant(method)
        factor = name.rsplit("-", 1)[1] if name.endswith("x") else None
        lag = int(float(factor[:-1]) * parallelism) if factor else None
        losses = _hyperspark_loop(problem, algo, seed, parallelism, reproducible=True, lag=lag)
    elif method.startswith("hyperspark-tpe:"):  # a variant: hyperspark-tpe:key=value,...
        losses = _hyperspark_loop(problem, _variant(method)[1], seed, parallelism)
    else:
        raise ValueError(f"unknown method {method!r}; one of {METHODS}")
    return {"problem": problem_name, "method": method, "parallelism": parallelism, "seed": seed,
            "losses": losses, "wall_s": time.perf_counter() - began}


def _parse(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


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


# ---------------------------------------------------------------------- scores
def references(results: List[Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    """Per problem: the median best loss of random search and of serial hyperopt TPE."""
    refs: Dict[str, Dict[str, float]] = {}
    for problem in {r["problem"] for r in results}:
        best = {m: [min(r["losses"]) for r in results if r["problem"] == problem
                    and r["method"] == m and r["parallelism"] == 1] for m in ("random",
                                                                             "hyperopt-tpe")}
        refs[problem] = {"random": statistics.median(best["random"]),
                         "tpe": statistics.median(best["hyperopt-tpe"])}
    return refs


def score(loss: float, ref: Dict[str, float]) -> float:
    span = ref["random"] - ref["tpe"]
    if span <= 0:
        span = abs(ref["random"]) * 1e-6 or 1e-9
    return (ref["random"] - loss) / span


def table(results: List[Dict[str, Any]]) -> Dict[str, Dict[int, Dict[str, float]]]:
    """method -> P -> mean, standard error and count of the scores."""
    refs = references(results)
    cells: Dict[str, Dict[int, List[float]]] = {}
    for r in results:
        cells.setdefault(r["method"], {}).setdefault(r["parallelism"], []).append(
            score(min(r["losses"]), refs[r["problem"]]))
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for method, by_p in cells.items():
        for parallelism, scores in by_p.items():
            mean = statistics.fmean(scores)
            se = statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0
            out.setdefault(method, {})[parallelism] = {"mean": mean, "se": se, "n": len(scores)}
    return out


def regret_table(results: List[Dict[str, Any]],
                 at: Optional[int] = None) -> Dict[str, Dict[str, Dict[int, Dict[str, float]]]]:
    """problem -> method -> P -> mean, standard error and count of log10(best - optimum),
    for the problems whose optimum is known (``at``: the best of the first ``at`` trials).
    Lower is better: -2 is a hundredth above the optimum. A regret under 1e-12 counts as
    1e-12, so a run at the optimum scores -12 rather than minus infinity."""
    known = {name: p.optimum for name, p in {**PROBLEMS, **MORE_PROBLEMS}.items()
             if p.optimum is not None}
    cells: Dict[str, Dict[str, Dict[int, List[float]]]] = {}
    for r in results:
        if r["problem"] not in known or not r["losses"]:
            continue
        best = min(r["losses"][:at] if at else r["losses"])
        regret = math.log10(max(best - known[r["problem"]], 1e-12))
        cells.setdefault(r["problem"], {}).setdefault(r["method"], {}).setdefault(
            r["parallelism"], []).append(regret)
    return {problem: {method: {p: _mean_se(values) for p, values in by_p.items()}
                      for method, by_p in methods.items()}
            for problem, methods in cells.items()}


def _mean_se(values: List[float]) -> Dict[str, float]:
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "se": se, "n": len(values)}


def regret_markdown(regrets: Dict[str, Dict[str, Dict[int, Dict[str, float]]]],
                    parallelisms: Sequence[int]) -> str:
    """One table per problem: log10 regret, mean ± standard error, per method and P."""
    parts = []
    for problem in sorted(regrets):
        methods = regrets[problem]
        lines = [f"**{problem}** (log10 of best minus optimum; lower is better)", "",
                 "| method | " + " | ".join(f"P={p}" for p in parallelisms) + " |",
                 "|---|" + "---|" * len(parallelisms)]
        for method in [m for m in METHODS if m in methods] + sorted(
                m for m in methods if m not in METHODS):
            row = []
            for p in parallelisms:
                cell = methods[method].get(p) or (methods[method].get(1)
                                                  if method == "random" else None)
                row.append(f"{cell['mean']:.2f} ± {cell['se']:.2f}" if cell else "")
            lines.append(f"| {method} | " + " | ".join(row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def markdown(cells: Dict[str, Dict[int, Dict[str, float]]], parallelisms: Sequence[int]) -> str:
    order = [m for m in METHODS if m in cells] + sorted(m for m in cells if m not in METHODS)
    head = "| method | " + " | ".join(f"P={p}" for p in parallelisms) + " |"
    lines = [head, "|---|" + "---|" * len(parallelisms)]
    for method in order:
        row = []
        for parallelism in parallelisms:
            cell = cells[method].get(parallelism) or (cells[method].get(1) if method == "random"
                                                     else None)
            row.append(f"{cell['mean']:.2f} ± {cell['se']:.2f}" if cell else "")
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(results: List[Dict[str, Any]], parallelisms: Sequence[int], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    refs = references(results)
    problems = sorted(refs)
    figure, axes = plt.subplots(len(parallelisms), len(problems), squeeze=False,
                                figsize=(3.6 * len(problems), 2.8 * len(parallelisms)))
    for row, parallelism in enumerate(parallelisms):
        for column, problem in enumerate(problems):
            axis = axes[row][column]
            for method in METHODS + tuple(sorted({r["method"] for r in results} - set(METHODS))):
                runs = [r for r in results if r["problem"] == problem and r["method"] == method
                        and r["parallelism"] == (1 if method == "random" else parallelism)]
                if method == "hyperopt-tpe" and parallelism == 1:
                    runs = [r for r in results if r["problem"] == problem
                            and r["method"] == method and r["parallelism"] == 1]
                if not runs:
                    continue
                length = min(len(r["losses"]) for r in runs)
                curves = np.array([[score(v, refs[problem]) for v in
                                    np.minimum.accumulate(r["losses"][:length])] for r in runs])
                axis.plot(np.arange(1, length + 1), np.median(curves, axis=0), label=method)
            axis.set_title(f"{problem}, P={parallelism}", fontsize=9)
            axis.set_ylim(-1.0, 2.5)
            axis.axhline(1.0, color="grey", linewidth=0.5)
            axis.set_xlabel("trials finished", fontsize=8)
            axis.set_ylabel("best-so-far score", fontsize=8)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


# ---------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS),
                        choices=[*PROBLEMS, *MORE_PROBLEMS])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help=f"of {', '.join(METHODS)}; or hyperspark-tpe:key=value,... for a "
                             "variant of hyperspark.tpe.suggest's keywords; or "
                             "hyperspark-tpe-reproducible-Nx[:key=value,...] for "
                             "reproducible=True with lag N x P")
    parser.add_argument("--parallelism", nargs="+", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None,
                        help="trials per search instead of each problem's own (100-150)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="searches run at once, in separate processes")
    parser.add_argument("--out", default="benchmarks/results/search",
                        help="folder for search.json, search.md and search.png")
    parser.add_argument("--quick", action="store_true",
                        help="rosenbrock4 and conditional, 4 seeds, P 1 and 16")
    parser.add_argument("--jsonl", default=None,
                        help="a file that gets each run as one JSON line as it finishes; "
                             "runs already in it are not run again (default: "
                             "OUT/search.jsonl)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv or []))
    if args.quick:
        args.problems, args.seeds, args.parallelism = ["rosenbrock4", "conditional"], 4, [1, 16]
    if args.seeds < 2:
        parser.error(f"--seeds must be >= 2 (a standard error needs two), got {args.seeds}")
    if any(p < 1 for p in args.parallelism):
        parser.error(f"--parallelism: every value must be >= 1, got {args.parallelism}")
    for method in args.methods:
        if method not in METHODS and not method.startswith(("hyperspark-tpe:",
                                                            "hyperspark-tpe-reproducible-")):
            parser.error(f"--methods: {method!r} is not one of {', '.join(METHODS)} "
                         "(or hyperspark-tpe:key=value,..., "
                         "or hyperspark-tpe-reproducible-Nx[:key=value,...])")
    for method in args.methods:
        if ":" in method:
            _check_variant(parser, method)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    began = time.perf_counter()
    if args.budget is not None and args.budget < 12:
        parser.error(f"--budget must be >= 12 (the random start is 10), got {args.budget}")
    os.makedirs(args.out, exist_ok=True)
    jsonl = args.jsonl or os.path.join(args.out, "search.jsonl")
    already = len(_read_jsonl(jsonl))
    if already:
        print(f"resuming: {already} runs already in {jsonl}", flush=True)
    results = run_all(args.problems, args.methods, args.parallelism, seeds, args.jobs,
                      budget=args.budget, jsonl=jsonl)
    cells = table(results)
    text = markdown(cells, args.parallelism)
    regrets = regret_table(results)
    if regrets:
        text += "\n\n" + regret_markdown(regrets, args.parallelism)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "search.json"), "w") as handle:
        json.dump({"args": vars(args), "results": results, "cells": cells}, handle)
    with open(os.path.join(args.out, "search.md"), "w") as handle:
        handle.write(text + "\n")
    plot(results, args.parallelism, os.path.join(args.out, "search.png"))
    print(f"\nscore: 0 = median of random search, 1 = median of hyperopt's serial TPE; "
          f"mean ± standard error over {len(args.problems)} problems x {args.seeds} seeds "
          f"({time.perf_counter() - began:.0f} s)\n")
    print(text)
    print(f"\noutputs: {args.out}/search.json, search.md, search.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
