"""Scores of the search benchmark's runs (``benchmarks/search.py``), and their tables.

Three scores, each a mean with its standard error over seeds:

- ``table``: 0 is random search's median best, 1 hyperopt's serial TPE's (the first score,
  kept for the history of docs/search-quality.md);
- ``regret_table``: log10 of the best found minus the optimum, where the optimum is known
  (lower is better; it tells "close" from "at the optimum");
- ``challenge_table``: as the 2020 black-box optimisation challenge scored, per problem 0 is
  random search's mean best and 1 the best that any method found in the same results.

``versus_markdown`` sets one method against the better of others, per problem, with the
standard error of the difference (the two errors added in quadrature).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from benchmarks.search_problems import MORE_PROBLEMS, PROBLEMS

Results = List[Dict[str, Any]]
ByProblem = Dict[str, Dict[str, Dict[int, Dict[str, float]]]]
"""problem -> method -> P -> {"mean", "se", "n"}."""


METHODS = ("random", "hyperopt-tpe-finished", "hyperopt-tpe", "optuna", "optuna-gp",
           "hyperspark-tpe", "hyperspark-gp", "hyperspark-auto", "hyperspark-tpe-reproducible")
"""Every method the benchmark runs, in the order the tables show them."""


def _order(methods: Any) -> List[str]:
    return [m for m in METHODS if m in methods] + sorted(m for m in methods if m not in METHODS)


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
        for method in _order(methods):
            row = []
            for p in parallelisms:
                cell = methods[method].get(p) or (methods[method].get(1)
                                                  if method == "random" else None)
                row.append(f"{cell['mean']:.2f} ± {cell['se']:.2f}" if cell else "")
            lines.append(f"| {method} | " + " | ".join(row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def markdown(cells: Dict[str, Dict[int, Dict[str, float]]], parallelisms: Sequence[int]) -> str:
    order = _order(cells)
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
            for method in _order({r["method"] for r in results}):
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




def challenge_table(results: Results, at: Optional[int] = None) -> ByProblem:
    """problem -> method -> P -> mean, standard error and count of the 2020 challenge's score:
    0 is random search's mean best (at P=1), 1 the best loss that any run of ``results`` found
    on that problem (``at``: the best of each run's first ``at`` trials)."""
    best = {id(r): min(r["losses"][:at] if at else r["losses"]) for r in results if r["losses"]}
    cells: Dict[str, Dict[str, Dict[int, List[float]]]] = {}
    for problem in {r["problem"] for r in results}:
        runs = [r for r in results if r["problem"] == problem and id(r) in best]
        randoms = [best[id(r)] for r in runs if r["method"] == "random"]
        if not randoms:
            continue
        reference, top = statistics.fmean(randoms), min(best[id(r)] for r in runs)
        span = reference - top if reference > top else 1e-12
        for r in runs:
            cells.setdefault(problem, {}).setdefault(r["method"], {}).setdefault(
                r["parallelism"], []).append((reference - best[id(r)]) / span)
    return {problem: {method: {p: _mean_se(v) for p, v in by_p.items()}
                      for method, by_p in methods.items()}
            for problem, methods in cells.items()}


def over_problems(by_problem: ByProblem) -> Dict[str, Dict[int, Dict[str, float]]]:
    """method -> P -> the mean over problems of the per-problem means, with its standard error
    (the per-problem errors added in quadrature, over the number of problems). Random search
    counts at every P at which another method ran. At each P only the problems on which every
    method of that P has a score count, so that the means compare like with like (a grid still
    running has some methods on fewer problems)."""
    cells: Dict[int, Dict[str, Dict[str, Dict[str, float]]]] = {}  # P -> problem -> method
    for problem, methods in by_problem.items():
        ps = {p for by_p in methods.values() for p in by_p}
        for method, by_p in methods.items():
            for p in ps if method == "random" else by_p:
                cell = by_p.get(p) or by_p.get(1)
                if cell:
                    cells.setdefault(p, {}).setdefault(problem, {})[method] = cell
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for p, problems in cells.items():
        present = set().union(*(set(m) for m in problems.values()))
        common = [m for m in problems.values() if set(m) == present]
        for method in present:
            chosen = [m[method] for m in common]
            if chosen:
                out.setdefault(method, {})[p] = {
                    "mean": statistics.fmean(c["mean"] for c in chosen),
                    "se": math.sqrt(sum(c["se"] ** 2 for c in chosen)) / len(chosen),
                    "n": len(chosen)}
    return out


def by_problem_markdown(scores: ByProblem, parallelisms: Sequence[int], what: str) -> str:
    """One table per problem (``what`` names the score), then the mean over problems."""
    parts = []
    for problem in sorted(scores):
        parts.append(f"**{problem}** ({what})\n\n" + markdown(scores[problem], parallelisms))
    means = over_problems(scores)
    counted = sorted({c["n"] for by_p in means.values() for c in by_p.values()})
    parts.append(f"**mean over the problems every method ran** ({what}; "
                 f"{'/'.join(map(str, counted))} of {len(scores)} problems, by P)\n\n"
                 + markdown(means, parallelisms))
    return "\n\n".join(parts)


def versus_markdown(scores: ByProblem, method: str, rivals: Sequence[str],
                    parallelisms: Sequence[int], higher_is_better: bool = True) -> str:
    """``method`` minus the better of ``rivals``, per problem and P, ± the standard error of the
    difference; "at or above" where the difference is at most one error on the wrong side."""
    lines = ["| problem | " + " | ".join(f"P={p}" for p in parallelisms) + " |",
             "|---|" + "---|" * len(parallelisms)]
    sign = 1.0 if higher_is_better else -1.0
    for problem in sorted(scores) + ["(mean over problems)"]:
        methods = scores.get(problem) or over_problems(scores)
        row = []
        for p in parallelisms:
            mine = methods.get(method, {}).get(p)
            theirs = [methods[r][p] for r in rivals if p in methods.get(r, {})]
            if not mine or not theirs:
                row.append("")
                continue
            best = max(theirs, key=lambda c: sign * c["mean"])
            gap = sign * (mine["mean"] - best["mean"])
            se = math.hypot(mine["se"], best["se"])
            verdict = "above" if gap > se else ("level" if gap >= -se else "BELOW")
            row.append(f"{gap:+.2f} ± {se:.2f} {verdict}")
        lines.append(f"| {problem} | " + " | ".join(row) + " |")
    return "\n".join(lines)
