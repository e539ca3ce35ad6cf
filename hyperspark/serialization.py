"""Pickling the objective for the workers, with an error that says which part cannot travel."""
from __future__ import annotations

import inspect
from typing import Any, Iterator, Tuple

import cloudpickle

from hyperspark.errors import ObjectiveNotSerializable


def dumps_objective(domain: Any, fn: Any) -> bytes:
    """Pickle ``domain`` (which holds ``fn``); on failure name the object inside ``fn`` at fault.

    >>> len(dumps_objective(lambda x: x, lambda x: x)) > 0
    True
    """
    try:
        return cloudpickle.dumps(domain)
    except Exception as exc:
        culprit = _find_unpicklable(fn)
        where = f": {culprit[0]} ({culprit[1]}) cannot be pickled" if culprit else ""
        raise ObjectiveNotSerializable(
            f"the objective {getattr(fn, '__qualname__', repr(fn))} cannot be sent to the "
            f"workers{where}. Create such objects inside the objective (or once per worker) "
            f"instead of capturing them. Original error: {type(exc).__name__}: {exc}") from exc


def _references(fn: Any) -> Iterator[Tuple[str, Any]]:
    """The objects a function carries along: closure cells, globals it names, defaults."""
    if inspect.ismethod(fn):
        yield "the bound instance", fn.__self__
        fn = fn.__func__
    if not inspect.isfunction(fn):
        if hasattr(fn, "__dict__"):
            yield from ((f"attribute {key!r}", value) for key, value in vars(fn).items())
        return
    code = fn.__code__
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            yield f"captured variable {name!r}", cell.cell_contents
        except ValueError:  # empty cell
            continue
    for name in code.co_names:
        if name in fn.__globals__:
            yield f"global {name!r}", fn.__globals__[name]
    for index, value in enumerate(fn.__defaults__ or ()):
        yield f"default argument #{index}", value


def _find_unpicklable(fn: Any) -> Tuple[str, str] | None:
    for label, value in _references(fn):
        if inspect.ismodule(value):
            continue
        try:
            cloudpickle.dumps(value)
        except Exception:
            return label, type(value).__name__
    return None
