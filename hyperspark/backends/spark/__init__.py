"""How work reaches Spark. Nothing above this package knows classic Spark from Spark Connect:
backends ask a ``SparkRunner`` (``runner_for(session)``) to run a function as one task in its
own cancellable group."""
from hyperspark.backends.spark.base import SparkJobFailed, SparkRunner
from hyperspark.backends.spark.session import (get_or_create_session, is_connect,
                                               runner_for)

__all__ = ["SparkJobFailed", "SparkRunner", "get_or_create_session", "is_connect",
           "runner_for"]
