"""Finding or making the SparkSession (classic or Spark Connect), and its runner."""
from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, Dict, List, Optional

from hyperspark.backends.spark.base import SparkRunner
from hyperspark.errors import InvalidArgument, summarize

logger = logging.getLogger("hyperspark")

_checked_apps: set = set()


def is_connect(spark: Any) -> bool:
    """True for a Spark Connect session (it has no SparkContext)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def runner_for(spark: Any) -> SparkRunner:
    """The runner that submits hyperspark's tasks to ``spark``."""
    if is_connect(spark):
        from hyperspark.backends.spark.connect import ConnectRunner

        return ConnectRunner(spark)
    from hyperspark.backends.spark.classic import ClassicRunner

    return ClassicRunner(spark)


def _active_session() -> Any:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if "pyspark.sql.connect.session" in sys.modules:  # a Connect session was made here
        try:
            from pyspark.sql.connect.session import SparkSession as ConnectSession

            return ConnectSession.getActiveSession()
        except Exception:  # the Connect client's dependencies are missing
            return None
    return None


def get_or_create_session(given: Any = None) -> Any:
    """The session to use: ``given``, else the active one (classic or Connect), else a Spark
    Connect session when ``SPARK_REMOTE`` is set (``sc://host:port``, or ``local`` for a
    local Connect server), else a new embedded ``local[*]`` one.

    A new local session runs its executors on this interpreter (``PYSPARK_PYTHON`` is set to
    ``sys.executable`` unless already set), so they import the same hyperopt and hyperspark.
    """
    from pyspark.sql import SparkSession

    session = given if given is not None else _active_session()
    if session is not None:
        check_executors_can_import(session)
        return session
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        builder = SparkSession.builder.remote(remote)
        if not remote.startswith("sc://"):  # a local Connect server, started here
            builder = builder.config(map=quiet_conf())
        spark = builder.getOrCreate()
        logger.info("connected to Spark Connect %s at %s", spark.version, remote)
        return spark
    spark = (SparkSession.builder.master(os.environ.get("HYPERSPARK_MASTER", "local[*]"))
             .appName("hyperspark")
             .config(map=quiet_conf())
             .config("spark.python.task.killTimeout", "500ms")
             .getOrCreate())
    logger.info("started Spark %s (%s)", spark.version, spark.sparkContext.master)
    return spark


LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")


def quiet_conf() -> Dict[str, str]:
    """The settings that keep a session hyperspark starts quiet on the console: Spark's own log
    configuration (``log4j2-hyperspark.properties``: ``HYPERSPARK_SPARK_LOG_LEVEL``, ERROR by
    default) set before the JVM starts, and no console progress bar drawn over hyperspark's.
    Never applied to a session the application made."""
    level = os.environ.get("HYPERSPARK_SPARK_LOG_LEVEL", "ERROR").strip().upper()
    if level not in LOG_LEVELS:
        raise InvalidArgument(f"HYPERSPARK_SPARK_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}"
                              f", got {level!r}")
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "log4j2-hyperspark.properties")
    options = f"-Dlog4j2.configurationFile=file:{config} -Dhyperspark.spark.logLevel={level}"
    return {"spark.driver.extraJavaOptions": options,
            "spark.ui.showConsoleProgress": "false"}


def _missing_modules() -> List[str]:
    import importlib.util

    return [name for name in ("hyperopt", "hyperspark", "cloudpickle")
            if importlib.util.find_spec(name) is None]


def check_executors_can_import(spark: Any) -> Optional[List[str]]:
    """Warn (once per application) when executors cannot import what trials need."""
    runner = runner_for(spark)
    try:
        application = runner.application_id()
    except Exception:
        application = str(id(spark))
    if application in _checked_apps:
        return None
    _checked_apps.add(application)
    answer: List[Any] = []

    def check() -> None:  # on its own thread: the caller's thread keeps its job group
        try:
            answer.append(runner.run_task("hyperspark-check",
                                          "hyperspark: executor environment check",
                                          _missing_modules))
        except Exception as exc:
            answer.append(exc)

    thread = threading.Thread(target=check, name="hyperspark-check", daemon=True)
    thread.start()
    thread.join()
    missing = answer[0] if answer else RuntimeError("no answer")
    if isinstance(missing, BaseException):
        logger.warning("could not check the executors' Python environment: %s",
                       summarize(missing))
        return None
    if missing:
        logger.warning(
            "executors of this Spark session cannot import %s: every trial will fail. Install "
            "them on the executors, or for a local master set PYSPARK_PYTHON=%s before the "
            "session starts.", ", ".join(missing), sys.executable)
    return missing
