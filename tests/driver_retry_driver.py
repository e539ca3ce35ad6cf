"""A driver process for the driver backend's retry test: on ``local-cluster[2,1,1024]`` with
``spark.task.maxFailures=1``, a trial's own Spark job kills its executor JVM once. Prints a JSON
summary as its last line.

    python driver_retry_driver.py MARKER_DIR
"""
import json
import logging
import os
import signal
import sys
import time

from hyperopt import hp, rand
from pyspark import cloudpickle as spark_cloudpickle

import cluster_driver
import hyperspark


def main() -> None:
    marker_dir = sys.argv[1]
    # Spark pickles the job's functions by reference to importable modules; the executors
    # cannot import this test folder, so the helper module travels by value.
    spark_cloudpickle.register_pickle_by_value(cluster_driver)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local-cluster[2,1,1024]")
             .appName("hyperspark-driver-retry")
             .config("spark.task.maxFailures", "1")  # an executor lost fails the job
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.executor.memory", "512m")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("OFF")
    deadline = time.monotonic() + 120
    while spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < 3:
        if time.monotonic() > deadline:
            raise SystemExit("executors did not register within 120 s")
        time.sleep(0.5)

    def kill_my_executor_once(batches):
        marker = os.path.join(marker_dir, "killed")
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            yield from batches
            return
        os.kill(cluster_driver.executor_jvm_pid(), signal.SIGKILL)
        time.sleep(60)

    def objective(x):
        spark.range(1, numPartitions=1).mapInPandas(kill_my_executor_once, "id long").collect()
        return x

    trials = hyperspark.SparkTrials(parallelism=1, backend="driver", spark_session=spark,
                                    max_retries=2, mlflow_tracking=False)
    trials.fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=1,
                show_progressbar=False)
    doc = trials._dynamic_trials[0]
    print(json.dumps({"state": doc["state"], "attempts": doc["misc"]["hyperspark"]["attempts"],
                      "error": doc["result"].get("error")}))
    spark.stop()


if __name__ == "__main__":
    main()
