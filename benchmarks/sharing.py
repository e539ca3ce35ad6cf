"""Sharing a cluster: ``python -m benchmarks sharing``.

On a real ``local-cluster`` (2 executor JVMs of 2 cores: 4 task slots) in FAIR scheduling
mode. The machine has 2 cores, so objectives sleep (each rank of a trial sleeps the same time)
and everything is measured in slot-seconds, side by side in one run:

- **mixed sizes**: a search whose trials need 4 tasks when a parameter says so (a quarter of
  them) and 1 otherwise (``tasks_per_trial`` a callable), against the same search with every
  trial at 4 tasks. Reported: slot utilisation (task-seconds the trials' objectives held, over
  4 slots x wall time), the same counting only the tasks each trial's parameters needed (a
  small trial given 4 slots uses 1), trials per minute, and the longest wait of a trial that
  needs 4 tasks (from its point entering the queue to its objective starting);
- **pools**: two searches started together from two threads, in pools of weight 1 and 2
  (``scheduler_pool``), against the same two searches in the default pool. Reported: each
  search's share of the task-seconds while both ran (the goal is near 1:2 in the pools).

    python -m benchmarks sharing                      # 3 repeats, about six minutes
    python -m benchmarks sharing --trials 40 --json sharing.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Sequence

from hyperopt import hp, rand

SLOTS = 4
POOLS = {"light": 1, "heavy": 2}


def sleeper(params: Dict[str, Any]) -> float:
    """Every rank sleeps the trial's duration; the loss does not matter here."""
    time.sleep(params["seconds"])
    return params["x"]


def tasks_of(params: Dict[str, Any]) -> int:
    return 4 if params["big"] else 1


def space(seconds: float) -> Dict[str, Any]:
    return {"big": hp.pchoice("big", [(0.75, False), (0.25, True)]),
            "x": hp.uniform("x", 0, 1), "seconds": seconds}


def start_session(master: str) -> Any:
    from pyspark.sql import SparkSession

    from hyperspark.backends.spark import runner_for
    from hyperspark.backends.spark.session import quiet_conf

    folder = tempfile.mkdtemp(prefix="hyperspark-pools-")
    allocation = os.path.join(folder, "pools.xml")
    with open(allocation, "w") as handle:
        handle.write("<?xml version=\"1.0\"?>\n<allocations>\n" + "".join(
            f"  <pool name=\"{name}\"><schedulingMode>FIFO</schedulingMode>"
            f"<weight>{weight}</weight><minShare>0</minShare></pool>\n"
            for name, weight in POOLS.items()) + "</allocations>\n")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(master).appName("hyperspark-sharing-benchmark")
             .config(map=quiet_conf())
             .config("spark.executor.memory", "512m")
             .config("spark.scheduler.mode", "FAIR")
             .config("spark.scheduler.allocation.file", allocation).getOrCreate())
    deadline = time.monotonic() + 120
    while runner_for(spark).task_slots() < SLOTS:
        if time.monotonic() > deadline:
            raise SystemExit(f"the cluster did not show {SLOTS} task slots within 120 s")
        time.sleep(0.5)
    return spark


def _spans(trials: Any) -> List[Dict[str, float]]:
    from hyperspark.record import TrialRecord

    out = []
    for doc in trials.trials:
        record = TrialRecord.from_doc(doc)
        if record.start is None or record.end is None:
            continue
        tasks = (record.size or {}).get("tasks") or trials.tasks_per_trial
        params = {k: v[0] for k, v in record.vals.items() if v}
        out.append({"tasks": tasks, "needs": 4 if params.get("big") else 1,
                    "queued": record.queued or record.booked or record.start,
                    "start": record.start, "end": record.end})
    return out


def mixed(spark: Any, trials_count: int, seconds: float, sized: bool,
          seed: int = 0) -> Dict[str, float]:
    """One search: trials of 1 or 4 tasks (``sized``), or all of 4."""
    import hyperspark

    trials = hyperspark.SparkTrials(spark_session=spark, parallelism=SLOTS,
                                    tasks_per_trial=tasks_of if sized else 4,
                                    mlflow_tracking=False)
    started = time.time()
    hyperspark.fmin(sleeper, space(seconds), algo=rand.suggest, max_evals=trials_count,
                    trials=trials, show_progressbar=False,
                    rstate=__import__("numpy").random.default_rng(seed))
    spans = _spans(trials)
    wall = max(s["end"] for s in spans) - started
    held = sum(s["tasks"] * (s["end"] - s["start"]) for s in spans)
    needed = sum(s["needs"] * (s["end"] - s["start"]) for s in spans)
    waits = [s["start"] - s["queued"] for s in spans if s["needs"] == 4]
    return {"trials": len(spans), "wall_s": wall, "utilisation": held / (SLOTS * wall),
            "needed_utilisation": needed / (SLOTS * wall),
            "trials_per_minute": 60 * len(spans) / wall,
            "big_trials": len(waits), "longest_big_wait_s": max(waits, default=0.0)}


def pools(spark: Any, trials_count: int, seconds: float, in_pools: bool) -> Dict[str, Any]:
    """Two searches started together, in pools of weight 1 and 2 or both in the default."""
    import hyperspark

    found: Dict[str, Any] = {}

    def run(name: str) -> None:
        # more trials in flight than slots: each pool always has a task waiting for a slot,
        # which is what the fair scheduler shares out
        trials = hyperspark.SparkTrials(spark_session=spark, parallelism=2 * SLOTS,
                                        scheduler_pool=name if in_pools else None,
                                        mlflow_tracking=False)
        hyperspark.fmin(sleeper, {"x": hp.uniform("x", 0, 1), "seconds": seconds},
                        algo=rand.suggest, max_evals=trials_count, trials=trials,
                        show_progressbar=False)
        found[name] = _spans(trials)

    threads = [threading.Thread(target=run, args=(name,)) for name in POOLS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # the window in which both searches ran trials
    begin = max(min(s["start"] for s in spans) for spans in found.values())
    end = min(max(s["end"] for s in spans) for spans in found.values())
    shares = {name: sum(max(0.0, min(s["end"], end) - max(s["start"], begin)) * s["tasks"]
                        for s in spans) for name, spans in found.items()}
    total = sum(shares.values()) or 1.0
    return {"window_s": end - begin,
            **{f"share_{name}": value / total for name, value in shares.items()},
            "heavy_over_light": shares["heavy"] / max(shares["light"], 1e-9)}


def _mean(runs: List[Dict[str, Any]], key: str, scale: float = 1.0, unit: str = "",
          digits: int = 2) -> str:
    """Mean ± standard error of ``key`` over the repeats."""
    values = [run[key] * scale for run in runs]
    error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {error:.{digits}f}{unit}"


def markdown(report: Dict[str, Any]) -> str:
    rows = ["| search | utilisation (held) | utilisation (needed) | trials/min | longest wait "
            "of a trial needing 4 tasks |", "|---|---|---|---|---|"]
    for label, key in (("1 or 4 tasks, by parameter", "mixed"), ("every trial 4 tasks",
                                                                   "all_four")):
        runs = report[key]
        rows.append(f"| {label} | {_mean(runs, 'utilisation', 100, '%', 0)} | "
                    f"{_mean(runs, 'needed_utilisation', 100, '%', 0)} | "
                    f"{_mean(runs, 'trials_per_minute', digits=1)} | "
                    f"{_mean(runs, 'longest_big_wait_s', unit=' s')} |")
    rows += ["", "| pools | share of weight 1 | share of weight 2 | ratio (goal 2) |",
             "|---|---|---|---|"]
    for label, key in (("weight 1 and 2", "pools"), ("both in the default pool", "default")):
        runs = report[key]
        rows.append(f"| {label} | {_mean(runs, 'share_light', 100, '%', 0)} | "
                    f"{_mean(runs, 'share_heavy', 100, '%', 0)} | "
                    f"{_mean(runs, 'heavy_over_light')} |")
    return "\n".join(rows)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks sharing",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", default="local-cluster[2,2,1024]",
                        help=f"a master with {SLOTS} task slots")
    parser.add_argument("--trials", type=int, default=24, help="trials per search")
    parser.add_argument("--seconds", type=float, default=1.0, help="each trial's sleep")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the four runs, for the standard errors")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(list(argv))
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.trials < 4 or args.seconds <= 0:
        parser.error("--trials must be at least 4 and --seconds positive")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # executors lack benchmarks/
    spark = start_session(args.master)
    report: Dict[str, Any] = {"master": args.master, "trials": args.trials,
                              "seconds": args.seconds, "repeats": args.repeats, "mixed": [],
                              "all_four": [], "pools": [], "default": []}
    for repeat in range(args.repeats):  # side by side: each repeat runs all four
        report["mixed"].append(mixed(spark, args.trials, args.seconds, True, repeat))
        report["all_four"].append(mixed(spark, args.trials, args.seconds, False, repeat))
        report["pools"].append(pools(spark, 2 * args.trials, args.seconds, in_pools=True))
        report["default"].append(pools(spark, 2 * args.trials, args.seconds, in_pools=False))
    print(markdown(report))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    spark.stop()
    return 0
