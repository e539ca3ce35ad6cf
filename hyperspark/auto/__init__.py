"""``hyperspark.auto``: hands each suggestion to the algorithm that suits the search,
``hyperspark.gp`` or ``hyperspark.tpe``, as the history grows.

    import hyperspark

    best = hyperspark.fmin(objective, space, algo=hyperspark.auto.suggest, max_evals=200)

The rule (``decide``) reads the space and the number of trials the search has made, nothing
else: no clock, no randomness beyond the seed, so the same documents give the same choice.

- **gp** while the search has made fewer than ``GP_UNTIL`` trials, on a space the GP models
  (numbers, categories and conditional branches alike: one GP spans the branches);
- **tpe** once the history is long (a GP refit costs the cube of the points it keeps; TPE's
  cost stays flat), when the space holds more categories than numbers and at least
  ``MANY_CATEGORIES`` of them (the GP's kernel only tells equal from different), and on a
  space the GP cannot model (bounds that depend on another parameter).

Each trial records which algorithm made it (``misc["hyperspark"]["suggested_by"]``): its
MLflow child run is tagged ``hyperspark.suggested_by``, and the page shows it.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

from hyperspark import gp, tpe
from hyperspark import hyperopt_internals as internals
from hyperspark.record import note_suggested_by
from hyperspark.space import Space, UnsupportedSpace
from hyperspark.tpe.history import PerSearch

__all__ = ["suggest", "decide", "GP_UNTIL", "MANY_CATEGORIES"]

GP_UNTIL = 1000
"""From this many trials on, TPE: beyond it the GP keeps only its best and newest 300."""
MANY_CATEGORIES = 4
"""A space with more categories than numbers, and at least this many, goes to TPE."""


def decide(space: Optional[Space], trials_made: int) -> Tuple[str, str]:
    """The algorithm for the next suggestion, and why.

    >>> from hyperopt import hp
    >>> decide(Space.from_expr({"x": hp.uniform("x", 0, 1)}), 50)
    ('gp', 'a space the GP models, 50 trials so far')
    >>> decide(Space.from_expr({"x": hp.uniform("x", 0, 1)}), 5000)[0]
    'tpe'
    """
    if space is None:
        return "tpe", "a space the GP cannot model"
    if trials_made >= GP_UNTIL:
        return "tpe", f"a long history ({trials_made} trials, from {GP_UNTIL} on)"
    categories = sum(1 for param in space.params.values() if param.categorical)
    numbers = len(space.params) - categories
    if categories >= MANY_CATEGORIES and categories > numbers:
        return "tpe", f"mostly categories ({categories} of {len(space.params)} parameters)"
    return "gp", f"a space the GP models, {trials_made} trials so far"


def _read_space(domain: Any) -> Optional[Space]:
    try:
        return Space.from_expr(domain.expr)
    except UnsupportedSpace:
        return None


_spaces = PerSearch(_read_space)


def _space_of(domain: Any) -> Optional[Space]:
    return _spaces.get(domain)


def suggest(new_ids: Sequence[int], domain: Any, trials: Any, seed: int,
            n_startup_jobs: int = 10, verbose: bool = False) -> List[Any]:
    """Suggest one trial document per id in ``new_ids`` with ``hyperspark.gp`` or
    ``hyperspark.tpe`` (``decide``), like ``hyperopt.tpe.suggest``.

    Args:
        n_startup_jobs: points drawn from the prior until this many trials have finished
            (both algorithms' option of that name).
        verbose: accepted for hyperopt's signature.

    >>> import numpy as np
    >>> from hyperopt import Trials, fmin, hp
    >>> trials = Trials()
    >>> best = fmin(lambda x: (x - 0.3) ** 2, hp.uniform("x", 0, 1), algo=suggest,
    ...             max_evals=20, trials=trials, rstate=np.random.default_rng(1),
    ...             show_progressbar=False)
    >>> from hyperspark.record import suggested_by
    >>> {suggested_by(doc) for doc in trials.trials}
    {'gp'}
    """
    algorithm, _ = decide(_space_of(domain), len(internals.all_docs(trials)))
    chosen = gp.suggest if algorithm == "gp" else tpe.suggest
    docs = chosen(new_ids, domain, trials, seed, n_startup_jobs=n_startup_jobs)
    for doc in docs:
        note_suggested_by(doc["misc"], algorithm)
    return docs
