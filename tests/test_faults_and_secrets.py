"""First pieces of the reliability work (issue 6): credentials stay secret, killed workers are
retried. On both Spark backends."""
import logging
import os
import signal

import hyperopt
import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

from hyperspark import SparkTrials

pytestmark = pytest.mark.spark

SECRET = "s3cr3t-token-for-the-test"


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_credentials_reach_executors_but_never_params_tags_logs_or_jobs(spark, mlflow_store,
                                                                   monkeypatch, caplog, backend):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", SECRET)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    caplog.set_level(logging.DEBUG, logger="hyperspark")

    def objective(x):
        seen = (os.environ.get("MLFLOW_TRACKING_TOKEN") == SECRET
                and os.environ.get("MLFLOW_TRACKING_PASSWORD") == SECRET)
        return {"loss": x, "status": "ok", "saw_credentials": seen}

    trials = SparkTrials(spark_session=spark, parallelism=2, backend=backend)
    hyperopt.fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=4,
                  trials=trials, show_progressbar=False)
    assert all(result["saw_credentials"] for result in trials.results)
    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.last_tracker.parent_run_id)
    runs = [parent] + client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(runs) == 5
    for run in runs:
        for value in [*run.data.params.values(), *run.data.tags.values()]:
            assert SECRET not in value
    assert SECRET not in caplog.text
    descriptions = spark_job_texts(spark)
    assert any(trials.last_search_id in text for text in descriptions)  # ours are listed
    assert not [text for text in descriptions if SECRET in text]


def spark_job_texts(spark):
    """Name, description and job group of every job this application ran (Spark's status
    store: what the Spark UI and history server show)."""
    texts, jobs = [], spark.sparkContext._jsc.sc().statusStore().jobsList(None).iterator()
    while jobs.hasNext():
        job = jobs.next()
        texts.append(" ".join(str(part) for part in (job.name(), job.description(),
                                                     job.jobGroup())))
    return texts


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_objective_sigkilled_once_is_retried(spark, counter_dir, backend):
    marker = counter_dir / "killed-once"

    def objective(x):
        try:  # atomic: of two trials starting together, exactly one dies
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return x
        os.kill(os.getpid(), signal.SIGKILL)

    trials = SparkTrials(spark_session=spark, parallelism=2, backend=backend, max_retries=2,
                         mlflow_tracking=False)
    hyperopt.fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3,
                  trials=trials, show_progressbar=False)
    frame = trials.to_pandas()
    assert (frame["state"] == "done").all() and len(frame) == 3  # none lost, none twice
    assert frame["attempts"].max() == 2 and frame["attempts"].min() >= 1  # the killed one retried
    # Once seen on actors, about 1 run in 5: the concurrent trial's actor lost its channel too
    # and that trial was retried as well (attempts [1, 2, 2]). Not reproduced in 27 rounds
    # since the accept thread and the environment leak were fixed; raw Spark never lost the
    # neighbour task (15 rounds). Either way no trial may be lost or counted twice: asserted.
