"""A driver process for the resume tests: runs one checkpointed, tracked search and prints a
JSON summary. Tests SIGKILL it mid-search and start it again on the same checkpoint.

    python resume_driver.py CHECKPOINT BACKEND MAX_EVALS CALLS_DIR
"""
import json
import logging
import os
import sys
import time

from hyperopt import hp, tpe

import hyperspark

SPACE = {"x": hp.uniform("x", -5, 5), "kind": hp.choice("kind", ["a", "b"])}


def main() -> None:
    path, backend, max_evals, calls_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    logging.basicConfig(level=logging.WARNING)
    spark = None
    if backend != "local":
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        spark = (SparkSession.builder.master("local[2]").appName("resume-driver")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1")
                 .config("spark.ui.enabled", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")

    def objective(params):
        # one file per call, named by the point: the test counts how often each point ran
        name = f"call-{params['x']!r}-{os.getpid()}-{time.time_ns()}"
        open(os.path.join(calls_dir, name), "w").close()
        time.sleep(0.25)
        return (params["x"] - 1) ** 2

    trials = hyperspark.SparkTrials(parallelism=2, backend=backend, spark_session=spark)
    hyperspark.fmin(objective, SPACE, algo=tpe.suggest, max_evals=max_evals, trials=trials,
                    trials_save_file=path, show_progressbar=False)
    tracker = trials.last_tracker
    print(json.dumps({
        "parent_run_id": tracker.parent_run_id if tracker else None,
        "trials": [{"tid": d["tid"], "state": d["state"], "loss": d["result"].get("loss"),
                    "x": d["misc"]["vals"]["x"][0],
                    "attempts": d["misc"].get("hyperspark", {}).get("attempts")}
                   for d in trials.trials]}))


if __name__ == "__main__":
    main()
