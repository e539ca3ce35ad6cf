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
    return matern52_of(scaled_distance(squared, lengthscales), signal)


def matern52_of(r: np.ndarray, signal: float) -> np.ndarray:
    """The kernel at scaled distances ``r``: with ``s = √5 r``, ``σ² (1 + s + s²/3) e^-s``."""
    s = SQRT5 * r
    out = np.exp(-s)
    out *= signal * (1.0 + s + s * s / 3.0)
    return out


def matern52_slope(r: np.ndarray, signal: float) -> np.ndarray:
    """``-5/3 σ² (1 + √5 r) e^(-√5 r)``: the kernel's derivative in an input ``x_j`` is this
    times ``(x_j - y_j) / ℓ_j²`` (no 1/r: exact at r = 0)."""
    s = SQRT5 * r
    return -(5.0 / 3.0) * signal * (1.0 + s) * np.exp(-s)


def distances(a: np.ndarray, b: np.ndarray, lengthscales: np.ndarray,
              categorical: np.ndarray) -> np.ndarray:
    """``r`` between every row of ``a`` and of ``b`` without the (len(a), len(b), d) tensor:
    the numbers' part from one matrix product of length-scaled rows
    (``|x|² + |y|² - 2 x·y``), each category's by one equality test. What prediction uses;
    the fit needs each dimension's part (``squared_differences``) for its gradients.

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.random((4, 3)), rng.random((5, 3))
    >>> a[:, 2], b[:, 2] = [0, 1, 2, 1], [1, 1, 0, 2, 2]
    >>> cat, scales = np.array([False, False, True]), np.array([0.3, 2.0, 0.7])
    >>> bool(np.allclose(distances(a, b, scales, cat),
    ...                  scaled_distance(squared_differences(a, b, cat), scales)))
    True
    """
    numbers = ~categorical
    sa, sb = a[:, numbers] / lengthscales[numbers], b[:, numbers] / lengthscales[numbers]
    r2 = (np.einsum("ij,ij->i", sa, sa)[:, None] + np.einsum("ij,ij->i", sb, sb)[None, :]
          - 2.0 * sa @ sb.T)
    for column in np.nonzero(categorical)[0]:
        r2 += (a[:, column][:, None] != b[:, column][None, :]) / lengthscales[column] ** 2
    return np.sqrt(np.maximum(r2, 0.0))


def matern52_with_gradients(squared: np.ndarray, lengthscales: np.ndarray,
                            signal: float) -> Tuple[np.ndarray, np.ndarray]:
    """The kernel matrix (n x n) and the factor its derivatives share: ``∂k/∂log ℓ_d`` is
    ``common * squared[..., d] / ℓ_d²`` (kept apart, so no (d x n x n) array is made)."""
    r = scaled_distance(squared, lengthscales)
    decay = np.exp(-SQRT5 * r)
    k = signal * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * decay
    common = signal * (5.0 / 3.0) * (1.0 + SQRT5 * r) * decay
    return k, common
