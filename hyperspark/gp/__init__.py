"""``hyperspark.gp``: Gaussian-process search for hyperopt spaces, a drop-in algorithm.

    import hyperspark

    best = hyperspark.fmin(objective, space, algo=hyperspark.gp.suggest, max_evals=100)

A Gaussian process (Matérn-5/2, a length scale per parameter) models the warped loss over
the space; each suggestion maximises the log of the expected improvement, climbing its exact
gradient at the end. The model is written
out in ``hyperspark/gp/README.md``; docs/search-quality.md has the measurements.

- **Every hyperopt space.** Numbers (log ones in log coordinates, ``q`` ones on their grid,
  ``normal`` ones in a box of their prior), categories (``hp.choice``, ``hp.randint``) and
  conditional branches: one GP spans them, an inactive parameter being a value of its own.
- **Running trials count.** Each running trial, and each point already proposed in the same
  call, is added to the model at its predicted loss (``liar="believer"``): the uncertainty
  there goes, so P suggestions made while P trials run spread out.
- **Failures.** A trial that returned status ``fail``, or raised, leaves the model, and its
  point is never proposed again.
- **Reproducible.** The same documents and seed give the same point. The kernel is refitted
  on a schedule that counts trials (every trial up to 30, then at every 10 % more), from
  the observations in tid order; never on the clock.
- **Bounded cost.** At most ``MAX_POINTS`` observations enter the model: the best half and
  the newest half (``hyperspark.auto`` hands long histories to TPE).

numpy and scipy only (both come with hyperopt): no PyTorch, whose wheels bring gigabytes to
every executor for what a few hundred points need.
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from hyperopt import base

from hyperspark import hyperopt_internals as internals
from hyperspark.gp.encoding import Encoder
from hyperspark.gp.maximiser import maximise
from hyperspark.gp.model import GaussianProcess, Kernel, fit_kernel, standardizer
from hyperspark.gp.refusals import Refusals
from hyperspark.gp.threads import one_blas_thread
from hyperspark.gp.warping import warped
from hyperspark.space import Space, UnsupportedSpace
from hyperspark.tpe.history import History, PerSearch, trial_docs

logger = logging.getLogger("hyperspark")

__all__ = ["suggest", "LIARS", "DEFAULTS", "MAX_POINTS"]

LIARS = ("believer", "worst", "mean", "median", "best", "ignore")
"""How a running trial enters the model: at its predicted loss (``believer``), at the worst,
mean, median or best finished loss, or not at all (``ignore``)."""

DEFAULTS: Dict[str, Any] = dict(n_startup_jobs=10, liar="believer")
"""The defaults (python -m benchmarks search)."""

MAX_POINTS = 300
"""The most observations the GP holds (conditioning costs the cube of this)."""
FIT_POINTS = 150
"""The most observations the kernel's parameters are fitted on (the best half and the
newest others): each step of the fit costs the cube of this, and the length scales need no
more."""
EVERY_FIT_UNTIL = 30
"""The kernel is refitted at every new observation up to this many, then at every 10 %."""


class Observations(History):
    """``History``, with each observation's tid and the points of trials that raised."""

    def _reset(self) -> None:
        super()._reset()
        self.tids: List[int] = []
        self.failed: List[np.ndarray] = []

    def _add(self, doc: Dict[str, Any]) -> None:
        before = self.count
        super()._add(doc)
        if self.count > before:
            self.tids.append(doc["tid"])
        elif doc["state"] == base.JOB_STATE_ERROR:
            self.failed.append(self.row(doc["misc"].get("vals", {})))


class _State:
    """What one search keeps between suggestions: its space, observations and kernels."""

    def __init__(self, domain: Any) -> None:
        try:
            self.space: Optional[Space] = Space.from_expr(domain.expr)
            self.encoder: Optional[Encoder] = Encoder(self.space)
            self.history: Optional[Observations] = Observations(self.space)
            self.unsupported: Optional[str] = None
        except UnsupportedSpace as exc:
            self.space = self.encoder = self.history = None
            self.unsupported = str(exc)
        self.kernels: Dict[Tuple[int, ...], Kernel] = {}
        self.warned = False
        self.lock = threading.Lock()


_states = PerSearch(_State)


def _state_for(domain: Any) -> _State:
    return _states.get(domain)


def suggest(new_ids: Sequence[int], domain: Any, trials: Any, seed: int,
            n_startup_jobs: int = DEFAULTS["n_startup_jobs"], liar: str = DEFAULTS["liar"],
            verbose: bool = False) -> List[Any]:
    """Suggest one trial document per id in ``new_ids``, like ``hyperopt.tpe.suggest``.

    Args:
        n_startup_jobs: points drawn from the prior until this many trials have finished.
        liar: how running trials enter the model (``LIARS``).
        verbose: accepted for hyperopt's signature; logs at DEBUG.

    >>> from hyperopt import Trials, fmin, hp
    >>> best = fmin(lambda x: (x - 0.3) ** 2, hp.uniform("x", 0, 1), algo=suggest,
    ...             max_evals=20, trials=Trials(), rstate=np.random.default_rng(1),
    ...             show_progressbar=False)
    >>> abs(best["x"] - 0.3) < 0.01
    True
    """
    _check(n_startup_jobs, liar)
    state = _state_for(domain)
    if state.space is None:
        return _fallback(state, new_ids, domain, trials, seed, n_startup_jobs)
    with state.lock, one_blas_thread():
        history = state.history
        history.update(internals.all_docs(trials))
        pending = [row for row in history.pending()]
        docs = []
        model: Optional[_Model] = None
        for new_id in new_ids:
            rng = np.random.default_rng([seed, new_id])
            usable = int(np.isfinite(history.losses).sum())
            if history.finished < n_startup_jobs or usable == 0:
                row = state.encoder.sample(rng, 1, prior=True)[0]
            else:
                if model is None:
                    model = _Model(state, liar)
                row = model.propose(pending, rng)
            pending.append(row)
            docs.extend(trial_docs(new_id, row, history, domain, trials))
        if verbose:
            logger.debug("hyperspark.gp: %d finished, %d pending", history.finished,
                         len(pending))
        return docs


def _check(n_startup_jobs: Any, liar: Any) -> None:
    from hyperspark.errors import InvalidArgument

    if liar not in LIARS:
        raise InvalidArgument(f"liar must be one of {', '.join(map(repr, LIARS))}, got {liar!r}")
    if not (isinstance(n_startup_jobs, int) and not isinstance(n_startup_jobs, bool)
            and n_startup_jobs >= 0):
        raise InvalidArgument(f"n_startup_jobs must be an integer >= 0, got {n_startup_jobs!r}")


def _fallback(state: _State, new_ids: Sequence[int], domain: Any, trials: Any, seed: int,
              n_startup_jobs: int) -> List[Any]:
    from hyperspark import tpe

    if not state.warned:
        state.warned = True
        logger.warning("hyperspark.gp cannot model this space (%s); hyperspark.tpe makes its "
                       "suggestions instead", state.unsupported)
    return tpe.suggest(new_ids, domain, trials, seed, n_startup_jobs=n_startup_jobs)


# -------------------------------------------------------------------- the model of one call
def refit_point(count: int) -> int:
    """The observation count whose kernel serves ``count`` observations: ``count`` itself up
    to ``EVERY_FIT_UNTIL``, then the last point of the schedule that grows by 10 %.

    >>> [refit_point(n) for n in (5, 30, 31, 32, 33, 34, 100)]
    [5, 30, 30, 30, 33, 33, 94]
    """
    if count <= EVERY_FIT_UNTIL:
        return count
    point = EVERY_FIT_UNTIL
    while math.ceil(point * 1.1) <= count:
        point = math.ceil(point * 1.1)
    return point


class _Model:
    """The GP of one ``suggest`` call, with the call's pending points as fantasies."""

    def __init__(self, state: _State, liar: str) -> None:
        self.state, self.liar = state, liar
        history, encoder = state.history, state.encoder
        tids = np.asarray(history.tids)
        by_tid = np.argsort(tids, kind="stable")  # the same documents give the same model,
        finite = np.isfinite(history.losses)     # in whatever order their trials finished
        data = by_tid[finite[by_tid]]
        data = data[_capped(history.losses[data])]
        self.rows, self.losses = history.values[data], history.losses[data]
        self.inputs = encoder.encode(self.rows)
        fitted = by_tid[:refit_point(len(by_tid))]
        fitted = fitted[finite[fitted]]
        fitted = fitted[_capped(history.losses[fitted], FIT_POINTS)]
        self.kernel = self._kernel(tuple(tids[fitted].tolist()), history.values[fitted],
                                   history.losses[fitted])
        self.gp = GaussianProcess.fit(self.inputs, warped(self.losses), encoder.categorical,
                                      self.kernel)
        failed = [history.values[i] for i in np.nonzero(~finite)[0]] + list(history.failed)
        self.failed = encoder.encode(np.vstack(failed)) if failed else None
        self.known = encoder.encode(history.values)  # every finished point, encoded once a call

    def _kernel(self, key: Tuple[int, ...], rows: np.ndarray, losses: np.ndarray) -> Kernel:
        """The kernel fitted to the observations ``key`` names (the refit point's, in tid
        order), cached by their tids."""
        cached = self.state.kernels.get(key)
        if cached is None:
            if not len(losses):
                return Kernel.default(len(self.state.encoder.labels))
            losses = warped(losses)
            mean, scale = standardizer(losses)
            cached = fit_kernel(self.state.encoder.encode(rows), (losses - mean) / scale,
                                self.state.encoder.categorical)
            if len(self.state.kernels) > 16:
                self.state.kernels.clear()
            self.state.kernels[key] = cached
        return cached

    def propose(self, pending: List[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        encoder = self.state.encoder
        known = np.vstack([self.known, encoder.encode(np.vstack(pending))]) if pending \
            else self.known
        refusals = Refusals(known, self.failed, self.kernel.lengthscales)
        return maximise(self._with_pending(pending), encoder, self.rows, self.losses, rng,
                        refusals)

    def _with_pending(self, pending: List[np.ndarray]) -> GaussianProcess:
        if not pending or self.liar == "ignore":
            return self.gp
        inputs = self.state.encoder.encode(np.vstack(pending))
        if self.liar == "believer":
            return self.gp.with_fantasies(inputs)
        lie = {"worst": np.max, "mean": np.mean, "median": np.median,
               "best": np.min}[self.liar](self.gp.y_standard)
        return GaussianProcess.condition(
            np.vstack([self.gp.x, inputs]),
            np.concatenate([self.gp.y_standard, np.full(len(inputs), lie)]),
            self.gp.categorical, self.gp.kernel, self.gp.y_mean, self.gp.y_scale)


def _capped(losses: np.ndarray, cap: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``cap`` observations (in tid order): the best half and the newest
    half. Deterministic.

    >>> _capped(np.array([5.0, 1.0, 4.0, 2.0, 3.0]), cap=4).tolist()
    [1, 2, 3, 4]
    """
    if len(losses) <= cap:
        return np.arange(len(losses))
    best = np.argsort(losses, kind="stable")[:cap // 2]
    others = np.setdiff1d(np.arange(len(losses)), best)
    return np.union1d(best, others[len(others) - (cap - len(best)):])
