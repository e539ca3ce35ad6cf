"""Spark Connect beside classic Spark, in one run on one machine:

- jobs backend on Connect against a raw one-partition ``mapInArrow`` job over the same Connect
  session, submitted from P threads (the floor for a job per trial there);
- jobs backend on classic Spark against a raw one-task RDD job (the same comparison);
- actors on Connect against actors on classic Spark.

The classic session is ``local[N]`` in this process; the Connect server is pyspark's own
``start-connect-server.sh`` in front of ``local[N]`` (or the server at ``--remote``). Each
contender runs a warm-up first, not counted. For actors, "steady" is the time per trial once
the actors run (first objective start to last result recorded, over the trials in between):
what a trial costs; "search" is the whole fmin divided by the trials, actor start-up included.

    python -m benchmarks connect                               # the table in docs/benchmarks.md
    python -m benchmarks connect --parallelism 2 --jobs-trials 20 --actors-trials 200
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Sequence

from benchmarks.common import quiet_logs, start_spark, timed_search
from benchmarks.overhead import raw_jobs
from hyperspark.bench.common import arrow_noop
from hyperspark.hyperopt_internals import all_docs


def raw_arrow_jobs(spark: Any, trials: int, parallelism: int) -> float:
    """Seconds for ``trials`` one-partition mapInArrow jobs from ``parallelism`` threads."""
    def one(_: int) -> None:
        spark.range(1, numPartitions=1).mapInArrow(arrow_noop, "result binary").collect()

    began = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(one, range(trials)))
    return time.perf_counter() - began


def search(spark: Any, backend: str, trials: int, parallelism: int) -> Dict[str, float]:
    """Seconds per trial of one no-op search: whole, and steady (actors running)."""
    from hyperspark import SparkTrials

    trials_object = SparkTrials(parallelism=parallelism, backend=backend, spark_session=spark,
                                mlflow_tracking=False)
    wall = timed_search(trials_object, trials)
    infos = [doc["misc"]["hyperspark"] for doc in all_docs(trials_object)]
    first_start = min(info["start"] for info in infos)
    last_recorded = max(info["recorded"] for info in infos)
    return {"search_s": wall / trials, "steady_s": (last_recorded - first_start) / trials}


def measure(run: Any, warmup: int, repeats: int) -> Any:
    """The median of ``repeats`` runs of ``run()`` after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        run()
    results = [run() for _ in range(repeats)]
    if isinstance(results[0], dict):
        return {key: sorted(r[key] for r in results)[len(results) // 2] for key in results[0]}
    return sorted(results)[len(results) // 2]


def run_table(classic: Any, connect: Any, parallelisms: Sequence[int], jobs_trials: int,
              actors_trials: int, repeats: int) -> List[Dict[str, Any]]:
    rows = []
    for p in parallelisms:
        row: Dict[str, Any] = {"parallelism": p}
        row["classic_raw_s"] = measure(lambda: raw_jobs(classic, jobs_trials, p) / jobs_trials,
                                       1, repeats)
        row["classic_jobs_s"] = measure(lambda: search(classic, "jobs", jobs_trials, p),
                                        1, repeats)["search_s"]
        row["connect_raw_s"] = measure(
            lambda: raw_arrow_jobs(connect, jobs_trials, p) / jobs_trials, 1, repeats)
        row["connect_jobs_s"] = measure(lambda: search(connect, "jobs", jobs_trials, p),
                                        1, repeats)["search_s"]
        row["classic_actors"] = measure(lambda: search(classic, "actors", actors_trials, p),
                                        1, repeats)
        row["connect_actors"] = measure(lambda: search(connect, "actors", actors_trials, p),
                                        1, repeats)
        row["classic_jobs_vs_raw"] = row["classic_jobs_s"] / row["classic_raw_s"]
        row["connect_jobs_vs_raw"] = row["connect_jobs_s"] / row["connect_raw_s"]
        row["connect_vs_classic_actors_steady"] = (row["connect_actors"]["steady_s"]
                                                   / row["classic_actors"]["steady_s"])
        row["connect_vs_classic_actors_search"] = (row["connect_actors"]["search_s"]
                                                   / row["classic_actors"]["search_s"])
        rows.append(row)
    return rows


def markdown(rows: List[Dict[str, Any]], jobs_trials: int, actors_trials: int) -> str:
    lines = ["| P | session | raw one-task job | hyperspark jobs | jobs / raw | actors per trial "
             "(steady) | actors per trial (whole search) | actors, Connect / classic (steady) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for kind in ("classic", "connect"):
            actors = r[f"{kind}_actors"]
            ratio = (f"{r['connect_vs_classic_actors_steady']:.2f}x" if kind == "connect"
                     else "")
            lines.append(
                f"| {r['parallelism']} | {kind} | {1000 * r[f'{kind}_raw_s']:.0f} ms | "
                f"{1000 * r[f'{kind}_jobs_s']:.0f} ms | {r[f'{kind}_jobs_vs_raw']:.2f}x | "
                f"{1000 * actors['steady_s']:.2f} ms | {1000 * actors['search_s']:.2f} ms | "
                f"{ratio} |")
    lines.append("")
    lines.append(f"No-op objective; medians. Jobs: {jobs_trials} trials per search; actors: "
                 f"{actors_trials}. Raw job: classic `parallelize([0], 1).mapPartitions`, "
                 f"Connect `range(1, numPartitions=1).mapInArrow`, from P threads.")
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks connect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs-trials", type=int, default=40)
    parser.add_argument("--actors-trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2, help="local[N] for both sessions")
    parser.add_argument("--remote", help="an existing Spark Connect server (sc://host:port)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(list(argv))
    if min(args.parallelism) < 1 or args.jobs_trials < 2 or args.actors_trials < 2:
        parser.error("--parallelism must be >= 1 and --jobs-trials, --actors-trials >= 2")
    quiet_logs()
    from benchmarks.servers import ConnectServer

    server = None
    with tempfile.TemporaryDirectory() as folder:
        try:
            if args.remote is None:
                server = ConnectServer(Path(folder), master=f"local[{args.cores}]").start()
            classic = start_spark(f"local[{args.cores}]", "hyperspark-bench-connect")
            connect = (server.session() if server else
                       ConnectServer.session_at(args.remote))
            rows = run_table(classic, connect, args.parallelism, args.jobs_trials,
                             args.actors_trials, args.repeats)
        finally:
            if server is not None:
                server.stop()
    print(markdown(rows, args.jobs_trials, args.actors_trials))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
