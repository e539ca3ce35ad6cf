"""How hyperspark talks to a person when the application has not set up logging.

The library logs to the "hyperspark" logger and never prints. A library that only adds a
``NullHandler`` hides its warnings from everyone who did not configure logging, which is most
people running a script or a notebook. So, as hyperopt does, hyperspark installs one handler of
its own, ``ConsoleFallback``: it writes WARNING and above to stderr, one short line each
(``hyperspark: <message>``), and only while nothing else would show them:

- the application configured logging (a handler on the root logger, e.g. ``basicConfig``, or
  another handler on the "hyperspark" logger): the fallback stays silent, and the record goes
  where the application sends it;
- ``HYPERSPARK_QUIET=1`` in the environment: silent too.

While a progress bar is drawn, every log line that reaches the terminal goes through the bar
(``lines_through_bar``): the bar is cleared, the line written, the bar drawn again below it,
so the terminal shows one bar and no stale copy. Only the handlers' output path changes, for
the bar's lifetime: their levels, formats and filters stay as the application set them.

>>> import logging
>>> isinstance(ConsoleFallback(), logging.Handler)
True
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, Dict, Iterator, List

QUIET_ENV = "HYPERSPARK_QUIET"
"""Set to 1 (or true, yes, on) to turn hyperspark's own console messages off."""


def quiet_requested() -> bool:
    """True when ``HYPERSPARK_QUIET`` asks for no console messages."""
    return os.environ.get(QUIET_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class ConsoleFallback(logging.Handler):
    """WARNING and above to stderr, one line each, while the application configured nothing."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("hyperspark: %(message)s"))

    def _application_configured(self, record: logging.LogRecord) -> bool:
        logger = logging.getLogger(record.name)
        while logger is not None:
            if any(handler is not self and not isinstance(handler, logging.NullHandler)
                   for handler in logger.handlers):
                return True
            if not logger.propagate:
                return False
            logger = logger.parent  # type: ignore[assignment]
        return False

    def emit(self, record: logging.LogRecord) -> None:
        if quiet_requested() or self._application_configured(record):
            return
        try:
            line = self.format(record).splitlines()[0] if record.msg else ""
            _write(line)
        except Exception:  # a console message must never break a search
            self.handleError(record)


def _write(line: str) -> None:
    """One line to stderr, above a progress bar if one is drawn."""
    try:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)
    except Exception:
        sys.stderr.write(line + "\n")


_bar: Any = None
"""The progress bar drawn now (``lines_through_bar``), or None."""


class _ThroughBar:
    """A console stream whose writes clear the progress bar first and redraw it after, all
    under tqdm's lock: the bar's own redraws (and its close) cannot come between."""

    def __init__(self, stream: Any) -> None:
        self.wrapped = stream

    def write(self, text: str) -> int:
        from tqdm import tqdm

        with tqdm.get_lock():
            bar = _bar
            if bar is not None:
                bar.clear(nolock=True)
            written = self.wrapped.write(text)
            if bar is not None:
                self.wrapped.flush()
                bar.refresh(nolock=True)
            return written

    def flush(self) -> None:
        self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def _console_handlers() -> List[logging.StreamHandler]:
    """Every handler that writes to the terminal (stderr or stdout): the root logger's and
    every named logger's (a library such as MLflow keeps its own)."""
    consoles = {id(stream) for stream in (sys.stderr, sys.stdout, sys.__stderr__,
                                          sys.__stdout__) if stream is not None}
    loggers = [logging.getLogger()] + [logger for logger in
                                       list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(logger, logging.Logger)]
    found: Dict[int, logging.StreamHandler] = {}
    for logger in loggers:
        for handler in list(logger.handlers):
            if (type(handler) is logging.StreamHandler or (
                    isinstance(handler, logging.StreamHandler)
                    and not isinstance(handler, logging.FileHandler))) \
                    and id(getattr(handler, "stream", None)) in consoles:
                found[id(handler)] = handler
    return list(found.values())


@contextlib.contextmanager
def lines_through_bar(bar: Any) -> Iterator[None]:
    """While it lasts, log lines written to the terminal go through ``bar`` (a tqdm bar).
    Close the bar with ``close_bar``: a line logged meanwhile by another thread then waits, and
    lands below the closed bar.

    Lock order: a handler's lock, then tqdm's (a line being written holds its handler's lock
    and takes tqdm's). Nothing here takes a handler's lock while it holds tqdm's: with both
    orders, a line logged by another thread as the bar closed deadlocked the search's end
    (seen once in CI: the summary line never came)."""
    global _bar
    from tqdm import tqdm

    routed = []
    for handler in _console_handlers():
        with handler.lock or contextlib.nullcontext():
            original = handler.stream
            handler.stream = _ThroughBar(original)
        routed.append((handler, original))
    _bar = bar
    try:
        yield
    finally:
        with tqdm.get_lock():
            _bar = None
        for handler, original in routed:  # tqdm's lock released first (the lock order)
            with handler.lock or contextlib.nullcontext():
                if isinstance(handler.stream, _ThroughBar):  # nobody replaced it meanwhile
                    handler.stream = original


def close_bar(bar: Any) -> None:
    """Close ``bar`` under tqdm's lock and stop routing lines through it, so that a line
    another thread logs meanwhile waits and lands below the closed bar. Takes no handler's
    lock (see ``lines_through_bar``)."""
    global _bar
    from tqdm import tqdm

    with tqdm.get_lock():
        bar.close()
        if _bar is bar:
            _bar = None


def install(logger: logging.Logger) -> None:
    """Add the fallback to ``logger`` once (importing hyperspark twice adds it once)."""
    if not any(isinstance(handler, ConsoleFallback) for handler in logger.handlers):
        logger.addHandler(ConsoleFallback())
