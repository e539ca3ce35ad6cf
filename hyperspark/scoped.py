"""A value installed for the attempt that runs inside a block: on the calling thread, and for
the whole process too when the attempt owns its worker process (so threads the objective
starts see it). ``hyperspark.report()``'s reporter and ``hyperspark.trial_context()`` use it.

>>> current = Scoped()
>>> with current.installed("attempt 1"):
...     current.get()
'attempt 1'
>>> current.get() is None
True
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional


class Scoped:
    """One value per running attempt; ``get()`` answers the thread's, else the process's."""

    def __init__(self) -> None:
        self._on_thread = threading.local()
        self._process: Optional[Any] = None

    @contextmanager
    def installed(self, value: Any, *, own_process: bool = False) -> Iterator[None]:
        previous = getattr(self._on_thread, "value", None)
        self._on_thread.value = value
        if own_process:
            self._process = value
        try:
            yield
        finally:
            self._on_thread.value = previous
            if own_process:
                self._process = None

    def get(self) -> Optional[Any]:
        return getattr(self._on_thread, "value", None) or self._process
