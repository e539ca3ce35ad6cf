"""Trials sized by their own parameters: ``SparkTrials(tasks_per_trial=f, resource_profile=g)``
where ``f`` and ``g`` take a trial's parameters (as ``space_eval`` gives them) and return what
the fixed value would be.

``Sizing`` asks them once per trial, on the loop's thread, before the trial starts, and keeps
the answer (a ``TrialSize``) for the backend. The loop then starts a trial only when its CPUs
fit in the cluster's free ones (``fits``), in the order the trials were suggested: a trial
that does not fit yet waits, and no trial behind it overtakes it. That is the rule that keeps
a large trial from starving behind a stream of small ones: it has no knob, and it costs the
slots that stay free while the large trial waits for running ones to end.

Spark-free: a resource profile is read by its attributes (``taskResources``), never imported.

>>> sizing = Sizing(lambda p: 4 if p["big"] else 1, None, params_of=lambda spec: spec,
...                 capacity=8)
>>> sizing.size_of(0, {"big": True})
TrialSize(tasks=4, cpus=1, gpus=0.0)
>>> sizing.admit(1, {"big": True}, alone=False), sizing.admit(2, {"big": True}, alone=False)
(TrialSize(tasks=4, cpus=1, gpus=0.0), TrialSize(tasks=4, cpus=1, gpus=0.0))
>>> sizing.admit(3, {"big": False}, alone=False) is None  # 8 of 8 CPUs held: it waits
True
"""
from __future__ import annotations

import dataclasses
import numbers
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from hyperspark.errors import InvalidArgument


@dataclasses.dataclass(frozen=True)
class TrialSize:
    """What one trial holds while it runs: ``tasks`` tasks (a barrier job when more than
    one), each with ``cpus`` CPUs and ``gpus`` GPUs, and the resource profile that asks for
    them (None: Spark's defaults)."""

    tasks: int
    cpus: int = 1
    gpus: float = 0.0
    profile: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def total_cpus(self) -> int:
        return self.tasks * self.cpus

    def as_record(self) -> Dict[str, Any]:
        """What the trial's document, MLflow and the page keep of it."""
        return {"tasks": self.tasks, "cpus": self.cpus, "gpus": self.gpus}


class Missing:
    """A size callable that did not travel with a pickled ``SparkTrials``: code is not
    pickled with it. The next ``fmin`` asks for it again, by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}, not carried by the pickle>"


def for_search(tasks_per_trial: Any, resource_profile: Any, space: Any,
               capacity: Callable[[], Tuple[Optional[int], int]]) -> Optional["Sizing"]:
    """The ``Sizing`` of a search whose trials are sized by their parameters; None for one
    fixed size. ``capacity()``: the CPUs the cluster gives tasks (None: unknown) and
    ``spark.task.cpus``, asked only for a sized search."""
    if not callable(tasks_per_trial) and not (callable(resource_profile)
                                              and not _is_profile(resource_profile)):
        return None
    from hyperopt import space_eval

    cpus, default_cpus = capacity()
    return Sizing(tasks_per_trial, resource_profile, lambda spec: space_eval(space, spec),
                  cpus, default_cpus)


def refuse_missing(**values: Any) -> None:
    """Refuse, by name, a size callable that a pickle left behind (``Missing``)."""
    for name, value in values.items():
        if isinstance(value, Missing):
            raise InvalidArgument(
                f"this SparkTrials was unpickled without its {name} ({value.name}): code does "
                f"not travel in a pickle. Set trials.{name} = <that function> before fmin")


class SizeError(Exception):
    """A trial's size could not be decided (the callable raised, or returned no size), or it
    can never fit. The message names the argument."""


def named(value: Any) -> Any:
    """A size argument as settings, checkpoints and MLflow record it: a callable by its name
    (``callable:module.name``), anything else as it is."""
    if callable(value) and not _is_profile(value):
        module = getattr(value, "__module__", None) or "?"
        return f"callable:{module}.{getattr(value, '__qualname__', repr(value))}"
    return value


def _is_profile(value: Any) -> bool:
    return hasattr(value, "taskResources") or hasattr(value, "executorResources")


def profile_cpus_gpus(profile: Any, default_cpus: int) -> tuple:
    """(CPUs, GPUs) each task of ``profile`` asks for; Spark's defaults where it does not say."""
    requests = (getattr(profile, "taskResources", None) or {}) if profile is not None else {}
    cpus = requests.get("cpus")
    gpus = requests.get("gpu")
    return (int(cpus.amount) if cpus is not None else default_cpus,
            float(gpus.amount) if gpus is not None else 0.0)


class Sizing:
    """The sizes of one search's trials, decided from their parameters.

    ``tasks_per_trial`` and ``resource_profile``: a fixed value or a callable of the trial's
    parameters. ``params_of(spec)`` turns a trial's point into its parameters (hyperopt's
    ``space_eval``). ``capacity``: the CPUs the cluster gives tasks (None where it cannot be
    known: Spark's own check for barrier stages then refuses what never fits).
    ``default_cpus``: ``spark.task.cpus``.
    """

    def __init__(self, tasks_per_trial: Any, resource_profile: Any,
                 params_of: Callable[[Dict[str, Any]], Any], capacity: Optional[int] = None,
                 default_cpus: int = 1) -> None:
        self.tasks_per_trial, self.resource_profile = tasks_per_trial, resource_profile
        self.params_of = params_of
        self.capacity = capacity
        self.default_cpus = default_cpus
        self._sizes: Dict[int, TrialSize] = {}
        self._held: Dict[int, int] = {}  # tid -> the CPUs a started trial holds
        self._lock = threading.Lock()

    def size_of(self, tid: int, spec: Dict[str, Any]) -> TrialSize:
        """Trial ``tid``'s size, asked of the callables once; raises ``SizeError``."""
        with self._lock:
            if tid in self._sizes:
                return self._sizes[tid]
        params = None
        if callable(self.tasks_per_trial) or self._profile_is_callable():
            try:
                params = self.params_of(spec)
            except Exception as exc:
                raise SizeError(f"the trial's parameters could not be read to size it: "
                                f"{type(exc).__name__}: {exc}") from exc
        tasks = self._ask("tasks_per_trial", self.tasks_per_trial, params)
        if isinstance(tasks, bool) or not isinstance(tasks, numbers.Integral) or tasks < 1:
            raise SizeError(f"tasks_per_trial(params) returned {tasks!r} for {params!r}: it "
                            f"must return a positive integer, the trial's tasks")
        profile = (self._ask("resource_profile", self.resource_profile, params)
                   if self._profile_is_callable() else self.resource_profile)
        if profile is not None and not _is_profile(profile):
            raise SizeError(f"resource_profile(params) returned {profile!r} for {params!r}: it "
                            f"must return a pyspark.resource.ResourceProfile, or None")
        cpus, gpus = profile_cpus_gpus(profile, self.default_cpus)
        size = TrialSize(int(tasks), cpus, gpus, profile)
        if self.capacity is not None and size.total_cpus > self.capacity:
            raise SizeError(
                f"the trial asks for {size.tasks} task(s) x {size.cpus} CPU(s) = "
                f"{size.total_cpus} CPUs (tasks_per_trial={named(self.tasks_per_trial)!s}, "
                f"parameters {params!r}), but the cluster gives tasks {self.capacity} CPUs "
                f"in all: it could never start")
        with self._lock:
            self._sizes[tid] = size
        return size

    def get(self, tid: int) -> TrialSize:
        """The size decided for ``tid`` (the backend's view, on a trial's thread)."""
        with self._lock:
            return self._sizes[tid]

    def fits(self, size: TrialSize, held: int) -> bool:
        """Whether a trial of ``size`` fits beside running trials holding ``held`` CPUs."""
        return self.capacity is None or held + size.total_cpus <= self.capacity

    def admit(self, tid: int, spec: Dict[str, Any], alone: bool) -> Optional[TrialSize]:
        """Trial ``tid``'s size if it may start now (it fits beside the trials holding CPUs,
        or none runs: ``alone``), and then it holds them until ``release``; None while it
        must wait. Raises ``SizeError``."""
        size = self.size_of(tid, spec)
        with self._lock:
            if not alone and not self.fits(size, sum(self._held.values())):
                return None
            self._held[tid] = size.total_cpus
        return size

    def release(self, tid: int) -> None:
        """Trial ``tid`` ended: its CPUs are free."""
        with self._lock:
            self._held.pop(tid, None)

    def _profile_is_callable(self) -> bool:
        return callable(self.resource_profile) and not _is_profile(self.resource_profile)

    @staticmethod
    def _ask(name: str, value: Any, params: Any) -> Any:
        if not callable(value) or _is_profile(value):
            return value
        try:
            return value(params)
        except Exception as exc:
            raise SizeError(f"{name}(params) raised {type(exc).__name__}: {exc} (parameters "
                            f"{params!r})") from exc
