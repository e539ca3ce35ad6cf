"""``hyperspark.fmin``: hyperopt's ``fmin`` with a SparkTrials by default and warm starts."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

import hyperopt

from hyperspark import config, tpe
from hyperspark import hyperopt_internals as internals
from hyperspark.points import insert_points
from hyperspark.space import check_space
from hyperspark.trials import SparkTrials


def fmin(fn: Callable, space: Any, algo: Optional[Callable] = None,
         max_evals: Optional[int] = None, timeout: Optional[float] = None,
         loss_threshold: Optional[float] = None, trials: Any = None, rstate: Any = None,
         allow_trials_fmin: bool = True, pass_expr_memo_ctrl: Any = None,
         catch_eval_exceptions: bool = False, verbose: bool = True, return_argmin: bool = True,
         points_to_evaluate: Optional[List[Dict[str, Any]]] = None, max_queue_len: int = 1,
         show_progressbar: bool = True, early_stop_fn: Optional[Callable] = None,
         trials_save_file: str = "") -> Any:
    """Minimize ``fn`` over ``space``, with hyperopt's full signature.

    ``algo`` defaults to ``hyperspark.tpe.suggest``, the parallel-aware TPE (any hyperopt
    algorithm works: ``hyperopt.tpe.suggest``, ``rand.suggest``, ...).
    ``trials`` defaults to a new ``SparkTrials()``. ``points_to_evaluate`` (a list of
    ``{label: value}``, with the option's index for ``hp.choice``) are run first, in parallel,
    and count toward ``max_evals``. ``trials_save_file`` is a checkpoint: kept up to date
    during the search, and resumed from when it exists (docs/guide.md, "Resuming a search").

    >>> from hyperopt import hp
    >>> best = fmin(lambda x: (x - 1) ** 2, hp.uniform("x", -5, 5), max_evals=20,
    ...             points_to_evaluate=[{"x": 1.0}], trials=SparkTrials(backend="local"),
    ...             show_progressbar=False)
    >>> best["x"]
    1.0
    """
    config.check_positive_number("timeout", timeout)  # before hyperopt's own, vaguer check
    config.check_loss_threshold(loss_threshold)
    check_space(space)
    if trials is None:
        trials = SparkTrials()
    if algo is None:
        algo = tpe.suggest
    if points_to_evaluate and not _resuming(trials, trials_save_file):
        insert_points(trials, space, points_to_evaluate)
    return hyperopt.fmin(
        fn, space, algo=algo, max_evals=max_evals, timeout=timeout,
        loss_threshold=loss_threshold, trials=trials, rstate=rstate,
        allow_trials_fmin=allow_trials_fmin, pass_expr_memo_ctrl=pass_expr_memo_ctrl,
        catch_eval_exceptions=catch_eval_exceptions, verbose=verbose,
        return_argmin=return_argmin, max_queue_len=max_queue_len,
        show_progressbar=show_progressbar, early_stop_fn=early_stop_fn,
        trials_save_file=trials_save_file)


def _resuming(trials: Any, trials_save_file: Any) -> bool:
    """True when fmin will resume from an existing checkpoint: the points to evaluate were
    inserted by the first run and are in the checkpoint already (run or still queued)."""
    path = trials_save_file or getattr(trials, "checkpoint", None)
    return bool(path) and os.path.exists(path) and not internals.all_docs(trials)
