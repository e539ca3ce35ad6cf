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

>>> import logging
>>> isinstance(ConsoleFallback(), logging.Handler)
True
"""
from __future__ import annotations

import logging
import os
import sys

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


def install(logger: logging.Logger) -> None:
    """Add the fallback to ``logger`` once (importing hyperspark twice adds it once)."""
    if not any(isinstance(handler, ConsoleFallback) for handler in logger.handlers):
        logger.addHandler(ConsoleFallback())
