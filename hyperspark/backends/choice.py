"""Which backend object runs a search, from ``SparkTrials(backend=...)``."""
from __future__ import annotations

from typing import Any

from hyperspark.backends.base import Backend


def make_backend(kind: str, runner: Any, parallelism: int, profile: Any = None) -> Backend:
    """The backend ``kind`` (``"jobs"``, ``"actors"``, ``"driver"`` or ``"local"``) on
    ``runner`` (the session's ``SparkRunner``; unused by ``"local"``)."""
    if kind == "local":
        from hyperspark.backends.local import LocalBackend

        return LocalBackend()
    if kind == "actors":
        from hyperspark.backends.actors import ActorsBackend

        return ActorsBackend(runner, parallelism, profile=profile)
    if kind == "driver":
        from hyperspark.backends.driver import DriverBackend

        return DriverBackend(runner, parallelism)
    from hyperspark.backends.jobs import JobsBackend

    return JobsBackend(runner, parallelism, profile=profile)
