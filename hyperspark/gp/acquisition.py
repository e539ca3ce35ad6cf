"""Where to look next: the logarithm of expected improvement, maximised over the space.

With the posterior ``N(μ, σ²)`` of the standardized loss at a point and the best loss seen
``f*``, the improvement ``max(f* - f, 0)`` has the expectation

    EI = σ h(z),   z = (f* - μ) / σ,   h(z) = φ(z) + z Φ(z).

Far from the best, ``h(z)`` underflows to 0 in floating point and every point would tie; its
logarithm does not: for ``z < -1``, ``h(z) = φ(z) (1 + z √(π/2) erfcx(-z/√2))``, so

    log h(z) = log φ(z) + log1p(z √(π/2) erfcx(-z/√2)).

The maximiser (``maximise``) scores candidates drawn evenly over the space and around the
best points seen, then refines the best few by smaller and smaller steps. Points of failed
trials are never proposed again.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
from scipy import special

from hyperspark.gp.encoding import Encoder

RANDOM_CANDIDATES = (512, 256)
"""Candidates drawn evenly over the space: the first while the model holds fewer than
``MATURE`` observations, the second after (the candidates around the best points, scored
more finely, carry a model that has found its regions; each candidate costs O(points))."""
MATURE = 150
LOCAL_CANDIDATES = 64
"""Candidates drawn around each of the best observed points."""
INCUMBENTS = 5
REFINE_STEPS = (0.05, 0.02, 0.008)
"""The spreads (box units) of the refinement rounds."""
REFINED = 3
"""How many of the best candidates each refinement round moves."""
DUPLICATE = 1e-7
"""A candidate this close (squared distance, box units) to a failed point is refused."""


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(φ(z) + z Φ(z))``, accurate for every ``z``.

    >>> bool(np.allclose(np.exp(log_h(np.array([0.0, 1.0]))),
    ...                  [special.ndtr(0) * 0 + 1 / math.sqrt(2 * math.pi), 1.0833154705876864]))
    True
    >>> bool(np.isfinite(log_h(np.array([-40.0]))).all())
    True
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    big = z >= -1
    zb = z[big]
    out[big] = np.log(np.exp(-0.5 * zb * zb) / math.sqrt(2 * math.pi) + zb * special.ndtr(zb))
    zs = z[~big]
    log_phi = -0.5 * zs * zs - 0.5 * math.log(2 * math.pi)
    out[~big] = log_phi + np.log1p(zs * math.sqrt(math.pi / 2) * special.erfcx(-zs / math.sqrt(2)))
    return out


def log_expected_improvement(mean: np.ndarray, variance: np.ndarray, best: float) -> np.ndarray:
    sigma = np.sqrt(variance)
    return np.log(sigma) + log_h((best - mean) / sigma)


def maximise(score: Callable[[np.ndarray], np.ndarray], encoder: Encoder,
             observed: np.ndarray, losses: np.ndarray, rng: np.random.Generator,
             failed: Optional[np.ndarray] = None) -> np.ndarray:
    """The row (model coordinates) with the highest ``score`` found (``score`` takes GP
    inputs). ``observed``: rows of finished trials, ``losses`` theirs; ``failed``: rows never
    to propose again."""
    candidates = [encoder.sample(rng, RANDOM_CANDIDATES[len(losses) >= MATURE])]
    order = np.argsort(losses, kind="stable")[:INCUMBENTS]
    for index in order:
        candidates.append(encoder.neighbours(observed[index], rng, LOCAL_CANDIDATES, 0.1))
    rows = np.vstack(candidates)
    values = _scored(score, encoder, rows, failed)
    for spread in REFINE_STEPS:
        best = np.argsort(-values, kind="stable")[:REFINED]
        moved = np.vstack([encoder.neighbours(rows[i], rng, LOCAL_CANDIDATES // 2, spread)
                           for i in best])
        rows = np.vstack([rows[best], moved])
        values = np.concatenate([values[best], _scored(score, encoder, moved, failed)])
    return rows[int(np.argmax(values))]


def _scored(score: Callable[[np.ndarray], np.ndarray], encoder: Encoder, rows: np.ndarray,
            failed: Optional[np.ndarray]) -> np.ndarray:
    rows[:] = encoder.decode(encoder.encode(rows), rows)  # on the grid hyperopt stores
    inputs = encoder.encode(rows)
    values = score(inputs)
    values[~np.isfinite(values)] = -np.inf
    if failed is not None and len(failed):
        gone = encoder.encode(failed)
        distance = ((inputs[:, None, :] - gone[None, :, :]) ** 2).sum(-1).min(axis=1)
        values[distance < DUPLICATE] = -np.inf
    return values
