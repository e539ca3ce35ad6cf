"""One run of the search benchmark: one method on one problem at one parallelism and seed
(``run_one``), for ``benchmarks/search.py``. Each method runs in its own loop: hyperopt's
serial ``fmin``, hyperspark's loop on the local backend, or Optuna's ``study.optimize``; Optuna's
GP, which needs PyTorch, in a separate Python (``HYPERSPARK_OPTUNA_PYTHON``)."""
from __future__ import annotations

import argparse
import functools
import json
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from benchmarks.search_problems import MORE_PROBLEMS, PROBLEMS, Problem
from benchmarks.search_scores import METHODS
from benchmarks.tuning_problems import TUNING_PROBLEMS

SLEEP_S = (0.01, 0.05)


# ---------------------------------------------------------------------- one run
class Objective:
    """The problem's loss, after a random sleep when trials run in parallel; thread-safe."""

    def __init__(self, problem: Problem, seed: int, sleep: bool) -> None:
        self.problem, self.sleep = problem, sleep
        self._rng = np.random.default_rng(seed + 10_000)
        self._lock = threading.Lock()

    def __call__(self, params: Dict[str, Any]) -> float:
        if self.sleep:
            with self._lock:
                pause = float(self._rng.uniform(*SLEEP_S))
            time.sleep(pause)
        return float(self.problem.loss(params))


def _hyperopt_serial(problem: Problem, algo: Callable, seed: int) -> List[float]:
    from hyperopt import Trials, fmin

    trials = Trials()
    fmin(Objective(problem, seed, False), problem.space, algo=algo, max_evals=problem.budget,
         trials=trials, rstate=np.random.default_rng(seed), show_progressbar=False)
    return [doc["result"]["loss"] for doc in trials.trials]


def _hyperspark_loop(problem: Problem, algo: Callable, seed: int, parallelism: int,
                     max_queue_len: int = 1, reproducible: bool = False,
                     lag: Optional[int] = None) -> List[float]:
    from hyperspark import SparkTrials, fmin
    from hyperspark.hyperopt_internals import all_docs
    from hyperspark.record import TrialRecord

    trials = SparkTrials(backend="local", parallelism=parallelism, mlflow_tracking=False,
                         reproducible=reproducible, lag=lag)
    fmin(Objective(problem, seed, parallelism > 1), problem.space, algo=algo,
         max_evals=problem.budget, trials=trials, rstate=np.random.default_rng(seed),
         max_queue_len=max_queue_len, show_progressbar=False)
    records = sorted((TrialRecord.from_doc(d) for d in all_docs(trials)),
                     key=lambda r: r.recorded or 0)
    return [r.loss for r in records if r.loss is not None]


def _variant(method: str) -> tuple:
    """``name[:key=value,...]`` -> (name, hyperspark.tpe.suggest with those options)."""
    import hyperspark.tpe

    name, _, spec = method.partition(":")
    options = {k: _parse(v) for k, v in (item.split("=") for item in spec.split(",") if item)}
    return name, functools.partial(hyperspark.tpe.suggest, **options)


def _check_variant(parser: argparse.ArgumentParser, method: str) -> None:
    """Refuse a variant's options up front, by name, rather than in a worker mid-run."""
    import hyperspark.tpe
    from hyperspark.errors import InvalidArgument

    try:
        _, algo = _variant(method)
    except ValueError:
        parser.error(f"--methods: {method!r}: options are key=value, separated by commas")
    unknown = set(algo.keywords) - set(hyperspark.tpe.DEFAULTS)
    if unknown:
        parser.error(f"--methods: {method!r}: {', '.join(sorted(unknown))} is not one of "
                     f"hyperspark.tpe's options ({', '.join(hyperspark.tpe.DEFAULTS)})")
    from hyperopt import Domain, Trials, hp

    try:  # one suggestion on a throwaway space: hyperspark.tpe checks its own options
        algo([0], Domain(lambda params: 0.0, {"x": hp.uniform("x", 0, 1)}), Trials(), 0)
    except (InvalidArgument, TypeError) as error:
        parser.error(f"--methods: {method!r}: {error}")


def _finished_only(algo: Callable) -> Callable:
    """``algo`` shown the finished trials only (hyperspark's view before the parity fix)."""
    from hyperopt import base

    from hyperspark import hyperopt_internals as internals

    def suggest(new_ids: Any, domain: Any, trials: Any, seed: int) -> Any:
        done = [d for d in trials.trials if d["state"] == base.JOB_STATE_DONE]
        return algo(new_ids, domain, internals.finished_view(done, trials), seed)

    return suggest


def _optuna(problem: Problem, seed: int, parallelism: int, gp: bool = False) -> List[float]:
    """Optuna's default ``TPESampler`` (in Optuna 5: multivariate, constant liar), or its
    ``GPSampler``, with ``study.optimize(n_jobs=P)``."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sampler = (optuna.samplers.GPSampler(seed=seed) if gp
               else optuna.samplers.TPESampler(seed=seed))
    objective = Objective(problem, seed, parallelism > 1)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: objective(problem.optuna_params(trial)),
                   n_trials=problem.budget, n_jobs=parallelism)
    done = [t for t in study.trials if t.value is not None]
    done.sort(key=lambda t: t.datetime_complete)
    return [t.value for t in done]


OPTUNA_PYTHON_ENV = "HYPERSPARK_OPTUNA_PYTHON"
"""The Python of an environment with PyTorch, for ``optuna-gp`` (``--optuna-python``)."""


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _in_optuna_python(task: tuple) -> List[float]:
    """``run_one(*task)`` in the Python of ``HYPERSPARK_OPTUNA_PYTHON``, where Optuna's GP can
    import PyTorch; one BLAS and one torch thread, as each run here gets."""
    import subprocess

    python = os.environ.get(OPTUNA_PYTHON_ENV)
    if not python:
        raise RuntimeError("optuna-gp needs PyTorch, which this Python lacks: give "
                           "--optuna-python with the Python of an environment that has torch "
                           "and optuna (see python -m benchmarks gp_speed --help)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import json, sys; from benchmarks.search_runs import run_one; "
            "print(json.dumps(run_one(*json.loads(sys.argv[1]))['losses']))")
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    env.pop(OPTUNA_PYTHON_ENV)
    done = subprocess.run([python, "-c", code, json.dumps(list(task))], cwd=root, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"optuna-gp in {python} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


ALL_PROBLEMS = {**PROBLEMS, **MORE_PROBLEMS, **TUNING_PROBLEMS}


def run_one(problem_name: str, method: str, parallelism: int, seed: int,
            budget: Optional[int] = None) -> Dict[str, Any]:
    """One search; returns its losses in the order they arrived, and its wall time."""
    import dataclasses

    problem = ALL_PROBLEMS[problem_name]
    if budget is not None:
        problem = dataclasses.replace(problem, budget=budget)
    began = time.perf_counter()
    if method in ("optuna", "optuna-gp"):
        if method == "optuna-gp" and not _has_torch():
            losses = _in_optuna_python((problem_name, method, parallelism, seed, budget))
        else:
            losses = _optuna(problem, seed, parallelism, gp=method == "optuna-gp")
    else:
        losses = _hyperopt_style(problem, method, parallelism, seed)
    return {"problem": problem_name, "method": method, "parallelism": parallelism, "seed": seed,
            "losses": losses, "wall_s": time.perf_counter() - began}


def _hyperopt_style(problem: Problem, method: str, parallelism: int, seed: int) -> List[float]:
    """A method that is a hyperopt algorithm, in hyperopt's loop or hyperspark's."""
    from hyperopt import rand, tpe

    import hyperspark.tpe

    if method == "random":
        return _hyperopt_serial(problem, rand.suggest, seed)
    if method == "hyperopt-tpe" and parallelism == 1:
        return _hyperopt_serial(problem, tpe.suggest, seed)
    if method == "hyperopt-tpe":
        return _hyperspark_loop(problem, tpe.suggest, seed, parallelism)
    if method == "hyperopt-tpe-finished":
        return _hyperspark_loop(problem, _finished_only(tpe.suggest), seed, parallelism, 2)
    if method == "hyperspark-tpe":
        return _hyperspark_loop(problem, hyperspark.tpe.suggest, seed, parallelism)
    if method == "hyperspark-gp":
        import hyperspark.gp

        return _hyperspark_loop(problem, hyperspark.gp.suggest, seed, parallelism)
    if method == "hyperspark-auto":
        import hyperspark.auto

        return _hyperspark_loop(problem, hyperspark.auto.suggest, seed, parallelism)
    if method.startswith("hyperspark-tpe-reproducible"):
        # -reproducible[-Nx][:key=value,...]: lag N x P, and hyperspark.tpe's options
        name, algo = _variant(method)
        factor = name.rsplit("-", 1)[1] if name.endswith("x") else None
        lag = int(float(factor[:-1]) * parallelism) if factor else None
        return _hyperspark_loop(problem, algo, seed, parallelism, reproducible=True, lag=lag)
    if method.startswith("hyperspark-tpe:"):  # a variant: hyperspark-tpe:key=value,...
        return _hyperspark_loop(problem, _variant(method)[1], seed, parallelism)
    raise ValueError(f"unknown method {method!r}; one of {METHODS}")


def _parse(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


