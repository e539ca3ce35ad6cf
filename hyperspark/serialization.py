"""Pickling the objective for the workers, with an error that says which part cannot travel."""
from __future__ import annotations

import inspect
from typing import Any, Iterator, Tuple

import cloudpickle

from hyperspark.errors import ObjectiveNotSerializable


def dumps_objective(domain: Any, fn: Any, worker_setup: Any = None) -> bytes:
    """Pickle ``(domain, worker_setup)`` for the workers; on failure name the object at fault
    inside ``fn`` (the objective) or ``worker_setup``.

    >>> len(dumps_objective(lambda x: x, lambda x: x)) > 0
    True
    """
    for what, function in (("the objective", fn), ("worker_setup", worker_setup)):
        if function is None:
            continue
        try:
            cloudpickle.dumps(function)
        except Exception as exc:
            culprit = _find_unpicklable(function)
            where = f": {culprit[0]} ({culprit[1]}) cannot be pickled" if culprit else ""
            raise ObjectiveNotSerializable(
                f"{what} {getattr(function, '__qualname__', repr(function))} cannot be sent to "
                f"the workers{where}. Create such objects inside the function (or once per "
                f"worker with worker_setup) instead of capturing them. Original error: "
                f"{type(exc).__name__}: {exc}") from exc
    try:
        return cloudpickle.dumps((domain, worker_setup))
    except Exception as exc:
        raise ObjectiveNotSerializable(f"the search space cannot be pickled: {exc}") from exc


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
