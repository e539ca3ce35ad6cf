"""The application of docs/cluster.md's standalone recipe, as ``spark-submit`` runs it: the
session is spark-submit's (its master, its ``--archives``), hyperspark finds it, and each trial
says which Python ran it. Usage (by tests/test_cluster_recipe.py):

    spark-submit --master spark://... --archives env.tar.gz#environment \\
        standalone_app.py MAX_EVALS SLEEP_S EXECUTORS PROGRESS_DIR

Prints one JSON line: every trial's tid, state, attempts and the Python it ran on. For the
test's clock, each attempt leaves a file in PROGRESS_DIR: ``running-<id>`` while it runs,
renamed ``done-<id>`` when it ends. It holds the attempt's session id, which is its Worker's
pid (the test starts each Worker in a new session).
"""
import json
import os
import sys
import time
import uuid

from hyperopt import hp, rand

import hyperspark


def main() -> None:
    max_evals, sleep_s = int(sys.argv[1]), float(sys.argv[2])
    executors, progress_dir = int(sys.argv[3]), sys.argv[4]
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # spark-submit's session
    deadline = time.monotonic() + 120  # executors register a few seconds after the session
    while spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < executors + 1:
        if time.monotonic() > deadline:
            raise SystemExit("executors did not register within 120 s")
        time.sleep(0.5)

    def objective(params):
        name = uuid.uuid4().hex
        running = os.path.join(progress_dir, f"running-{name}")
        with open(running, "w") as marker:
            marker.write(str(os.getsid(0)))
        time.sleep(sleep_s)
        os.rename(running, os.path.join(progress_dir, f"done-{name}"))
        return {"loss": params["x"], "status": "ok", "python": sys.executable,
                "prefix": sys.prefix}

    trials = hyperspark.SparkTrials(parallelism=executors, max_retries=3,
                                    mlflow_tracking=False)
    hyperspark.fmin(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest,
                    max_evals=max_evals, trials=trials, show_progressbar=False)
    print(json.dumps({"driver_python": sys.executable, "trials": [
        {"tid": d["tid"], "state": d["state"],
         "attempts": d["misc"].get("hyperspark", {}).get("attempts"),
         "prefix": d["result"].get("prefix"), "python": d["result"].get("python")}
        for d in trials._dynamic_trials]}))
    spark.stop()


if __name__ == "__main__":
    main()
