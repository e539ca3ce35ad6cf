"""Child runs created ahead of need, so that no trial waits for one to be created.

A trial's child run must exist before the trial starts (the objective's ``mlflow.log_*`` go
to it). Creating it when the trial starts puts a round trip to the tracking store on every
trial's critical path. Instead the tracker keeps up to ``target`` spare child runs (named
``hyperspark-spare``, nested under the parent, with no ``trial_id``); a starting trial takes
one and names it, and a new spare is made behind it. Spares left at the end are deleted; a
search that crashes leaves a few, which its resume deletes with the other runs no trial owns.
"""
from __future__ import annotations

import collections
from concurrent.futures import Future
from typing import Any, Deque, Dict, Optional

SPARE_NAME = "hyperspark-spare"


class SpareRuns:
    """Up to ``target`` spare child runs, for at most ``remaining`` more trials."""

    def __init__(self, writer: Any, experiment_id: str, tags: Dict[str, str], target: int,
                 remaining: int) -> None:
        self._writer, self._experiment_id = writer, experiment_id
        self._tags = {**tags, "mlflow.runName": SPARE_NAME}
        self._target, self._remaining = max(0, target), max(0, remaining)
        self._spares: Deque["Future[Optional[str]]"] = collections.deque()
        self.taken = 0
        self._fill()

    def take(self) -> Optional["Future[Optional[str]]"]:
        """A spare run for a starting trial (its future), or None when there is none ready to
        use; a new spare is made behind it."""
        self._remaining = max(0, self._remaining - 1)
        while self._spares:
            spare = self._spares.popleft()
            if spare.done() and spare.result() is None:
                continue  # its creation failed: the trial gets a run of its own
            if not spare.done():
                self._writer.hurry(spare)  # the trial waits for it now
            self.taken += 1
            self._fill()
            return spare
        self._fill()
        return None

    def discard(self) -> None:
        """Delete the spares no trial took (at the end of the search)."""
        while self._spares:
            self._writer.delete(self._spares.popleft())

    def _fill(self) -> None:
        while len(self._spares) < min(self._target, self._remaining):
            self._spares.append(self._writer.create_run(self._experiment_id, self._tags, {},
                                                        urgent=False))
