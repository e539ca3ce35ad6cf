"""The losses the GP models: standardized, then made nearer to normal by a Yeo-Johnson warp.

A GP takes the loss to vary alike everywhere. Tuning losses rarely do: most of a space is
flat and poor, a small region is good, and a few points are very bad (a diverged fit). After
a plain standardization the best loss can sit five spreads below the mean, so that every
unexplored point, whose prediction falls back to the mean, looks hopeless to expected
improvement. A monotone warp keeps the order of the losses (the best stays the best) and
evens out their spread, as HEBO does (the 2020 black-box challenge's winner).

The Yeo-Johnson transform with parameter ``λ`` of a standardized loss ``y``:

    y ≥ 0:  ((y + 1)^λ - 1) / λ            (log(y + 1) at λ = 0)
    y < 0:  -((1 - y)^(2-λ) - 1) / (2 - λ)  (-log(1 - y) at λ = 2)

``λ`` maximises the normal log-likelihood of the warped losses,
``-n/2 log var(ψ) + (λ - 1) Σ sign(y) log(|y| + 1)``, over a fixed grid ``LAMBDAS``: no
iteration, so the same losses give the same warp.

>>> y = np.array([0.1, 0.2, 0.15, 0.3, 5.0, 40.0])
>>> w = warped(y)
>>> bool(np.all(np.argsort(w) == np.argsort(y)))  # the order stays
True
>>> bool((w.max() - np.median(w)) / w.std() < (y.max() - np.median(y)) / y.std())
True
"""
from __future__ import annotations

import numpy as np

LAMBDAS = np.linspace(-3.0, 5.0, 81)
"""The candidate ``λ``: step 0.1 (``λ = 1`` is no warp)."""


def warped(losses: np.ndarray) -> np.ndarray:
    """``losses`` standardized and warped (the GP standardizes them again); fewer than three,
    or constant ones, only standardized."""
    losses = np.asarray(losses, dtype=float)
    if len(losses) < 2:
        return losses - losses.mean() if len(losses) else losses
    scale = losses.std()
    if not scale > 1e-12:
        return losses - losses.mean()
    y = (losses - losses.mean()) / scale
    if len(y) < 3:
        return y
    lam = LAMBDAS[int(np.argmax(_log_likelihoods(y)))]
    out = _transform(y, np.array([lam]))[0]
    return out if np.all(np.isfinite(out)) else y


def _transform(y: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """The warp of ``y`` under each of ``lambdas``: shape (len(lambdas), len(y))."""
    lam = lambdas[:, None]
    up, down = np.log1p(np.maximum(y, 0.0)), np.log1p(np.maximum(-y, 0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        near0, near2 = np.abs(lam) < 1e-9, np.abs(lam - 2.0) < 1e-9
        positive = np.where(near0, up, np.expm1(lam * up) / np.where(near0, 1.0, lam))
        negative = np.where(near2, -down,
                            -np.expm1((2.0 - lam) * down) / np.where(near2, 1.0, 2.0 - lam))
    return np.where(y >= 0, positive, negative)


def _log_likelihoods(y: np.ndarray) -> np.ndarray:
    psi = _transform(y, LAMBDAS)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        variance = psi.var(axis=1)
        values = (-0.5 * len(y) * np.log(variance)
                  + (LAMBDAS - 1.0) * np.sum(np.sign(y) * np.log1p(np.abs(y))))
    values[~np.isfinite(values)] = -np.inf
    return values
