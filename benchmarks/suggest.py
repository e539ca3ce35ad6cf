"""How fast an algorithm suggests, as a search grows: ``python -m benchmarks suggest``.

1. Time per suggestion with N finished and 64 running trials, on a conditional space of 6
   parameters (a choice between two branches, log-scaled, quantized and plain ones):
   hyperopt's ``tpe.suggest``, Optuna's default ``TPESampler`` (asked for a trial and its
   parameters) and ``hyperspark.tpe.suggest``. Each is timed warm, as in a running search:
   between two suggestions one more trial finishes (median of ``--repeats`` suggestions).
2. Suggestions per second that a whole search sustains: ``hyperspark.fmin`` with
   ``hyperspark.tpe`` on the local backend, a no-op objective, parallelism 64, up to
   ``--search-trials``; the rate is measured over its last 10% of trials.

    python -m benchmarks suggest                       # 1,000 / 5,000 / 20,000 and a 20,000 search
    python -m benchmarks suggest --sizes 1000 --search-trials 2000 --repeats 5   # quick
    python -m benchmarks suggest --losses 2            # hyperspark.tpe ranking two losses
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from hyperopt import base, hp, rand

SPACE = {"kind": hp.choice("kind", [{"a": hp.uniform("a", 0, 1),
                                     "b": hp.loguniform("b", -5, 0)},
                                    {"c": hp.quniform("c", 1, 20, 1)}]),
         "x": hp.uniform("x", -3, 3), "y": hp.loguniform("y", -4, 2)}


def _loss(vals: Dict[str, List[Any]]) -> float:
    x = vals["x"][0]
    return float(x * x + (vals["a"][0] if vals["a"] else 1.0) + math.log(vals["y"][0]) ** 2)


LOSSES = 1
"""``--losses``: with 2 or more, each result carries that many conflicting losses and a
constraint (``hyperspark.objectives``), and only hyperspark.tpe is timed."""


def _result(vals: Dict[str, List[Any]]) -> Dict[str, Any]:
    loss = _loss(vals)
    if LOSSES < 2:
        return {"status": "ok", "loss": loss}
    x = vals["x"][0]
    losses = {"f0": loss, **{f"f{k}": float((x - k) ** 2 + math.log(vals["y"][0]) ** 2 / k)
                             for k in range(1, LOSSES)}}
    return {"status": "ok", "loss": loss, "losses": losses, "constraints": {"c": x - 2.5}}


def _hyperopt_trials(finished: int, running: int, seed: int = 0) -> Any:
    """A Trials with ``finished`` done and ``running`` running trials at random points."""
    from hyperopt import Trials

    from hyperspark import hyperopt_internals as internals

    domain = base.Domain(lambda p: 0.0, SPACE)
    trials = Trials()
    docs = rand.suggest(list(range(finished + running)), domain, trials, seed)
    stored = internals.add_docs(trials, docs)
    for doc in stored[:finished]:
        doc["result"] = _result(doc["misc"]["vals"])
        doc["state"] = base.JOB_STATE_DONE
    for doc in stored[finished:]:
        doc["state"] = base.JOB_STATE_RUNNING
    trials.refresh()
    return trials


def time_hyperopt_style(algo: Callable, finished: int, running: int,
                        repeats: int) -> float:
    """Median seconds per warm suggestion of a hyperopt-style ``algo``."""
    from hyperspark import hyperopt_internals as internals

    trials = _hyperopt_trials(finished, running)
    domain = base.Domain(lambda p: 0.0, SPACE)
    next_tid = finished + running
    algo([next_tid], domain, trials, 0)  # the first call of a search may build state
    times = []
    for repeat in range(repeats):
        oldest_running = next(d for d in internals.all_docs(trials)
                              if d["state"] == base.JOB_STATE_RUNNING)
        oldest_running["result"] = _result(oldest_running["misc"]["vals"])
        oldest_running["state"] = base.JOB_STATE_DONE  # one more finishes
        new = internals.add_docs(trials, algo([next_tid], domain, trials, repeat + 1))
        new[0]["state"] = base.JOB_STATE_RUNNING  # ...and one more starts
        trials.refresh()
        began = time.perf_counter()
        algo([next_tid + 1], domain, trials, repeat + 100)
        times.append(time.perf_counter() - began)
        next_tid += 1
    return statistics.median(times)


def _optuna_params(trial: Any) -> Dict[str, Any]:
    kind = trial.suggest_categorical("kind", [0, 1])
    params = {"x": trial.suggest_float("x", -3, 3),
              "y": trial.suggest_float("y", math.exp(-4), math.exp(2), log=True)}
    if kind == 0:
        params.update(a=trial.suggest_float("a", 0, 1),
                      b=trial.suggest_float("b", math.exp(-5), 1, log=True))
    else:
        params["c"] = trial.suggest_int("c", 1, 20)
    return params


def time_optuna(finished: int, running: int, repeats: int) -> float:
    """Median seconds for Optuna's default TPE to give a trial its parameters."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    rng = np.random.default_rng(0)
    frozen = []
    for _ in range(finished):
        kind = int(rng.integers(2))
        params: Dict[str, Any] = {"kind": kind, "x": float(rng.uniform(-3, 3)),
                                  "y": float(math.exp(rng.uniform(-4, 2)))}
        dists: Dict[str, Any] = {"kind": CategoricalDistribution([0, 1]),
                                 "x": FloatDistribution(-3, 3),
                                 "y": FloatDistribution(math.exp(-4), math.exp(2), log=True)}
        if kind == 0:
            params.update(a=float(rng.uniform()), b=float(math.exp(rng.uniform(-5, 0))))
            dists.update(a=FloatDistribution(0, 1),
                         b=FloatDistribution(math.exp(-5), 1, log=True))
        else:
            params["c"] = int(rng.integers(1, 21))
            dists["c"] = IntDistribution(1, 20)
        value = params["x"] ** 2 + params.get("a", 1.0) + math.log(params["y"]) ** 2
        frozen.append(optuna.trial.create_trial(params=params, distributions=dists,
                                                value=value))
    study.add_trials(frozen)
    pending = []
    for _ in range(running):
        trial = study.ask()
        _optuna_params(trial)
        pending.append(trial)
    times = []
    for _ in range(repeats):
        oldest = pending.pop(0)
        study.tell(oldest, float(rng.normal()))  # one more finishes
        began = time.perf_counter()
        trial = study.ask()
        _optuna_params(trial)  # ...and one more starts
        times.append(time.perf_counter() - began)
        pending.append(trial)
    return statistics.median(times)


def search_rate(trials_count: int, parallelism: int = 64) -> Dict[str, float]:
    """Suggestions per second of a hyperspark.tpe search of no-op trials, overall and over its
    last 10% of trials."""
    import hyperspark
    from hyperspark import SparkTrials
    from hyperspark.hyperopt_internals import all_docs
    from hyperspark.record import TrialRecord

    trials = SparkTrials(backend="local", parallelism=parallelism, mlflow_tracking=False)
    began = time.perf_counter()
    hyperspark.fmin(lambda p: 0.0 if p["kind"] else 1.0, SPACE, algo=hyperspark.tpe.suggest,
                    max_evals=trials_count, trials=trials, show_progressbar=False,
                    rstate=np.random.default_rng(0))
    wall = time.perf_counter() - began
    booked = sorted(TrialRecord.from_doc(doc).booked for doc in all_docs(trials))
    tail = booked[-max(2, trials_count // 10):]
    return {"trials": trials_count, "wall_s": wall, "overall_per_s": trials_count / wall,
            "last_tenth_per_s": (len(tail) - 1) / max(tail[-1] - tail[0], 1e-9)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks suggest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 5000, 20000])
    parser.add_argument("--running", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--search-trials", type=int, default=20000,
                        help="size of the throughput search (0 to skip)")
    parser.add_argument("--losses", type=int, default=1,
                        help="losses per result; with 2 or more (and a constraint), "
                             "hyperspark.tpe alone, ranking them")
    parser.add_argument("--skip", nargs="*", default=[], choices=["hyperopt", "optuna"],
                        help="leave a baseline out (hyperopt takes about 0.6 s a suggestion "
                             "at 20,000 trials)")
    args = parser.parse_args(list(argv or []))
    if any(size < 1 for size in args.sizes) or args.repeats < 1 or args.running < 0:
        parser.error("--sizes and --repeats must be >= 1, --running >= 0")
    if args.losses < 1:
        parser.error(f"--losses must be >= 1, got {args.losses}")
    global LOSSES
    LOSSES = args.losses
    if LOSSES > 1:
        args.skip, args.search_trials = ["hyperopt", "optuna"], 0
    import hyperspark.tpe
    from hyperopt import tpe

    print(f"| finished trials (+{args.running} running) | hyperopt tpe.suggest | Optuna 5 TPE | "
          "hyperspark.tpe | vs hyperopt | vs Optuna |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        ours = time_hyperopt_style(hyperspark.tpe.suggest, size, args.running, args.repeats)
        theirs = (time_hyperopt_style(tpe.suggest, size, args.running, max(2, args.repeats // 3))
                  if "hyperopt" not in args.skip else math.nan)
        optuna_s = (time_optuna(size, args.running, args.repeats)
                    if "optuna" not in args.skip else math.nan)
        print(f"| {size:,} | {1000 * theirs:.1f} ms | {1000 * optuna_s:.1f} ms | "
              f"{1000 * ours:.1f} ms | {theirs / ours:.1f}x faster | "
              f"{optuna_s / ours:.1f}x faster |", flush=True)
    if args.search_trials:
        rate = search_rate(args.search_trials)
        print(f"\nsearch of {rate['trials']:,} no-op trials at parallelism 64 (hyperspark.tpe, "
              f"local backend): {rate['wall_s']:.0f} s, {rate['overall_per_s']:.0f} "
              f"suggestions/s overall, {rate['last_tenth_per_s']:.0f}/s over the last 10%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
