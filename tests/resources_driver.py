"""A driver process for the resource-profile tests (one SparkContext per process): starts a
``local-cluster`` master, runs one search per backend with a ResourceProfile, and prints a JSON
summary of what each trial saw as its last line.

    python resources_driver.py cpus   # local-cluster[2,2,1024], 2 task cpus per trial
    python resources_driver.py gpu    # local-cluster[1,2,1024], 2 fake GPUs, 1 per trial
"""
import json
import logging
import os
import stat
import sys
import tempfile
import time

from hyperopt import hp, rand

import hyperspark
from executor_probe import executor_jvm_pid, ship_by_value

ship_by_value()


def objective(params):
    from pyspark import TaskContext

    context = TaskContext.get()
    start = time.time()
    time.sleep(0.6)
    resources = context.resources()
    return {"loss": params["x"], "status": "ok", "cpus": context.cpus(),
            "wants_gpu": bool(params.get("gpu")),
            "gpus": list(resources["gpu"].addresses) if "gpu" in resources else [],
            "executor": executor_jvm_pid(), "start": start, "end": time.time()}


def gpu_discovery_script() -> str:
    handle, path = tempfile.mkstemp(suffix=".sh", prefix="fake-gpus-")
    with os.fdopen(handle, "w") as script:
        script.write('#!/bin/bash\necho \'{"name": "gpu", "addresses": ["0", "1"]}\'\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


def main() -> None:
    mode = sys.argv[1]
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.appName(f"hyperspark-resources-{mode}")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.executor.memory", "512m")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if mode == "cpus":
        executors = 2
        builder = builder.master("local-cluster[2,2,1024]")
        requests = TaskResourceRequests().cpus(2)
    else:
        executors = 1
        script = gpu_discovery_script()
        builder = (builder.master("local-cluster[1,2,1024]")
                   .config("spark.worker.resource.gpu.amount", "2")
                   .config("spark.worker.resource.gpu.discoveryScript", script)
                   .config("spark.executor.resource.gpu.amount", "2")
                   .config("spark.executor.resource.gpu.discoveryScript", script))
        requests = TaskResourceRequests().cpus(1).resource("gpu", 1)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    deadline = time.monotonic() + 120  # executors register a few seconds after the session
    while spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < executors + 1:
        if time.monotonic() > deadline:
            raise SystemExit("executors did not register within 120 s")
        time.sleep(0.5)
    profile = ResourceProfileBuilder().require(requests).build
    summary = {}
    for backend in ("jobs", "actors"):
        trials = hyperspark.SparkTrials(parallelism=2, backend=backend, spark_session=spark,
                                        resource_profile=profile, mlflow_tracking=False)
        trials.fmin(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest, max_evals=8,
                    show_progressbar=False)
        summary[backend] = {"parallelism": trials.actual_parallelism,
                            "results": [d["result"] for d in trials.trials]}
    if mode == "gpu":  # sized by its parameters: a GPU only for the trials that ask for one
        trials = hyperspark.SparkTrials(parallelism=2, spark_session=spark,
                                        resource_profile=lambda p: profile if p["gpu"] else None,
                                        mlflow_tracking=False)
        space = {"x": hp.uniform("x", 0, 1), "gpu": hp.choice("gpu", [False, True])}
        # both kinds for certain (the rest drawn at random): the test compares them
        trials.insert_points(space, [{"x": 0.1, "gpu": 0}, {"x": 0.2, "gpu": 1},
                                     {"x": 0.3, "gpu": 1}])
        trials.fmin(objective, space, algo=rand.suggest, max_evals=10, show_progressbar=False)
        summary["sized"] = {"parallelism": trials.actual_parallelism,
                            "results": [d["result"] for d in trials.trials]}
    print(json.dumps(summary))
    spark.stop()


if __name__ == "__main__":
    main()
