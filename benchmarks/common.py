"""The benchmarks' shared pieces live in the package (``hyperspark.bench.common``), so that
executors can import the objectives they run; this module keeps the old import path."""
from hyperspark.bench.common import (SPACE, TimedAlgo, noop, quiet_logs, sleep_then,  # noqa: F401
                                     start_spark, timed_search)
