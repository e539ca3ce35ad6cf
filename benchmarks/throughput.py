"""Trials per second against parallelism, side by side in one process and one session:

- hyperspark, actors backend and jobs backend;
- hyperopt's own ``SparkTrials``;
- in-process ``hyperopt.Trials`` (no Spark at all: the ceiling for a no-op objective);

then the efficiency of actors on a 100 ms objective at parallelism 8 against the ideal
(P / 0.1 s). Every contender runs a warm-up search first (not counted); a measured search is
a whole ``fmin``, actor start-up included.

    python -m benchmarks throughput                     # the full table, local[8]
    python -m benchmarks throughput --parallelism 1 2 --trials 50 --jobs-trials 8 \\
        --hyperopt-trials 2 --sleep-trials 16
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List, Sequence

from benchmarks.common import quiet_logs, start_spark, timed_search
from hyperspark.hyperopt_internals import all_docs


def sleep_100ms(x: float) -> float:
    time.sleep(0.1)
    return x


def rate(run: Any, trials: int, warmup: int) -> float:
    """Trials per second of ``run(n)`` (which returns seconds), after a warm-up run."""
    run(warmup)
    return trials / run(trials)


def run_table(spark: Any, parallelisms: Sequence[int], trials: int, jobs_trials: int,
              hyperopt_trials: int) -> List[Dict[str, Any]]:
    from hyperopt import SparkTrials as HyperoptSparkTrials
    from hyperopt import Trials

    from hyperspark import SparkTrials

    def ours(backend: str, p: int) -> Any:
        return lambda n: timed_search(SparkTrials(parallelism=p, backend=backend,
                                                  spark_session=spark, mlflow_tracking=False), n)

    in_process = rate(lambda n: timed_search(Trials(), n), trials, 20)
    rows = []
    for p in parallelisms:
        row: Dict[str, Any] = {"parallelism": p, "in_process_trials_per_s": in_process}
        row["actors_trials_per_s"] = rate(ours("actors", p), trials, 4 * p)
        row["jobs_trials_per_s"] = rate(ours("jobs", p), jobs_trials, 2 * p)
        row["hyperopt_sparktrials_trials_per_s"] = rate(
            lambda n: timed_search(HyperoptSparkTrials(parallelism=p, spark_session=spark), n),
            hyperopt_trials, 1)
        row["actors_vs_hyperopt"] = (row["actors_trials_per_s"]
                                     / row["hyperopt_sparktrials_trials_per_s"])
        row["in_process_vs_actors"] = in_process / row["actors_trials_per_s"]
        rows.append(row)
    return rows


def efficiency_100ms(spark: Any, parallelism: int, trials: int) -> Dict[str, Any]:
    """Throughput of actors on a 100 ms objective, as a fraction of the ideal P / 0.1 s: over
    the whole ``fmin`` (actor start-up included) and in steady state (from the moment all
    ``parallelism`` actors run trials to the last trial's end)."""
    from hyperspark import SparkTrials

    timed_search(SparkTrials(parallelism=parallelism, backend="actors", spark_session=spark,
                             mlflow_tracking=False), 2 * parallelism, objective=sleep_100ms)
    trials_object = SparkTrials(parallelism=parallelism, backend="actors",
                                spark_session=spark, mlflow_tracking=False)
    began = time.time()
    wall = timed_search(trials_object, trials, objective=sleep_100ms)
    infos = [doc["misc"]["hyperspark"] for doc in all_docs(trials_object)]
    starts = sorted(info["start"] for info in infos)
    ends = sorted(info["end"] for info in infos)
    steady_rate = (trials - parallelism) / (ends[-1] - ends[parallelism - 1])
    ideal = parallelism / 0.1
    return {"parallelism": parallelism, "trials": trials, "trials_per_s": trials / wall,
            "ideal_trials_per_s": ideal, "efficiency": trials / wall / ideal,
            "steady_efficiency": steady_rate / ideal,
            "startup_s": starts[parallelism - 1] - began}


def markdown(rows: List[Dict[str, Any]], sleep: Dict[str, Any]) -> str:
    lines = ["| P | actors | jobs | hyperopt SparkTrials | in-process Trials | actors / "
             "hyperopt SparkTrials | in-process / actors |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['parallelism']} | {r['actors_trials_per_s']:.0f}/s | "
            f"{r['jobs_trials_per_s']:.1f}/s | {r['hyperopt_sparktrials_trials_per_s']:.2f}/s | "
            f"{r['in_process_trials_per_s']:.0f}/s | {r['actors_vs_hyperopt']:.0f}x | "
            f"{r['in_process_vs_actors']:.2f}x |")
    lines += ["", f"100 ms objective, actors, parallelism {sleep['parallelism']}, "
              f"{sleep['trials']} trials: {sleep['trials_per_s']:.1f} trials/s against an "
              f"ideal {sleep['ideal_trials_per_s']:.0f}/s: efficiency {sleep['efficiency']:.3f} "
              f"over the whole fmin, {sleep['steady_efficiency']:.3f} in steady state (all "
              f"{sleep['parallelism']} actors running after {sleep['startup_s']:.2f} s)"]
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--master", default="local[8]")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=1000, help="actors, in-process")
    parser.add_argument("--jobs-trials", type=int, default=40)
    parser.add_argument("--hyperopt-trials", type=int, default=6)
    parser.add_argument("--sleep-parallelism", type=int, default=8)
    parser.add_argument("--sleep-trials", type=int, default=400)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(list(argv))
    quiet_logs()
    spark = start_spark(args.master, "hyperspark-bench-throughput")
    rows = run_table(spark, args.parallelism, args.trials, args.jobs_trials,
                     args.hyperopt_trials)
    sleep = efficiency_100ms(spark, args.sleep_parallelism, args.sleep_trials)
    print(markdown(rows, sleep))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "sleep_100ms": sleep}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
