"""Does tracking keep up with the search? ``python -m benchmarks tracking --store URI``.

In one run, against one tracking store:

1. **The store's own ceiling**: trials per second it records when driven by plain
   ``MlflowClient`` calls, the ones hyperspark makes for a trial (create the child run,
   one ``log_batch`` with its params, metrics and tags, end it), from 1 thread and from N.
2. **Searches, tracked against untracked**, side by side: the actors backend (a warm
   ``ActorPool`` of P actors, so actor start-up is not measured) on ``local[P]``, ``rand``,
   objectives that sleep ``--durations`` seconds, at each ``--parallelism``.

``--store postgres`` (the default) starts a real ``mlflow server`` on a real PostgreSQL on
loopback (``benchmarks/servers.py``, Debian's ``postgresql`` package); ``--store sqlite``
uses a fresh local sqlite file; any other value is a tracking URI to use as it is.

    python -m benchmarks tracking                                  # the full table
    python -m benchmarks tracking --store sqlite --parallelism 8 --durations 0.1
"""
from __future__ import annotations

import argparse
import functools
import json
import statistics
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

TRIAL_SECONDS_OF_WORK = 12.0
"""Each search runs this many seconds of trials per slot (trials = P x this / duration)."""


def store_ceiling(uri: str, trials: int, threads: int) -> float:
    """Trials per second the store records with hyperspark's three calls per trial, from
    ``threads`` client threads (as hyperspark makes them: MLflow's printing of each ended
    run's URL off, since it costs one more request per run)."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from hyperspark.tracking.store import quiet_run_urls

    client = MlflowClient(uri)
    experiment = client.create_experiment(f"ceiling-{time.time_ns()}")
    parent = client.create_run(experiment).info.run_id
    counter = iter(range(trials))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                tid = next(counter, None)
            if tid is None:
                return
            run = client.create_run(experiment, tags={"mlflow.parentRunId": parent,
                                                      "trial_id": str(tid),
                                                      "mlflow.runName": f"trial-{tid}"})
            now = int(time.time() * 1000)
            client.log_batch(run.info.run_id, params=[Param("x", str(tid))],
                             metrics=[Metric("loss", float(tid), now, 0)],
                             tags=[RunTag("trial_status", "success")])
            client.set_terminated(run.info.run_id, "FINISHED")

    quiet_run_urls(True)
    try:
        began = time.perf_counter()
        pool = [threading.Thread(target=work) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return trials / (time.perf_counter() - began)
    finally:
        quiet_run_urls(False)


def search_rate(pool: Any, spark: Any, parallelism: int, duration: float, trials: int,
                tracked: bool) -> Dict[str, float]:
    """Trials per second of one search (``fmin`` called to ``fmin`` returned: the writes
    that must finish before it returns are in)."""
    import mlflow
    from hyperopt import hp, rand

    from hyperspark import SparkTrials, fmin
    from hyperspark.bench.common import sleep_then

    if tracked:
        mlflow.set_experiment(f"tracked-{time.time_ns()}")
    trials_object = SparkTrials(backend=pool, parallelism=parallelism,
                                mlflow_tracking=tracked)
    began = time.perf_counter()
    fmin(functools.partial(sleep_then, duration), hp.uniform("x", 0, 1), algo=rand.suggest,
         max_evals=trials, trials=trials_object, show_progressbar=False)
    wall = time.perf_counter() - began
    assert trials_object.count_successful_trials() == trials
    recorded = None
    if tracked:
        from mlflow.tracking import MlflowClient

        tracker = trials_object.last_tracker
        client = MlflowClient(tracker.tracking_uri)
        parent = client.get_run(tracker.parent_run_id)
        recorded = len(client.search_runs(
            [parent.info.experiment_id],
            f"tags.mlflow.parentRunId = '{tracker.parent_run_id}' and "
            "attributes.status = 'FINISHED'", max_results=5000))
    return {"trials_per_s": trials / wall, "wall_s": wall, "recorded": recorded}


def run(store: str, parallelisms: Sequence[int], durations: Sequence[float],
        ceiling_trials: int, ceiling_threads: Sequence[int], repeats: int,
        folder: Path, spark: Any = None,
        seconds_of_work: float = TRIAL_SECONDS_OF_WORK) -> Dict[str, Any]:
    """The whole benchmark; ``spark``: a session to use (else one on ``local[max P]`` is
    started here, and stopped at the end)."""
    import mlflow

    from hyperspark import ActorPool
    from hyperspark.bench.common import quiet_logs, start_spark

    quiet_logs()
    server = None
    if store == "postgres":
        from benchmarks.servers import TrackingServer

        server = TrackingServer(folder / "server").start()
        uri = server.uri
    elif store == "sqlite":
        uri = f"sqlite:///{folder}/mlflow.db"
    else:
        uri = store
    from hyperspark.tracking.mlflow_internals import active_experiment_id

    previous, previous_experiment = mlflow.get_tracking_uri(), active_experiment_id()
    saved_env = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI",
                                                      "MLFLOW_EXPERIMENT_ID")}
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    result: Dict[str, Any] = {"store": store, "uri": uri if store != "postgres"
                              else "postgres (mlflow server --workers 2)", "ceiling": {},
                              "searches": []}
    try:
        store_ceiling(uri, max(20, ceiling_trials // 3), max(ceiling_threads))  # warm up
        for threads in ceiling_threads:
            result["ceiling"][threads] = statistics.median(
                store_ceiling(uri, ceiling_trials, threads) for _ in range(repeats))
            print(f"store ceiling, {threads} thread(s): {result['ceiling'][threads]:.1f} "
                  "trials/s", flush=True)
        own_spark = spark is None
        if own_spark:
            spark = start_spark(f"local[{max(parallelisms)}]", "hyperspark-tracking-bench")
        for parallelism in parallelisms:
            with ActorPool(spark, size=parallelism) as pool:
                for duration in durations:
                    trials = max(parallelism, int(parallelism * seconds_of_work / duration))
                    search_rate(pool, spark, parallelism, duration, parallelism,
                                False)  # warm-up: every actor has run a trial
                    for repeat in range(repeats):  # side by side: off, on, off, on
                        off = search_rate(pool, spark, parallelism, duration, trials, False)
                        on = search_rate(pool, spark, parallelism, duration, trials, True)
                        row = {"parallelism": parallelism, "duration_s": duration,
                               "trials": trials, "untracked": off["trials_per_s"],
                               "tracked": on["trials_per_s"],
                               "ratio": on["trials_per_s"] / off["trials_per_s"],
                               "recorded": on["recorded"]}
                        result["searches"].append(row)
                        print(f"P={parallelism} {duration:g} s x {trials}: untracked "
                              f"{row['untracked']:.1f}/s, tracked {row['tracked']:.1f}/s, "
                              f"ratio {row['ratio']:.2f}, {row['recorded']}/{trials} child "
                              "runs recorded", flush=True)
        if own_spark:
            spark.stop()
    finally:
        mlflow.set_tracking_uri(previous)
        for key, value in saved_env.items():  # set_experiment exports the experiment id
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if previous_experiment is not None:  # the caller's experiment is active again
            try:
                mlflow.set_experiment(experiment_id=previous_experiment)
            except Exception:
                pass
        if server is not None:
            server.stop()
    return result


def markdown(result: Dict[str, Any]) -> str:
    ceiling = result["ceiling"]
    lines = [f"Store: {result['uri']}", "",
             "| client threads | " + " | ".join(str(t) for t in ceiling) + " |",
             "|---|" + "---|" * len(ceiling),
             "| trials/s (create, log_batch, end) | "
             + " | ".join(f"{v:.1f}" for v in ceiling.values()) + " |", "",
             "| P | trial | trials | untracked /s | tracked /s | tracked / untracked | "
             "tracked / 16-thread ceiling | child runs recorded |",
             "|---|---|---|---|---|---|---|---|"]
    top = max(ceiling.values()) if ceiling else float("nan")
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for row in result["searches"]:
        groups.setdefault((row["parallelism"], row["duration_s"]), []).append(row)
    for (parallelism, duration), rows in groups.items():  # medians over the repeats
        def median(key: str) -> float:
            return statistics.median(row[key] for row in rows)
        recorded = min(row["recorded"] for row in rows)
        lines.append(f"| {parallelism} | {duration:g} s | {rows[0]['trials']} | "
                     f"{median('untracked'):.1f} | {median('tracked'):.1f} | "
                     f"{median('ratio'):.2f} | {median('tracked') / top:.2f} | "
                     f"{recorded}/{rows[0]['trials']} (worst of {len(rows)}) |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks tracking", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default="postgres",
                        help="postgres (start a server), sqlite (a local file), or a URI")
    parser.add_argument("--parallelism", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--durations", nargs="+", type=float, default=[0.1, 1.0])
    parser.add_argument("--ceiling-trials", type=int, default=300)
    parser.add_argument("--ceiling-threads", nargs="+", type=int, default=[1, 8, 16])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/tracking")
    args = parser.parse_args(list(argv or []))
    if any(p < 1 for p in args.parallelism) or any(d <= 0 for d in args.durations):
        parser.error("--parallelism must be >= 1 and --durations > 0")
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        result = run(args.store, args.parallelism, args.durations, args.ceiling_trials,
                     args.ceiling_threads, args.repeats, Path(folder))
    text = markdown(result)
    name = args.store if args.store in ("postgres", "sqlite") else "custom"
    with open(os.path.join(args.out, f"tracking-{name}.json"), "w") as handle:
        json.dump(result, handle, indent=2, default=str)
    with open(os.path.join(args.out, f"tracking-{name}.md"), "w") as handle:
        handle.write(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
