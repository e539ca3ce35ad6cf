"""Checkpoint and resume: a driver SIGKILLed mid-search and started again loses nothing."""
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

from hyperspark import SparkTrials, fmin
from hyperspark.checkpoint import CheckpointMismatch

from conftest import calls_in

DRIVER = os.path.join(os.path.dirname(__file__), "resume_driver.py")
SPACE = hp.uniform("x", 0, 1)


def search(trials, max_evals, path, objective=lambda x: x, **kwargs):
    kwargs.setdefault("algo", rand.suggest)
    return fmin(objective, SPACE, max_evals=max_evals, trials=trials, trials_save_file=path,
                show_progressbar=False, **kwargs)


def local_trials(**kwargs):
    return SparkTrials(backend="local", parallelism=2, mlflow_tracking=False, **kwargs)


# ---------------------------------------------------------------- in one process
def test_a_new_trials_object_resumes_without_rerunning_finished_trials(tmp_path, counter_dir):
    path = tmp_path / "search.ckpt"

    def objective(x):
        (counter_dir / f"call-{x!r}").touch()
        return x

    first = local_trials()
    search(first, 8, path, objective)
    second = local_trials()  # as a new process would build it
    search(second, 20, path, objective)
    assert calls_in(counter_dir) == 20  # the first eight did not run again
    assert [d["tid"] for d in second.trials] == list(range(20))
    assert [d["result"] for d in second.trials[:8]] == [d["result"] for d in first.trials]
    assert second.count_successful_trials() == 20


def test_points_to_evaluate_are_not_inserted_again_on_resume(tmp_path, counter_dir):
    path = tmp_path / "search.ckpt"
    points = [{"x": 0.25}, {"x": 0.75}]
    first = local_trials()
    search(first, 2, path, points_to_evaluate=points)
    resumed = local_trials()
    search(resumed, 6, path, points_to_evaluate=points)  # the same script, run again
    xs = [d["misc"]["vals"]["x"][0] for d in resumed.trials]
    assert len(xs) == 6 and xs[:2] == [0.25, 0.75] and 0.25 not in xs[2:]


def test_hyperopt_fmin_passes_trials_save_file_through(tmp_path):
    import hyperopt

    path = tmp_path / "search.ckpt"
    hyperopt.fmin(lambda x: x, SPACE, algo=rand.suggest, max_evals=4, trials=local_trials(),
                  trials_save_file=str(path), show_progressbar=False)
    resumed = local_trials()
    hyperopt.fmin(lambda x: x, SPACE, algo=rand.suggest, max_evals=6, trials=resumed,
                  trials_save_file=str(path), show_progressbar=False)
    assert len(resumed.trials) == 6
    assert len(pickle.loads(path.read_bytes())["trials"]) == 6


def test_the_random_state_is_restored_so_the_resumed_search_is_the_same_search(tmp_path):
    os.environ["HYPEROPT_FMIN_SEED"] = "7"
    try:
        straight, halves = local_trials(), local_trials()
        search(straight, 12, tmp_path / "straight.ckpt")
        search(halves, 6, tmp_path / "halves.ckpt")
        del os.environ["HYPEROPT_FMIN_SEED"]  # the second half gets its seed from the file
        search(local_trials(), 12, tmp_path / "halves.ckpt")
        resumed = pickle.loads((tmp_path / "halves.ckpt").read_bytes())["trials"]
    finally:
        os.environ.pop("HYPEROPT_FMIN_SEED", None)
    assert [d["misc"]["vals"] for d in resumed] == [d["misc"]["vals"] for d in straight.trials]


def test_interrupted_trials_run_again_on_resume(tmp_path, counter_dir):
    """Trials cancelled by Ctrl-C have no result: the resumed search runs them first."""
    import threading

    path, release = tmp_path / "search.ckpt", threading.Event()
    trials = local_trials()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            search(trials, 10, path, lambda x: release.wait(20) or x)
    finally:
        timer.cancel()
        release.set()
    interrupted = {d["tid"]: d["misc"]["vals"] for d in trials._dynamic_trials}
    assert len(interrupted) == 2 and trials.count_cancelled_trials() == 2
    resumed = local_trials()
    search(resumed, 10, path)
    assert resumed.count_successful_trials() == 10
    assert {d["tid"]: d["misc"]["vals"] for d in resumed.trials[:2]} == interrupted


def test_a_checkpoint_from_another_space_is_refused(tmp_path):
    path = tmp_path / "search.ckpt"
    search(local_trials(), 3, path)
    with pytest.raises(CheckpointMismatch, match=r"another space.*\['x'\].*\['y'\]"):
        fmin(lambda y: y, hp.uniform("y", 0, 1), max_evals=5, trials=local_trials(),
             trials_save_file=str(path), show_progressbar=False)
    with pytest.raises(CheckpointMismatch):  # same label, other bounds
        fmin(lambda x: x, hp.uniform("x", 0, 2), max_evals=5, trials=local_trials(),
             trials_save_file=str(path), show_progressbar=False)


@pytest.mark.parametrize("make_bad, error, words", [
    (lambda d: d / "missing" / "f.ckpt", ValueError, "does not exist"),
    (lambda d: d, ValueError, "is a folder"),
    (lambda d: 42, TypeError, "file path"),
])
def test_bad_checkpoint_paths_are_refused_by_name(tmp_path, make_bad, error, words):
    with pytest.raises(error, match=f"checkpoint.*{words}"):
        local_trials(checkpoint=make_bad(tmp_path))
    with pytest.raises(error, match=f"trials_save_file.*{words}"):
        search(local_trials(), 3, make_bad(tmp_path))


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    hyperopt_pickle, garbage = tmp_path / "hyperopt.pkl", tmp_path / "garbage"
    hyperopt_pickle.write_bytes(pickle.dumps({"something": "else"}))
    garbage.write_bytes(b"\x00not a pickle")
    with pytest.raises(ValueError, match="not a hyperspark checkpoint"):
        search(local_trials(), 3, hyperopt_pickle)
    with pytest.raises(ValueError, match="cannot read the checkpoint"):
        search(local_trials(), 3, garbage)


def test_constructor_checkpoint_and_a_different_trials_save_file_conflict(tmp_path):
    trials = local_trials(checkpoint=tmp_path / "a.ckpt")
    with pytest.raises(ValueError, match="differs from SparkTrials"):
        search(trials, 3, tmp_path / "b.ckpt")
    search(trials, 3, "")  # the constructor's path alone is used
    assert len(pickle.loads((tmp_path / "a.ckpt").read_bytes())["trials"]) == 3


def test_many_fast_trials_coalesce_writes_and_the_last_state_is_saved(tmp_path):
    path = tmp_path / "search.ckpt"
    trials = local_trials()
    search(trials, 400, path)
    saved = pickle.loads(path.read_bytes())
    assert len(saved["trials"]) == 400 and all(d["state"] == 2 for d in saved["trials"])
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".checkpoint-")]


# ---------------------------------------------------------------- a driver killed and restarted
def _run_driver(path, backend, max_evals, calls, env):
    return subprocess.Popen([sys.executable, DRIVER, str(path), backend, str(max_evals),
                             str(calls)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)


def _finished_in(path):
    """The checkpoint as it is now. Read while the driver rewrites it: a torn or partial file
    would fail to unpickle and fail the test (writes are atomic renames)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # not written yet
        return None
    return pickle.loads(data)


def kill_and_resume(tmp_path, backend, max_evals=16, kill_after=5, within_s=240):
    path, calls = tmp_path / "search.ckpt", tmp_path / "calls"
    calls.mkdir()
    store = f"sqlite:///{tmp_path}/mlflow.db"
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_EXPERIMENT_ID"},  # exported
           "MLFLOW_TRACKING_URI": store, "PYTHONPATH": os.path.dirname(DRIVER)}  # by earlier
    # tests' mlflow.set_experiment: an experiment of another store
    first = _run_driver(path, backend, max_evals, calls, env)
    deadline = time.monotonic() + within_s
    state = None
    while time.monotonic() < deadline and first.poll() is None:
        state = _finished_in(path)
        if state and sum(d["state"] == 2 for d in state["trials"]) >= kill_after:
            break
        time.sleep(0.05)
    assert first.poll() is None, first.communicate()[1][-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    state = _finished_in(path)  # what the killed driver saved last
    done_before = {d["tid"]: d for d in state["trials"] if d["state"] == 2}
    running_before = {d["tid"] for d in state["trials"] if d["state"] == 1}
    assert len(done_before) >= kill_after and running_before

    second = _run_driver(path, backend, max_evals, calls, env)
    out, err = second.communicate(timeout=within_s)
    assert second.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    final = {t["tid"]: t for t in summary["trials"]}
    assert sorted(final) == list(range(max_evals))  # none lost, none twice
    assert all(t["state"] == 2 for t in final.values())
    for tid, doc in done_before.items():  # finished ones kept, not run again
        assert final[tid]["loss"] == doc["result"]["loss"]
        assert calls_in(calls, f"call-{float(doc['misc']['vals']['x'][0])!r}-") == 1
    for tid in running_before:  # running at the kill: run again, same point
        assert final[tid]["x"] == next(d for d in state["trials"]
                                       if d["tid"] == tid)["misc"]["vals"]["x"][0]

    client = MlflowClient(store)
    parent_id = state["tracking"]["parent_run_id"]
    assert summary["parent_run_id"] == parent_id  # the same parent run continues
    assert client.get_run(parent_id).info.status == "FINISHED"
    children = client.search_runs([client.get_run(parent_id).info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_id}'", max_results=1000)
    trial_ids = sorted(int(c.data.tags["trial_id"]) for c in children)
    assert trial_ids == list(range(max_evals))  # one child run per trial, no duplicates
    assert {c.info.status for c in children} == {"FINISHED"}
    assert all("loss" in c.data.metrics for c in children), [
        (c.data.tags["trial_id"], c.info.status, c.data.metrics) for c in children
        if "loss" not in c.data.metrics]


def test_driver_sigkilled_and_restarted_resumes_without_spark(tmp_path):
    # no Spark to start: 16 trials of 0.25 s at parallelism 2 took 2 s, and once (ci-fresh)
    # the first checkpoint the test saw already held all 16; 40 leave time to kill mid-search
    kill_and_resume(tmp_path, "local", max_evals=40)


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_driver_sigkilled_and_restarted_resumes_on_spark(tmp_path, backend):
    kill_and_resume(tmp_path, backend)


# ---------------------------------------------------------------- MLflow across a resume
def _children(client, parent_id):
    parent = client.get_run(parent_id)
    return client.search_runs([parent.info.experiment_id],
                              f"tags.mlflow.parentRunId = '{parent_id}'", max_results=1000)


def test_resume_continues_the_parent_run_and_repairs_what_a_crash_leaves(tmp_path,
                                                                         mlflow_store):
    """The three races of a crash, staged: a child run for a trial the checkpoint never saw
    (deleted on resume), a finished trial whose child run was never ended (ended from the
    checkpoint's result), and a finished trial whose run was a spare not yet named (deleted,
    and the trial gets a new run with its params and result)."""
    import mlflow

    mlflow.set_experiment(f"resume-{time.time_ns()}")
    client = MlflowClient(mlflow_store)
    path = tmp_path / "search.ckpt"
    first = SparkTrials(backend="local", parallelism=2)
    search(first, 4, path)
    parent_id = first.last_tracker.parent_run_id
    by_tid = {int(c.data.tags["trial_id"]): c for c in _children(client, parent_id)}
    client.update_run(by_tid[1].info.run_id, status="RUNNING")  # its end never written
    unnamed = by_tid[2].info.run_id  # a spare whose name and result never went out
    for key in ("trial_id", "trial_status", "mlflow.runName"):
        client.delete_tag(unnamed, key)
    client.update_run(unnamed, status="RUNNING")
    orphan = client.create_run(client.get_run(parent_id).info.experiment_id, tags={
        "mlflow.parentRunId": parent_id, "trial_id": "4"})  # started, never checkpointed
    client.update_run(parent_id, status="RUNNING")  # the driver died under it

    resumed = SparkTrials(backend="local", parallelism=2)
    assert resumed.run_id is None  # before its first search
    search(resumed, 7, path)
    assert resumed.last_tracker.parent_run_id == parent_id
    assert resumed.run_id == parent_id  # the run the resumed search wrote to
    assert client.get_run(parent_id).info.status == "FINISHED"
    assert client.get_run(orphan.info.run_id).info.lifecycle_stage == "deleted"
    children = _children(client, parent_id)
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == list(range(7))
    assert {c.info.status for c in children} == {"FINISHED"}
    repaired = client.get_run(by_tid[1].info.run_id)
    assert repaired.data.metrics["loss"] == first.trials[1]["result"]["loss"]
    assert client.get_run(unnamed).info.lifecycle_stage == "deleted"
    remade = next(c for c in children if c.data.tags["trial_id"] == "2")
    assert remade.info.run_name == "trial-2"
    assert remade.data.metrics["loss"] == first.trials[2]["result"]["loss"]
    assert float(remade.data.params["x"]) == first.trials[2]["misc"]["vals"]["x"][0]


def test_a_deleted_parent_run_means_a_new_one_with_a_warning(tmp_path, mlflow_store, caplog):
    import mlflow

    mlflow.set_experiment(f"resume-deleted-{time.time_ns()}")
    client = MlflowClient(mlflow_store)
    path = tmp_path / "search.ckpt"
    first = SparkTrials(backend="local", parallelism=2)
    search(first, 3, path)
    client.delete_run(first.last_tracker.parent_run_id)
    resumed = SparkTrials(backend="local", parallelism=2)
    with caplog.at_level("INFO", logger="hyperspark"):
        search(resumed, 5, path)
    new_parent = resumed.last_tracker.parent_run_id
    assert new_parent != first.last_tracker.parent_run_id
    assert "was deleted; this search starts a new one" in caplog.text
    assert resumed.count_successful_trials() == 5
    assert sorted(int(c.data.tags["trial_id"]) for c in _children(client, new_parent)) == [3, 4]


def test_a_second_fmin_on_the_same_object_is_a_new_parent_run_as_without_a_checkpoint(
        tmp_path, mlflow_store):
    import mlflow

    mlflow.set_experiment(f"second-fmin-{time.time_ns()}")
    path = tmp_path / "search.ckpt"
    trials = SparkTrials(backend="local", parallelism=2)
    search(trials, 3, path)
    first_parent = trials.last_tracker.parent_run_id
    search(trials, 5, path)  # the in-memory trials win; the file is written over
    assert trials.last_tracker.parent_run_id != first_parent
    assert len(pickle.loads(path.read_bytes())["trials"]) == 5
    children = _children(MlflowClient(mlflow_store), first_parent)
    assert sorted(int(c.data.tags["trial_id"]) for c in children) == [0, 1, 2]  # untouched

