"""Load: 5,000 no-op trials on actors with tracking on. Resources stay flat; nothing is left."""
import os
import threading

import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

from hyperspark import SparkTrials
from hyperspark.search import Listener

from conftest import hyperspark_threads_left, no_active_jobs

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TRIALS = 5000


def driver_resources():
    """(threads, open file descriptors, RSS in MB) of this process."""
    with open("/proc/self/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return threading.active_count(), len(os.listdir("/proc/self/fd")), rss_kb / 1024


class Sampler(Listener):
    """Samples the driver's resources when given numbers of trials have finished."""

    def __init__(self, at):
        self.at, self.samples = set(at), {}

    def trial_ended(self, doc, progress):
        if progress.finished in self.at:
            self.samples[progress.finished] = driver_resources()


def test_5000_noop_trials_with_actors_and_tracking_stay_flat(spark, mlflow_store):
    sampler = Sampler([TRIALS // 10, TRIALS])
    trials = SparkTrials(spark_session=spark, parallelism=2, backend="actors")
    trials.fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=TRIALS,
                show_progressbar=False, listeners=[sampler])
    assert trials.count_successful_trials() == TRIALS

    (threads_10, fds_10, rss_10), (threads_end, fds_end, _) = (
        sampler.samples[TRIALS // 10], sampler.samples[TRIALS])
    assert threads_end < 2 * threads_10 and fds_end < 2 * fds_10
    assert hyperspark_threads_left(within_s=15) == []  # actors wind down in the background
    _, fds_after, rss_after = driver_resources()
    assert fds_after <= fds_10
    assert rss_after - rss_10 < 100, f"RSS grew from {rss_10:.0f} to {rss_after:.0f} MB"
    assert no_active_jobs(spark)
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None

    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["total_trials_count"] == TRIALS
    children, token = 0, None
    while True:
        page = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                  max_results=1000, page_token=token)
        children += len(page)
        token = page.token
        if not token:
            break
    assert children == TRIALS  # no write was dropped
