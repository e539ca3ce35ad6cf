"""Where to look next: the logarithm of expected improvement, maximised over the space.

With the posterior ``N(μ, σ²)`` of the standardized loss at a point and the best loss seen
``f*``, the improvement ``max(f* - f, 0)`` has the expectation

    EI = σ h(z),   z = (f* - μ) / σ,   h(z) = φ(z) + z Φ(z).

Far from the best, ``h(z)`` underflows to 0 in floating point and every point would tie; its
logarithm does not: for ``z < -1``, ``h(z) = φ(z) (1 + z √(π/2) erfcx(-z/√2))``, so

    log h(z) = log φ(z) + log1p(z √(π/2) erfcx(-z/√2)).

``maximiser.py`` searches the space for its highest value.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special


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
