"""The sizing model: fit from sweep measurements, predict wall time at each parallelism, and
check the driver scales. Used by ``hyperspark.bench.sweep``.

Model, per backend: seconds per trial = s + (d + o) / P, where d is the trial's duration,
s the serial part on the driver (suggesting and recording: it does not shrink with more
slots) and o the per-trial overhead of running a trial on a slot (dispatch). Throughput is
its inverse; efficiency against the ideal P / d is d / (P*s + d + o), so beyond
P* = (d / threshold - d - o) / s adding slots stops paying.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hyperspark.bench.common import SPACE, TimedAlgo, noop
from hyperspark.hyperopt_internals import all_docs
from hyperspark.record import TrialRecord


def fit(rows: Sequence[Dict[str, Any]]) -> Optional[Tuple[float, float]]:
    """Least-squares (s, o) from rows of one backend; None with fewer than two distinct P."""
    if len({r["parallelism"] for r in rows}) < 2 and len({r["duration_s"] for r in rows}) < 2:
        return None
    x = np.array([1.0 / r["parallelism"] for r in rows])
    y = np.array([1.0 / r["trials_per_s_median"] - r["duration_s"] / r["parallelism"]
                  for r in rows])
    design = np.vstack([np.ones_like(x), x]).T
    (serial, overhead), *_ = np.linalg.lstsq(design, y, rcond=None)
    return max(0.0, float(serial)), max(0.0, float(overhead))


def predict_rate(model: Tuple[float, float], duration: float, parallelism: int) -> float:
    serial, overhead = model
    return 1.0 / (serial + (duration + overhead) / parallelism)


def advise(rows: List[Dict[str, Any]], target_duration: float, target_trials: int,
           threshold: float) -> Dict[str, Any]:
    """For each backend: the fitted model, its error on a held-out point, and predicted wall
    time and efficiency at P = 1, 2, 4, ... 256 for the target search."""
    lines = [f"Sizing advice for {target_trials} trials of {target_duration:g} s each "
             f"(efficiency threshold {threshold:.0%}):"]
    result: Dict[str, Any] = {"backends": {}}
    for backend in ("actors", "jobs"):
        mine = [r for r in rows if r["backend"] == backend and not r["tracking"]
                and r["algo"] == rows[0]["algo"]]
        model = fit(mine)
        if model is None:
            continue
        entry: Dict[str, Any] = {"serial_s": model[0], "overhead_s": model[1]}
        held = max(mine, key=lambda r: (r["duration_s"], r["parallelism"]))
        partial = fit([r for r in mine if r is not held])
        if partial is not None:
            predicted = predict_rate(partial, held["duration_s"], held["parallelism"])
            entry["check"] = {"point": {k: held[k] for k in ("parallelism", "duration_s")},
                              "predicted": predicted, "measured": held["trials_per_s_median"],
                              "error": predicted / held["trials_per_s_median"] - 1}
        table = []
        for p in [2 ** k for k in range(9)]:
            rate = predict_rate(model, target_duration, p)
            efficiency = rate / (p / target_duration) if target_duration > 0 else None
            table.append({"parallelism": p, "wall_s": target_trials / rate,
                          "trials_per_hour": 3600 * rate, "efficiency": efficiency})
        serial, overhead = model
        entry["max_useful_parallelism"] = (
            None if serial == 0 or target_duration <= 0 else
            max(1, int((target_duration / threshold - target_duration - overhead) / serial)))
        entry["table"] = table
        result["backends"][backend] = entry
        lines.append(f"\n{backend}: serial driver cost s = {1000 * serial:.2f} ms per trial, "
                     f"per-trial slot overhead o = {1000 * overhead:.1f} ms")
        if "check" in entry:
            c = entry["check"]
            lines.append(f"  model check on a point it was not fitted on (P={c['point']['parallelism']}, "
                         f"{c['point']['duration_s']:g} s): predicted {c['predicted']:.2f} "
                         f"trials/s, measured {c['measured']:.2f}: error {c['error']:+.1%}")
        lines.append("  P     wall time    trials/hour   efficiency")
        for row in table:
            eff = "-" if row["efficiency"] is None else f"{row['efficiency']:.0%}"
            lines.append(f"  {row['parallelism']:<5} {_duration(row['wall_s']):>10}   "
                         f"{row['trials_per_hour']:>11,.0f}   {eff:>9}")
        if entry["max_useful_parallelism"] is not None:
            lines.append(f"  beyond P = {entry['max_useful_parallelism']} efficiency drops "
                         f"below {threshold:.0%}: more slots stop paying")
        elif target_duration > 0:  # no driver cost measured: efficiency is the same at every P
            flat = target_duration / (target_duration + overhead)
            lines.append(f"  efficiency {flat:.0%} at every P (no per-trial driver cost "
                         f"measured on these points), {'above' if flat >= threshold else 'below'}"
                         f" {threshold:.0%}")
    if not result["backends"]:
        lines.append("not enough points to fit (need two parallelisms or durations per backend)")
    result["text"] = "\n".join(lines)
    return result


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def driver_scaling(spark: Any, trials: int, parallelism: int = 1,
                   queue_lens: Sequence[int] = (1, 4)) -> Dict[str, Any]:
    """TPE, a no-op objective, actors: does the per-trial cost stay flat over ``trials``?

    For the first and the last 10 % of trials: the cycle (interval between two recorded
    results), TPE's suggestion time, and hyperspark's own part (cycle minus suggestion).
    """
    from hyperopt import fmin, tpe

    from hyperspark import SparkTrials

    report: Dict[str, Any] = {"trials": trials, "parallelism": parallelism, "runs": {}}
    lines = [f"Driver scaling: {trials} TPE trials, no-op objective, actors, P={parallelism}"]
    for queue_len in queue_lens:
        trials_object = SparkTrials(parallelism=parallelism, backend="actors",
                                    spark_session=spark, mlflow_tracking=False)
        algo = TimedAlgo(tpe.suggest)
        began = time.perf_counter()
        fmin(noop, SPACE, algo=algo, max_evals=trials, trials=trials_object,
             max_queue_len=queue_len, show_progressbar=False)
        wall = time.perf_counter() - began
        recorded = sorted(TrialRecord.from_doc(d).recorded for d in all_docs(trials_object))
        cycles = np.diff(recorded)
        tenth = max(1, len(cycles) // 10)
        suggest = algo.per_trial
        first = {"cycle": statistics.fmean(cycles[:tenth]),
                 "suggest": statistics.fmean(suggest[:tenth])}
        last = {"cycle": statistics.fmean(cycles[-tenth:]),
                "suggest": statistics.fmean(suggest[-tenth:])}
        for part in (first, last):
            part["own"] = max(0.0, part["cycle"] - part["suggest"])
        run = {"wall_s": wall, "first": first, "last": last,
               "cycle_growth": last["cycle"] / first["cycle"],
               "own_growth_ms": 1000 * (last["own"] - first["own"]),
               "suggest_share_last": min(1.0, last["suggest"] / last["cycle"])}
        report["runs"][queue_len] = run
        lines.append(
            f"  max_queue_len={queue_len}: {trials / wall:.0f} trials/s; per trial, first 10% "
            f"{1000 * first['cycle']:.1f} ms (TPE {1000 * first['suggest']:.1f}), last 10% "
            f"{1000 * last['cycle']:.1f} ms (TPE {1000 * last['suggest']:.1f}); growth "
            f"{run['cycle_growth']:.2f}x, of which hyperspark's own part "
            f"{run['own_growth_ms']:+.1f} ms")
    lines.append("  (TPE's cost grows with the history; hyperspark's own part should not. With "
                 "a no-op objective the suggestion rate is the bound: nothing else to overlap)")
    report["text"] = "\n".join(lines)
    return report
