"""What the driver scripts' objectives ask on an executor (imported by those scripts, and
pickled by value so that executors need not import this file)."""
import os


def executor_jvm_pid() -> int:
    """The executor JVM this Python worker runs under (its nearest such ancestor)."""
    pid = os.getpid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"CoarseGrainedExecutorBackend" in handle.read():
                return pid
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("not under an executor JVM")


def ship_by_value() -> None:
    """Objectives that call ``executor_jvm_pid`` take it along (hyperspark's cloudpickle and
    Spark's own copy)."""
    import sys

    import cloudpickle
    from pyspark import cloudpickle as spark_cloudpickle

    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    spark_cloudpickle.register_pickle_by_value(module)
