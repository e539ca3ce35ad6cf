"""One attempt of a trial, on whatever runs it (a Spark executor, an actor, a driver thread):
everything the objective does wrong comes back as data, never as an exception."""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional, Tuple, Type

from hyperopt import pyll
from hyperopt.base import Ctrl
from hyperopt.utils import use_obj_for_literal_in_memo

from hyperspark.errors import TrialPruned
from hyperspark.outcome import FailureKind, Outcome
from hyperspark.reporting import Reporter, reporting
from hyperspark.distributed import TrialContext, installed
from hyperspark.worker.environment import trial_environment
from hyperspark.worker.results import InvalidResult, normalize_result

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
                reporter: Optional[Reporter] = None,
                context: Optional[TrialContext] = None) -> Outcome:
    """Evaluate one attempt of trial ``tid``: whatever happens, the ``Outcome`` says it.

    A failure is ``retryable`` when the objective raised one of the types in ``retry_on``.
    ``on_start`` is called just before the objective (its errors are ignored): the moment the
    trial's ``trial_timeout`` starts to count. ``own_process``: see ``trial_environment``.
    ``reporter``: where ``hyperspark.report()`` sends this attempt's reports. ``context``:
    what ``hyperspark.trial_context()`` answers (a rank of a trial of several tasks).
    """
    start: Optional[float] = None
    try:
        with trial_environment(env or {}, own_process=own_process), \
                reporting(reporter, own_process=own_process), \
                installed(context, own_process=own_process):
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
        return Outcome.failed(FailureKind.USER, _from_objective(exc), start, time.time(),
                              retryable=isinstance(exc, retry_on))
    return Outcome.succeeded(result, start, time.time())


def _from_objective(exc: BaseException) -> BaseException:
    """``exc`` with its traceback starting at the objective: this module's frames (the call
    into the objective) say nothing to the person reading it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return exc.with_traceback(tb) if tb is not None else exc


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
