"""``hyperspark.tpe``: a parallel-aware TPE, a drop-in for ``hyperopt.tpe.suggest``.

    from functools import partial
    import hyperspark

    best = hyperspark.fmin(objective, space, algo=hyperspark.tpe.suggest, max_evals=200)
    algo = partial(hyperspark.tpe.suggest, n_startup_jobs=10)    # hyperopt's keywords

What it does differently from hyperopt's TPE (docs/search-quality.md has the measurements):

- **Running trials count.** A trial that runs (or waits to) is a point whose result is not
  known yet; by default it enters the model as a bad one (``liar="worst"``), so parallel
  suggestions spread out instead of crowding into the same region.
- **The random start counts finished trials**, so at parallelism 64 the model starts once
  ``n_startup_jobs`` results are in, not after 64 random points that have none.
- **Multivariate.** Parameters that are active together (the root of the space, or one branch
  of an ``hp.choice``) are modelled jointly, not one by one (``multivariate=False`` restores
  hyperopt's per-parameter model).
- **Fast.** Observations are arrays updated as trials finish (``History``); a suggestion costs
  a few matrix products over them, not a rebuild of the model from the documents.

It knows nothing of Spark or of hyperspark's loop: it reads the trials object it is given, as
any hyperopt algorithm does, so it also runs under ``hyperopt.fmin`` with a plain ``Trials``.
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from hyperspark import hyperopt_internals as internals
from hyperspark.objectives import (best_first, hypervolume_contributions, non_dominated,
                                   reference_point)
from hyperspark.tpe.history import History, PerSearch, trial_docs
from hyperspark.tpe.parzen import Parzen, ramp_weights
from hyperspark.space.reader import Group, Space, UnsupportedSpace

logger = logging.getLogger("hyperspark")

__all__ = ["suggest", "LIARS", "DEFAULTS"]

LIARS = ("worst", "mean", "median", "best", "ignore")
"""How a pending trial enters the model: as a bad point (``worst``: in g(x) only), with the
mean, median or best finished loss, or not at all (``ignore``)."""

DEFAULTS: Dict[str, Any] = dict(prior_weight=1.0, n_startup_jobs=10, n_EI_candidates=24,
                                gamma=0.1, liar="worst", multivariate=True)
"""The defaults, chosen with ``python -m benchmarks search`` (docs/search-quality.md)."""

GOOD_CAP = 25
"""The good group l(x) holds at most this many trials."""
BAD_CAP = 5000
"""g(x) keeps at most this many kernels: the newest half, and an even sample of the older
observations standing for the rest (``thinned``). A suggestion then costs the same at
20,000 trials as at 5,000."""


def thinned(rows: np.ndarray, weights: np.ndarray, cap: int = BAD_CAP) -> tuple:
    """At most ``cap`` of ``rows`` (oldest first) and their weights: the newest ``cap // 2``
    as they are, and every k-th older one with k times its weight, so old regions stay covered
    and the total weight is unchanged. Deterministic.

    >>> rows, weights = thinned(np.arange(10.0)[:, None], np.ones(10), cap=6)
    >>> rows.ravel().tolist(), weights.tolist()
    ([0.0, 3.0, 6.0, 7.0, 8.0, 9.0], [3.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    """
    if len(rows) <= cap:
        return rows, weights
    keep_new = cap // 2
    old = len(rows) - keep_new
    stride = -(-old // (cap - keep_new))  # ceil
    picked = np.arange(0, old, stride)
    old_weights = np.add.reduceat(weights[:old], picked)
    return (np.concatenate([rows[picked], rows[old:]]),
            np.concatenate([old_weights, weights[old:]]))



class _State:
    """What one search keeps between suggestions: its space and its history."""

    def __init__(self, domain: Any) -> None:
        try:
            self.space: Optional[Space] = Space.from_expr(domain.expr)
            self.unsupported: Optional[str] = None
            self.history: Optional[History] = History(self.space)
        except UnsupportedSpace as exc:
            self.space, self.history, self.unsupported = None, None, str(exc)
        self.lock = threading.Lock()


_states = PerSearch(_State)


def _state_for(domain: Any) -> _State:
    return _states.get(domain)


def suggest(new_ids: Sequence[int], domain: Any, trials: Any, seed: int,
            prior_weight: float = DEFAULTS["prior_weight"],
            n_startup_jobs: int = DEFAULTS["n_startup_jobs"],
            n_EI_candidates: int = DEFAULTS["n_EI_candidates"],
            gamma: float = DEFAULTS["gamma"], liar: str = DEFAULTS["liar"],
            multivariate: bool = DEFAULTS["multivariate"], verbose: bool = False) -> List[Any]:
    """Suggest one trial document per id in ``new_ids``, like ``hyperopt.tpe.suggest``.

    Args:
        prior_weight: weight of the prior component in both densities.
        n_startup_jobs: points drawn from the prior until this many trials have finished.
        n_EI_candidates: candidates drawn from l(x) per suggestion; the one with the best
            l(x) / g(x) is proposed.
        gamma: fraction of the finished trials that form the good group l(x) (at most 25).
            Not hyperopt's ``gamma``, which scales with the square root of the count.
        liar: how pending trials enter the model (``LIARS``).
        multivariate: model the parameters that are active together jointly.
        verbose: accepted for hyperopt's signature; logs at DEBUG.

    >>> from hyperopt import Trials, fmin, hp
    >>> best = fmin(lambda x: (x - 0.3) ** 2, hp.uniform("x", 0, 1), algo=suggest,
    ...             max_evals=30, trials=Trials(), rstate=np.random.default_rng(1),
    ...             show_progressbar=False)
    >>> abs(best["x"] - 0.3) < 0.1
    True
    """
    _check(prior_weight, n_startup_jobs, n_EI_candidates, gamma, liar)
    state = _state_for(domain)
    if state.space is None:
        return _fallback(state, new_ids, domain, trials, seed, prior_weight, n_startup_jobs,
                         n_EI_candidates)
    with state.lock:
        history = state.history
        history.update(internals.all_docs(trials))
        models = _Models(state.space, history, prior_weight, n_EI_candidates, gamma, liar,
                         multivariate)
        docs = []
        for new_id in new_ids:
            # each point from (seed, its tid): the same observations give the same point,
            # however many ids one call asks for
            rng = np.random.default_rng([seed, new_id])
            if history.finished < n_startup_jobs:
                row = _from_prior(state.space, history, rng)
            else:
                row = models.propose(rng)
            models.add_pending(row)  # later ids of this call see it as running
            docs.extend(trial_docs(new_id, row, history, domain, trials))
        if verbose:
            logger.debug("hyperspark.tpe: %d finished, %d pending", history.finished,
                         len(models.pending))
        return docs


suggest.several_losses = True  # type: ignore[attr-defined]
"""It ranks trials by their losses and constraints where a search has them (``best_first``)."""


def _check(prior_weight: Any, n_startup_jobs: Any, n_ei: Any, gamma: Any, liar: Any) -> None:
    from hyperspark.errors import InvalidArgument

    if liar not in LIARS:
        raise InvalidArgument(f"liar must be one of {', '.join(map(repr, LIARS))}, got {liar!r}")
    if not (isinstance(gamma, (int, float)) and 0 < gamma <= 1):
        raise InvalidArgument(f"gamma must be a number in (0, 1], got {gamma!r}")
    if not (isinstance(n_ei, int) and n_ei >= 1):
        raise InvalidArgument(f"n_EI_candidates must be an integer >= 1, got {n_ei!r}")
    if not (isinstance(n_startup_jobs, int) and n_startup_jobs >= 0):
        raise InvalidArgument(f"n_startup_jobs must be an integer >= 0, got {n_startup_jobs!r}")
    if not (isinstance(prior_weight, (int, float)) and prior_weight > 0):
        raise InvalidArgument(f"prior_weight must be a number > 0, got {prior_weight!r}")


def _fallback(state: _State, new_ids: Sequence[int], domain: Any, trials: Any, seed: int,
              prior_weight: float, n_startup_jobs: int, n_ei: int) -> List[Any]:
    from hyperopt import tpe as hyperopt_tpe

    if not getattr(state, "warned", False):
        state.warned = True
        logger.warning("hyperspark.tpe cannot model this space (%s); hyperopt's tpe.suggest "
                       "makes its suggestions instead", state.unsupported)
    return hyperopt_tpe.suggest(new_ids, domain, trials, seed, prior_weight=prior_weight,
                                n_startup_jobs=n_startup_jobs, n_EI_candidates=n_ei)


# -------------------------------------------------------------------- one point
def _from_prior(space: Space, history: History, rng: np.random.Generator) -> np.ndarray:
    row = np.full(len(history.labels), np.nan)
    choices: Dict[str, int] = {}
    for group in space.groups:
        if not group.active(choices):
            continue
        for param in group.params:
            value = param.sample_prior(rng, 1)[0]
            row[history.labels.index(param.label)] = value
            if param.categorical:
                choices[param.label] = int(value)
    return row


class _Models:
    """The densities of one ``suggest`` call, built for a group when a point first needs it.

    A point proposed earlier in the call is pending for the later ones: with the default liar
    it joins g(x) of the groups built so far as one more component (``Parzen.extend``), so a
    call that asks for many ids builds each model once. With another liar its lie may move
    the split between l(x) and g(x), so the models are built again.
    """

    def __init__(self, space: Space, history: History, prior_weight: float, n_candidates: int,
                 gamma: float, liar: str, multivariate: bool) -> None:
        self.space, self.history = space, history
        self.prior_weight, self.n_candidates, self.gamma = prior_weight, n_candidates, gamma
        self.liar, self.multivariate = liar, multivariate
        self.pending = list(history.pending())
        self._column = {label: i for i, label in enumerate(history.labels)}
        self._built: Dict[int, tuple] = {}  # group index -> (l, g)
        self._split: Optional[tuple] = None

    def propose(self, rng: np.random.Generator) -> np.ndarray:
        """A point: for each active group in turn, the best of the candidates drawn from l."""
        row = np.full(len(self.history.labels), np.nan)
        choices: Dict[str, int] = {}
        for index, group in enumerate(self.space.groups):
            if not group.active(choices):
                continue
            columns = [self._column[label] for label in group.labels]
            l_model, g_model = self._models(index, group, columns)
            candidates = l_model.sample(rng, self.n_candidates)
            for position, param in enumerate(group.params):  # score what would be stored
                if param.q is not None:
                    candidates[:, position] = [param.to_model(param.to_value(t))
                                               for t in candidates[:, position]]
            score = l_model.log_pdf(candidates) - g_model.log_pdf(candidates)
            best = candidates[int(np.argmax(score))]
            row[columns] = best
            for param, value in zip(group.params, best):
                if param.categorical:
                    choices[param.label] = int(value)
        return row

    def add_pending(self, row: np.ndarray) -> None:
        self.pending.append(row)
        if self.liar == "ignore":
            return
        if self.liar != "worst" or not self.multivariate:
            self._built.clear()
            self._split = None
            return
        for index, (_, g_model) in self._built.items():
            columns = [self._column[label] for label in self.space.groups[index].labels]
            if not np.isnan(row[columns[0]]):
                g_model.extend(row[columns])

    def _models(self, index: int, group: Group, columns: List[int]) -> tuple:
        if index not in self._built:
            values, good, good_weights = self._observations()
            group_values = values[:, columns]
            active = ~np.isnan(group_values[:, 0])
            below, above = group_values[good & active], group_values[~good & active]
            above, above_weights = thinned(above, ramp_weights(len(above)))
            below_weights = (ramp_weights(len(below)) if good_weights is None
                             else good_weights[active[np.flatnonzero(good)]])
            self._built[index] = (
                Parzen(group.params, below, below_weights, self.prior_weight,
                       self.multivariate),
                Parzen(group.params, above, above_weights, self.prior_weight,
                       self.multivariate))
        return self._built[index]

    def _observations(self) -> tuple:
        """Every observation and pending point (rows), and which of them form l(x)."""
        if self._split is None:
            values, losses = _with_pending(self.history.values, self.history.losses,
                                           self.pending, self.liar)
            vectors, violations = self.history.vectors, self.history.violations
            ranked = finite = np.isfinite(losses)
            if vectors is not None:  # several losses or constraints: by rank, feasible first
                ranked = np.isfinite(violations)
            n_good = min(int(math.ceil(self.gamma * self.history.finished)), GOOD_CAP,
                         int(ranked.sum()))
            good = np.zeros(len(losses), dtype=bool)
            good_weights = None
            if n_good and vectors is not None:
                good[best_first(vectors, violations, n_good)] = True
                rows = np.flatnonzero(good)
                good_weights = front_weights(vectors[rows], violations[rows])
            elif n_good:
                good[np.argpartition(np.where(finite, losses, np.inf), n_good - 1)[:n_good]] = True
            self._split = (values, good, good_weights)
        return self._split


WEIGHT_FLOOR = 1e-3
"""The weight in l(x) of a good trial that adds nothing to the good group's hypervolume."""


def front_weights(vectors: np.ndarray, violations: np.ndarray) -> np.ndarray:
    """The weights of the good group's rows in l(x), for several losses or constraints: a
    feasible row on the group's front weighs its share of the front's hypervolume (the largest
    share weighs 1), as in Optuna's multi-objective TPE, so l(x) spreads along the front
    rather than piling where trials crowd; every other row weighs ``WEIGHT_FLOOR``. With one
    loss (constraints only), every feasible row weighs 1."""
    weights = np.full(len(vectors), WEIGHT_FLOOR)
    feasible = np.flatnonzero((violations <= 0) & np.isfinite(vectors).all(axis=1))
    if vectors.shape[1] == 1 or len(feasible) <= 1:
        weights[feasible] = 1.0
        return weights
    points = vectors[feasible]
    on_front = non_dominated(points)
    shares = hypervolume_contributions(points[on_front], reference_point(points))
    top = shares.max()
    weights[feasible[on_front]] = np.maximum(shares / top, WEIGHT_FLOOR) if top > 0 else 1.0
    return weights


def _with_pending(values: np.ndarray, losses: np.ndarray, pending: List[np.ndarray],
                  liar: str) -> tuple:
    """The observations with the pending points added, with the liar's loss."""
    if not pending or liar == "ignore":
        return values, losses
    finite = losses[np.isfinite(losses)]
    if liar == "worst" or not len(finite):
        lie = math.inf
    else:
        lie = {"mean": np.mean, "median": np.median, "best": np.min}[liar](finite)
    return (np.vstack([values, np.vstack(pending)]),
            np.concatenate([losses, np.full(len(pending), lie)]))
