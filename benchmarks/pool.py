"""A warm ``ActorPool`` against actors started per search, side by side in one session:

1. back-to-back 2-trial searches: the cost per search with fresh actors (``backend="actors"``)
   and on a warm pool, alternating, with a 0.2 s ``worker_setup`` (loading data, say); half
   the slots each (2 actors on ``local[4]``);
2. four searches at once, from threads, on a pool of 4, with 50 ms trials: total throughput
   against the ideal (4 actors / 0.05 s);
3. a 400-trial no-op search on a warm pool against in-process ``hyperopt.Trials``;
4. tracking throughput: a no-op actors search with MLflow tracking on, into a fresh sqlite
   store on disk, with the store's default journal and in write-ahead-log mode (what
   hyperspark switches a local sqlite store to).

    python -m benchmarks pool                     # the table in docs/benchmarks.md (local[4])
    python -m benchmarks pool --searches 4 --trials 100
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import threading
import time
from typing import Any, Dict, Sequence

from benchmarks.common import quiet_logs, sleep_then, start_spark, timed_search
from hyperopt import Trials


WAL_SWITCH = "HYPERSPARK_SQLITE_WAL"
slow_setup = functools.partial(sleep_then, 0.2, "data")
"""A worker_setup that takes 0.2 s: what loading the training data might cost."""


def back_to_back(spark: Any, searches: int, size: int) -> Dict[str, float]:
    """Seconds per 2-trial search: fresh actors each time against a warm pool (each side
    ``size`` actors: the pool holds its task slots, so the fresh ones need as many more)."""
    from hyperspark import ActorPool, SparkTrials

    fresh, warm = [], []
    with ActorPool(spark, size=size, worker_setup=slow_setup) as pool:
        timed_search(SparkTrials(backend=pool, mlflow_tracking=False), 2)  # warm-up
        timed_search(SparkTrials(spark_session=spark, backend="actors", parallelism=size,
                                 worker_setup=slow_setup, mlflow_tracking=False), 2)
        for _ in range(searches):  # alternating, so drift hits both alike
            fresh.append(timed_search(SparkTrials(
                spark_session=spark, backend="actors", parallelism=size,
                worker_setup=slow_setup, mlflow_tracking=False), 2))
            warm.append(timed_search(SparkTrials(backend=pool, mlflow_tracking=False), 2))
    return {"fresh_s": statistics.median(fresh), "warm_s": statistics.median(warm),
            "ratio": statistics.median(warm) / statistics.median(fresh)}


def side_by_side(spark: Any, searches: int, size: int, trials: int,
                 duration_s: float) -> Dict[str, float]:
    """Total trials per second of ``searches`` concurrent searches on a pool of ``size``."""
    from hyperspark import ActorPool, SparkTrials

    objective = functools.partial(sleep_then, duration_s)
    with ActorPool(spark, size=size) as pool:
        timed_search(SparkTrials(backend=pool, mlflow_tracking=False), 2 * size, objective)
        threads = [threading.Thread(target=timed_search, args=(
            SparkTrials(backend=pool, mlflow_tracking=False), trials, objective))
            for _ in range(searches)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    rate = searches * trials / wall
    ideal = size / duration_s
    return {"trials_per_s": rate, "ideal_per_s": ideal, "efficiency": rate / ideal}


def long_noop(spark: Any, size: int, trials: int) -> Dict[str, float]:
    """A no-op search of ``trials`` trials on a warm pool against in-process Trials."""
    from hyperspark import ActorPool, SparkTrials

    with ActorPool(spark, size=size) as pool:
        timed_search(SparkTrials(backend=pool, mlflow_tracking=False), 20)  # warm-up
        timed_search(Trials(), 20)
        pooled = timed_search(SparkTrials(backend=pool, mlflow_tracking=False), trials)
        in_process = timed_search(Trials(), trials)
    return {"pool_s": pooled, "in_process_s": in_process, "ratio": pooled / in_process}


def tracked(spark: Any, size: int, trials: int, folder: str) -> Dict[str, float]:
    """Trials per second of a tracked no-op actors search (the whole fmin, until every write
    is in the store), into fresh sqlite stores under ``folder``: default journal, then WAL."""
    import mlflow

    from hyperspark import SparkTrials

    previous_uri, previous_env = mlflow.get_tracking_uri(), os.environ.get(WAL_SWITCH)
    rates = {}
    try:
        for label, switch in (("default_journal", "0"), ("wal", "1")):
            os.environ[WAL_SWITCH] = switch
            mlflow.set_tracking_uri(f"sqlite:///{os.path.abspath(folder)}/{label}.db")
            mlflow.set_experiment("tracked-noop")
            timed_search(SparkTrials(spark_session=spark, backend="actors", parallelism=size,
                                     mlflow_tracking=True), 20)  # creates the store; warm-up
            rates[label] = trials / timed_search(SparkTrials(
                spark_session=spark, backend="actors", parallelism=size, mlflow_tracking=True),
                trials)
    finally:
        mlflow.set_tracking_uri(previous_uri)
        if previous_env is None:
            os.environ.pop(WAL_SWITCH, None)
        else:
            os.environ[WAL_SWITCH] = previous_env
    return {"default_journal_per_s": rates["default_journal"], "wal_per_s": rates["wal"],
            "trials": trials}


def run(spark: Any, searches: int, size: int, trials: int, noop_trials: int,
        tracked_trials: int = 1000, folder: str = ".") -> Dict[str, Any]:
    return {"back_to_back": back_to_back(spark, searches, max(1, size // 2)),
            "side_by_side": side_by_side(spark, 4, size, trials, 0.05),
            "long_noop": long_noop(spark, size, noop_trials),
            "tracked": tracked(spark, size, tracked_trials, folder), "size": size}


def markdown(result: Dict[str, Any]) -> str:
    b, s, n = result["back_to_back"], result["side_by_side"], result["long_noop"]
    t = result["tracked"]
    return "\n".join([
        "| measure | fresh actors / in-process | warm pool | ratio | target |",
        "|---|---|---|---|---|",
        f"| one 2-trial search (median) | {b['fresh_s'] * 1000:.0f} ms | "
        f"{b['warm_s'] * 1000:.0f} ms | {b['ratio']:.2f}x | <= 0.25x |",
        f"| 4 searches at once, pool of {result['size']}, 50 ms trials | ideal "
        f"{s['ideal_per_s']:.0f} trials/s | {s['trials_per_s']:.1f} trials/s | "
        f"{s['efficiency']:.2f} of ideal | >= 0.8 |",
        f"| 400-trial no-op search | {n['in_process_s']:.2f} s (hyperopt.Trials) | "
        f"{n['pool_s']:.2f} s | {n['ratio']:.2f}x | <= 3x |",
        f"| {t['trials']}-trial no-op actors search, tracked, sqlite on disk | "
        f"{t['default_journal_per_s']:.1f} trials/s (default journal) | "
        f"{t['wal_per_s']:.1f} trials/s (WAL) | "
        f"{t['wal_per_s'] / t['default_journal_per_s']:.2f}x | >= 80 trials/s |"])


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pool", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--master", default="local[4]")
    parser.add_argument("--remote", help="a Spark Connect server (sc://host:port), or 'local'")
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--searches", type=int, default=10, help="back-to-back searches")
    parser.add_argument("--trials", type=int, default=100, help="per concurrent search")
    parser.add_argument("--noop-trials", type=int, default=400)
    parser.add_argument("--tracked-trials", type=int, default=1000)
    parser.add_argument("--store-dir", default=".", help="where the sqlite stores go (on disk)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(list(argv))
    quiet_logs()
    spark = start_spark(args.master, "hyperspark-pool-benchmark", args.remote)
    try:
        result = run(spark, args.searches, args.size, args.trials, args.noop_trials,
                     args.tracked_trials, args.store_dir)
    finally:
        spark.stop()
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
