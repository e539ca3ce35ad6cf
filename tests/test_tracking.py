"""Automatic MLflow tracking against a real sqlite store and a real ``mlflow server``."""
import os
import signal
import threading
import time

import hyperopt
import mlflow
import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

from hyperspark import AllTrialsFailedError, SparkTrials
from hyperspark import search as search_module


pytestmark = pytest.mark.spark

SPACE = {"act": hp.choice("act", ["relu", "tanh"]), "x": hp.uniform("x", 0, 1)}


def search(trials, objective, max_evals, space=SPACE, **kwargs):
    return hyperopt.fmin(objective, space, algo=rand.suggest, max_evals=max_evals,
                         trials=trials, show_progressbar=False, **kwargs)


def children_of(client, parent):
    runs = client.search_runs([parent.info.experiment_id],
                              f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                              max_results=1000)
    return sorted((r for r in runs if "trial_id" in r.data.tags),
                  key=lambda r: int(r.data.tags["trial_id"]))


@pytest.fixture
def experiment(mlflow_store, request):
    """A fresh experiment per test, so run searches see only that test's runs."""
    mlflow.set_tracking_uri(mlflow_store)
    experiment_id = mlflow.set_experiment(f"{request.node.name}-{time.time_ns()}").experiment_id
    yield MlflowClient(mlflow_store), experiment_id


@pytest.fixture(params=["sqlite", "server"])
def any_store(request, mlflow_store, monkeypatch):
    """A fresh experiment in a local sqlite store, or on the session's mlflow server on
    PostgreSQL: the same assertions hold for both."""
    uri = (mlflow_store if request.param == "sqlite"
           else request.getfixturevalue("tracking_server").uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.set_experiment(f"{request.node.name}-{time.time_ns()}").experiment_id
    yield MlflowClient(uri), experiment_id
    mlflow.set_tracking_uri(previous)


def the_parent(client, experiment_id):
    parents = client.search_runs([experiment_id], "tags.runSource = 'hyperoptAutoTracking' "
                                 "and attributes.run_name != ''", max_results=100)
    parents = [r for r in parents if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    return parents[0]


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_run_tree_names_and_statuses(spark, any_store, tmp_path, backend):
    client, experiment_id = any_store

    def objective(params):
        if params["x"] > 0.85:
            raise ValueError("x too large")
        return params["x"] + (params["act"] == "tanh")

    trials = SparkTrials(spark_session=spark, parallelism=2, backend=backend)
    points = [{"act": 1, "x": 0.9}, {"act": 0, "x": 0.2}, {"act": 1, "x": 0.5}]
    trials.insert_points(SPACE, points)
    search(trials, objective, max_evals=8)

    parent = client.get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    params, tags, metrics = parent.data.params, parent.data.tags, parent.data.metrics
    assert params["max_evals"] == "8" and params["parallelism"] == "2"
    assert params["actual_parallelism"] == "2" and params["timeout"] == "None"
    assert params["algo"] == "hyperopt.rand" and params["max_queue_len"] == "1"
    assert tags["runSource"] == "hyperoptAutoTracking" and "act" in tags["space"]
    assert tags["fmin_uuid"] == trials.last_tracker.fmin_uuid
    assert metrics["total_trials_count"] == 8 and metrics["failed_trials_count"] >= 1
    assert metrics["successful_trials_count"] + metrics["failed_trials_count"] == 8
    assert metrics["cancelled_trials_count"] == 0

    children = children_of(client, parent)
    assert [c.data.tags["trial_id"] for c in children] == [str(t) for t in range(8)]
    every_child = client.search_runs([experiment_id],
                                     f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(every_child) == 8  # the spare child runs nobody used were deleted
    for child, doc in zip(children, trials._dynamic_trials):
        assert child.info.run_name == f"trial-{doc['tid']}"
        assert child.data.tags["fmin_uuid"] == tags["fmin_uuid"]
        assert child.data.tags["runSource"] == "hyperoptAutoTracking"
        assert child.data.params["act"] in ("relu", "tanh")  # the option, not its index
        assert "duration_s" in child.data.metrics
        if doc["state"] == 2:
            assert child.info.status == "FINISHED"
            assert child.data.tags["trial_status"] == "success"
            assert child.data.metrics["loss"] == pytest.approx(doc["result"]["loss"])
        else:
            assert child.info.status == "FAILED"
            assert child.data.tags["trial_status"] == "failure"
            assert "x too large" in child.data.tags["error"]
    assert children[0].data.params["act"] == "tanh" and children[0].info.status == "FAILED"

    best_child = children[trials.best_trial["tid"]]
    assert tags["best_trial_run_id"] == best_child.info.run_id
    history = client.get_metric_history(parent.info.run_id, "best_trial_loss")
    assert [m.value for m in history] == sorted((m.value for m in history), reverse=True)
    assert history[-1].value == pytest.approx(trials.best_trial["result"]["loss"])


def test_cancelled_trials_are_killed_runs(spark, experiment):
    client, _ = experiment

    def objective(params):
        if params["x"] > 0.5:
            time.sleep(60)
        return params["x"]

    trials = SparkTrials(spark_session=spark, parallelism=2, trial_timeout=3)
    trials.insert_points(SPACE, [{"act": 0, "x": 0.9}, {"act": 0, "x": 0.1}])
    search(trials, objective, max_evals=2)
    children = children_of(client, client.get_run(trials.last_tracker.parent_run_id))
    assert children[0].info.status == "KILLED"
    assert children[0].data.tags["trial_status"] == "cancelled"
    assert "trial_timeout" in children[0].data.tags["cancel_reason"]
    assert children[1].info.status == "FINISHED"


def log_directly(params, artifact):
    import mlflow as mf

    mf.log_param("x", str(params["x"]))  # same value as the automatic param: allowed
    mf.log_param("user_param", "u")
    mf.log_metric("user_metric", params["x"] * 2)
    mf.set_tag("user_tag", "t")
    mf.log_artifact(artifact)
    return params["x"]


def log_in_start_run(params, artifact):
    import mlflow as mf

    with mf.start_run():  # resumes the trial's child run
        return log_directly(params, artifact)


@pytest.mark.parametrize("backend", ["jobs", "actors"])
@pytest.mark.parametrize("style", [log_directly, log_in_start_run])
def test_objective_logging_lands_in_its_child_run(spark, experiment, tmp_path, style, backend):
    client, experiment_id = experiment
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello from a trial")
    path = str(artifact)

    trials = SparkTrials(spark_session=spark, parallelism=2, backend=backend)
    search(trials, lambda params: style(params, path), max_evals=4)
    assert trials.count_successful_trials() == 4
    parent = client.get_run(trials.last_tracker.parent_run_id)
    children = children_of(client, parent)
    for child in children:
        data = child.data
        assert data.params["user_param"] == "u" and data.tags["user_tag"] == "t"
        assert data.metrics["user_metric"] == pytest.approx(2 * float(data.params["x"]))
        assert [a.path for a in client.list_artifacts(child.info.run_id)] == ["notes.txt"]
        assert child.info.status == "FINISHED"
    assert "user_param" not in parent.data.params
    assert len(client.search_runs([experiment_id])) == 1 + 4  # no stray runs


@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_a_run_left_by_an_untracked_search_never_catches_a_tracked_trials_logs(
        spark, experiment, tmp_path, backend, monkeypatch):
    """Python workers outlive searches. An objective that logs while tracking is off leaves
    an active MLflow run in its worker; the next, tracked trial there must still log into its
    own child run (found on Spark Connect: the metric went to the stray run)."""
    client, _ = experiment
    monkeypatch.chdir(tmp_path)  # where an untracked objective's own runs land (local[2])

    def objective(params):
        import mlflow as mf

        mf.log_metric("seen", params["x"])
        return params["x"]

    for tracked in (False, True):
        trials = SparkTrials(spark_session=spark, parallelism=2, backend=backend,
                             mlflow_tracking=tracked)
        search(trials, objective, max_evals=6)
    children = children_of(client, client.get_run(trials.last_tracker.parent_run_id))
    assert len(children) == 6
    for child in children:
        assert child.data.metrics.get("seen") == pytest.approx(float(child.data.params["x"]))


def test_two_fmin_calls_inside_one_active_run(spark, experiment):
    client, _ = experiment
    os.environ.pop("MLFLOW_RUN_ID", None)
    with mlflow.start_run() as active:
        first, second = SparkTrials(spark_session=spark, parallelism=2), SparkTrials(
            spark_session=spark, parallelism=2)
        search(first, lambda p: p["x"], max_evals=3)
        search(second, lambda p: p["x"], max_evals=2)
        assert mlflow.active_run().info.run_id == active.info.run_id
        assert "MLFLOW_RUN_ID" not in os.environ
    parent = client.get_run(active.info.run_id)
    assert first.last_tracker.parent_run_id == second.last_tracker.parent_run_id == \
        active.info.run_id
    params, tags = parent.data.params, parent.data.tags
    suffix = "_" + second.last_tracker.fmin_uuid
    assert params["max_evals"] == "3" and params["max_evals" + suffix] == "2"
    assert tags["fmin_uuid"] == first.last_tracker.fmin_uuid
    assert tags["fmin_uuid" + suffix] == second.last_tracker.fmin_uuid
    assert len(children_of(client, parent)) == 5


@pytest.mark.parametrize("switch", ["argument", "env", "conf", "databricks-conf"])
def test_each_switch_turns_tracking_off(spark, experiment, monkeypatch, switch):
    client, experiment_id = experiment
    kwargs = {}
    if switch == "argument":
        kwargs["mlflow_tracking"] = False
    elif switch == "env":
        monkeypatch.setenv("HYPERSPARK_MLFLOW", "0")
    else:
        key = {"conf": "spark.hyperspark.mlflow.enabled",
               "databricks-conf": "spark.databricks.mlflow.trackHyperopt.enabled"}[switch]
        spark.conf.set(key, "false")
    try:
        trials = SparkTrials(spark_session=spark, parallelism=2, **kwargs)
        search(trials, lambda p: p["x"], max_evals=2)
    finally:
        for key in ("spark.hyperspark.mlflow.enabled",
                    "spark.databricks.mlflow.trackHyperopt.enabled"):
            spark.conf.unset(key)
    assert trials.count_successful_trials() == 2 and trials.last_tracker is None
    assert client.search_runs([experiment_id]) == []


def test_parent_failed_when_fmin_raises_and_killed_on_ctrl_c(experiment):
    client, _ = experiment
    trials = SparkTrials(backend="local", parallelism=2)
    with pytest.raises(AllTrialsFailedError):
        search(trials, lambda p: 1 / 0, max_evals=2)
    assert client.get_run(trials.last_tracker.parent_run_id).info.status == "FAILED"

    trials = SparkTrials(backend="local", parallelism=2)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            search(trials, lambda p: time.sleep(30), max_evals=4)
    finally:
        timer.cancel()
    parent = client.get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "KILLED"
    assert {c.info.status for c in children_of(client, parent)} == {"KILLED"}


# ---------------------------------------------------------------- a real tracking server
@pytest.fixture
def server(tracking_server):
    """The session's mlflow server on PostgreSQL (stoppable: ``.stop()``, ``.start()``)."""
    return tracking_server.server


@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.uri)
    mlflow.set_experiment(f"remote-{time.time_ns()}")
    yield MlflowClient(server.uri)
    mlflow.set_tracking_uri(previous)


def test_concurrent_searches_on_one_server_keep_their_runs_apart(any_store):
    """Three searches at once, from threads, into the same experiment: each parent holds its
    own trials' runs, named and nested, and nothing else."""
    client, experiment_id = any_store
    results = {}

    def one(name, offset):
        trials = SparkTrials(backend="local", parallelism=3, mlflow_tracking=True)
        search(trials, lambda p: p["x"] + offset, max_evals=9)
        results[name] = trials

    threads = [threading.Thread(target=one, args=(name, n)) for n, name in enumerate("abc")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    parents = {name: trials.last_tracker.parent_run_id for name, trials in results.items()}
    assert len(set(parents.values())) == 3
    for name, trials in results.items():
        parent = client.get_run(parents[name])
        children = children_of(client, parent)
        assert [c.data.tags["trial_id"] for c in children] == [str(t) for t in range(9)]
        assert all(c.data.tags["fmin_uuid"] == trials.last_tracker.fmin_uuid for c in children)
        losses = sorted(c.data.metrics["loss"] for c in children)
        assert losses == sorted(d["result"]["loss"] for d in trials.trials)
        assert parent.data.metrics["total_trials_count"] == 9


def test_the_link_hyperspark_prints_opens_the_searchs_runs_in_the_mlflow_ui(remote, caplog):
    """MLflow 3's UI opens an experiment on its GenAI overview, where runs do not show: the
    link hyperspark logs opens the runs table, filtered to the search. In headless Chromium
    against the real server: the search's parent run shows, another search's does not."""
    from playwright.sync_api import sync_playwright

    names = {}
    for key in ("ours", "other"):
        trials = SparkTrials(backend="local", parallelism=2, mlflow_tracking=True)
        with caplog.at_level("INFO", logger="hyperspark"):
            search(trials, lambda p: p["x"], max_evals=2)
        names[key] = remote.get_run(trials.run_id).info.run_name
        if key == "ours":
            link = trials.last_tracker.ui_link()
            logged = [r.getMessage() for r in caplog.records
                      if f"search recorded in run {trials.run_id}" in r.getMessage()]
    assert link.startswith(f"{remote.tracking_uri}/#/experiments/") and "/runs?searchFilter=" in link
    assert logged and f"(its runs: {link})" in logged[0]
    assert f"of experiment '{mlflow.get_experiment(remote.get_run(trials.run_id).info.experiment_id).name}'" in logged[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(link)
            page.wait_for_selector(f"text={names['ours']}", timeout=60_000)
            shown = page.inner_text("body")
            assert names["ours"] in shown and names["other"] not in shown
            assert "/runs" in page.url  # still on the runs table, not the overview
        finally:
            browser.close()


@pytest.mark.slow
def test_tracking_through_a_real_server(spark, remote):
    def objective(params):
        import mlflow as mf

        mf.log_metric("from_executor", params["x"])
        return params["x"]

    trials = SparkTrials(spark_session=spark, parallelism=2)
    search(trials, objective, max_evals=4)
    parent = remote.get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    children = children_of(remote, parent)
    assert len(children) == 4
    assert all("from_executor" in c.data.metrics and c.data.tags["trial_status"] == "success"
               for c in children)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jobs", "actors"])
def test_tracking_over_spark_connect_through_a_real_server(connect_spark, remote, backend):
    """The same run tree from a Spark Connect session: the objective logs from the executor
    into its child run, and the tracking switch is read through spark.conf."""
    def objective(params):
        import mlflow as mf

        mf.log_metric("from_executor", params["x"])
        return params["x"]

    trials = SparkTrials(spark_session=connect_spark, parallelism=2, backend=backend)
    search(trials, objective, max_evals=4)
    parent = remote.get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["runSource"] == "hyperoptAutoTracking"
    children = children_of(remote, parent)
    assert [int(c.data.tags["trial_id"]) for c in children] == [0, 1, 2, 3]
    assert all("from_executor" in c.data.metrics and c.data.tags["trial_status"] == "success"
               for c in children)
    connect_spark.conf.set("spark.databricks.mlflow.trackHyperopt.enabled", "false")
    try:
        off = SparkTrials(spark_session=connect_spark, parallelism=2, backend=backend)
        search(off, lambda p: p["x"], max_evals=2)
        assert off.last_tracker is None
    finally:
        connect_spark.conf.unset("spark.databricks.mlflow.trackHyperopt.enabled")


@pytest.fixture
def impatient_mlflow(monkeypatch):
    """MLflow's own HTTP retries off and short timeouts: hyperspark's retries are under test."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setenv("HYPERSPARK_CHILD_RUN_WAIT_S", "2")  # read when a search starts
    monkeypatch.setenv("HYPERSPARK_TRACKING_FLUSH_TIMEOUT_S", "90")
    return monkeypatch


def read_patiently(monkeypatch):
    """After an outage, the test's own reads use MLflow's usual retries and timeouts: a server
    just restarted on a busy machine may take more than 2 s to answer its first request."""
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT")


class Outage(search_module.Listener):
    """Stops the server ``after_s`` after the search's parent run exists (so the outage always
    falls inside the search, however long the search takes to start), and starts it again
    ``back_after_s`` later; with ``back_after_s=None`` it stays down until ``over()``."""

    def __init__(self, server, after_s, back_after_s=None):
        self.server, self.after_s, self.back_after_s = server, after_s, back_after_s
        self.thread = threading.Thread(target=self._outage, daemon=True)

    def search_started(self, search, settings):
        self.thread.start()

    def _outage(self):
        time.sleep(self.after_s)
        self.server.stop()
        if self.back_after_s is not None:
            time.sleep(self.back_after_s)
            self.server.start()

    def over(self):
        """Waits for the outage to have happened, and for the server to answer again."""
        if self.thread.ident is None:  # the search never started: the server never stopped
            return
        self.thread.join()
        if self.back_after_s is None:
            self.server.start()


def tracked_search(trials, objective, max_evals, outage):
    try:
        trials.fmin(objective, SPACE, algo=rand.suggest, max_evals=max_evals,
                    show_progressbar=False, listeners=[outage])
    finally:
        outage.over()


@pytest.mark.slow
def test_server_restarted_mid_search_gets_everything_once_back(spark, remote, server,
                                                               impatient_mlflow, caplog):
    """Stopped 2 s in and started again: the search never waits on it, and what could not be
    written meanwhile is retried and lands when the server is back."""
    trials = SparkTrials(spark_session=spark, parallelism=2)
    with caplog.at_level("WARNING", logger="hyperspark"):
        tracked_search(trials, lambda p: time.sleep(0.4) or p["x"], 24,
                       Outage(server, after_s=2.0, back_after_s=1.0))
    assert trials.count_successful_trials() == 24
    assert "tracking store unreachable" in caplog.text
    assert "answers again" in caplog.text
    read_patiently(impatient_mlflow)
    parent = remote.get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["successful_trials_count"] == 24
    children = children_of(remote, parent)
    assert [int(c.data.tags["trial_id"]) for c in children] == list(range(24))
    assert {c.info.status for c in children} == {"FINISHED"}
    assert all("loss" in c.data.metrics for c in children)


@pytest.mark.slow
def test_reports_survive_a_tracking_outage(spark, remote, server, impatient_mlflow):
    """Learning curves logged while the server restarts land once it is back, every step."""
    import hyperspark

    def objective(params):
        for step in range(1, 6):
            hyperspark.report(params["x"] + 1 / step)
            time.sleep(0.1)
        return params["x"]

    trials = SparkTrials(spark_session=spark, parallelism=2)
    tracked_search(trials, objective, 16, Outage(server, after_s=1.0, back_after_s=1.0))
    read_patiently(impatient_mlflow)
    parent = remote.get_run(trials.last_tracker.parent_run_id)
    children = children_of(remote, parent)
    assert len(children) == 16
    for child in children:
        steps = [m.step for m in remote.get_metric_history(child.info.run_id, "loss")]
        assert sorted(set(steps)) == [1, 2, 3, 4, 5], child.data.tags["trial_id"]


@pytest.mark.slow
def test_search_finishes_while_the_server_stays_down(spark, remote, server, impatient_mlflow,
                                                     monkeypatch, caplog):
    """Down for good: the search finishes on time and says what was not logged."""
    monkeypatch.setenv("HYPERSPARK_TRACKING_RETRY_S", "3")
    monkeypatch.setenv("HYPERSPARK_TRACKING_FLUSH_TIMEOUT_S", "20")
    trials = SparkTrials(spark_session=spark, parallelism=2)
    began = time.monotonic()
    with caplog.at_level("WARNING", logger="hyperspark"):
        tracked_search(trials, lambda p: time.sleep(0.3) or p["x"], 16,
                       Outage(server, after_s=1.5))
    assert trials.count_successful_trials() == 16  # the search lost nothing
    assert time.monotonic() - began < 120
    assert "failed and were dropped" in caplog.text
    read_patiently(impatient_mlflow)
    parent = remote.get_run(trials.last_tracker.parent_run_id)
    assert parent.data.params["max_evals"] == "16"  # logged before the server went down


# ---------------------------------------------------------------- a store that fails oddly
class _FailsOneRun:
    """A real sqlite store (MLflow's own SqlAlchemyStore) that fails every write to the child
    run of trial 0 (from the first that names it) with ``TimeoutError()``: an exception whose
    message is empty."""

    cursed: set = set()

    @classmethod
    def build(cls, store_uri, artifact_uri=None):
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        class Store(SqlAlchemyStore):
            def log_batch(self, run_id, metrics, params, tags):
                if any(tag.key == "trial_id" and tag.value == "0" for tag in tags):
                    cls.cursed.add(run_id)
                if run_id in cls.cursed:
                    raise TimeoutError()
                return super().log_batch(run_id, metrics, params, tags)

        return Store(store_uri.replace("faultysqlite:", "sqlite:", 1), artifact_uri
                     or str(os.path.dirname(store_uri.split(":///", 1)[1])))


def test_writer_survives_a_store_error_with_an_empty_message(tmp_path, monkeypatch, caplog):
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_store_registry.register("faultysqlite", _FailsOneRun.build)
    uri = f"faultysqlite:///{tmp_path}/faulty.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # another store's, set earlier
    monkeypatch.setenv("HYPERSPARK_TRACKING_RETRY_S", "0")  # one try: the error goes up
    monkeypatch.setenv("HYPERSPARK_TRACKING_FLUSH_TIMEOUT_S", "5")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("faulty-store")
        trials = SparkTrials(backend="local", parallelism=1)
        with caplog.at_level("WARNING", logger="hyperspark"):
            search(trials, lambda p: p["x"], max_evals=6)
        client = MlflowClient(uri)
        parent = client.get_run(trials.last_tracker.parent_run_id)
        children = children_of(client, parent)
    finally:
        mlflow.set_tracking_uri(previous)
    assert len(_FailsOneRun.cursed) == 1
    assert "could not log to run" in caplog.text and "TimeoutError" in caplog.text
    # trial 0's run never got its name (every write to it failed); every other write went
    # through
    assert [int(c.data.tags["trial_id"]) for c in children] == list(range(1, 6))
    assert all(c.info.status == "FINISHED" and "loss" in c.data.metrics for c in children)
    assert parent.data.metrics["successful_trials_count"] == 6


@pytest.mark.parametrize("switch, mode", [(None, "wal"), ("0", "delete")])
def test_a_local_sqlite_store_is_switched_to_write_ahead_logging(tmp_path, monkeypatch, switch,
                                                                 mode):
    import sqlite3

    if switch is not None:
        monkeypatch.setenv("HYPERSPARK_SQLITE_WAL", switch)
    uri = f"sqlite:///{tmp_path}/fresh.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("wal")  # an experiment of this store (not one an earlier test set)
    try:
        trials = SparkTrials(backend="local", parallelism=2)
        search(trials, lambda p: p["x"], max_evals=3)
    finally:
        mlflow.set_tracking_uri(previous)
    connection = sqlite3.connect(tmp_path / "fresh.db")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == mode
    finally:
        connection.close()
    runs = MlflowClient(uri).search_runs([trials.last_tracker._experiment_id])
    assert len(runs) == 1 + 3  # tracking itself is unchanged
