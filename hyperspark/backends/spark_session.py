"""Finding or making the SparkSession, and what it can run."""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, List, Optional

from hyperspark.errors import summarize

logger = logging.getLogger("hyperspark")

_checked_apps: set = set()


def get_or_create_session(given: Any = None) -> Any:
    """The session to use: ``given``, else the active one, else a new embedded ``local[*]`` one.

    A new local session runs its executors on this interpreter (``PYSPARK_PYTHON`` is set to
    ``sys.executable`` unless already set), so they import the same hyperopt and hyperspark.
    """
    from pyspark.sql import SparkSession

    if given is not None:
        check_executors_can_import(given)
        return given
    active = SparkSession.getActiveSession()
    if active is not None:
        check_executors_can_import(active)
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(os.environ.get("HYPERSPARK_MASTER", "local[*]"))
             .appName("hyperspark")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel(os.environ.get("HYPERSPARK_SPARK_LOG_LEVEL", "ERROR"))
    logger.info("started Spark %s (%s)", spark.version, spark.sparkContext.master)
    return spark


def task_slots(spark: Any) -> int:
    """How many tasks the cluster can run at once now (cores of live executors / task cpus)."""
    sc = spark.sparkContext
    cpus_per_task = int(sc.getConf().get("spark.task.cpus", "1"))
    return max(1, sc.defaultParallelism // max(1, cpus_per_task))


def _missing_modules(_: Any) -> List[List[str]]:
    import importlib.util

    return [[name for name in ("hyperopt", "hyperspark", "cloudpickle")
             if importlib.util.find_spec(name) is None]]


def check_executors_can_import(spark: Any) -> Optional[List[str]]:
    """Warn (once per application) when executors cannot import what trials need."""
    sc = spark.sparkContext
    if sc.applicationId in _checked_apps:
        return None
    _checked_apps.add(sc.applicationId)
    try:
        missing = sc.parallelize([0], 1).mapPartitions(_missing_modules).collect()[0]
    except Exception as exc:
        logger.warning("could not check the executors' Python environment: %s", summarize(exc))
        return None
    if missing:
        logger.warning(
            "executors of this Spark session cannot import %s: every trial will fail. Install "
            "them on the executors, or for a local master set PYSPARK_PYTHON=%s before the "
            "session starts.", ", ".join(missing), sys.executable)
    return missing


def conf_flag(spark: Any, key: str) -> Optional[bool]:
    """A boolean Spark conf value: True, False, or None when unset or not a boolean."""
    try:
        value = spark.conf.get(key, None)
    except Exception:
        return None
    if value is None:
        return None
    return {"true": True, "false": False}.get(str(value).strip().lower())
