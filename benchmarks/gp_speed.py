"""How long a GP suggestion takes as the history grows: ``python -m benchmarks gp_speed``.

On one problem, 5 continuous parameters (Optuna's own measurement of its ``GPSampler`` used
5): N finished trials at the same points for every method, then one more suggestion, timed
warm as in a running search (between two timed suggestions one more trial finishes; the
median of ``--repeats``). A GP refits its kernel now and then (``hyperspark.gp``: on a
schedule of trial counts), so the mean and the worst are printed beside the median.

- ``hyperspark.gp.suggest`` and ``hyperspark.auto.suggest``, in this process;
- Optuna's ``GPSampler``, in the Python given by ``--optuna-python``: a separate environment
  with PyTorch, which Optuna's GP needs and which hyperspark never installs (its CPU wheel is
  about 1 GB; PyPI's default brings CUDA, 5.7 GB):

      python -m venv /opt/optuna-gp && /opt/optuna-gp/bin/pip install torch optuna
      python -m benchmarks gp_speed --optuna-python /opt/optuna-gp/bin/python

    python -m benchmarks gp_speed --sizes 100 300 --repeats 5     # quick, no Optuna
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

DIMENSIONS = 5


def points(count: int, seed: int = 0) -> np.ndarray:
    """The history's points, in [0, 1]^5, the same for every method."""
    return np.random.default_rng(seed).random((count, DIMENSIONS))


def loss(x: Sequence[float]) -> float:
    """A smooth bowl with a ripple (what a GP is for)."""
    x = np.asarray(x, dtype=float)
    return float(np.sum((x - 0.3) ** 2) + 0.1 * np.sin(7 * x).sum())


def time_hyperspark(algo: Callable, finished: int, repeats: int) -> Dict[str, float]:
    """Seconds per warm suggestion of a hyperopt-style ``algo``: median, mean, worst."""
    from hyperopt import Trials, base, hp

    space = {f"x{i}": hp.uniform(f"x{i}", 0, 1) for i in range(DIMENSIONS)}
    domain = base.Domain(lambda p: 0.0, space)
    trials = Trials()
    rows = points(finished + repeats)
    for tid in range(finished):
        _add(trials, domain, tid, rows[tid])
    trials.refresh()
    algo([finished], domain, trials, 0)  # the first call of a search builds its state
    times = []
    for repeat in range(repeats):
        _add(trials, domain, finished + repeat, rows[finished + repeat])  # one more finishes
        trials.refresh()
        began = time.perf_counter()
        algo([finished + repeat + 1], domain, trials, repeat + 1)
        times.append(time.perf_counter() - began)
    return _summary(times)


def _add(trials: Any, domain: Any, tid: int, row: np.ndarray) -> None:
    from hyperopt import base

    vals = {f"x{i}": [float(row[i])] for i in range(DIMENSIONS)}
    misc = {"tid": tid, "cmd": domain.cmd, "workdir": None, "vals": vals,
            "idxs": {label: [tid] for label in vals}}
    doc = trials.new_trial_docs([tid], [None], [{"status": "ok", "loss": loss(row)}],
                                [misc])[0]
    doc["state"] = base.JOB_STATE_DONE
    trials.insert_trial_docs([doc])


def _summary(times: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(times), "mean": statistics.fmean(times),
            "max": max(times)}


OPTUNA_SCRIPT = """
import json, sys, time, statistics
import numpy as np, optuna
from optuna.distributions import FloatDistribution
optuna.logging.set_verbosity(optuna.logging.WARNING)
finished, repeats, dims = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rows = np.random.default_rng(0).random((finished + repeats, dims))
def loss(x):
    return float(np.sum((x - 0.3) ** 2) + 0.1 * np.sin(7 * x).sum())
dist = {f"x{i}": FloatDistribution(0, 1) for i in range(dims)}
study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0))
def add(row):
    study.add_trial(optuna.trial.create_trial(
        params={f"x{i}": float(row[i]) for i in range(dims)}, distributions=dist,
        value=loss(row)))
for k in range(finished):
    add(rows[k])
times = []
for repeat in range(repeats + 1):
    began = time.perf_counter()
    trial = study.ask()
    for i in range(dims):
        trial.suggest_float(f"x{i}", 0, 1)
    took = time.perf_counter() - began
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    if repeat:  # the first is the cold one
        times.append(took)
    add(rows[finished + min(repeat, repeats - 1)])
print(json.dumps({"median": statistics.median(times), "mean": statistics.fmean(times),
                  "max": max(times), "optuna": optuna.__version__}))
"""


def time_optuna(python: str, finished: int, repeats: int) -> Optional[Dict[str, Any]]:
    """Optuna's GPSampler in another Python (with PyTorch), on the same points."""
    done = subprocess.run([python, "-c", OPTUNA_SCRIPT, str(finished), str(repeats),
                           str(DIMENSIONS)], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        print(f"Optuna's GPSampler failed: {done.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks gp_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 300, 1000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--optuna-python", default=None,
                        help="a Python with optuna and torch (Optuna's GPSampler)")
    args = parser.parse_args(list(argv or []))
    if any(size < 1 for size in args.sizes) or args.repeats < 2:
        parser.error("--sizes must be >= 1 and --repeats >= 2")
    import hyperspark.auto
    import hyperspark.gp

    print("| finished trials | hyperspark.gp median (mean, worst) | hyperspark.auto median | "
          "Optuna GPSampler median (mean) | Optuna / hyperspark.gp |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        ours = time_hyperspark(hyperspark.gp.suggest, size, args.repeats)
        auto = time_hyperspark(hyperspark.auto.suggest, size, args.repeats)
        theirs = time_optuna(args.optuna_python, size, args.repeats) \
            if args.optuna_python else None
        ratio = f"{theirs['median'] / ours['median']:.1f}x" if theirs else ""
        optuna_cell = (f"{1000 * theirs['median']:.0f} ms ({1000 * theirs['mean']:.0f})"
                       if theirs else "not run")
        print(f"| {size:,} | {1000 * ours['median']:.1f} ms ({1000 * ours['mean']:.1f}, "
              f"{1000 * ours['max']:.0f}) | {1000 * auto['median']:.1f} ms | {optuna_cell} | "
              f"{ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
