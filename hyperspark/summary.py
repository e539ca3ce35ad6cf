"""What a search ran with, as its page, its checkpoint and ``SparkTrials.last_settings`` show
it: one flat dict of plain values (a size callable by its name)."""
from __future__ import annotations

from typing import Any, Callable, Dict

from hyperspark.search import Settings
from hyperspark.sizing import named


def summary(trials: Any, search_id: str, settings: Settings, algo: Callable) -> Dict[str, Any]:
    """The settings of the search ``search_id`` of ``trials`` (a ``SparkTrials``).

    >>> summary(trials, "3f9c2e0a1b7d", settings, tpe.suggest)["backend"]  # doctest: +SKIP
    'jobs'
    """
    from hyperspark.tracking.runs import algorithm_name

    pruner = settings.pruner
    return {"search id": search_id, "backend": trials.backend,
            "parallelism": settings.parallelism,
            "parallelism (requested)": trials.user_specified_parallelism,
            "algo": algorithm_name(algo), "max_evals": settings.max_evals,
            "max_queue_len": settings.max_queue_len, "timeout": settings.timeout,
            "trial_timeout": settings.trial_timeout,
            "loss_threshold": settings.loss_threshold, "max_retries": trials.max_retries,
            "tasks_per_trial": named(trials.tasks_per_trial),
            "resource_profile": (None if trials.resource_profile is None
                                 else str(named(trials.resource_profile))),
            "scheduler_pool": trials.scheduler_pool,
            "pruner": repr(pruner) if pruner is not None else None}
