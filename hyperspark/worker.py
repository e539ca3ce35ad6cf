"""Runs on the worker (a Spark executor, an actor, or a local thread): evaluates one attempt.

Everything the objective does wrong comes back as data, never as an exception: the task that
ran it succeeds, so Spark never retries a trial on its own, and an exception object that cannot
be pickled still reaches the driver as its type name, message and formatted traceback.
"""
from __future__ import annotations

import collections
import math
import numbers
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple, Type

from hyperopt import pyll
from hyperopt.base import STATUS_OK, STATUS_STRINGS, Ctrl
from hyperopt.utils import use_obj_for_literal_in_memo

from hyperspark.errors import TrialPruned
from hyperspark.outcome import FailureKind, Outcome
from hyperspark.reporting import Reporter, reporting


_WORKER_STATE: Dict[str, Any] = {}
"""What ``worker_setup`` returned in this worker process, by search id; the current one under
the key ``"current"``."""


def worker_state() -> Any:
    """The object your ``worker_setup`` returned on this worker (run once per worker).

    Call it inside the objective to reach data or a model loaded once per worker::

        def load():
            return load_dataset()          # once per actor / Python worker

        def objective(params):
            data = hyperspark.worker_state()
            ...

        SparkTrials(backend="actors", worker_setup=load)
    """
    if "current" not in _WORKER_STATE:
        raise RuntimeError("no worker_setup ran on this worker: pass "
                           "SparkTrials(worker_setup=...) to use hyperspark.worker_state()")
    return _WORKER_STATE["current"]


def ensure_worker_setup(search_id: str, setup: Optional[Callable[[], Any]]) -> None:
    """Run ``setup`` once per search in this worker process and make its value current."""
    if setup is None:
        _WORKER_STATE.pop("current", None)
        return
    if search_id not in _WORKER_STATE:
        for old in [key for key in _WORKER_STATE if key != "current"]:
            del _WORKER_STATE[old]  # keep one search's state at a time
        _WORKER_STATE[search_id] = setup()
    _WORKER_STATE["current"] = _WORKER_STATE[search_id]


_SEARCHES: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
_SEARCHES_KEPT = 4


def load_search(search_id: str, payload: Any) -> Any:
    """The search's objective (a hyperopt ``Domain``), unpickled once per worker process from
    ``payload`` (anything with ``read() -> bytes``), with its ``worker_setup`` run once there
    too. A few recent searches stay cached."""
    import cloudpickle

    domain = _SEARCHES.get(search_id)
    if domain is None:
        domain, setup = cloudpickle.loads(payload.read())
        ensure_worker_setup(search_id, setup)
        _SEARCHES[search_id] = domain
        while len(_SEARCHES) > _SEARCHES_KEPT:
            _SEARCHES.popitem(last=False)
    return domain


def setup_failure(exc: BaseException) -> Outcome:
    """The outcome of a trial whose worker could not load the objective or run worker_setup."""
    return Outcome.failed(FailureKind.SETUP, exc, prefix="the objective or worker_setup could "
                          "not be loaded on the executor: ")


class InvalidResult(ValueError):
    """The objective returned something hyperopt cannot record."""


def normalize_result(value: Any) -> Dict[str, Any]:
    """Turn what the objective returned into a hyperopt result dict, or raise InvalidResult.

    >>> normalize_result(0.5)
    {'loss': 0.5, 'status': 'ok'}
    """
    if isinstance(value, numbers.Real):
        loss = float(value)
        _check_finite(loss)
        return {"loss": loss, "status": STATUS_OK}
    if not isinstance(value, Mapping):
        raise InvalidResult(f"the objective must return a number or a dict with 'status' (and "
                            f"'loss' when status is 'ok'), got {type(value).__name__}: "
                            f"{_short_repr(value)}")
    result = dict(value)
    if "status" not in result:
        raise InvalidResult(f"the result dict has no 'status' key (one of {STATUS_STRINGS}); "
                            f"keys: {sorted(map(str, result))}")
    if result["status"] not in STATUS_STRINGS:
        raise InvalidResult(f"result status {result['status']!r} is not one of {STATUS_STRINGS}")
    if result["status"] == STATUS_OK:
        if "loss" not in result:
            raise InvalidResult("a result with status 'ok' must have a 'loss'")
        try:
            result["loss"] = float(result["loss"])
        except (TypeError, ValueError):
            raise InvalidResult(f"loss must be a number, got {_short_repr(result['loss'])}") \
                from None
        _check_finite(result["loss"])
    return result


def _check_finite(loss: float) -> None:
    if not math.isfinite(loss):
        raise InvalidResult(f"loss must be a finite number, got {loss}")


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


_env_lock = threading.Lock()
_env_users: Dict[str, int] = {}  # variable -> attempts in this process that set it now
_env_original: Dict[str, Optional[str]] = {}  # its value before the first of them


@contextmanager
def trial_environment(env: Mapping[str, str], *, own_process: bool = False) -> Iterator[None]:
    """Set ``env`` for the duration of one attempt and restore the previous values after.

    Python workers are reused between tasks, so nothing of one trial may leak into the next.
    Attempts that overlap in one process (the local backend's threads) share ``os.environ``:
    each variable gets its original value back when the last of them ends.

    ``own_process``: the attempt runs in a worker process that serves nothing else (an
    executor's Python worker, an actor). Every MLflow run left active there is then ended
    before and after the attempt: a run the objective started while tracking was off would
    otherwise catch the next trial's ``mlflow.log_*`` calls, even a tracked trial's.
    """
    if own_process:
        _end_mlflow_runs()
    with _env_lock:
        for key in env:
            if _env_users.get(key, 0) == 0:
                _env_original[key] = os.environ.get(key)
            _env_users[key] = _env_users.get(key, 0) + 1
        os.environ.update(env)
    try:
        yield
    finally:
        if own_process or "MLFLOW_RUN_ID" in env:
            _end_mlflow_runs()
        with _env_lock:
            for key in env:
                _env_users[key] -= 1
                if _env_users[key] == 0:
                    old = _env_original.pop(key)
                    if old is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = old


def _end_mlflow_runs() -> None:
    """End every MLflow run the objective left active: the worker process serves other trials.

    The run ends FINISHED here; the driver sets the trial's real final status afterwards.
    mlflow is not imported when the objective did not use it.
    """
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return
    try:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    except Exception:  # tracking must never turn a result into a failure
        pass


def evaluate(domain: Any, spec: Mapping[str, Any], tid: int) -> Any:
    """Call the objective at ``spec`` the way ``hyperopt.base.Domain.evaluate`` does."""
    ctrl = Ctrl(None, current_trial={"tid": tid, "result": {"status": "new"}})
    memo = domain.memo_from_config(dict(spec))
    use_obj_for_literal_in_memo(domain.expr, ctrl, Ctrl, memo)
    if domain.pass_expr_memo_ctrl:
        return domain.fn(expr=domain.expr, memo=memo, ctrl=ctrl)
    return domain.fn(pyll.rec_eval(domain.expr, memo=memo))


def run_attempt(domain: Any, spec: Mapping[str, Any], tid: int,
                retry_on: Tuple[Type[BaseException], ...] = (),
                env: Optional[Mapping[str, str]] = None,
                on_start: Optional[Callable[[], None]] = None,
                own_process: bool = False,
                reporter: Optional[Reporter] = None) -> Outcome:
    """Evaluate one attempt of trial ``tid``: whatever happens, the ``Outcome`` says it.

    A failure is ``retryable`` when the objective raised one of the types in ``retry_on``.
    ``on_start`` is called just before the objective (its errors are ignored): the moment the
    trial's ``trial_timeout`` starts to count. ``own_process``: see ``trial_environment``.
    ``reporter``: where ``hyperspark.report()`` sends this attempt's reports.
    """
    start: Optional[float] = None
    try:
        with trial_environment(env or {}, own_process=own_process), \
                reporting(reporter, own_process=own_process):
            if on_start is not None:
                try:
                    on_start()
                except Exception:
                    pass
            start = time.time()
            raw = evaluate(domain, spec, tid)
        result = normalize_result(raw)
    except InvalidResult as exc:
        return Outcome.failed(FailureKind.INVALID_RESULT, exc, start, time.time())
    except TrialPruned as exc:  # never retried, whatever retry_on says
        return Outcome.failed(FailureKind.PRUNED, exc, start, time.time())
    except Exception as exc:  # the user's code: every exception becomes data
        return Outcome.failed(FailureKind.USER, exc, start, time.time(),
                              retryable=isinstance(exc, retry_on))
    return Outcome.succeeded(result, start, time.time())


def unpicklable_result(outcome: Outcome, exc: BaseException) -> Outcome:
    """The outcome sent instead of one whose result cannot be pickled."""
    return Outcome.failed(FailureKind.INVALID_RESULT,
                          TypeError(f"the result cannot be pickled: {exc}"),
                          outcome.start, outcome.end)


def pack(value: Any) -> bytes:
    """``value`` pickled for the driver. An ``Outcome`` whose result cannot be pickled becomes
    an invalid-result failure that can."""
    import cloudpickle

    try:
        return cloudpickle.dumps(value)
    except Exception as exc:
        if not isinstance(value, Outcome):
            raise
        return cloudpickle.dumps(unpicklable_result(value, exc))
