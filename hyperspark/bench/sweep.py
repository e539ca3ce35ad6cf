"""Throughput against parallelism, for cluster sizing: ``hyperspark bench`` / ``python -m
benchmarks sweep``.

Sweeps parallelism x trial duration x backend x algorithm x tracking, with in-process
``hyperopt.Trials`` and hyperopt's own ``SparkTrials`` as baselines in the same run. For each
point: trials/s (min/median/max over repeats, after a warm-up run), efficiency against the ideal
(P / duration), per-trial overhead p50/p95 split into suggest, dispatch, run and record, and the
driver's peak RSS. Writes JSON, CSV, a Markdown table and a PNG plot, fits the sizing model
(``hyperspark.bench.sizing``) and prints its advice. Ctrl-C keeps the points finished so far.

    hyperspark bench --quick                       # a small sweep, about a minute
    hyperspark bench --master spark://host:7077 --parallelism 8 16 32 --durations 0.1 1
    hyperspark bench --remote sc://host:15002      # a Spark Connect cluster
"""
from __future__ import annotations

import argparse
import csv
import functools
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from hyperspark.bench import sizing
from hyperspark.bench.common import TimedAlgo, noop, quiet_logs, sleep_then, start_spark
from hyperspark.hyperopt_internals import all_docs
from hyperspark.record import TrialRecord

logger = logging.getLogger("hyperspark")

SPACE_KEY = "x"


def objective_for(duration_s: float) -> Callable[[float], float]:
    """A no-op (0), or an objective that sleeps ``duration_s`` seconds; both importable by
    name on the executors."""
    return noop if duration_s <= 0 else functools.partial(sleep_then, duration_s)


class PeakRss:
    """Samples this process's resident memory every 20 ms; ``peak_mb`` after ``stop``."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.rss_mb())
            self._stop.wait(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_mb, self.rss_mb())


def _percentiles(values: List[float]) -> Dict[str, Optional[float]]:
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    return {"p50": ordered[len(ordered) // 2],
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


def split_overhead(trials_object: Any, algo: TimedAlgo) -> Dict[str, Dict[str, Optional[float]]]:
    """Per-trial seconds: suggest (the algorithm), dispatch (loop start -> worker start), run
    (worker start -> end, the objective), record (worker end -> loop applied the result)."""
    parts: Dict[str, List[float]] = {"dispatch": [], "run": [], "record": []}
    for doc in all_docs(trials_object):
        trial = TrialRecord.from_doc(doc)
        if not (trial.booked and trial.start and trial.end and trial.recorded):
            continue
        parts["dispatch"].append(trial.start - trial.booked)
        parts["run"].append(trial.end - trial.start)
        parts["record"].append(trial.recorded - trial.end)
    result = {name: _percentiles(values) for name, values in parts.items()}
    result["suggest"] = _percentiles(algo.per_trial)
    return result


def run_point(spark: Any, point: Dict[str, Any], trials: int, repeats: int) -> Dict[str, Any]:
    """Measure one point of the sweep (a warm-up search first, not counted)."""
    from hyperopt import Trials, fmin, hp, rand, tpe
    from hyperopt import SparkTrials as HyperoptSparkTrials

    from hyperspark import SparkTrials

    algo_fn = {"rand": rand.suggest, "tpe": tpe.suggest}[point["algo"]]
    objective = objective_for(point["duration_s"])
    space = hp.uniform(SPACE_KEY, 0, 1)

    def make() -> Any:
        if point["backend"] == "in-process":
            return Trials()
        if point["backend"] == "hyperopt-sparktrials":
            return HyperoptSparkTrials(parallelism=point["parallelism"], spark_session=spark)
        return SparkTrials(parallelism=point["parallelism"], backend=point["backend"],
                           spark_session=spark, mlflow_tracking=point["tracking"])

    def one(n: int) -> Dict[str, Any]:
        trials_object, algo = make(), TimedAlgo(algo_fn)
        memory = PeakRss()
        began = time.perf_counter()
        fmin(objective, space, algo=algo, max_evals=n, trials=trials_object,
             show_progressbar=False)
        wall = time.perf_counter() - began
        return {"wall_s": wall, "trials_per_s": n / wall, "peak_rss_mb": memory.stop(),
                "overhead": split_overhead(trials_object, algo)}

    one(max(2, point["parallelism"]))  # warm-up: workers started, imports done
    runs = [one(trials) for _ in range(repeats)]
    rates = [r["trials_per_s"] for r in runs]
    median_run = sorted(runs, key=lambda r: r["trials_per_s"])[len(runs) // 2]
    ideal = (point["parallelism"] / point["duration_s"]
             if point["duration_s"] > 0 and point["backend"] != "in-process" else None)
    return {**point, "trials": trials, "repeats": repeats,
            "trials_per_s_min": min(rates), "trials_per_s_median": statistics.median(rates),
            "trials_per_s_max": max(rates), "ideal_trials_per_s": ideal,
            "efficiency": statistics.median(rates) / ideal if ideal else None,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "overhead": median_run["overhead"]}


def plan(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Every point of the sweep, baselines included, cheapest first."""
    points = []
    for duration in args.durations:
        for p in args.parallelism:
            for backend in args.backends:
                for algo in args.algos:
                    for tracking in args.tracking:
                        points.append({"backend": backend, "parallelism": p, "duration_s":
                                       duration, "algo": algo, "tracking": tracking == "on"})
            if "hyperopt-sparktrials" in args.baselines:
                points.append({"backend": "hyperopt-sparktrials", "parallelism": p,
                               "duration_s": duration, "algo": args.algos[0],
                               "tracking": False})
        if "in-process" in args.baselines:
            points.append({"backend": "in-process", "parallelism": 1, "duration_s": duration,
                           "algo": args.algos[0], "tracking": False})
    return points


def trials_for(point: Dict[str, Any], args: argparse.Namespace) -> int:
    """Enough trials for about ``--seconds-per-point`` of work, within bounds."""
    if point["backend"] == "hyperopt-sparktrials":
        return args.hyperopt_trials
    per_trial = point["duration_s"] / point["parallelism"] + (
        0.05 if point["backend"] == "jobs" else 0.002)
    return int(min(args.max_trials, max(args.min_trials * point["parallelism"],
                                         args.seconds_per_point / per_trial)))


def write_outputs(rows: List[Dict[str, Any]], out: str) -> Dict[str, str]:
    os.makedirs(out, exist_ok=True)
    paths = {kind: os.path.join(out, f"sweep.{kind}") for kind in ("json", "csv", "md", "png")}
    with open(paths["json"], "w") as handle:
        json.dump(rows, handle, indent=2)
    flat = [flatten(row) for row in rows]
    with open(paths["csv"], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for r in flat for k in r}))
        writer.writeheader()
        writer.writerows(flat)
    with open(paths["md"], "w") as handle:
        handle.write(markdown(rows) + "\n")
    if not plot(rows, paths["png"]):
        del paths["png"]
    return paths


def flatten(row: Dict[str, Any]) -> Dict[str, Any]:
    flat = {k: v for k, v in row.items() if k != "overhead"}
    for part, stats in row.get("overhead", {}).items():
        for name, value in stats.items():
            flat[f"{part}_{name}_ms"] = None if value is None else 1000 * value
    return flat


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{1000 * value:.1f}"


def markdown(rows: List[Dict[str, Any]]) -> str:
    lines = ["| backend | P | duration | algo | tracking | trials/s (min / median / max) | "
             "efficiency | suggest p50/p95 ms | dispatch p50/p95 ms | run p50 ms | "
             "record p50/p95 ms | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        o = r["overhead"]
        eff = "-" if r["efficiency"] is None else f"{r['efficiency']:.3f}"
        lines.append(
            f"| {r['backend']} | {r['parallelism']} | {r['duration_s']:g} s | {r['algo']} | "
            f"{'on' if r['tracking'] else 'off'} | {r['trials_per_s_min']:.1f} / "
            f"{r['trials_per_s_median']:.1f} / {r['trials_per_s_max']:.1f} | {eff} | "
            f"{_ms(o['suggest']['p50'])} / {_ms(o['suggest']['p95'])} | "
            f"{_ms(o['dispatch']['p50'])} / {_ms(o['dispatch']['p95'])} | {_ms(o['run']['p50'])} "
            f"| {_ms(o['record']['p50'])} / {_ms(o['record']['p95'])} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def plot(rows: List[Dict[str, Any]], path: str) -> bool:
    """Throughput against parallelism, one panel per trial duration, one line per backend
    (first algorithm, tracking off), the ideal dashed. False (and no file) without
    matplotlib: ``pip install 'hyperspark[bench]'`` adds it."""
    try:
        import matplotlib
    except ImportError:
        logger.warning("no plot: matplotlib is not installed (pip install 'hyperspark[bench]')")
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    durations = sorted({r["duration_s"] for r in rows})
    figure, axes = plt.subplots(1, len(durations), figsize=(5 * len(durations), 4),
                                squeeze=False)
    algo = rows[0]["algo"] if rows else "rand"
    for axis, duration in zip(axes[0], durations):
        here = [r for r in rows if r["duration_s"] == duration and not r["tracking"]
                and r["algo"] == algo]
        for backend in sorted({r["backend"] for r in here} - {"in-process"}):
            line = sorted((r for r in here if r["backend"] == backend),
                          key=lambda r: r["parallelism"])
            axis.plot([r["parallelism"] for r in line],
                      [r["trials_per_s_median"] for r in line], marker="o", label=backend)
        for r in (r for r in here if r["backend"] == "in-process"):
            axis.axhline(r["trials_per_s_median"], color="grey", linestyle=":",
                         label="in-process hyperopt.Trials")
        ps = sorted({r["parallelism"] for r in here if r["backend"] != "in-process"})
        if duration > 0 and ps:
            axis.plot(ps, [p / duration for p in ps], "k--", label="ideal (P / duration)")
        axis.set_title(f"trial duration {duration:g} s" if duration else "no-op objective")
        axis.set_xlabel("parallelism")
        axis.set_ylabel("trials / s")
        axis.set_xscale("log", base=2)
        if ps:
            axis.set_xticks(ps, [str(p) for p in ps])
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperspark bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--master", default="local[8]",
                        help="local[N], local-cluster[...] or spark://host:port")
    parser.add_argument("--remote", default=None,
                        help="size a Spark Connect cluster instead: sc://host:port, or "
                             "'local' for a local Connect server (hyperopt's SparkTrials "
                             "baseline cannot run there and is left out)")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--durations", type=float, nargs="+", default=[0, 0.01, 0.1, 1.0],
                        help="seconds per trial (0: no-op)")
    parser.add_argument("--backends", nargs="+", default=["actors", "jobs"],
                        choices=["actors", "jobs"])
    parser.add_argument("--algos", nargs="+", default=["rand"], choices=["rand", "tpe"])
    parser.add_argument("--tracking", nargs="+", default=["off"], choices=["off", "on"])
    parser.add_argument("--baselines", nargs="*", default=["in-process", "hyperopt-sparktrials"],
                        choices=["in-process", "hyperopt-sparktrials"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds-per-point", type=float, default=4.0)
    parser.add_argument("--min-trials", type=int, default=4, help="per unit of parallelism")
    parser.add_argument("--max-trials", type=int, default=2000)
    parser.add_argument("--hyperopt-trials", type=int, default=4)
    parser.add_argument("--target-duration", type=float, default=1.0,
                        help="sizing advice: seconds per trial of your search")
    parser.add_argument("--target-trials", type=int, default=1000,
                        help="sizing advice: trials in your search")
    parser.add_argument("--efficiency-threshold", type=float, default=0.8)
    parser.add_argument("--scaling-trials", type=int, default=2000,
                        help="the driver scaling check (TPE, actors); 0 to skip")
    parser.add_argument("--out", default="hyperspark-bench",
                        help="folder for the results (created; default ./hyperspark-bench)")
    parser.add_argument("--quick", action="store_true",
                        help="a small sweep: P 1 2, durations 0 0.05, 1 repeat")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Bad values end the command at once, naming the option (argparse exits with status 2)."""
    if any(p < 1 for p in args.parallelism):
        parser.error(f"--parallelism: every value must be >= 1, got {args.parallelism}")
    if any(d < 0 for d in args.durations):
        parser.error(f"--durations: seconds must be >= 0, got {args.durations}")
    for name in ("repeats", "min_trials", "max_trials", "hyperopt_trials", "target_trials"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.scaling_trials < 0 or 0 < args.scaling_trials < 20:
        parser.error(f"--scaling-trials must be 0 (skip) or >= 20, got {args.scaling_trials}")
    if not 0 < args.efficiency_threshold <= 1:
        parser.error(f"--efficiency-threshold must be in (0, 1], got {args.efficiency_threshold}")
    if args.seconds_per_point <= 0 or args.target_duration < 0:
        parser.error("--seconds-per-point must be > 0 and --target-duration >= 0")
    if args.remote is not None and not (args.remote.startswith("sc://")
                                        or args.remote.startswith("local")):
        parser.error(f"--remote must be sc://host:port, local or local[N], got {args.remote!r}")


def run(argv: Sequence[str] = ()) -> Tuple[int, str]:
    """Run the sweep ``hyperspark bench`` describes; returns its exit code (130 when
    interrupted, with the points finished so far kept) and its report: the table, the sizing
    advice, the driver's scaling and where the outputs went. The command prints the report.

    >>> code, report = run(["--quick"])  # doctest: +SKIP
    """
    from tqdm import tqdm

    parser = build_parser()
    args = parser.parse_args(list(argv))
    check_arguments(parser, args)
    if args.quick:
        args.parallelism, args.durations, args.repeats = [1, 2], [0.0, 0.05], 1
        args.seconds_per_point, args.hyperopt_trials, args.scaling_trials = 1.0, 2, 200
    if args.remote and "hyperopt-sparktrials" in args.baselines:
        args.baselines = [b for b in args.baselines if b != "hyperopt-sparktrials"]
        logger.warning("Spark Connect: hyperopt's SparkTrials baseline left out (it needs a "
                       "SparkContext)")
    quiet_logs()
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession()  # a session of the caller's stays up
    spark = start_spark(args.master, "hyperspark-bench", args.remote)
    own_spark = existing is None or spark is not existing
    points, rows = plan(args), []
    interrupted = False
    import mlflow

    previous_uri = mlflow.get_tracking_uri()
    with tempfile.TemporaryDirectory() as store:
        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")  # tracking=on points log here
        try:
            for point in tqdm(points, desc="sweep", unit="point"):
                rows.append(run_point(spark, point, trials_for(point, args), args.repeats))
        except KeyboardInterrupt:
            interrupted = True
            logger.warning("interrupted: keeping the %d finished point(s)", len(rows))
        finally:
            mlflow.set_tracking_uri(previous_uri)
        scaling = None
        try:
            if not interrupted and args.scaling_trials:
                scaling = sizing.driver_scaling(spark, args.scaling_trials)
        finally:  # a cluster's executors end with the application, before this process does
            if own_spark:
                spark.stop()
    paths = write_outputs(rows, args.out) if rows else {}
    advice = sizing.advise(rows, args.target_duration, args.target_trials,
                           args.efficiency_threshold)
    report = [markdown(rows), advice["text"]] + ([scaling["text"]] if scaling else [])
    summary = {"advice": advice, "scaling": scaling, "outputs": paths, "interrupted": interrupted}
    if paths:
        with open(os.path.join(args.out, "sizing.json"), "w") as handle:
            json.dump(summary, handle, indent=2, default=str)
        report.append("outputs: " + ", ".join(paths.values()))
    return (130 if interrupted else 0), "\n\n".join(report)
