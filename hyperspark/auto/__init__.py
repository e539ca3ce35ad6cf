"""``hyperspark.auto``: hands each suggestion to the algorithm that suits the search,
``hyperspark.gp`` or ``hyperspark.tpe``, as the history grows.

    import hyperspark

    best = hyperspark.fmin(objective, space, algo=hyperspark.auto.suggest, max_evals=200)

The rule (``decide``) reads the space and the number of trials the search has made, nothing
else: no clock, no randomness beyond the seed, so the same documents give the same choice.

- **gp** while the search has made fewer than ``GP_UNTIL`` trials, on a space the GP models
  whose parameters are all active together (numbers and categories alike);
- **tpe** on a conditional space (a parameter active only in a branch of an ``hp.choice``):
  one GP can span the branches, but TPE, which models each parameter given its branch, found
  better models there (the SVR whose kernel is a choice, in the tuning grid);
- **tpe** for a search with several losses or with constraints (it ranks trials by
  non-dominated rank, feasible ones first; the GP models one loss);
- **tpe** once the history is long (a GP refit costs the cube of the points it keeps; TPE's
  cost stays flat), and on a space the GP cannot model (bounds that depend on another
  parameter).

Spaces of mostly categories stay with the GP: an earlier rule gave them to TPE, and the search
benchmark measured the opposite (six categoricals with an interaction, 200 trials, 3 seeds:
log10 regret -8.1 for the GP against -0.5 for TPE at P=1; docs/search-quality.md).

Each trial records which algorithm made it (``record.note_suggested_by``; read back with
``record.suggested_by``): its MLflow child run is tagged ``hyperspark.suggested_by``, and the
page shows it.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

from hyperspark import gp, tpe
from hyperspark import hyperopt_internals as internals
from hyperspark.objectives import Objectives, objectives_of
from hyperspark.record import note_suggested_by
from hyperspark.space import Space, UnsupportedSpace
from hyperspark.tpe.history import PerSearch

__all__ = ["suggest", "decide", "conditional", "GP_UNTIL"]

GP_UNTIL = 1000
"""From this many trials on, TPE: beyond it the GP keeps only its best and newest 300."""


def decide(space: Optional[Space], trials_made: int,
           objectives: Optional[Objectives] = None) -> Tuple[str, str]:
    """The algorithm for the next suggestion, and why.

    >>> from hyperopt import hp
    >>> decide(Space.from_expr({"x": hp.uniform("x", 0, 1)}), 50)
    ('gp', 'a space the GP models, 50 trials so far')
    >>> decide(Space.from_expr({"x": hp.uniform("x", 0, 1)}), 5000)[0]
    'tpe'
    """
    if objectives is not None and not objectives.plain:
        return "tpe", "several losses or constraints (hyperspark.tpe ranks them)"
    if space is None:
        return "tpe", "a space the GP cannot model"
    if conditional(space):
        return "tpe", "a conditional space (hyperspark.tpe models each branch)"
    if trials_made >= GP_UNTIL:
        return "tpe", f"a long history ({trials_made} trials, from {GP_UNTIL} on)"
    return "gp", f"a space the GP models, {trials_made} trials so far"


def conditional(space: Space) -> bool:
    """Whether some parameter of ``space`` is active only in a branch of an ``hp.choice``.

    >>> from hyperopt import hp
    >>> conditional(Space.from_expr({"x": hp.uniform("x", 0, 1)}))
    False
    >>> conditional(Space.from_expr(hp.choice("k", [{"a": hp.uniform("a", 0, 1)}, {}])))
    True
    """
    return any(() not in group.conditions for group in space.groups)


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
    docs = internals.all_docs(trials)
    algorithm, _ = decide(_space_of(domain), len(docs), _objectives_of(domain, docs))
    chosen = gp.suggest if algorithm == "gp" else tpe.suggest
    made = chosen(new_ids, domain, trials, seed, n_startup_jobs=n_startup_jobs)
    for doc in made:
        note_suggested_by(doc, algorithm)
    return made


suggest.several_losses = True  # type: ignore[attr-defined]
"""It hands a search with several losses or constraints to hyperspark.tpe, which ranks them."""


class _Names:
    """A search's loss and constraint names, once its first result is in (they never change
    after: the loop fails a result named otherwise)."""

    def __init__(self, domain: Any) -> None:
        self.objectives: Optional[Objectives] = None


_names = PerSearch(_Names)


def _objectives_of(domain: Any, docs: List[Any]) -> Optional[Objectives]:
    names = _names.get(domain)
    if names.objectives is None:  # until the first result: a handful of documents
        names.objectives = objectives_of(docs)  # it reads finished results only
    return names.objectives
