"""A space checked before the first trial: mistakes hyperopt would run with, refused by name.

hyperopt takes any Python structure as a space, and a leaf that is not a parameter is a
constant. Two mistakes therefore run silently: an ``hp`` function not called (``{"x":
hp.uniform}`` passes the function itself to the objective), and a space with no parameter at
all (``{"x": (-1, 1)}`` runs every trial at the same point, and ``fmin`` returns ``{}``).

>>> from hyperopt import hp
>>> check_space({"x": hp.uniform("x", -1, 1)})
>>> check_space({"x": (-1, 1)})
Traceback (most recent call last):
...
hyperspark.errors.InvalidArgument: space has no hyperopt parameter: every value in it is a constant, so every trial would run the same point and fmin would return {}. space['x'] is (-1, 1); did you mean hp.uniform('x', -1, 1)?
"""
from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

from hyperspark.errors import InvalidArgument
from hyperspark.space.reader import label_nodes

_HP_MODULE = "hyperopt.pyll_utils"
"""Where hyperopt's ``hp.*`` functions live."""


def check_space(space: Any, argument: str = "space") -> None:
    """Refuse a space with an ``hp`` function left uncalled, or with no parameter at all; the
    error names the key and shows what was probably meant."""
    for path, value in _leaves(space, argument):
        if callable(value) and getattr(value, "__module__", None) == _HP_MODULE:
            name = getattr(value, "__name__", "uniform").removeprefix("hp_")
            label = _label_of(path, argument)
            raise InvalidArgument(
                f"{path} is the function hp.{name} itself, not a parameter: call it, e.g. "
                f"hp.{name}({label!r}, {_arguments(name)})")
    if label_nodes(space):
        return
    hint = ""
    for path, value in _leaves(space, argument):
        meant = _meant(_label_of(path, argument), value)
        if meant:
            hint = f" {path} is {value!r}; did you mean {meant}?"
            break
    raise InvalidArgument(
        f"{argument} has no hyperopt parameter: every value in it is a constant, so every trial "
        f"would run the same point and fmin would return {{}}.{hint or ' Use hp.uniform, hp.choice, ... for what the search should vary.'}")


def _leaves(value: Any, path: str) -> Iterator[Tuple[str, Any]]:
    """(path, value) of each value in nested dicts, lists and tuples; a 2-tuple of numbers
    is a leaf too (what a person writes for a range)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)) and not _is_range(value):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
        yield path, value
    else:
        yield path, value


def _label_of(path: str, argument: str) -> str:
    inner = path[len(argument):]
    if inner.startswith("[") and inner.endswith("]"):
        key = inner.rsplit("[", 1)[-1][:-1]
        return key.strip("'\"")
    return "x"


def _is_range(value: Any) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _meant(label: str, value: Any) -> Optional[str]:
    if _is_range(value):
        return f"hp.uniform({label!r}, {value[0]}, {value[1]})"
    if isinstance(value, list) and value:
        return f"hp.choice({label!r}, {value!r})"
    return None


def _arguments(name: str) -> str:
    return {"choice": "[option, ...]", "pchoice": "[(p, option), ...]", "randint": "upper",
            "normal": "mu, sigma", "lognormal": "mu, sigma", "qnormal": "mu, sigma, q",
            "qlognormal": "mu, sigma, q", "quniform": "low, high, q",
            "qloguniform": "low, high, q"}.get(name, "low, high")
