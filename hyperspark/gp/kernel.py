"""The Matérn-5/2 kernel with a length scale per input (automatic relevance determination).

For inputs ``x`` and ``y`` (rows of the encoded unit box, ``encoding.py``) the scaled
distance is

    r² = Σ_d s_d(x, y)² / ℓ_d²,   s_d = x_d - y_d (a number), or [x_d ≠ y_d] (a category)

and ``k(x, y) = σ² (1 + √5 r + 5/3 r²) exp(-√5 r)``. Its derivative in ``log ℓ_d``,

    ∂k/∂log ℓ_d = σ² · 5/3 · (1 + √5 r) exp(-√5 r) · s_d² / ℓ_d²,

has no 1/r, so it is exact at r = 0 (duplicate points).

>>> import numpy as np
>>> x = np.array([[0.0, 1.0], [0.5, 1.0]])
>>> k = matern52(squared_differences(x, x, np.array([False, True])), np.ones(2), 1.0)
>>> np.allclose(np.diag(k), 1.0), bool(k[0, 1] < 1.0)
(True, True)
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

SQRT5 = np.sqrt(5.0)


def squared_differences(a: np.ndarray, b: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """``s_d(x, y)²`` for every pair of rows of ``a`` and ``b``: shape (len(a), len(b), d)."""
    diff = a[:, None, :] - b[None, :, :]
    squared = diff * diff
    if categorical.any():
        squared[:, :, categorical] = (diff[:, :, categorical] != 0).astype(float)
    return squared


def scaled_distance(squared: np.ndarray, lengthscales: np.ndarray) -> np.ndarray:
    """``r`` for squared differences (pairs x d) and length scales (d)."""
    return np.sqrt(np.maximum(squared @ (1.0 / lengthscales ** 2), 0.0))


def matern52(squared: np.ndarray, lengthscales: np.ndarray, signal: float) -> np.ndarray:
    """The kernel matrix for squared differences (pairs x d)."""
    r = scaled_distance(squared, lengthscales)
    return signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * np.exp(-SQRT5 * r)


def matern52_with_gradients(squared: np.ndarray, lengthscales: np.ndarray,
                            signal: float) -> Tuple[np.ndarray, np.ndarray]:
    """The kernel matrix (n x n) and its derivatives in each ``log ℓ_d`` (d x n x n)."""
    r = scaled_distance(squared, lengthscales)
    decay = np.exp(-SQRT5 * r)
    k = signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * decay
    common = signal * (5.0 / 3.0) * (1.0 + SQRT5 * r) * decay
    gradients = np.moveaxis(squared / lengthscales ** 2, -1, 0) * common[None, :, :]
    return k, gradients
