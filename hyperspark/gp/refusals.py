"""The points a suggestion may not make, and how they are looked up.

Two kinds: a failed trial's point, and a point the search already has, finished or running.
"Already has" counts only the parameters the model finds relevant (a length scale under
``IRRELEVANT``): without that rule a search whose incumbent sits on a grid (integers,
categories) and whose model is sure of it spends its trials on that incumbent again, changing
only a parameter that has no effect.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np

GRID = 1e-6
"""Points are compared on a grid this fine (box units): closer than that, they are one."""
IRRELEVANT = 10.0
"""A parameter whose fitted length scale is at least this (box units) is taken to have no
effect on the loss: across its whole box the kernel's correlation stays above 0.99."""


class Refusals:
    """The points a suggestion may not make: those of failed trials (on every parameter),
    and those of trials finished or running, compared on the relevant parameters only.
    Points are compared by a hash of their grid cells (``GRID``), so checking a candidate
    costs the same at 20 or at 20,000 trials.

    >>> known = np.array([[0.5, 0.2]])  # the second parameter is irrelevant (long scale)
    >>> refusals = Refusals(known, None, np.array([0.3, 15.0]))
    >>> refusals.of(np.array([[0.5, 0.9], [0.6, 0.2]])).tolist()
    [True, False]
    """

    def __init__(self, known: np.ndarray, failed: Optional[np.ndarray],
                 lengthscales: np.ndarray) -> None:
        columns = len(lengthscales)
        self._weights = np.random.default_rng(0).integers(1, 2 ** 61, size=columns,
                                                          dtype=np.uint64) | np.uint64(1)
        self._everything = np.ones(columns, dtype=bool)
        self.failed = np.sort(_cells(failed, self._everything, self._weights)) \
            if failed is not None and len(failed) else None
        relevant = lengthscales < IRRELEVANT
        self.relevant = relevant if relevant.any() and len(known) else None
        self.known = np.sort(_cells(known, relevant, self._weights)) \
            if self.relevant is not None else None

    def failures_only(self) -> "Refusals":
        """These refusals without the known points' (a search that has seen every point)."""
        only = copy.copy(self)
        only.known = None
        return only

    def of(self, inputs: np.ndarray) -> np.ndarray:
        """A mask of the refused ``inputs`` (GP inputs)."""
        refused = np.zeros(len(inputs), dtype=bool)
        if self.failed is not None:
            refused |= _member(_cells(inputs, self._everything, self._weights), self.failed)
        if self.known is not None:
            refused |= _member(_cells(inputs, self.relevant, self._weights), self.known)
        return refused


def _cells(inputs: np.ndarray, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One 64-bit hash per row of its grid cell in ``columns``: a random linear combination
    (wrapping) of the cell indices. Equal cells hash equal; two different cells collide with
    a chance near 2⁻⁶⁴, and a collision only refuses a candidate."""
    cells = np.round(inputs[:, columns] / GRID).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        return (cells * weights[columns]).sum(axis=1, dtype=np.uint64)


def _member(hashes: np.ndarray, sorted_hashes: np.ndarray) -> np.ndarray:
    """Which ``hashes`` are in ``sorted_hashes`` (sorted): a binary search each
    (numpy's ``isin`` took 10 ms for 900 among 20,000)."""
    at = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    return sorted_hashes[at] == hashes
