"""Multi-objective search quality: ``python -m benchmarks multiobjective``.

Side by side in one run, each problem at each P over many seeds:

- ``random``: hyperopt's ``rand.suggest`` in hyperspark's loop;
- ``hyperspark-tpe``: ``hyperspark.tpe.suggest`` (non-dominated rank, feasible first), in
  hyperspark's loop on the local backend;
- ``optuna-nsga2``: Optuna's ``NSGAIISampler``;
- ``optuna-motpe``: Optuna's ``TPESampler`` on a study of several directions;

both Optuna samplers with ``constraints_func`` where the problem has constraints, run by
``study.optimize(n_jobs=P)``. At P > 1 every objective first sleeps 10-50 ms, as in
``benchmarks/search.py``.

Score: the hypervolume of the feasible front found, against the problem's fixed reference
point, over the hypervolume of its true front (1 is the true front) where it is known, else
over the best hypervolume any run found. The constrained problem also reports the share of
feasible trials.

Problems:

- ``zdt1`` (6 variables, a convex front f2 = 1 - sqrt(f1)) and ``zdt2`` (a concave front
  f2 = 1 - f1^2), reference (1.1, 1.1);
- ``constr``: Deb's CONSTR, two variables, two constraints, reference (1.1, 10);
- ``tree_breast``: a decision tree on scikit-learn's bundled breast cancer data, its 3-fold
  cross-validated error against log10 of its number of nodes.

    python -m benchmarks multiobjective                        # 4 problems, P 1 and 8, 10 seeds
    python -m benchmarks multiobjective --quick                 # 2 problems, 2 seeds, 40 trials
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from hyperopt import hp

from hyperspark.objectives import hypervolume, non_dominated

METHODS = ("random", "hyperspark-tpe", "optuna-nsga2", "optuna-motpe")
SLEEP_S = (0.01, 0.05)


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: Dict[str, tuple]  # name -> (low, high), or (low, high, "int")
    evaluate: Callable[[Dict[str, float]], tuple]  # params -> (losses, constraints)
    reference: tuple
    true_hypervolume: Optional[float] = None


def _zdt(params: Dict[str, float], concave: bool) -> tuple:
    x = [params[f"x{i}"] for i in range(6)]
    g = 1 + 9 * sum(x[1:]) / 5
    ratio = x[0] / g
    return (x[0], g * (1 - (ratio ** 2 if concave else math.sqrt(ratio)))), ()


def _constr(params: Dict[str, float]) -> tuple:
    x1, x2 = params["x1"], params["x2"]
    return (x1, (1 + x2) / x1), (6 - (x2 + 9 * x1), 1 + x2 - 9 * x1)


_TREE_FOLDS: Any = None
_TREE_LOCK = threading.Lock()


def _tree(params: Dict[str, float]) -> tuple:
    """3-fold error of a decision tree on breast cancer, and log10 of its mean node count."""
    global _TREE_FOLDS
    from sklearn.tree import DecisionTreeClassifier

    with _TREE_LOCK:
        if _TREE_FOLDS is None:
            from sklearn.datasets import load_breast_cancer
            from sklearn.model_selection import StratifiedKFold

            x, y = load_breast_cancer(return_X_y=True)
            folds = StratifiedKFold(3, shuffle=True, random_state=0).split(x, y)
            _TREE_FOLDS = [(x[a], y[a], x[b], y[b]) for a, b in folds]
    errors, nodes = [], []
    for x_train, y_train, x_test, y_test in _TREE_FOLDS:
        model = DecisionTreeClassifier(max_depth=int(params["max_depth"]),
                                       min_samples_leaf=int(params["min_samples_leaf"]),
                                       ccp_alpha=params["ccp_alpha"], random_state=0)
        model.fit(x_train, y_train)
        errors.append(float(np.mean(model.predict(x_test) != y_test)))
        nodes.append(model.tree_.node_count)
    return (float(np.mean(errors)), math.log10(float(np.mean(nodes)))), ()


def _true_hypervolume(front: Callable[[np.ndarray], np.ndarray], reference: tuple) -> float:
    f1 = np.linspace(0, 1, 20001)
    return hypervolume(np.column_stack([f1, front(f1)]), np.array(reference))


ZDT_BOUNDS = {f"x{i}": (0.0, 1.0) for i in range(6)}
PROBLEMS = {p.name: p for p in (
    Problem("zdt1", ZDT_BOUNDS, lambda p: _zdt(p, False), (1.1, 1.1),
            _true_hypervolume(lambda f: 1 - np.sqrt(f), (1.1, 1.1))),
    Problem("zdt2", ZDT_BOUNDS, lambda p: _zdt(p, True), (1.1, 1.1),
            _true_hypervolume(lambda f: 1 - f ** 2, (1.1, 1.1))),
    Problem("constr", {"x1": (0.1, 1.0), "x2": (0.0, 5.0)}, _constr, (1.1, 10.0)),
    Problem("tree_breast", {"max_depth": (1, 12, "int"), "min_samples_leaf": (1, 60, "int"),
                            "ccp_alpha": (0.0, 0.05)}, _tree, (0.5, 2.5)),
)}


# ---------------------------------------------------------------------- one run
class Objective:
    def __init__(self, problem: Problem, seed: int, sleep: bool) -> None:
        self.problem, self.sleep = problem, sleep
        self._rng = np.random.default_rng(seed + 10_000)
        self._lock = threading.Lock()

    def __call__(self, params: Dict[str, float]) -> tuple:
        if self.sleep:
            with self._lock:
                pause = float(self._rng.uniform(*SLEEP_S))
            time.sleep(pause)
        return self.problem.evaluate(params)


def _space(problem: Problem) -> Dict[str, Any]:
    return {name: (hp.quniform(name, b[0], b[1], 1) if len(b) == 3 else
                   hp.uniform(name, b[0], b[1])) for name, b in problem.bounds.items()}


def _hyperspark(problem: Problem, algo: Callable, seed: int, parallelism: int,
                budget: int) -> List[tuple]:
    import hyperspark
    from hyperspark import SparkTrials

    objective = Objective(problem, seed, parallelism > 1)

    def wrapped(params: Dict[str, float]) -> Dict[str, Any]:
        losses, constraints = objective(params)
        result: Dict[str, Any] = {"status": "ok",
                                  "losses": {f"f{i}": v for i, v in enumerate(losses)}}
        if constraints:
            result["constraints"] = {f"c{i}": v for i, v in enumerate(constraints)}
        return result

    trials = SparkTrials(backend="local", parallelism=parallelism, mlflow_tracking=False)
    hyperspark.fmin(wrapped, _space(problem), algo=algo, max_evals=budget, trials=trials,
                    rstate=np.random.default_rng(seed), show_progressbar=False)
    out = []
    for doc in trials.trials:
        result = doc["result"]
        if result.get("status") == "ok":
            out.append((list(result["losses"].values()),
                        list((result.get("constraints") or {}).values())))
    return out


def _optuna(problem: Problem, sampler_name: str, seed: int, parallelism: int,
            budget: int) -> List[tuple]:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    constrained = bool(problem.evaluate({n: b[0] if len(b) == 3 else (b[0] + b[1]) / 2
                                         for n, b in problem.bounds.items()})[1])
    options: Dict[str, Any] = {"seed": seed}
    if constrained:
        options["constraints_func"] = lambda trial: trial.user_attrs["constraints"]
    sampler = (optuna.samplers.NSGAIISampler(**options) if sampler_name == "nsga2"
               else optuna.samplers.TPESampler(**options))
    objective = Objective(problem, seed, parallelism > 1)
    study = optuna.create_study(directions=["minimize"] * len(problem.reference),
                                sampler=sampler)

    def run(trial: Any) -> tuple:
        params = {n: (float(trial.suggest_int(n, b[0], b[1])) if len(b) == 3 else
                      trial.suggest_float(n, b[0], b[1])) for n, b in problem.bounds.items()}
        losses, constraints = objective(params)
        trial.set_user_attr("constraints", list(constraints))
        return tuple(losses)

    study.optimize(run, n_trials=budget, n_jobs=parallelism)
    return [(list(t.values), list(t.user_attrs.get("constraints", [])))
            for t in study.trials if t.values is not None]


def run_one(problem_name: str, method: str, parallelism: int, seed: int,
            budget: int) -> Dict[str, Any]:
    import hyperopt

    import hyperspark.tpe

    problem = PROBLEMS[problem_name]
    began = time.perf_counter()
    if method == "random":
        found = _hyperspark(problem, hyperopt.rand.suggest, seed, parallelism, budget)
    elif method == "hyperspark-tpe":
        found = _hyperspark(problem, hyperspark.tpe.suggest, seed, parallelism, budget)
    elif method in ("optuna-nsga2", "optuna-motpe"):
        found = _optuna(problem, method.split("-")[1], seed, parallelism, budget)
    else:
        raise ValueError(f"unknown method {method!r}; one of {METHODS}")
    return {"problem": problem_name, "method": method, "parallelism": parallelism,
            "seed": seed, "budget": budget, "found": found,
            "wall_s": time.perf_counter() - began}


# ---------------------------------------------------------------------- scores
def front_hypervolume(found: List[tuple], reference: tuple) -> float:
    feasible = np.array([losses for losses, constraints in found
                         if all(c <= 0 for c in constraints)], dtype=float)
    if not len(feasible):
        return 0.0
    front = feasible[non_dominated(feasible)]
    return hypervolume(front, np.array(reference))


def scores(results: List[Dict[str, Any]]) -> Dict[str, Dict[str, Dict[int, Dict[str, float]]]]:
    """problem -> method -> P -> mean, standard error, count of the normalised hypervolume, and
    the mean share of feasible trials."""
    volumes = {id(r): front_hypervolume(r["found"], PROBLEMS[r["problem"]].reference)
               for r in results}
    out: Dict[str, Dict[str, Dict[int, Dict[str, float]]]] = {}
    for name in {r["problem"] for r in results}:
        runs = [r for r in results if r["problem"] == name]
        top = PROBLEMS[name].true_hypervolume or max(volumes[id(r)] for r in runs) or 1.0
        cells: Dict[tuple, List[tuple]] = {}
        for r in runs:
            share = statistics.fmean(all(c <= 0 for c in cons) for _, cons in r["found"]) \
                if r["found"] else 0.0
            cells.setdefault((r["method"], r["parallelism"]), []).append(
                (volumes[id(r)] / top, share))
        for (method, p), values in cells.items():
            normalised = [v for v, _ in values]
            se = (statistics.stdev(normalised) / math.sqrt(len(normalised))
                  if len(normalised) > 1 else 0.0)
            out.setdefault(name, {}).setdefault(method, {})[p] = {
                "mean": statistics.fmean(normalised), "se": se, "n": len(normalised),
                "feasible": statistics.fmean(s for _, s in values)}
    return out


def markdown(table: Dict[str, Dict[str, Dict[int, Dict[str, float]]]],
             parallelisms: Sequence[int]) -> str:
    parts = []
    for name in sorted(table):
        constrained = name == "constr"
        lines = [f"**{name}** (hypervolume / {'the true front' if PROBLEMS[name].true_hypervolume else 'the best found'}"
                 f"{'; share of feasible trials' if constrained else ''})", "",
                 "| method | " + " | ".join(f"P={p}" for p in parallelisms) + " |",
                 "|---|" + "---|" * len(parallelisms)]
        for method in [m for m in METHODS if m in table[name]]:
            row = []
            for p in parallelisms:
                cell = table[name][method].get(p)
                text = f"{cell['mean']:.3f} ± {cell['se']:.3f}" if cell else ""
                if cell and constrained:
                    text += f" ({cell['feasible']:.0%})"
                row.append(text)
            lines.append(f"| {method} | " + " | ".join(row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


# ---------------------------------------------------------------------- command line
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks multiobjective",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--parallelism", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--quick", action="store_true",
                        help="zdt1 and constr, 2 seeds, 40 trials")
    parser.add_argument("--jsonl", default="benchmarks/results/multiobjective.jsonl",
                        help="each run as one JSON line as it finishes; runs already in it "
                             "are not run again")
    args = parser.parse_args(list(argv or []))
    if args.quick:
        args.problems, args.seeds, args.budget = ["zdt1", "constr"], 2, 40
    if args.seeds < 2:
        parser.error(f"--seeds must be >= 2 (a standard error needs two), got {args.seeds}")
    if args.budget < 12 or any(p < 1 for p in args.parallelism):
        parser.error("--budget must be >= 12 and every --parallelism >= 1")
    os.makedirs(os.path.dirname(args.jsonl) or ".", exist_ok=True)
    results = []
    if os.path.exists(args.jsonl):
        with open(args.jsonl) as handle:
            for line in handle:
                try:
                    results.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    done = {(r["problem"], r["method"], r["parallelism"], r["seed"], r["budget"])
            for r in results}
    tasks = [(problem, method, p, seed, args.budget) for seed in range(args.seeds)
             for problem in args.problems for p in args.parallelism for method in args.methods
             if (problem, method, p, seed, args.budget) not in done]
    from tqdm import tqdm

    with open(args.jsonl, "a") as sink:
        for task in tqdm(tasks, desc="multi-objective", unit="run"):
            result = run_one(*task)
            results.append(result)
            sink.write(json.dumps(result) + "\n")
            sink.flush()
    wanted = [r for r in results if r["problem"] in args.problems and r["budget"] == args.budget
              and r["method"] in args.methods and r["parallelism"] in args.parallelism
              and r["seed"] < args.seeds]
    print(markdown(scores(wanted), args.parallelism))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
