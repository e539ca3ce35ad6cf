"""What one attempt of a trial came to: the typed record that travels from the worker (an
executor, an actor, a driver thread) back to the backend and into the loop's events.

An attempt either gave a result hyperopt can record, or failed, and a failure has a kind::

    Outcome.succeeded({"loss": 0.5, "status": "ok"}, start, end)
    Outcome.failed(FailureKind.USER, exc, start, end, retryable=False)

Outcomes are plain picklable data (strings, floats, dicts): an exception object that cannot be
pickled still arrives as its type name, message and formatted traceback.
"""
from __future__ import annotations

import dataclasses
import enum
import traceback as traceback_module
from typing import Any, Dict, Optional


class FailureKind(str, enum.Enum):
    """Why an attempt has no result. The value is what trial documents and MLflow store."""

    USER = "user"
    """The objective raised."""
    INVALID_RESULT = "invalid_result"
    """The objective returned something hyperopt cannot record (or that cannot be pickled)."""
    SETUP = "setup"
    """The worker could not load the objective or run ``worker_setup``; retrying cannot help."""
    INFRASTRUCTURE = "infrastructure"
    """Every allowed attempt was lost to the infrastructure (worker or executor died)."""
    PRUNED = "pruned"
    """The objective raised ``TrialPruned`` (after the pruner's decision, or on its own): the
    loop records the trial pruned, with its last reported loss."""


def short_type(error_type: str) -> str:
    """An exception type's name as a person reads it: builtins and hyperspark's own lose their
    module.

    >>> short_type("builtins.ValueError"), short_type("numpy.linalg.LinAlgError")
    ('ValueError', 'numpy.linalg.LinAlgError')
    >>> short_type("hyperspark.worker.results.InvalidResult")
    'InvalidResult'
    """
    if error_type.startswith(("builtins.", "hyperspark.")):
        return error_type.rsplit(".", 1)[-1]
    return error_type


@dataclasses.dataclass(frozen=True)
class Failure:
    """An exception, as data."""

    kind: FailureKind
    error_type: str
    message: str
    traceback: str
    retryable: bool = False
    """The objective raised one of the types listed in ``retry_on``."""

    @classmethod
    def of(cls, kind: FailureKind, exc: BaseException, *, retryable: bool = False,
           prefix: str = "") -> "Failure":
        return cls(kind, f"{type(exc).__module__}.{type(exc).__qualname__}", prefix + str(exc),
                   "".join(traceback_module.format_exception(type(exc), exc,
                                                             exc.__traceback__)), retryable)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One attempt's end: ``result`` when it succeeded, ``failure`` when it did not."""

    result: Optional[Dict[str, Any]] = None
    failure: Optional[Failure] = None
    start: Optional[float] = None
    """Epoch seconds when the objective was called (None when it never was)."""
    end: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def retryable(self) -> bool:
        return self.failure is not None and self.failure.retryable

    def on_rank(self, rank: int, world_size: int) -> "Outcome":
        """This outcome of rank ``rank`` of a trial of ``world_size`` tasks: a failure names
        the rank in its message and traceback; a result is unchanged."""
        if self.failure is None:
            return self
        where = f"rank {rank} of {world_size}"
        return dataclasses.replace(self, failure=dataclasses.replace(
            self.failure, message=f"{where}: {self.failure.message}",
            traceback=f"{where}:\n{self.failure.traceback}"))

    @classmethod
    def succeeded(cls, result: Dict[str, Any], start: float, end: float) -> "Outcome":
        return cls(result=result, start=start, end=end)

    @classmethod
    def failed(cls, kind: FailureKind, exc: BaseException, start: Optional[float] = None,
               end: Optional[float] = None, *, retryable: bool = False,
               prefix: str = "") -> "Outcome":
        return cls(failure=Failure.of(kind, exc, retryable=retryable, prefix=prefix),
                   start=start, end=end)

    @classmethod
    def message(cls, kind: FailureKind, error_type: str, message: str) -> "Outcome":
        """A failure that is not an exception (hyperspark's own verdict)."""
        return cls(failure=Failure(kind, error_type, message, message))


@dataclasses.dataclass(frozen=True)
class Lost:
    """Not an outcome: the attempt that should have produced one died (Spark re-ran its task
    after the first try's worker or executor was lost). The backend turns it into a retry."""

    message: str
