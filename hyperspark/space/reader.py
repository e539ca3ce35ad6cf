"""A hyperopt search space, read once into plain parameters and the groups they activate in:
the one reader of spaces (``hyperspark.tpe``, checkpoints, continuation, params, tracking).

hyperopt describes a space as a pyll graph: ``hp.choice`` is a ``switch`` on a
``hyperopt_param`` whose options may hold more parameters. This module walks that graph once
and returns a ``Space``:

- each ``Param`` knows its distribution, its bounds in the model's coordinates (the log of the
  value for the log distributions), how to draw from its prior, and how to turn a model
  coordinate into the value hyperopt stores in ``misc["vals"]``;
- parameters that are active under the same conditions form a ``Group``; a condition is a
  conjunction of ``(choice label, option index)`` pairs, and a group is active when one of its
  conjunctions holds. The root group (no condition) is always active.

>>> from hyperopt import hp
>>> space = Space.from_expr({"kind": hp.choice("kind", [
...     {"c": hp.loguniform("c", -3, 3)}, {"depth": hp.uniformint("depth", 1, 8)}])})
>>> [group.labels for group in space.groups]
[('kind',), ('c',), ('depth',)]
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import numpy as np
from hyperopt import pyll

Condition = Tuple[Tuple[str, int], ...]
"""A conjunction of (choice label, option index): all must hold."""

NUMERIC = ("uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
           "lognormal", "qlognormal")
CATEGORICAL = ("randint", "categorical")


def label_nodes(expr: Any) -> Dict[str, Any]:
    """Every ``hyperopt_param`` node of a space, by label, in the order a walk meets them.
    Never raises on a space hyperopt accepts (whatever ``Space.from_expr`` thinks of it).

    >>> from hyperopt import hp
    >>> list(label_nodes({"b": hp.uniform("b", 0, 1), "a": hp.choice("a", [1, 2])}))
    ['a', 'b']
    """
    return {node.arg["label"].obj: node for node in pyll.dfs(pyll.as_apply(expr))
            if node.name == "hyperopt_param"}


def labels(expr: Any) -> List[str]:
    """The labels of a space, sorted; never raises on a space hyperopt accepts."""
    return sorted(label_nodes(expr))


def choice_nodes(expr: Any) -> Dict[str, Any]:
    """Each ``hp.choice`` (a ``switch`` on a parameter) of a space, by its label."""
    return {node.pos_args[0].arg["label"].obj: node for node in pyll.dfs(pyll.as_apply(expr))
            if node.name == "switch" and node.pos_args
            and node.pos_args[0].name == "hyperopt_param"}


def fingerprint(expr: Any) -> str:
    """A digest of a space's structure: labels, distributions and constants. Stable across
    processes (object addresses are left out): a checkpoint knows its space by it."""
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", str(pyll.as_apply(expr)))
    return hashlib.sha256(text.encode()).hexdigest()


class UnsupportedSpace(ValueError):
    """A space this TPE cannot model (e.g. a distribution whose bounds depend on another
    parameter); ``hyperspark.tpe.suggest`` then hands the call to ``hyperopt.tpe.suggest``."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One hyperopt parameter, as the model sees it.

    Numeric parameters live in model coordinates ``t``: the value itself, or its log for the
    log distributions. ``low``/``high`` bound ``t`` (infinite for the normal ones); ``center``
    and ``scale`` are the prior's mean and spread there. Categorical parameters (``hp.choice``,
    ``hp.pchoice``, ``hp.randint``) are an index into ``n_choices`` options with prior
    ``probs``; ``offset`` turns the index into the stored value (``randint(low, high)``).
    """

    label: str
    kind: str
    low: float = -math.inf
    high: float = math.inf
    center: float = 0.0
    scale: float = 1.0
    q: Optional[float] = None
    log: bool = False
    n_choices: int = 0
    probs: Optional[Tuple[float, ...]] = None
    offset: int = 0

    @property
    def categorical(self) -> bool:
        return self.n_choices > 0

    def describe(self, options: Tuple[str, ...] = ()) -> Dict[str, Any]:
        """The distribution and its bounds as hyperopt's ``hp`` functions take them (the log
        distributions' bounds are logs: ``values`` gives the range of the values themselves);
        ``options``: how to show a choice's options.

        >>> Param("lr", "loguniform", low=-7.0, high=0.0, log=True).describe()["values"]
        [0.000911882, 1.0]
        """
        if self.kind == "categorical" or options:  # hp.choice is a randint index underneath
            shown: Dict[str, Any] = {"distribution": "choice", "options": list(options)
                                     if options else self.n_choices}
            if self.probs is not None and len(set(self.probs)) > 1:
                shown["probabilities"] = [round(float(p), 6) for p in self.probs]
            return shown
        if self.kind == "randint":
            return {"distribution": "randint", "low": self.offset,
                    "high": self.offset + self.n_choices}
        shown = {"distribution": self.kind}
        if self.bounded:
            shown.update(low=self.low, high=self.high)
            if self.log:
                shown["values"] = [float(f"{math.exp(self.low):.6g}"),
                                   float(f"{math.exp(self.high):.6g}")]
        else:
            shown.update(mu=self.center, sigma=self.scale)
        if self.q is not None:
            shown["q"] = self.q
        return shown

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    # ---------------------------------------------------------------- prior
    def sample_prior(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws from the prior, in model coordinates (an index if categorical)."""
        if self.categorical:
            return rng.choice(self.n_choices, size=size, p=self.probs).astype(float)
        if self.bounded:
            return rng.uniform(self.low, self.high, size)
        return rng.normal(self.center, self.scale, size)

    # ---------------------------------------------------------------- coordinates
    def to_value(self, t: float) -> Any:
        """The value hyperopt stores for model coordinate ``t`` (quantized, exponentiated)."""
        if self.categorical:
            return int(t) + self.offset
        value = math.exp(t) if self.log else float(t)
        if self.q is not None:
            value = float(np.round(value / self.q) * self.q)
        return value

    def to_model(self, value: Any) -> float:
        """The model coordinate of a stored value (the inverse of ``to_value``, up to q)."""
        if self.categorical:
            return float(int(value) - self.offset)
        value = float(value)
        if self.log:
            floor = (self.q / 2) if self.q else 1e-300  # a value quantized down to 0
            value = math.log(max(value, floor))
        return min(max(value, self.low), self.high)


@dataclasses.dataclass(frozen=True)
class Group:
    """Parameters active together: under the same set of conditions."""

    conditions: FrozenSet[Condition]
    params: Tuple[Param, ...]

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(param.label for param in self.params)

    def active(self, choices: Dict[str, int]) -> bool:
        """Whether the group is active, given the options chosen by every choice it depends
        on (a choice missing from ``choices`` is itself inactive)."""
        return any(all(choices.get(label) == index for label, index in conjunction)
                   for conjunction in self.conditions)


@dataclasses.dataclass(frozen=True)
class Space:
    """Every parameter of a hyperopt space, in groups ordered so that a group comes after the
    choices it depends on."""

    params: Dict[str, Param]
    groups: Tuple[Group, ...]
    options: Dict[str, Tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Each choice's options as text: a constant's repr, or ``{...}`` for a nested space."""

    @classmethod
    def from_expr(cls, expr: Any) -> "Space":
        """Read a hyperopt space (or a ``Domain.expr``)."""
        found: Dict[str, Tuple[Any, set]] = {}
        options: Dict[str, Tuple[str, ...]] = {}
        _walk(pyll.as_apply(expr), (), found, set(), options)
        params = {label: _param(label, node) for label, (node, _) in found.items()}
        by_conditions: Dict[FrozenSet[Condition], List[Param]] = {}
        for label, (_, conditions) in found.items():
            key = frozenset([()]) if () in conditions else frozenset(conditions)
            by_conditions.setdefault(key, []).append(params[label])
        groups = [Group(key, tuple(sorted(members, key=lambda p: p.label)))
                  for key, members in by_conditions.items()]
        return cls(params, _after_their_choices(groups), options)

    def describe(self) -> Dict[str, Dict[str, Any]]:
        """Every label's distribution and bounds, in label order (``Param.describe``)."""
        return {label: self.params[label].describe(self.options.get(label, ()))
                for label in sorted(self.params)}


def _after_their_choices(groups: List[Group]) -> Tuple[Group, ...]:
    """The groups in an order where each comes after the groups of the choices it depends on
    (a topological order; ties keep the shallower and then the alphabetically first)."""
    home = {label: index for index, group in enumerate(groups) for label in group.labels}
    needs = [{home[label] for conjunction in group.conditions for label, _ in conjunction}
             for group in groups]
    ordered: List[int] = []
    placed: set = set()
    key = [(max(len(c) for c in g.conditions), sorted(map(str, g.conditions))) for g in groups]
    while len(ordered) < len(groups):
        ready = [i for i in range(len(groups)) if i not in placed and needs[i] <= placed]
        if not ready:
            raise UnsupportedSpace("the choices of this space depend on each other in a cycle")
        first = min(ready, key=lambda i: key[i])
        ordered.append(first)
        placed.add(first)
    return tuple(groups[i] for i in ordered)


def _walk(node: Any, condition: Condition, found: Dict[str, Tuple[Any, set]],
          seen: set, options: Dict[str, Tuple[str, ...]]) -> None:
    """Record every hyperopt_param under ``node`` with the condition that reaches it."""
    key = (id(node), condition)
    if key in seen:
        return
    seen.add(key)
    if node.name == "hyperopt_param":
        label = node.arg["label"].obj
        entry = found.setdefault(label, (node.arg["obj"], set()))
        entry[1].add(condition)
        _check_constant_args(label, node.arg["obj"])
        return
    if node.name == "switch":
        index = node.pos_args[0]
        _walk(index, condition, found, seen, options)
        if index.name != "hyperopt_param":
            raise UnsupportedSpace("a switch whose index is not a parameter")
        label = index.arg["label"].obj
        choices = node.pos_args[1:]
        options[label] = tuple(_option_text(option) for option in choices)
        for position, option in enumerate(choices):
            _walk(option, condition + ((label, position),), found, seen, options)
        return
    for child in node.inputs():
        _walk(child, condition, found, seen, options)


def _option_text(option: Any) -> str:
    """A choice's option as a person reads it: a constant, or ``{...}`` for a sub-space."""
    if option.name == "literal":
        text = repr(option.obj)
        return text if len(text) <= 60 else text[:57] + "..."
    return "{...}"


def _check_constant_args(label: str, dist: Any) -> None:
    for argument in dist.inputs():
        if any(inner.name == "hyperopt_param" for inner in pyll.dfs(argument)):
            raise UnsupportedSpace(f"the bounds of {label!r} depend on another parameter")


def _constant(node: Any, name: str, default: Any = None) -> Any:
    """The value of the distribution's argument ``name`` (all of them are constants here)."""
    argument = node.arg.get(name, pyll.base.MissingArgument)
    if argument is pyll.base.MissingArgument:
        return default
    return pyll.rec_eval(argument)


def _param(label: str, dist: Any) -> Param:
    kind = dist.name
    if kind in ("uniform", "quniform", "loguniform", "qloguniform"):
        low, high = float(_constant(dist, "low")), float(_constant(dist, "high"))
        q = _constant(dist, "q") if kind.startswith("q") else None
        return Param(label, kind, low=low, high=high, center=(low + high) / 2,
                     scale=high - low, q=float(q) if q is not None else None,
                     log="log" in kind)
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        mu, sigma = float(_constant(dist, "mu")), float(_constant(dist, "sigma"))
        q = _constant(dist, "q") if kind.startswith("q") else None
        return Param(label, kind, center=mu, scale=sigma,
                     q=float(q) if q is not None else None, log="log" in kind)
    if kind == "randint":
        first, second = _constant(dist, "low"), _constant(dist, "high")
        low, high = (0, int(first)) if second is None else (int(first), int(second))
        count = high - low
        return Param(label, kind, n_choices=count, probs=tuple([1.0 / count] * count),
                     offset=low)
    if kind == "categorical":
        probs = np.asarray(_constant(dist, "p"), dtype=float).ravel()
        return Param(label, kind, n_choices=len(probs), probs=tuple(probs / probs.sum()))
    raise UnsupportedSpace(f"parameter {label!r} has distribution {kind!r}, which "
                           f"hyperspark.tpe does not know")


def describe_space(expr: Any) -> Dict[str, Dict[str, Any]]:
    """Every label of a hyperopt space with its distribution and bounds, for people (MLflow's
    ``space`` tag and ``space.json``, the page). A space this reader cannot model (bounds that
    depend on another parameter) still lists each label with its distribution's name.

    >>> from hyperopt import hp
    >>> describe_space({"x": hp.uniform("x", 0, 1)})
    {'x': {'distribution': 'uniform', 'low': 0.0, 'high': 1.0}}
    """
    try:
        return Space.from_expr(expr).describe()
    except UnsupportedSpace:
        found = label_nodes(expr)
        return {label: {"distribution": found[label].arg["obj"].name} for label in sorted(found)}


def space_line(description: Dict[str, Dict[str, Any]]) -> str:
    """``describe_space``'s answer on one line.

    >>> space_line({"x": {"distribution": "uniform", "low": 0.0, "high": 1.0},
    ...             "k": {"distribution": "choice", "options": ["'a'", "'b'"]}})
    "x: uniform(0, 1); k: choice('a', 'b')"
    """
    parts = []
    for label, shown in description.items():
        extra = {key: value for key, value in shown.items() if key != "distribution"}
        if shown["distribution"] == "choice" and isinstance(extra.get("options"), list):
            arguments = ", ".join(extra["options"])
        else:
            arguments = ", ".join(f"{value:g}" if isinstance(value, float) else str(value)
                                  for key, value in extra.items()
                                  if key in ("low", "high", "mu", "sigma", "options"))
            if "q" in extra:
                arguments += f", q={extra['q']:g}"
            if "values" in extra:
                arguments += f"; values {extra['values'][0]:g} to {extra['values'][1]:g}"
        parts.append(f"{label}: {shown['distribution']}({arguments})")
    return "; ".join(parts)
