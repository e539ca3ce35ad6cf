"""Per-trial overhead of a no-op objective, side by side in one process and one SparkSession:

- hyperspark (jobs backend), tracking off and on (sqlite store in a temp folder);
- hyperopt's own ``SparkTrials``;
- a raw one-task Spark job per trial, submitted from P threads: the floor for any design
  that runs one Spark job per trial.

"Per trial" is wall time divided by the number of trials, at the given parallelism. Each
contender runs a warm-up first (Python workers started, imports done), not counted.

    python -m benchmarks overhead                 # the full table (a few minutes)
    python -m benchmarks overhead --trials 8 --hyperopt-trials 2 --parallelism 1
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Sequence


from benchmarks.common import quiet_logs, start_spark, timed_search


def _consume(rows: Any) -> List[int]:
    for _ in rows:  # consume the input, or Spark does not reuse the Python worker
        pass
    return [0]


def raw_jobs(spark: Any, trials: int, parallelism: int) -> float:
    """Seconds for ``trials`` one-task jobs submitted from ``parallelism`` threads."""
    sc = spark.sparkContext

    def one(_: int) -> None:
        sc.parallelize([0], 1).mapPartitions(_consume).collect()

    began = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(one, range(trials)))
    return time.perf_counter() - began


def hyperspark_search(spark: Any, trials: int, parallelism: int, tracking: bool) -> float:
    from hyperspark import SparkTrials

    return timed_search(SparkTrials(parallelism=parallelism, spark_session=spark,
                                    mlflow_tracking=tracking), trials)


def hyperopt_search(spark: Any, trials: int, parallelism: int) -> float:
    from hyperopt import SparkTrials as HyperoptSparkTrials

    return timed_search(HyperoptSparkTrials(parallelism=parallelism, spark_session=spark),
                        trials)


def measure(run: Callable[[int], float], trials: int, warmup: int) -> float:
    """Seconds per trial, after a warm-up run of ``warmup`` trials."""
    if warmup:
        run(warmup)
    return run(trials) / trials


def run_table(spark: Any, parallelisms: Sequence[int], trials: int,
              hyperopt_trials: int) -> List[Dict[str, Any]]:
    rows = []
    for p in parallelisms:
        warm = max(2, p)
        row: Dict[str, Any] = {"parallelism": p}
        row["raw_job_s"] = measure(lambda n: raw_jobs(spark, n, p), trials, warm)
        row["hyperspark_s"] = measure(lambda n: hyperspark_search(spark, n, p, False), trials,
                                      warm)
        row["hyperspark_tracked_s"] = measure(
            lambda n: hyperspark_search(spark, n, p, True), trials, warm)
        row["hyperopt_sparktrials_s"] = measure(lambda n: hyperopt_search(spark, n, p),
                                                hyperopt_trials, 0)
        row["hyperspark_vs_raw"] = row["hyperspark_s"] / row["raw_job_s"]
        row["hyperopt_vs_hyperspark"] = row["hyperopt_sparktrials_s"] / row["hyperspark_s"]
        row["tracking_extra_ms"] = 1000 * (row["hyperspark_tracked_s"] - row["hyperspark_s"])
        rows.append(row)
        logging.getLogger("benchmarks").info("parallelism %d done: %s", p, row)
    return rows


def markdown(rows: List[Dict[str, Any]], trials: int, hyperopt_trials: int) -> str:
    lines = [
        "| P | raw one-task job | hyperspark jobs | hyperspark / raw | hyperspark + MLflow "
        "(sqlite) | tracking extra | hyperopt SparkTrials | hyperopt / hyperspark |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['parallelism']} | {1000 * r['raw_job_s']:.0f} ms | "
            f"{1000 * r['hyperspark_s']:.0f} ms | {r['hyperspark_vs_raw']:.2f}x | "
            f"{1000 * r['hyperspark_tracked_s']:.0f} ms | {r['tracking_extra_ms']:+.0f} ms | "
            f"{1000 * r['hyperopt_sparktrials_s']:.0f} ms | "
            f"{r['hyperopt_vs_hyperspark']:.1f}x |")
    lines.append("")
    lines.append(f"Wall time per trial of a no-op objective ({trials} trials each; hyperopt's "
                 f"SparkTrials: {hyperopt_trials}), one process, one `local[*]` session.")
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--hyperopt-trials", type=int, default=10)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(list(argv))
    quiet_logs()
    with tempfile.TemporaryDirectory() as store:
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
        spark = start_spark(args.master, "hyperspark-bench-overhead")
        rows = run_table(spark, args.parallelism, args.trials, args.hyperopt_trials)
    print(markdown(rows, args.trials, args.hyperopt_trials))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
