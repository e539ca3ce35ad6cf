"""What the benchmarks share: a quiet Spark session, a timed search through the public API, and
the objectives they time. The objectives are module-level functions of the installed package,
so Spark's executors import them by name from any working directory."""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Callable, Optional

from hyperopt import fmin, hp, rand

SPACE = hp.uniform("x", 0, 1)


def noop(x: float) -> float:
    """The no-op objective: the loss is the point."""
    return x


def arrow_noop(batches: Any) -> Any:
    """A raw one-row ``mapInArrow`` task (consumes its input, yields one binary row): the floor
    for one Spark Connect job per trial."""
    import pyarrow

    for _ in batches:
        pass
    yield pyarrow.RecordBatch.from_pydict({"result": [b""]},
                                          schema=pyarrow.schema([("result", pyarrow.binary())]))


def sleep_then(duration_s: float, x: float) -> float:
    """An objective that sleeps ``duration_s`` (use with ``functools.partial``)."""
    time.sleep(duration_s)
    return x


def quiet_logs() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("py4j", "hyperopt", "hyperspark", "mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def start_spark(master: str, app: str, remote: Optional[str] = None) -> Any:
    """A classic session on ``master``, or, with ``remote``, a Spark Connect session: to a
    server at ``sc://host:port``, or to a local Connect server started here (``local`` or
    ``local[N]``)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from hyperspark.backends.spark.session import quiet_conf

    if remote:
        url = "local[*]" if remote == "local" else remote
        builder = SparkSession.builder.remote(url).appName(app)
        return (builder if url.startswith("sc://")
                else builder.config(map=quiet_conf())).getOrCreate()
    return SparkSession.builder.master(master).appName(app).config(map=quiet_conf()).getOrCreate()


def timed_search(trials_object: Any, trials: int, objective: Callable = noop,
                 algo: Callable = rand.suggest) -> float:
    """Wall seconds of a whole ``fmin`` of ``trials`` trials with ``trials_object``."""
    began = time.perf_counter()
    fmin(objective, SPACE, algo=algo, max_evals=trials, trials=trials_object,
         show_progressbar=False)
    elapsed = time.perf_counter() - began
    succeeded = (trials_object.count_successful_trials()
                 if hasattr(trials_object, "count_successful_trials")
                 else sum(r.get("status") == "ok" for r in trials_object.results))
    assert succeeded == trials, f"{succeeded} of {trials} trials succeeded"
    return elapsed


class TimedAlgo:
    """Wraps a hyperopt algorithm; records seconds spent suggesting, per trial suggested."""

    def __init__(self, algo: Callable) -> None:
        self.algo, self.per_trial = algo, []

    def __call__(self, new_ids: Any, domain: Any, trials: Any, seed: int) -> Any:
        began = time.perf_counter()
        docs = self.algo(new_ids, domain, trials, seed)
        spent = time.perf_counter() - began
        self.per_trial.extend([spent / max(1, len(docs))] * len(docs))
        return docs
