"""The last step of the acquisition's maximiser: gradient ascent of log EI in the numbers.

Random candidates find the acquisition's peaks roughly; the model's own gradient finds their
tops. From a handful of starts at once, L-BFGS-B (scipy) climbs ``log EI`` in every active
number of each start, categories held fixed, within the unit box.

- **Preconditioned.** It moves ``x_j / ℓ_j`` rather than ``x_j``: the kernel sees distances
  in length scales, so in these coordinates every direction bends alike and the climb takes
  few steps (a long length scale is not a flat valley).
- **One problem for all starts.** The starts' acquisitions are summed into one function of all
  their coordinates (the terms share no variable, so its top is each start's top), which
  costs one scipy call instead of one per start. A shared line search can leave one start's
  step short; each start keeps the best point any evaluation gave it, so none ends worse than
  it began.
- **Exact gradients** (``GaussianProcess.predict_with_gradients``): with ``z = (f* - μ)/σ``,

      ∂ log EI / ∂μ = -ρ / σ,    ∂ log EI / ∂σ = (1 - z ρ) / σ,    ρ = Φ(z) / h(z),

  ``ρ`` taken as ``exp(log Φ(z) - log h(z))``, finite where EI underflows.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from scipy import optimize, special

from hyperspark.gp.acquisition import log_h
from hyperspark.gp.model import GaussianProcess

ITERATIONS = 25
"""The most L-BFGS-B iterations of one climb (it stops sooner when the gradient vanishes)."""


def log_ei_with_gradient(gp: GaussianProcess, best: float, points: np.ndarray,
                         numbers: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``log EI`` at ``points`` (GP inputs, B x d) and its gradient in the ``numbers``
    inputs (B x len(numbers)).

    >>> x = np.linspace(0, 1, 6)[:, None]
    >>> gp = GaussianProcess.fit(x, np.cos(5 * x[:, 0]), np.array([False]))
    >>> p, h = np.array([[0.41]]), 1e-6
    >>> value, slope = log_ei_with_gradient(gp, gp.best, p, np.array([0]))
    >>> up, down = (log_ei_with_gradient(gp, gp.best, p + s, np.array([0]))[0] for s in (h, -h))
    >>> bool(np.isclose(slope[0, 0], (up - down)[0] / (2 * h), rtol=1e-4))
    True
    """
    mean, variance, d_mean, d_variance = gp.predict_with_gradients(points, numbers)
    sigma = np.sqrt(variance)
    z = (best - mean) / sigma
    log_hz = log_h(z)
    value = np.log(sigma) + log_hz
    ratio = np.exp(special.log_ndtr(z) - log_hz)
    by_mean = -ratio / sigma
    by_variance = (1.0 - z * ratio) / sigma / (2.0 * sigma)
    gradient = by_mean[:, None] * d_mean + by_variance[:, None] * d_variance
    return value, gradient


def ascend(gp: GaussianProcess, best: float, starts: np.ndarray,
           movable: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The best points (GP inputs) that climbing ``log EI`` from ``starts`` (B x d) found,
    moving only the ``movable`` (B x d) inputs within [0, 1], and their ``log EI``."""
    numbers = np.nonzero(movable.any(axis=0))[0]
    position = np.full(starts.shape[1], -1)
    position[numbers] = np.arange(len(numbers))
    rows, columns = np.nonzero(movable)
    scales = gp.kernel.lengthscales[columns]
    found = starts.copy()
    found_values, _ = log_ei_with_gradient(gp, best, starts, numbers)
    found_values = np.where(np.isfinite(found_values), found_values, -np.inf)
    if not len(rows):
        return found, found_values

    def negative(scaled: np.ndarray) -> Tuple[float, np.ndarray]:
        points = starts.copy()
        points[rows, columns] = scaled * scales
        values, gradients = log_ei_with_gradient(gp, best, points, numbers)
        usable = np.isfinite(values)
        better = usable & (values > found_values)
        found[better], found_values[better] = points[better], values[better]
        gradient = gradients[rows, position[columns]] * scales
        gradient[~usable[rows] | ~np.isfinite(gradient)] = 0.0
        return -float(np.sum(values[usable])), -gradient

    try:
        optimize.minimize(negative, starts[rows, columns] / scales, jac=True,
                          method="L-BFGS-B", bounds=list(zip(np.zeros(len(rows)), 1.0 / scales)),
                          options={"maxiter": ITERATIONS})
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        pass  # the starts and whatever the climb reached before stay
    return found, found_values
