"""What the reproducible mode costs in throughput: ``python -m benchmarks reproducible``.

Side by side in one run, repeated: normal parallel mode against ``reproducible=True`` at
several lags, on the local backend (trials on threads), with trial durations drawn from an
exponential distribution (mean 100 ms, CV 1, seeded), ``rand`` as the algorithm so that its
time does not count. The mode waits for the results suggestion k may see: the throughput
ratio says how much of the slots' time that wait costs. Beside it, ``ideal`` is the same
ratio for the rule alone: a simulation of P slots with the same durations and no overhead, in
which trial k starts once a slot is free and every trial below k - L has ended. The measured
ratio close to the ideal one says the loop adds nothing to what the rule costs. Its search
quality is measured by ``python -m benchmarks search --methods hyperspark-tpe
hyperspark-tpe-reproducible``.

    python -m benchmarks reproducible                       # P=8, 400 trials, lags P, 2P, 3P, 4P
    python -m benchmarks reproducible --parallelism 16 --repeats 5
"""
from __future__ import annotations

import argparse
import heapq
import statistics
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


class Durations:
    """An objective that sleeps a duration drawn from an exponential distribution."""

    def __init__(self, mean_s: float, seed: int) -> None:
        self._rng, self._mean, self._lock = np.random.default_rng(seed), mean_s, threading.Lock()

    def __call__(self, params: Dict[str, Any]) -> float:
        with self._lock:
            pause = float(self._rng.exponential(self._mean))
        time.sleep(pause)
        return float(params["x"])


def rate(parallelism: int, trials: int, mean_s: float, seed: int,
         lag: Optional[int]) -> float:
    """Trials per second of one search (``lag`` None: normal mode)."""
    from hyperopt import hp, rand

    from hyperspark import SparkTrials, fmin

    trials_object = SparkTrials(backend="local", parallelism=parallelism, mlflow_tracking=False,
                                reproducible=lag is not None, lag=lag)
    began = time.perf_counter()
    fmin(Durations(mean_s, seed), {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest,
         max_evals=trials, trials=trials_object, rstate=np.random.default_rng(seed),
         show_progressbar=False)
    return trials / (time.perf_counter() - began)


def makespan(durations: Sequence[float], parallelism: int, lag: Optional[int]) -> float:
    """When the last trial ends, if trial k starts as soon as a slot is free and (with a lag)
    every trial below k - lag has ended; no overhead at all."""
    free = [0.0] * parallelism  # when each slot frees, as a heap
    ended_below: List[float] = [0.0]  # ended_below[j]: when trials 0 .. j - 1 had all ended
    for k, duration in enumerate(durations):
        start = heapq.heappop(free)
        if lag is not None and k - lag > 0:
            start = max(start, ended_below[k - lag])
        end = start + duration
        heapq.heappush(free, end)
        ended_below.append(max(ended_below[-1], end))
    return ended_below[-1]


def ideal_ratio(parallelism: int, trials: int, lag: int, seeds: Sequence[int]) -> float:
    """The throughput ratio (lag against none) that the rule itself costs, over ``seeds``."""
    ratios = []
    for seed in seeds:
        durations = np.random.default_rng(seed).exponential(1.0, trials)
        ratios.append(makespan(durations, parallelism, None)
                      / makespan(durations, parallelism, lag))
    return statistics.median(ratios)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks reproducible",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--mean", type=float, default=0.1, help="mean trial duration (s)")
    parser.add_argument("--lags", nargs="+", type=float, default=[1, 2, 3, 4],
                        help="lags, as multiples of parallelism")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(list(argv or []))
    if args.parallelism < 1 or args.trials < 1 or args.mean <= 0 or args.repeats < 1:
        parser.error("--parallelism, --trials and --repeats must be >= 1, --mean > 0")
    lags = [max(1, int(round(m * args.parallelism))) for m in args.lags]
    results: Dict[Any, List[float]] = {None: [], **{lag: [] for lag in lags}}
    for repeat in range(args.repeats):  # side by side: each repeat runs every mode once
        for lag in [None] + lags:
            results[lag].append(rate(args.parallelism, args.trials, args.mean, repeat, lag))
    normal = statistics.median(results[None])
    print(f"P={args.parallelism}, {args.trials} trials of exponential durations (mean "
          f"{1000 * args.mean:.0f} ms), median of {args.repeats} runs\n")
    print("| mode | trials/s | / normal | ideal (the rule alone, simulated) |")
    print("|---|---|---|---|")
    print(f"| normal | {normal:.1f} | 1.00 | 1.00 |")
    for lag in lags:
        median = statistics.median(results[lag])
        ideal = ideal_ratio(args.parallelism, args.trials, lag, range(50))
        print(f"| reproducible, lag {lag} ({lag / args.parallelism:g} x P) | {median:.1f} | "
              f"{median / normal:.2f} | {ideal:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
