"""Trials of several tasks (``tasks_per_trial=2``) on real clusters of 4 task slots: a
``local-cluster[2,2,1024]`` (two executor JVMs) driven from its own process, and a Spark
Connect server in front of another. Each cluster runs its scenarios in one process
(tests/gang_driver.py), one JSON line each; the tests below read them."""
import json
import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from benchmarks.servers import ConnectServer
from hyperspark import InvalidArgument, SparkTrials
from hyperspark.backends import registry

DRIVER = os.path.join(os.path.dirname(__file__), "gang_driver.py")
CLASSIC = ["ranks", "queue", "wide", "hang", "rank_fails", "prune", "kill_executor",
           "everything_else"]
CONNECT = ["ranks", "hang", "rank_fails", "prune"]
DONE, ERROR, CANCEL = 2, 3, 4


def drive(master, work, scenarios, env=None):
    clean = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_EXPERIMENT_ID",
                                                             "SPARK_REMOTE")}
    done = subprocess.run([sys.executable, DRIVER, master, str(work), *scenarios],
                          capture_output=True, text=True, timeout=900,
                          env={**clean, "HYPERSPARK_GANG_SLOTS_WAIT_S": "2", **(env or {})})
    assert done.returncode == 0, done.stderr[-5000:]
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            results[result["scenario"]] = result
    results["stderr"] = done.stderr
    return results


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gang-classic")
    return drive("local-cluster[2,2,1024]", folder, CLASSIC,
                 env={"MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db"})


@pytest.fixture(scope="module")
def connect(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gang-connect")
    server = ConnectServer(folder, master="local-cluster[2,2,1024]").start()
    try:
        yield drive(server.url, folder, CONNECT,
                    env={"MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db"})
    finally:
        server.stop()


@pytest.fixture(params=["classic", "connect"])
def results(request):
    return request.getfixturevalue(request.param)


def by_tid(result):
    return {t["tid"]: t for t in result["trials"]}


def no_executor_lost(result):
    """Both executor JVMs of the scenario's own cluster (found by its app id) outlived it."""
    assert len(result["executors_before"]) == 2, result["executors_before"]
    return result["executors_after"] == result["executors_before"]


pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_ranks_world_size_and_all_gather(results):
    result = results["ranks"]
    trials = result["trials"]
    assert [t["status"] for t in trials] == ["ok"] * 4
    for trial in trials:
        seen = trial["seen"]
        assert [s["rank"] for s in seen] == [0, 1] and {s["world"] for s in seen} == {2}
        assert len({s["pid"] for s in seen}) == 2  # two Python workers, one per rank
        assert seen[0]["master"] == seen[1]["master"]  # one agreed address and port
        assert seen[0]["master"][0] == seen[0]["addresses"][0].rsplit(":", 1)[0]
        assert 0 < seen[0]["master"][1] < 65536
        assert seen[0]["addresses"] == seen[1]["addresses"] and len(seen[0]["addresses"]) == 2
        assert [s["array"] for s in seen] == [[0, 0, 0], [1, 1, 1]]  # any picklable object


def test_two_trials_run_side_by_side(results):
    trials = results["ranks"]["trials"]
    overlapping = [(a["tid"], b["tid"]) for a in trials for b in trials
                   if a["tid"] < b["tid"] and a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, [(t["start"], t["end"]) for t in trials]


def test_one_child_run_per_trial_with_tasks_per_trial(results):
    result = results["ranks"]
    client = MlflowClient(result["tracking_uri"])
    parent = client.get_run(result["parent_run_id"])
    assert parent.data.params["tasks_per_trial"] == "2"
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == [0, 1, 2, 3]
    assert {c.info.status for c in children} == {"FINISHED"}


def test_a_trial_wider_than_the_cluster_is_refused_by_name(classic):
    refused = classic["wide"]["refused"]
    assert refused is not None and "tasks_per_trial=5" in refused
    assert "4 task slots" in refused


def test_trials_beyond_the_slots_wait_their_turn_holding_none(classic):
    """3 trials of 2 tasks asked on 4 slots: a warning, at most 2 at once, every trial done,
    and none timed out though each waited longer than trial_timeout minus its run time."""
    result = classic["queue"]
    trials = result["trials"]
    assert [t["status"] for t in trials] == ["ok"] * 6
    events = sorted([(t["start"], 1) for t in trials] + [(t["end"], -1) for t in trials])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    assert peak == 2
    assert "parallelism=3 x tasks_per_trial=2 = 6 tasks exceeds the 4 task slots" in \
        classic["stderr"]


def test_a_hung_rank_past_trial_timeout_stops_every_rank(results):
    result = results["hang"]
    trials = by_tid(result)
    assert trials[0]["status"] == "timed_out"
    assert [t["status"] for tid, t in trials.items() if tid] == ["ok"] * 4  # it went on
    assert result["hung_alive"] == [False, False]  # both ranks' Python workers are gone
    assert no_executor_lost(result)


def test_a_failing_rank_is_named_and_fails_the_trial_at_once(results):
    result = results["rank_fails"]
    trials = by_tid(result)
    failed = trials[0]
    assert failed["state"] == ERROR and failed["status"] == "error"
    assert failed["error"].startswith("rank 1 of 2: rank 1 cannot train at this point")
    assert "gang_driver.py" in failed["traceback"] and "ValueError" in failed["traceback"]
    assert failed["duration"] < 30  # not at trial_timeout (120 s)
    assert [t["status"] for tid, t in trials.items() if tid] == ["ok"] * 4
    assert no_executor_lost(result)


def test_rank_0_reports_drive_pruning_and_stop_every_rank(results):
    result = results["prune"]
    trials = by_tid(result)
    assert trials[0]["status"] == "pruned"
    assert [t["status"] for tid, t in trials.items() if tid] == ["ok"] * 3
    assert no_executor_lost(result)


def test_an_executor_killed_mid_trial_loses_no_trial(classic):
    result = classic["kill_executor"]
    assert result["killed"] is not None
    trials = result["trials"]
    assert sorted(t["tid"] for t in trials) == list(range(8))  # none lost, none twice
    assert all(t["state"] == DONE for t in trials), [
        (t["tid"], t["attempts"], t["error"], t["traceback"]) for t in trials if t["state"] != DONE]
    hit = by_tid(result)[result["hit_tid"]]
    assert hit["attempts"] > 1  # its attempt died with the executor and ran again


def test_checkpoint_resume_reproducible_worker_setup_and_page(classic):
    first, resumed = classic["everything_else"]["rounds"]
    assert [t["status"] for t in first["trials"]] == ["ok"] * 4
    assert [t["status"] for t in resumed["trials"]] == ["ok"] * 6  # 4 kept, 2 more run
    assert resumed["points"][:4] == first["points"]  # the checkpoint's trials, as they were
    assert [t["seen"] for t in resumed["trials"]] == [[True, True]] * 6  # worker_setup ran on
    assert classic["everything_else"]["settings"] == 2  # every rank's worker
    assert classic["everything_else"]["page_bytes"] > 100_000


@pytest.mark.parametrize("backend", ["actors", "driver", "local"])
def test_other_backends_refuse_tasks_per_trial_naming_the_jobs_backend(backend):
    source = registry.KindSource(registry.kind(backend), connect=False)
    with pytest.raises(InvalidArgument, match="tasks_per_trial=2 needs backend='jobs'"):
        registry.check_tasks_per_trial(source, 2)
    registry.check_tasks_per_trial(source, 1)  # today's behaviour, unchanged


def test_tasks_per_trial_must_be_a_positive_int():
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises((InvalidArgument, TypeError), match="tasks_per_trial"):
            SparkTrials(backend="local", tasks_per_trial=bad)
    with pytest.raises(InvalidArgument, match="backend='local' runs a trial as one thread"):
        SparkTrials(backend="local", tasks_per_trial=2)
