"""Several losses and constraints in one result: their names, their checks, the Pareto front.

An objective may return, beside or instead of ``"loss"``::

    {"status": "ok", "losses": {"error": 0.12, "latency_ms": 18.0},
     "constraints": {"memory_gb": 3.1 - 4.0}}

- ``"losses"``: name -> float, each minimised (to maximise, negate). Without ``"loss"``, the
  first entry (the dict's own order) becomes ``"loss"``, so everything that reads one loss
  (``fmin``'s answer, ``best_trial``, ``loss_threshold``) keeps its meaning.
- ``"constraints"``: name -> float, feasible when at most 0 (Optuna's convention).

The names are those of the first trial to finish with status ``ok``; a later result with other
names fails its own trial only. Pure Python and numpy: the loop, the worker and the tests use it.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

LOSSES = "losses"
CONSTRAINTS = "constraints"


def named_values(value: Any, key: str) -> Dict[str, float]:
    """``value`` (the result's ``key``) as name -> finite float, or ValueError naming what is
    wrong.

    >>> named_values({"error": 0.1, "size": 3}, "losses")
    {'error': 0.1, 'size': 3.0}
    >>> named_values({"error": float("nan")}, "losses")
    Traceback (most recent call last):
    ...
    ValueError: losses['error'] must be a finite number, got nan
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} must be a dict of name to number, got "
                         f"{type(value).__name__}")
    if key == LOSSES and not value:
        raise ValueError("'losses' must name at least one loss, got an empty dict")
    out: Dict[str, float] = {}
    for name, number in value.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{key!r}: every name must be a non-empty string, got {name!r}")
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise ValueError(f"{key}[{name!r}] must be a number, got "
                             f"{type(number).__name__}: {number!r}"[:300])
        number = float(number)
        if not math.isfinite(number):
            raise ValueError(f"{key}[{name!r}] must be a finite number, got {number}")
        out[name] = number
    return out


@dataclasses.dataclass(frozen=True)
class Objectives:
    """The names a search's results carry: ``losses`` (empty: the one ``"loss"``) and
    ``constraints``."""

    losses: Tuple[str, ...] = ()
    constraints: Tuple[str, ...] = ()

    @classmethod
    def of(cls, result: Mapping[str, Any]) -> "Objectives":
        return cls(tuple(result.get(LOSSES) or ()), tuple(result.get(CONSTRAINTS) or ()))

    @property
    def several(self) -> bool:
        """More than one loss: the search looks for a front, not a best trial."""
        return len(self.losses) > 1

    @property
    def plain(self) -> bool:
        """One loss and no constraint: a search as hyperopt knows it."""
        return not self.several and not self.constraints

    def mismatch(self, result: Mapping[str, Any]) -> Optional[str]:
        """Why ``result`` does not carry this search's names (None when it does).

        >>> Objectives(("error", "size")).mismatch({"losses": {"error": 1.0}})
        "'losses' has the names ['error'], but this search's are ['error', 'size'] (set by its first finished trial)"
        """
        for key, names in ((LOSSES, self.losses), (CONSTRAINTS, self.constraints)):
            got = tuple(result.get(key) or ())
            if got != names:
                return (f"{key!r} has the names {list(got)}, but this search's are "
                        f"{list(names)} (set by its first finished trial)")
        return None

    def loss_vector(self, result: Mapping[str, Any]) -> List[float]:
        """The losses of ``result`` in this search's order (its ``"loss"`` when it has one)."""
        if self.losses:
            return [float(result[LOSSES][name]) for name in self.losses]
        return [float(result["loss"])]

    def violation(self, result: Mapping[str, Any]) -> float:
        """The sum of the positive constraint values of ``result`` (0: feasible)."""
        values = result.get(CONSTRAINTS) or {}
        return float(sum(max(float(values[name]), 0.0) for name in self.constraints))


def objectives_of(docs: Iterable[Dict[str, Any]]) -> Optional[Objectives]:
    """The names of a search, from its documents: those of its lowest-tid trial finished with
    a result (the loop fails every result named otherwise than the first to finish, so every
    such trial carries the same names); None before any did."""
    first = None
    for doc in docs:
        result = doc.get("result") or {}
        if result.get("status") != "ok" or result.get("pruned") or "loss" not in result:
            continue
        if first is None or doc["tid"] < first[0]:
            first = (doc["tid"], result)
    return None if first is None else Objectives.of(first[1])


def non_dominated(points: np.ndarray) -> np.ndarray:
    """The mask of the rows of ``points`` (losses, lower is better) that no other row
    dominates (at most as large everywhere, smaller somewhere). Equal rows all stay.

    >>> non_dominated(np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [1.0, 3.0]])).tolist()
    [True, True, False, True]
    """
    points = np.asarray(points, dtype=float)
    count = len(points)
    keep = np.ones(count, dtype=bool)
    if count == 0:
        return keep
    if points.shape[1] == 1:
        return points[:, 0] == points[:, 0].min()
    if points.shape[1] == 2:
        return _non_dominated_2d(points)
    for start in range(0, count, 512):  # every pair, in blocks
        block = points[start:start + 512]
        no_worse = (points[None, :, :] <= block[:, None, :]).all(axis=2)
        better = (points[None, :, :] < block[:, None, :]).any(axis=2)
        keep[start:start + 512] = ~(no_worse & better).any(axis=1)
    return keep


def _non_dominated_2d(points: np.ndarray) -> np.ndarray:
    """Two losses: sorted by the first loss then the second, O(n log n)."""
    order = _by_first_then_second(points[:, 0], points[:, 1])
    keep = np.empty(len(order), dtype=bool)
    keep[order] = _front_of_sorted(points[order, 0], points[order, 1])
    return keep


def _by_first_then_second(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The order by ``a``, ties by ``b``. One plain sort where ``a`` has no ties (real-valued
    losses rarely do): on 20,000 rows it took a fifth of numpy's lexsort here."""
    order = np.argsort(a)
    ranked = a[order]
    if len(a) > 1 and (ranked[1:] == ranked[:-1]).any():
        return np.lexsort((b, a))
    return order


def _front_of_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For rows sorted by ``a`` then ``b``: a distinct row is on the front when its ``b`` is
    below every earlier distinct row's; equal rows share their fate. Vectorised."""
    new = np.ones(len(a), dtype=bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    distinct = b[new]
    earlier = np.empty_like(distinct)
    earlier[0] = math.inf
    np.minimum.accumulate(distinct[:-1], out=earlier[1:])
    return (distinct < earlier)[np.cumsum(new) - 1]


PREFILTER = 500
"""With three losses or more, ``best_first`` ranks at most this many feasible rows (those
with the smallest sum of per-loss ranks): exact fronts cost every pair."""


def best_first(vectors: np.ndarray, violations: np.ndarray, count: int) -> np.ndarray:
    """The indices of the ``count`` best rows, as a multi-objective TPE splits good from bad:
    feasible rows (violation at most 0, finite losses) front by front (non-dominated rank),
    the last front taken in part spread evenly along its first loss; then infeasible rows by
    their violation.

    >>> best_first(np.array([[0., 3.], [1., 1.], [3., 0.], [2., 2.], [0., 0.]]),
    ...            np.array([0., 0., 0., 0., 1.]), 4).tolist()
    [0, 1, 2, 3]
    """
    vectors = np.asarray(vectors, dtype=float)
    count = min(count, len(vectors))
    feasible = (violations <= 0) & np.isfinite(vectors).all(axis=1)
    pool = np.flatnonzero(feasible)
    if vectors.shape[1] >= 3 and len(pool) > PREFILTER:
        ranks = np.argsort(np.argsort(vectors[pool], axis=0), axis=0).sum(axis=1)
        pool = pool[np.argpartition(ranks, PREFILTER - 1)[:PREFILTER]]
    if vectors.shape[1] == 2:  # sorted once: every later front keeps the order
        pool = pool[_by_first_then_second(vectors[pool, 0], vectors[pool, 1])]
    chosen: List[np.ndarray] = []
    taken = 0
    while taken < count and len(pool):
        mask = (_front_of_sorted(vectors[pool, 0], vectors[pool, 1])
                if vectors.shape[1] == 2 else non_dominated(vectors[pool]))
        front = pool[mask]
        need = count - taken
        if len(front) > need:
            front = front[np.argsort(vectors[front, 0], kind="stable")]
            front = front[np.unique(np.linspace(0, len(front) - 1, need).round().astype(int))]
        chosen.append(front)
        taken += len(front)
        pool = pool[~mask]
    if taken < count:
        rest = np.flatnonzero(~feasible & np.isfinite(violations))
        rest = rest[np.argsort(violations[rest], kind="stable")][:count - taken]
        chosen.append(rest)
    return np.concatenate(chosen).astype(int) if chosen else np.zeros(0, dtype=int)


def pareto_front(docs: Sequence[Dict[str, Any]],
                 objectives: Optional[Objectives] = None) -> Tuple[List[Dict[str, Any]], bool]:
    """The documents of ``docs`` (finished with a result) on the front, ordered by the first
    loss then tid, and whether any of them is feasible. Of the feasible trials, those no other
    feasible trial dominates; when none is feasible, those with the smallest total violation.
    Trials whose result does not carry the search's names are left out."""
    objectives = objectives or objectives_of(docs)
    if objectives is None:
        return [], False
    usable = [d for d in docs if (d.get("result") or {}).get("status") == "ok"
              and not d["result"].get("pruned") and "loss" in d["result"]
              and objectives.mismatch(d["result"]) is None]
    if not usable:
        return [], False
    vectors = np.array([objectives.loss_vector(d["result"]) for d in usable])
    violations = np.array([objectives.violation(d["result"]) for d in usable])
    mask, feasible = front_mask(vectors, violations)
    front = [d for d, keep in zip(usable, mask) if keep]
    front.sort(key=lambda d: (objectives.loss_vector(d["result"])[0], d["tid"]))
    return front, feasible


def front_mask(vectors: np.ndarray, violations: np.ndarray) -> Tuple[np.ndarray, bool]:
    """The rows on the front (the mask) and whether they are feasible: of the feasible rows
    (violation at most 0), those no other feasible row dominates; when none is feasible, those
    with the smallest violation.

    >>> mask, feasible = front_mask(np.array([[1., 2.], [2., 1.], [2., 2.], [0., 0.]]),
    ...                             np.array([0., 0., 0., 3.]))
    >>> mask.tolist(), feasible
    ([True, True, False, False], True)
    """
    vectors = np.asarray(vectors, dtype=float)
    violations = np.asarray(violations, dtype=float)
    feasible = violations <= 0
    mask = np.zeros(len(vectors), dtype=bool)
    if feasible.any():
        mask[np.flatnonzero(feasible)[non_dominated(vectors[feasible])]] = True
        return mask, True
    if len(vectors):
        mask = violations == violations.min()
    return mask, False


def reference_point(points: np.ndarray) -> np.ndarray:
    """A reference for the hypervolume of ``points`` (their losses): past the worst of each
    loss by a tenth of its range (by 1 where the range is 0), so every point counts.

    >>> reference_point(np.array([[0.0, 2.0], [1.0, 1.0]])).tolist()
    [1.1, 2.1]
    """
    low, high = points.min(axis=0), points.max(axis=0)
    spread = np.where(high > low, high - low, 1.0)
    return high + 0.1 * spread


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by ``points`` (losses, lower is better) and bounded by
    ``reference``: exact, by slices along the last loss (fine for the fronts of a search:
    tens of points, a few losses).

    >>> hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0]))
    3.0
    """
    points = np.asarray(points, dtype=float)
    reference = np.asarray(reference, dtype=float)
    points = points[(points < reference).all(axis=1)]
    if not len(points):
        return 0.0
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    if points.shape[1] == 2:  # a sweep along the first loss: O(n log n)
        points = points[np.argsort(points[:, 0], kind="stable")]
        widths = np.diff(np.append(points[:, 0], reference[0]))
        return float((widths * (reference[1] - np.minimum.accumulate(points[:, 1]))).sum())
    points = points[np.argsort(points[:, -1], kind="stable")]
    volume = 0.0
    for index in range(len(points)):
        top = points[index + 1, -1] if index + 1 < len(points) else reference[-1]
        depth = top - points[index, -1]
        if depth > 0:
            volume += depth * hypervolume(points[:index + 1, :-1], reference[:-1])
    return float(volume)


def hypervolume_contributions(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """What each row of ``points`` (a set no row of which dominates another) adds to their
    hypervolume: the volume that only it dominates. Exact: a closed form for two losses, each
    row left out in turn for more (fine for a good group: at most a few dozen rows).

    >>> hypervolume_contributions(np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]),
    ...                           np.array([4.0, 4.0])).tolist()
    [1.0, 1.0, 1.0]
    """
    points = np.asarray(points, dtype=float)
    reference = np.asarray(reference, dtype=float)
    count = len(points)
    if count == 0:
        return np.zeros(0)
    if points.shape[1] == 2:
        order = np.lexsort((points[:, 1], points[:, 0]))
        x, y = points[order, 0], points[order, 1]
        right = np.append(x[1:], reference[0]) - x  # to the next row along the first loss
        above = np.insert(y[:-1], 0, reference[1]) - y  # to the previous row's second loss
        out = np.empty(count)
        out[order] = np.clip(right, 0, None) * np.clip(above, 0, None)
        return out
    total = hypervolume(points, reference)
    return np.array([total - hypervolume(np.delete(points, i, axis=0), reference)
                     for i in range(count)])
