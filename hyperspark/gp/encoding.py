"""A hyperopt space as the GP's inputs: one column per parameter, in a unit box.

Rows come in the model coordinates of ``hyperspark.space`` (``History`` rows: the value, or
its log for the log kinds; a category's index; NaN where a parameter is inactive), and go out
as the GP's inputs:

- a bounded number: ``(t - low) / (high - low)``, in [0, 1];
- an unbounded one (``normal``, ``lognormal``): the same over the box ``μ ± 4σ`` of its prior.
  Suggestions stay in the box; a point outside it keeps its place beyond the edge (it still
  counts, it is not clipped);
- a category: its index, compared by equality in the kernel;
- an inactive parameter (another branch of an ``hp.choice`` was taken): ``INACTIVE`` for a
  number (outside the box: far from every active value, equal to every other inactive one)
  and -1 for a category. So one GP spans a conditional space: points of the same branch are
  near each other, points of other branches far.

>>> from hyperopt import hp
>>> from hyperspark.space import Space
>>> encoder = Encoder(Space.from_expr({"lr": hp.loguniform("lr", -5, 0),
...                                     "act": hp.choice("act", ["relu", "tanh"])}))
>>> encoder.encode(np.array([[1.0, -2.5]])).tolist(), encoder.categorical.tolist()
([[1.0, 0.5]], [True, False])
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from hyperspark.space import Param, Space

BOX_SIGMAS = 4.0
"""An unbounded parameter is searched within this many prior standard deviations."""
INACTIVE = -0.5
"""The input of a number whose parameter is inactive."""


class Encoder:
    """Rows of model coordinates to GP inputs and back, for one space (its labels in
    ``History``'s order: the space's own)."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.labels: List[str] = list(space.params)
        self.params: List[Param] = [space.params[label] for label in self.labels]
        self.categorical = np.array([param.categorical for param in self.params])
        low, width = [], []
        for param in self.params:
            if param.categorical:
                low.append(0.0)
                width.append(1.0)
            elif param.bounded:
                low.append(param.low)
                width.append(max(param.high - param.low, 1e-12))
            else:
                low.append(param.center - BOX_SIGMAS * param.scale)
                width.append(2 * BOX_SIGMAS * param.scale)
        self._low, self._width = np.array(low), np.array(width)
        self.column: Dict[str, int] = {label: i for i, label in enumerate(self.labels)}

    def encode(self, rows: np.ndarray) -> np.ndarray:
        """GP inputs for rows of model coordinates (n x labels)."""
        rows = np.atleast_2d(rows)
        inputs = (rows - self._low) / self._width
        inputs[:, self.categorical] = rows[:, self.categorical]
        inactive = np.isnan(rows)
        inputs[inactive] = np.where(self.categorical, -1.0, INACTIVE)[
            np.nonzero(inactive)[1]]
        return inputs

    def decode(self, inputs: np.ndarray, template: np.ndarray) -> np.ndarray:
        """Rows of model coordinates for GP inputs, NaN where ``template`` (rows with the
        same active pattern) is NaN; numbers are put on their grid (``q``) as hyperopt would
        store them."""
        rows = self._low + np.atleast_2d(inputs) * self._width
        rows[:, self.categorical] = np.round(np.atleast_2d(inputs)[:, self.categorical])
        rows[np.isnan(template)] = np.nan
        return self.on_grid(rows)

    def on_grid(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` with each ``q`` parameter rounded as hyperopt stores it (in place)."""
        for column, param in enumerate(self.params):
            if param.q is None or param.categorical:
                continue
            values = rows[:, column]
            active = ~np.isnan(values)
            plain = np.exp(values[active]) if param.log else values[active]
            plain = np.round(plain / param.q) * param.q
            if param.log:
                plain = np.log(np.maximum(plain, param.q / 2))
                plain = np.clip(plain, param.low, param.high)
            values[active] = plain
        return rows

    # ---------------------------------------------------------------- candidates
    def sample(self, rng: np.random.Generator, count: int, prior: bool = False) -> np.ndarray:
        """``count`` rows drawn evenly over the box (``prior``: from each parameter's prior,
        as a random search draws): categories from their prior, numbers uniformly over their
        (box of) model coordinates; only active parameters set."""
        return self._structured(self._draws(rng, count, prior))

    def _draws(self, rng: np.random.Generator, count: int, prior: bool) -> np.ndarray:
        """A value for every parameter of ``count`` rows, active or not."""
        rows = np.empty((count, len(self.labels)))
        for column, param in enumerate(self.params):
            if param.categorical or prior:
                rows[:, column] = param.sample_prior(rng, count)
            else:
                rows[:, column] = self._low[column] + rng.random(count) * self._width[column]
        return rows

    def _structured(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` with the parameters that their own choices leave inactive set to NaN."""
        active = np.ones((len(rows), len(self.labels)), dtype=bool)
        for group in self.space.groups:
            if () in group.conditions:
                continue
            on = np.zeros(len(rows), dtype=bool)
            for conjunction in group.conditions:
                holds = np.ones(len(rows), dtype=bool)
                for label, index in conjunction:
                    column = self.column[label]
                    holds &= active[:, column] & (rows[:, column] == index)
                on |= holds
            for param in group.params:
                active[:, self.column[param.label]] = on
        rows[~active] = np.nan
        return rows

    def neighbours(self, row: np.ndarray, rng: np.random.Generator, count: int,
                   spread: float) -> np.ndarray:
        """``count`` rows near ``row``: each active number moved by a normal step of
        ``spread`` (in box units, kept in the box), and now and then one category changed
        (a branch it opens drawn afresh)."""
        fresh = self._draws(rng, count, prior=False)
        moved = np.where(np.isnan(row), fresh, row[None, :])
        numbers = ~self.categorical & ~np.isnan(row)
        if numbers.any():
            unit = (moved[:, numbers] - self._low[numbers]) / self._width[numbers]
            unit = np.clip(unit + spread * rng.normal(size=unit.shape), 0.0, 1.0)
            moved[:, numbers] = self._low[numbers] + unit * self._width[numbers]
        categories = np.nonzero(self.categorical & ~np.isnan(row))[0]
        if len(categories):
            flip = rng.random(count) < 0.3
            which = categories[rng.integers(len(categories), size=count)]
            moved[flip, which[flip]] = fresh[flip, which[flip]]
        return self._structured(moved)
