"""Where the objective's code came from, so a worker's traceback names the user's own file.

cloudpickle sends functions defined in ``__main__`` (a script, a notebook) by value, and sets
their code's file name to ``<dynamic-code>`` on the way. A traceback formatted on an executor
then reads ``File "<dynamic-code>", line 12, in objective``. The function name and the line
number survive, so the driver, which still has the functions, maps each such frame back to its
file and adds the source line:

>>> def objective(x):
...     return 1 / x
>>> source = SourceMap.of(objective)
>>> line = objective.__code__.co_firstlineno + 1
>>> text = f'  File "<dynamic-code>", line {line}, in objective\\n'
>>> "<dynamic-code>" in source.restore(text)
False
"""
from __future__ import annotations

import functools
import inspect
import linecache
import re
import types
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

DYNAMIC = "<dynamic-code>"
_FRAME = re.compile(r'^(\s*)File "<dynamic-code>", line (\d+), in (\S+)[^\n]*\n', re.MULTILINE)
_MAX_OBJECTS = 2000


class SourceMap:
    """Code objects reachable from some functions: (name, first line, last line, file)."""

    def __init__(self, spans: List[Tuple[str, int, int, str]]) -> None:
        self._by_name: Dict[str, List[Tuple[int, int, str]]] = {}
        for name, first, last, filename in spans:
            self._by_name.setdefault(name, []).append((first, last, filename))

    @classmethod
    def of(cls, *roots: Any) -> "SourceMap":
        """The map of ``roots`` (functions, methods, callables, partials) and of the functions
        and classes they reach through their globals, closures and defaults."""
        spans: List[Tuple[str, int, int, str]] = []
        seen: Set[int] = set()
        pending = [root for root in roots if root is not None]
        while pending and len(seen) < _MAX_OBJECTS:
            item = pending.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, types.CodeType):
                spans.append(_span(item))
                pending.extend(const for const in item.co_consts
                               if isinstance(const, types.CodeType))
            else:
                pending.extend(_reachable(item))
        return cls([span for span in spans if span[3] and not span[3].startswith("<")])

    def file_of(self, name: str, line: int) -> Optional[str]:
        """The file of the code named ``name`` that holds ``line`` (the narrowest one)."""
        candidates = [(last - first, filename) for first, last, filename
                      in self._by_name.get(name, ()) if first <= line <= last]
        return min(candidates)[1] if candidates else None

    def restore(self, traceback_text: str) -> str:
        """``traceback_text`` with each ``<dynamic-code>`` frame that this map knows named by
        its file, followed by its source line when the file can be read here."""
        if DYNAMIC not in traceback_text:
            return traceback_text

        def frame(match: "re.Match[str]") -> str:
            indent, line, name = match.group(1), int(match.group(2)), match.group(3)
            filename = self.file_of(name, line)
            if filename is None:
                return match.group(0)
            source = linecache.getline(filename, line).strip()
            shown = f'{indent}File "{filename}", line {line}, in {name}\n'
            return shown + (f"{indent}  {source}\n" if source else "")

        return _FRAME.sub(frame, traceback_text)


def definition_site(fn: Any) -> Optional[str]:
    """Where ``fn`` is defined, as a traceback frame reads (file, line, name, and the source
    line when the file can be read), or None when it has no code of its own (a builtin).
    Partials and callable objects are unwrapped to the function that runs.

    >>> def objective(x):
    ...     return x
    >>> definition_site(objective).splitlines()[0].endswith("in objective")
    True
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = inspect.unwrap(fn) if callable(fn) else fn
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__call__", None),
                                                     "__code__", None)
    if not isinstance(code, types.CodeType) or code.co_filename.startswith("<"):
        return None
    line = code.co_firstlineno
    source = linecache.getline(code.co_filename, line).strip()
    return (f'  File "{code.co_filename}", line {line}, in {code.co_name}\n'
            + (f"    {source}\n" if source else ""))


def _span(code: types.CodeType) -> Tuple[str, int, int, str]:
    lines = [line for _, _, line in code.co_lines() if line is not None]
    first = min(lines, default=code.co_firstlineno)
    return code.co_name, min(first, code.co_firstlineno), max(lines, default=first), \
        code.co_filename


def _reachable(item: Any) -> Iterable[Any]:
    """What a callable (or class) may run: its code and what that code names."""
    if isinstance(item, functools.partial):
        yield item.func
        yield from item.args
        yield from item.keywords.values()
        return
    if inspect.ismethod(item) or isinstance(item, (staticmethod, classmethod)):
        yield item.__func__
        return
    if inspect.isfunction(item):
        yield item.__code__
        if item.__module__ in ("__main__", None) or _by_value(item):
            names = _names(item.__code__)
            yield from (value for key, value in item.__globals__.items()
                        if key in names and _worth_walking(value))
        for cell in item.__closure__ or ():
            try:
                if _worth_walking(cell.cell_contents):
                    yield cell.cell_contents
            except ValueError:  # an empty cell
                continue
        yield from (value for value in item.__defaults__ or () if _worth_walking(value))
        return
    if inspect.isclass(item):
        if item.__module__ == "__main__" or _by_value(item):
            yield from (value for value in vars(item).values() if _worth_walking(value))
        return
    if callable(item) and _worth_walking(type(item)):
        yield type(item)  # an instance with __call__


def _names(code: types.CodeType) -> Set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _by_value(item: Any) -> bool:
    """True when cloudpickle sends ``item`` by value (its module is registered for that)."""
    try:
        from cloudpickle.cloudpickle import _is_registered_pickle_by_value
        import sys

        module = sys.modules.get(getattr(item, "__module__", "") or "")
        return module is not None and _is_registered_pickle_by_value(module)
    except Exception:
        return False


def _worth_walking(value: Any) -> bool:
    """Functions, methods, partials and classes defined where cloudpickle sends them by value."""
    if isinstance(value, (functools.partial, staticmethod, classmethod)):
        return True
    if inspect.isfunction(value) or inspect.ismethod(value):
        return True
    if inspect.isclass(value):
        return value.__module__ == "__main__" or _by_value(value)
    return False
