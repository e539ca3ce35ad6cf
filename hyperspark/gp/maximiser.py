"""Where log EI is highest: a search of the space in three steps.

1. **Spread.** Candidates drawn evenly over the space (``RANDOM_CANDIDATES``), and around each
   of the best observed points (``LOCAL_CANDIDATES`` x ``INCUMBENTS``), all scored.
2. **Refine.** The best few move by smaller and smaller random steps (``REFINE_STEPS``); a
   step may change a category, so this is where categories and branches are searched.
3. **Climb** (``ascent.py``). Gradient ascent in the numbers from ``CLIMBS`` starts: the best
   point so far, the best observed point, and others drawn from the spread's candidates with
   probability ``∝ EI`` (a roulette, so a second peak gets its chance). Then each is put on its
   grid (``q`` kinds) and scored again.

Every random draw comes from the suggestion's own generator, and the climb is deterministic:
the same documents and seed give the same point.

The points ``refusals.py`` names (a failed trial's, one the search already has) score ``-∞``.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from hyperspark.gp.acquisition import log_expected_improvement
from hyperspark.gp.ascent import ascend
from hyperspark.gp.encoding import Encoder
from hyperspark.gp.model import GaussianProcess
from hyperspark.gp.refusals import Refusals

RANDOM_CANDIDATES = (512, 256)
"""Candidates drawn evenly over the space: the first while the model holds fewer than
``MATURE`` observations, the second after (each candidate costs O(points), and by then the
climb and the candidates around the best points carry a model that has found its regions)."""
MATURE = 150
LOCAL_CANDIDATES = 64
"""Candidates drawn around each of the best observed points."""
INCUMBENTS = 5
REFINE_STEPS = (0.05,)
"""The spreads (box units) of the refinement rounds."""
REFINED = 3
"""How many of the best candidates each refinement round moves."""
CLIMBS = 5
"""How many starts the gradient ascent climbs from."""


def maximise(gp: GaussianProcess, encoder: Encoder, observed: np.ndarray, losses: np.ndarray,
             rng: np.random.Generator, refusals: Optional[Refusals] = None) -> np.ndarray:
    """The row (model coordinates) with the highest log EI found under ``gp``.
    ``observed``: rows of finished trials, ``losses`` theirs; ``refusals``: the points never
    to propose."""
    best_loss = gp.best

    def score(inputs: np.ndarray) -> np.ndarray:
        mean, variance = gp.predict(inputs)
        return log_expected_improvement(mean, variance, best_loss)

    candidates = [encoder.sample(rng, RANDOM_CANDIDATES[len(losses) >= MATURE])]
    incumbents = np.argsort(losses, kind="stable")[:INCUMBENTS]
    for index in incumbents:
        candidates.append(encoder.neighbours(observed[index], rng, LOCAL_CANDIDATES, 0.1))
    spread = np.vstack(candidates)
    spread_values = _scored(score, encoder, spread, refusals)
    rows, values = spread, spread_values
    for step in REFINE_STEPS:
        best = np.argsort(-values, kind="stable")[:REFINED]
        moved = np.vstack([encoder.neighbours(rows[i], rng, LOCAL_CANDIDATES // 2, step)
                           for i in best])
        rows = np.vstack([rows[best], moved])
        values = np.concatenate([values[best], _scored(score, encoder, moved, refusals)])
    top = int(np.argmax(values))
    starts = np.vstack([rows[top:top + 1], observed[incumbents[:1]],
                        spread[_roulette(spread_values, CLIMBS - 2, rng)]])
    climbed = _climbed(gp, best_loss, encoder, starts)
    climbed_values = _scored(score, encoder, climbed, refusals)
    if max(climbed_values.max(), values[top]) == -np.inf and refusals is not None \
            and refusals.known is not None:  # every point is known: the best known one
        return maximise(gp, encoder, observed, losses, rng, refusals.failures_only())
    if climbed_values.max() > values[top]:
        return climbed[int(np.argmax(climbed_values))]
    return rows[top]


def _roulette(values: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` distinct indices drawn with probability ``∝ exp(values)`` (EI, as the
    values are log EI), the best excluded (it starts a climb already)."""
    finite = np.isfinite(values)
    if not finite.any() or count <= 0:
        return np.zeros(0, dtype=int)
    weights = np.where(finite, np.exp(values - values[finite].max()), 0.0)
    weights[int(np.argmax(np.where(finite, values, -np.inf)))] = 0.0
    available = int(np.count_nonzero(weights > 0))
    if available == 0:
        return np.zeros(0, dtype=int)
    return rng.choice(len(values), size=min(count, available), replace=False,
                      p=weights / weights.sum())


def _climbed(gp: GaussianProcess, best_loss: float, encoder: Encoder,
             starts: np.ndarray) -> np.ndarray:
    """``starts`` (rows) after the gradient ascent of their active numbers, as rows."""
    movable = ~encoder.categorical[None, :] & ~np.isnan(starts)
    inputs, _ = ascend(gp, best_loss, encoder.encode(starts), movable)
    return encoder.decode(inputs, starts)


def _scored(score: Callable[[np.ndarray], np.ndarray], encoder: Encoder, rows: np.ndarray,
            refusals: Optional[Refusals]) -> np.ndarray:
    rows[:] = encoder.decode(encoder.encode(rows), rows)  # on the grid hyperopt stores
    inputs = encoder.encode(rows)
    values = score(inputs)
    values[~np.isfinite(values)] = -np.inf
    if refusals is not None:
        values[refusals.of(inputs)] = -np.inf
    return values
