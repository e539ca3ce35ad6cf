"""SparkTrials(resource_profile=...): stage-level scheduling on a real multi-JVM cluster
(``local-cluster``), on both Spark backends, and the fallback in local mode."""
import itertools
import json
import logging
import os
import subprocess
import sys

import hyperopt
import pytest
from hyperopt import hp, rand

from hyperspark import InvalidArgumentType, SparkTrials

pytestmark = pytest.mark.spark

DRIVER = os.path.join(os.path.dirname(__file__), "resources_driver.py")


def drive(mode):
    clean = {k: v for k, v in os.environ.items() if k != "MLFLOW_EXPERIMENT_ID"}
    done = subprocess.run([sys.executable, DRIVER, mode], capture_output=True, text=True,
                          timeout=300, env=clean)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def overlapping(results):
    """Pairs of trials whose objectives ran at the same time."""
    return [(a, b) for a, b in itertools.combinations(results, 2)
            if a["start"] < b["end"] and b["start"] < a["end"]]


@pytest.mark.slow
def test_whole_executor_profile_two_cpus_and_never_two_trials_on_one_executor():
    summary = drive("cpus")  # local-cluster[2,2,1024]; each trial asks for 2 cpus
    for backend, seen in summary.items():
        results = seen["results"]
        assert len(results) == 8 and all(r["cpus"] == 2 for r in results), backend
        assert seen["parallelism"] == 2  # 4 cores / 2 cpus per trial
        pairs = overlapping(results)
        assert pairs, f"{backend}: no two trials ran at once; the check would be empty"
        assert all(a["executor"] != b["executor"] for a, b in pairs), backend


@pytest.mark.slow
def test_fake_gpus_are_never_shared_by_concurrent_trials():
    summary = drive("gpu")  # one executor with GPUs "0" and "1"; each trial asks for one
    sized = summary.pop("sized")["results"]  # resource_profile a callable: GPU trials only
    assert {r["wants_gpu"] for r in sized} == {True, False}
    for r in sized:
        assert len(r["gpus"]) == (1 if r["wants_gpu"] else 0), r
    gpu_pairs = overlapping([r for r in sized if r["wants_gpu"]])
    assert all(a["gpus"] != b["gpus"] for a, b in gpu_pairs)
    for backend, seen in summary.items():
        results = seen["results"]
        assert all(len(r["gpus"]) == 1 and r["gpus"][0] in ("0", "1") for r in results)
        pairs = overlapping(results)
        assert pairs, f"{backend}: no two trials ran at once; the check would be empty"
        assert all(a["gpus"] != b["gpus"] for a, b in pairs), backend


def test_local_mode_warns_and_runs_without_the_profile(spark, caplog):
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    profile = ResourceProfileBuilder().require(TaskResourceRequests().cpus(2)).build
    caplog.set_level(logging.WARNING, logger="hyperspark")
    trials = SparkTrials(spark_session=spark, parallelism=2, resource_profile=profile,
                         mlflow_tracking=False)
    assert trials.resource_profile is None
    assert any("resource_profile=...) is ignored" in r.message and "local mode" in r.message
               for r in caplog.records)
    hyperopt.fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=2,
                  trials=trials, show_progressbar=False)
    assert trials.count_successful_trials() == 2


def test_resource_profile_of_the_wrong_type_is_refused_by_name():
    with pytest.raises(InvalidArgumentType, match="resource_profile must be a pyspark"):
        SparkTrials(backend="local", resource_profile={"gpu": 1})
