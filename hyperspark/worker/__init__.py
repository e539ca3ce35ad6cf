"""Runs on the worker (a Spark executor, an actor, or a local thread): evaluates one attempt.

Everything the objective does wrong comes back as data, never as an exception: the task that
ran it succeeds, so Spark never retries a trial on its own, and an exception object that cannot
be pickled still reaches the driver as its type name, message and formatted traceback.
"""
from hyperspark.worker.attempt import evaluate, pack, run_attempt, unpicklable_result
from hyperspark.worker.environment import trial_environment
from hyperspark.worker.results import InvalidResult, normalize_result
from hyperspark.worker.state import (SearchCache, ensure_worker_setup, load_search, setup_failure,
                                     worker_state)

__all__ = ["evaluate", "pack", "run_attempt", "unpicklable_result", "trial_environment",
           "InvalidResult", "normalize_result", "SearchCache", "ensure_worker_setup",
           "load_search", "setup_failure", "worker_state"]
