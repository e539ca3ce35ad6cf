"""Real clusters, each driven from its own process (one SparkContext per process): executors
killed under a ``local-cluster``, and a tracked search on a standalone master and worker."""
import json
import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from benchmarks.servers import ConnectServer, Server, StandaloneCluster
from conftest import wait_until

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DRIVER = os.path.join(os.path.dirname(__file__), "cluster_driver.py")


def drive(master, backend, max_evals, sleep_s, executors, kill_after=None, env=None,
          within_s=300):
    """Run cluster_driver.py; returns its JSON summary."""
    args = [sys.executable, DRIVER, master, backend, str(max_evals), str(sleep_s),
            str(executors)] + ([str(kill_after)] if kill_after else [])
    clean = {k: v for k, v in os.environ.items() if k != "MLFLOW_EXPERIMENT_ID"}  # set by
    # mlflow.set_experiment in earlier tests; names an experiment of another store
    done = subprocess.run(args, capture_output=True, text=True, timeout=within_s,
                          env={**clean, **(env or {})})
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["warnings"] = [line for line in done.stderr.splitlines() if "hyperspark" in line]
    return summary


def assert_the_hit_trial_ran_once(summary, backend):
    """The trial running on the killed executor ended done, exactly once. On jobs its attempt
    was lost with the executor and ran again. On actors it may also have finished where it was:
    its Python worker can outlive the JVM by a moment, and its result travels over hyperspark's
    own socket, not through Spark; either way it is recorded once."""
    hit = next(t for t in summary["trials"] if t["tid"] == summary["hit_tid"])
    assert hit["state"] == 2, hit
    if backend == "jobs":
        assert hit["attempts"] > 1, hit


def assert_nothing_left(summary):
    assert summary["active_jobs"] == [], "a Spark job outlived the search"
    assert summary["hyperspark_threads"] == [], "a hyperspark thread outlived the search"


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_executor_jvm_killed_mid_search_loses_nothing(tmp_path, backend):
    summary = drive("local-cluster[2,1,1024]", backend, max_evals=12, sleep_s=1.0, executors=2,
                    kill_after=3, env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"})
    assert summary["killed_executor"] is not None
    trials = summary["trials"]
    assert sorted(t["tid"] for t in trials) == list(range(12))  # none lost, none twice
    assert all(t["state"] == 2 for t in trials), [t for t in trials if t["state"] != 2]
    assert_the_hit_trial_ran_once(summary, backend)
    assert_nothing_left(summary)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    cluster = StandaloneCluster(tmp_path_factory.mktemp("standalone")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real mlflow server that this file's tracked searches share (each checks its own
    parent run and children)."""
    server = Server(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_tracked_search_on_a_standalone_cluster(standalone, mlflow_server, backend):
    server = mlflow_server
    summary = drive(standalone.master_url, backend, max_evals=8, sleep_s=0.2, executors=1,
                    env={"MLFLOW_TRACKING_URI": server.uri})
    assert summary["parent_run_id"], summary["warnings"]
    client = MlflowClient(server.uri)
    parent = client.get_run(summary["parent_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert summary["tracking_uri"] == server.uri
    assert [t["state"] for t in summary["trials"]] == [2] * 8
    assert parent.info.status == "FINISHED"
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == list(range(8))
    assert {c.info.status for c in children} == {"FINISHED"}
    assert_nothing_left(summary)


def test_bench_runs_against_a_standalone_master(tmp_path, standalone):
    from test_sweep import run_bench_elsewhere

    run_bench_elsewhere(tmp_path, standalone.master_url)


@pytest.fixture(scope="module")
def connect_cluster(tmp_path_factory, mlflow_server):
    """A Spark Connect server (start-connect-server.sh) in front of local-cluster[2,1,1024],
    and the file's mlflow server, shared by both backends' runs."""
    connect = ConnectServer(tmp_path_factory.mktemp("connect-cluster"),
                            master="local-cluster[2,1,1024]").start()
    yield connect, mlflow_server
    connect.stop()


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_connect_server_in_front_of_a_cluster_executor_killed_tracked(connect_cluster, backend):
    """The client runs a tracked search on the Connect server, and an executor JVM is
    SIGKILLed mid-search: nothing is lost, every trial is a child run. (Killed executors are
    replaced by the cluster before the next backend's run.)"""
    connect, server = connect_cluster
    summary = drive(connect.url, backend, max_evals=12, sleep_s=1.0, executors=2,
                    kill_after=3, env={"MLFLOW_TRACKING_URI": server.uri})
    assert wait_until(lambda: connect.running_jobs() == [], 15, every_s=0.5)
    client = MlflowClient(server.uri)
    parent = client.get_run(summary["parent_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert summary["killed_executor"] is not None
    trials = summary["trials"]
    assert sorted(t["tid"] for t in trials) == list(range(12))  # none lost, none twice
    assert all(t["state"] == 2 for t in trials), [t for t in trials if t["state"] != 2]
    assert_the_hit_trial_ran_once(summary, backend)
    assert parent.info.status == "FINISHED"
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == list(range(12))
    assert {c.info.status for c in children} == {"FINISHED"}
    assert summary["hyperspark_threads"] == []
