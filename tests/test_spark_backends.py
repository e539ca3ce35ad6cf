"""The Spark backends (jobs and actors) on a real local SparkSession (``local[2,3]``: Spark's
own task retries are on), classic and Spark Connect (a real Connect server in front of
``local[2,3]``). Most tests run on both backends and both kinds of session: they must mean the
same thing."""
import logging
import os
import signal
import threading
import time

import hyperopt
import pytest
from hyperopt import hp, rand
from mlflow.tracking import MlflowClient

from hyperspark import AllTrialsFailedError, ObjectiveNotSerializable, SparkTrials
from hyperspark.backends.actors import ActorsBackend
from hyperspark.backends.spark import runner_for

from conftest import (InterruptWhenRunning, calls_in, hyperspark_threads_left, no_active_jobs,
                      process_ended, wait_until)

pytestmark = pytest.mark.spark

SPACE = hp.uniform("x", 0, 1)
FLAGGED = {"slow": hp.choice("slow", [False, True]), "x": SPACE}


@pytest.fixture(params=["jobs", "actors"])
def backend(request):
    return request.param


@pytest.fixture
def spark(any_spark):
    """Every test here that takes ``spark`` runs on classic Spark and on Spark Connect."""
    return any_spark


def search(spark, objective, *, max_evals, space=SPACE, points=None, backend="jobs",
           **trial_kwargs):
    trials = SparkTrials(spark_session=spark, backend=backend,
                         **{"parallelism": 2, **trial_kwargs})
    if points:
        trials.insert_points(space, points)
    best = hyperopt.fmin(objective, space, algo=rand.suggest, max_evals=max_evals, trials=trials,
                         show_progressbar=False, return_argmin=True)
    return best, trials


def test_search_with_hyperopt_fmin(spark, backend):
    best, trials = search(spark, backend=backend, objective=lambda x: (x - 0.5) ** 2, max_evals=8)
    assert trials.count_successful_trials() == 8 and 0 <= best["x"] <= 1
    assert trials.actual_parallelism == 2


def test_a_session_the_user_made_stays_as_they_made_it(classic_spark, backend):
    """hyperspark quiets only the sessions it starts: the user's conf, log level and console
    progress are untouched by a search on theirs."""
    sc = classic_spark.sparkContext
    root = sc._jvm.org.apache.logging.log4j.LogManager.getRootLogger()
    before = (sorted(sc.getConf().getAll()), str(root.getLevel()),
              classic_spark.conf.get("spark.ui.showConsoleProgress", None))
    search(classic_spark, lambda x: x, max_evals=4, backend=backend)
    after = (sorted(sc.getConf().getAll()), str(root.getLevel()),
             classic_spark.conf.get("spark.ui.showConsoleProgress", None))
    changed = {key for key, _ in set(after[0]) ^ set(before[0])}
    changed.discard("spark.sql.warehouse.dir")  # Spark's own, set on the first SQL use
    assert not changed and after[1:] == before[1:], changed


def test_each_trial_has_its_own_job_group(classic_spark):
    _, trials = search(classic_spark, lambda x: x, max_evals=4)
    tracker = classic_spark.sparkContext.statusTracker()
    for tid in range(4):
        group = f"hyperspark-{trials.last_search_id}-{tid}"
        assert len(tracker.getJobIdsForGroup(group)) == 1, group


def test_trial_timeout_cancels_one_trial_and_kills_its_worker(spark, backend, counter_dir):
    def objective(params):
        if params["slow"]:
            open(counter_dir / f"slow-{os.getpid()}", "w").close()
            time.sleep(60)
            open(counter_dir / "slow-finished", "w").close()
        return params["x"]

    began = time.monotonic()
    _, trials = search(spark, backend=backend, objective=objective, max_evals=5, space=FLAGGED, trial_timeout=3,
                       points=[{"slow": 1, "x": 0.9}] + [{"slow": 0, "x": v / 10}
                                                         for v in range(4)])
    assert time.monotonic() - began < 40
    states = trials.to_pandas().set_index("tid")["state"]
    assert states[0] == "cancelled" and (states.drop(index=0) == "done").all()
    pid = int(next(n for n in os.listdir(counter_dir) if n.startswith("slow-")).split("-")[1])
    assert wait_until(lambda: process_ended(pid), 20), "interrupt on cancel should kill the " \
        "Python worker"
    assert not (counter_dir / "slow-finished").exists()


def test_global_timeout_returns_best_so_far_and_leaves_no_job(spark, backend):
    def objective(x):
        if x > 0.6:
            threading.Event().wait()  # never returns
        return x

    began = time.monotonic()  # the deadline leaves room for a slow start on a loaded machine
    best, trials = search(spark, backend=backend, objective=objective, max_evals=40, timeout=12,
                          points=[{"x": 0.1}, {"x": 0.2}])  # two fast trials, surely
    assert time.monotonic() - began < 12 + 5  # returns within seconds of the deadline
    assert trials.fmin_cancelled_reason == "fmin run timeout"
    assert trials.count_successful_trials() >= 1 and best["x"] <= 0.6
    assert no_active_jobs(spark)


def test_user_exception_is_data_and_never_rerun_by_spark(spark, backend, counter_dir):
    class Unpicklable(Exception):
        def __reduce__(self):
            raise TypeError("no pickling")

    def objective(x):
        open(counter_dir / f"call-{time.time_ns()}", "w").close()
        raise Unpicklable(f"bad x={x:.3f}")

    with pytest.raises(AllTrialsFailedError, match="bad x=") as info:
        search(spark, backend=backend, objective=objective, max_evals=2)
    assert "Traceback" in str(info.value) and "Unpicklable" in str(info.value)
    assert calls_in(counter_dir) == 2  # local[2,3] would retry a failed task: it must not


def test_dead_python_worker_is_retried_as_an_attempt(spark, backend, counter_dir):
    marker = counter_dir / "died-once"

    def objective(x):
        if not marker.exists():
            marker.touch()
            os._exit(1)  # the Python worker dies mid-trial
        return x

    _, trials = search(spark, backend=backend, objective=objective, max_evals=1, max_retries=2)
    row = trials.to_pandas().loc[0]
    assert row["state"] == "done" and row["attempts"] == 2


def test_worker_that_always_dies_fails_after_max_retries(spark, backend):
    with pytest.raises(AllTrialsFailedError, match="infrastructure") as info:
        search(spark, backend=backend, objective=lambda x: os._exit(3), max_evals=1, max_retries=1)
    assert "trial 0 (2 attempts, infrastructure)" in str(info.value)


def test_a_trial_whose_worker_always_dies_fails_and_the_search_goes_on(spark, backend):
    def objective(params):
        if params["slow"]:  # here: the point that kills its worker every time
            os.kill(os.getpid(), signal.SIGKILL)
        return params["x"]

    _, trials = search(spark, backend=backend, objective=objective, max_evals=4, space=FLAGGED,
                       max_retries=2, points=[{"slow": 1, "x": 0.5}] + [
                           {"slow": 0, "x": v / 10} for v in range(3)])
    killed = trials._dynamic_trials[0]
    assert killed["state"] == 3 and killed["misc"]["hyperspark"]["attempts"] == 3
    assert killed["misc"]["hyperspark"]["error_kind"] == "infrastructure"
    assert "died" in killed["result"]["error"] or "lost" in killed["result"]["error"]
    assert trials.count_successful_trials() == 3


def test_user_error_in_retry_on_is_retried(spark, backend, counter_dir):
    def objective(x):
        calls = len(os.listdir(counter_dir))
        open(counter_dir / f"call-{calls}", "w").close()
        if calls == 0:
            raise TimeoutError("remote store slow")
        return x

    _, trials = search(spark, backend=backend, objective=objective, max_evals=1, retry_on=(TimeoutError,))
    assert trials.to_pandas().loc[0, "attempts"] == 2 and trials.count_successful_trials() == 1


def test_objective_that_cannot_load_on_executors_fails_with_the_cause(spark, backend):
    def objective(x):
        return calls_in("/")  # conftest is importable on the driver only

    with pytest.raises(AllTrialsFailedError, match="could not be loaded on the executor.*conftest"):
        search(spark, backend=backend, objective=objective, max_evals=1)


def test_unpicklable_objective_fails_before_any_job(spark, backend):
    lock = threading.Lock()

    def objective(x):
        with lock:
            return x

    with pytest.raises(ObjectiveNotSerializable, match="captured variable 'lock'"):
        search(spark, backend=backend, objective=objective, max_evals=2)


def test_ctrl_c_raises_quickly_and_leaves_no_job(spark, backend):
    trials = SparkTrials(spark_session=spark, parallelism=2, backend=backend)
    interrupt = InterruptWhenRunning(2)
    with pytest.raises(KeyboardInterrupt):
        trials.fmin(lambda x: time.sleep(60), SPACE, algo=rand.suggest, max_evals=10,
                    show_progressbar=False, listeners=[interrupt])
    assert interrupt.sent_at is not None and time.monotonic() - interrupt.sent_at < 5
    assert trials.count_cancelled_trials() == 2
    assert no_active_jobs(spark)
    assert hyperspark_threads_left() == []  # no trial, actor, channel, writer or checkpoint
    parent = MlflowClient().get_run(trials.last_tracker.parent_run_id)
    assert parent.info.status == "KILLED"


def test_ctrl_c_while_the_backend_opens_still_cleans_up(spark):
    """Ctrl-C before any trial runs, just as the actors start: nothing is left behind."""
    class InterruptedWhileOpening(ActorsBackend):
        def open(self, search, post):
            super().open(search, post)  # the channel listens, the actors' jobs are submitted
            os.kill(os.getpid(), signal.SIGINT)  # KeyboardInterrupt here, inside open()

    trials = SparkTrials(parallelism=2, backend=InterruptedWhileOpening(runner_for(spark), 2),
                         mlflow_tracking=False)
    with pytest.raises(KeyboardInterrupt):
        trials.fmin(lambda x: time.sleep(60), SPACE, algo=rand.suggest, max_evals=4,
                    show_progressbar=False)
    assert no_active_jobs(spark)
    assert hyperspark_threads_left() == []


BAD_RESULTS = [
    (float("nan"), "finite"), (float("inf"), "finite"), ({"loss": "abc", "status": "ok"},
                                                         "number"),
    ([0.5], "list"), (None, "NoneType"), ({"loss": 0.5}, "'status'"),
]


def test_results_hyperopt_cannot_use_fail_their_trial_with_a_reason(spark, backend):
    space = {"case": hp.choice("case", list(range(len(BAD_RESULTS) + 1)))}

    def objective(params):
        case = params["case"]
        return BAD_RESULTS[case][0] if case < len(BAD_RESULTS) else 0.25

    _, trials = search(spark, objective, max_evals=len(BAD_RESULTS) + 1, space=space,
                       backend=backend, points=[{"case": i} for i in range(len(BAD_RESULTS) + 1)])
    by_case = {d["misc"]["vals"]["case"][0]: d for d in trials._dynamic_trials}
    for case, (_, words) in enumerate(BAD_RESULTS):
        assert by_case[case]["state"] == 3, by_case[case]["result"]  # error, not a crash
        assert words in by_case[case]["result"]["error"]
        assert by_case[case]["misc"]["hyperspark"]["attempts"] == 1  # data, never retried
    assert by_case[len(BAD_RESULTS)]["result"] == {"loss": 0.25, "status": "ok"}


def test_parallelism_defaults_to_slots_and_warns_above_them(spark, caplog):
    assert SparkTrials(spark_session=spark)._decide_parallelism(100) == 2
    caplog.set_level(logging.WARNING, logger="hyperspark")
    assert SparkTrials(spark_session=spark, parallelism=200)._decide_parallelism(1000) == 200
    assert any("exceeds the 2 task slots" in r.message for r in caplog.records)


def test_executor_environment_check(spark):
    from hyperspark.backends.spark import runner_for, session as spark_session

    spark_session._checked_apps.discard(runner_for(spark).application_id())
    assert spark_session.check_executors_can_import(spark) == []


def test_trial_timeout_counts_running_time_only_on_a_busy_cluster(spark, backend, counter_dir,
                                                                  mlflow_store):
    """Twice as many trials in flight as task slots, most of them hanging: quick trials wait
    behind hung ones (Spark frees a killed task's slot only after its Python worker is gone),
    and waiting never counts against their trial_timeout."""
    def objective(params):
        open(counter_dir / f"call-{params['x']!r}-{time.time_ns()}", "w").close()
        if params["slow"]:
            time.sleep(60)
        return params["x"]

    hanging = [{"slow": 1, "x": v / 100} for v in range(1, 7)]
    quick = [{"slow": 0, "x": v / 10} for v in range(1, 4)]
    points = hanging[:4] + quick[:1] + hanging[4:] + quick[1:]  # quick ones queue behind
    _, trials = search(spark, objective, max_evals=len(points), space=FLAGGED, backend=backend,
                       parallelism=4, trial_timeout=2, points=points)
    docs = {d["misc"]["vals"]["x"][0]: d for d in trials._dynamic_trials}
    for point in quick:
        assert docs[point["x"]]["state"] == 2, docs[point["x"]]["result"]  # never cancelled
    for point in hanging:
        assert docs[point["x"]]["state"] == 4
        assert "trial_timeout of 2 s exceeded" in docs[point["x"]]["result"]["error"]
    for point in points:  # each objective ran exactly once
        assert calls_in(counter_dir, f"call-{point['x']!r}-") == 1, point
    assert any(d["misc"]["hyperspark"].get("waited", 0) > 1.0 for d in docs.values())

    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.last_tracker.parent_run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_tid = {int(c.data.tags["trial_id"]): c for c in children}
    assert sorted(by_tid) == sorted(d["tid"] for d in docs.values())  # one run per trial
    for doc in docs.values():
        run = by_tid[doc["tid"]]
        if doc["state"] == 2:
            assert (run.info.status, run.data.tags["trial_status"]) == ("FINISHED", "success")
        else:
            assert (run.info.status, run.data.tags["trial_status"]) == ("KILLED", "cancelled")
    assert no_active_jobs(spark)


def test_every_trial_failed_with_return_argmin_false_returns_none(spark, backend):
    """As hyperopt's SparkTrials does (its own test suite checks it); with return_argmin=True
    the rich error stays."""
    trials = SparkTrials(spark_session=spark, backend=backend, parallelism=1)
    best = hyperopt.fmin(lambda x: 1 / 0, SPACE, algo=rand.suggest, max_evals=1, trials=trials,
                         show_progressbar=False, return_argmin=False)
    assert best is None and trials.count_failed_trials() == 1
    trials = SparkTrials(spark_session=spark, backend=backend, parallelism=2)
    with pytest.raises(AllTrialsFailedError, match="ZeroDivisionError"):
        hyperopt.fmin(lambda x: 1 / 0, SPACE, algo=rand.suggest, max_evals=2, trials=trials,
                      show_progressbar=False, return_argmin=True)


# ---------------------------------------------------------------- fair-scheduler pools
def pool_of_this_task():
    from pyspark import TaskContext

    return TaskContext.get().getLocalProperty("spark.scheduler.pool")


def pool_seen(x):
    """The pool of the Spark task the objective runs in (jobs, actors)."""
    return {"status": "ok", "loss": x, "pool": pool_of_this_task()}


@pytest.mark.parametrize("how", ["jobs", "actors", "gang", "driver"])
def test_every_job_of_a_search_runs_in_its_scheduler_pool(classic_spark, how, caplog):
    sc = classic_spark.sparkContext
    objective = pool_seen
    kwargs = {"backend": "jobs" if how == "gang" else how}
    if how == "gang":
        kwargs["tasks_per_trial"] = 2
    if how == "driver":  # the objective's own Spark job runs in the pool too
        def objective(x):
            pools = sc.parallelize([0], 1).map(lambda _: pool_of_this_task()).collect()
            return {"status": "ok", "loss": x, "pool": pools[0]}
    with caplog.at_level(logging.WARNING, logger="hyperspark"):
        trials = SparkTrials(spark_session=classic_spark, parallelism=1 if how == "gang" else 2,
                             scheduler_pool="team_a", **kwargs)
        hyperopt.fmin(objective, SPACE, algo=rand.suggest, max_evals=4, trials=trials,
                      show_progressbar=False)
    assert [t["result"]["pool"] for t in trials.trials] == ["team_a"] * 4
    assert sc.getLocalProperty("spark.scheduler.pool") is None  # the caller's thread is as it was
    assert trials.last_settings["scheduler_pool"] == "team_a"
    # this session runs FIFO: the pool has no effect, said once per application
    from hyperspark.backends.spark.pooled import _warned

    assert sc.applicationId in _warned
    warned = [r for r in caplog.records if "has no effect" in r.getMessage()]
    assert len(warned) <= 1 and all("spark.scheduler.mode is FIFO" in r.getMessage()
                                    for r in warned)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hyperspark"):
        other = SparkTrials(spark_session=classic_spark, scheduler_pool="team_b")
    assert other.scheduler_pool == "team_b"
    assert not [r for r in caplog.records if "has no effect" in r.getMessage()]


def test_a_scheduler_pool_is_refused_where_it_cannot_apply(connect_spark, classic_spark):
    from hyperspark import ActorPool
    from hyperspark.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="not supported on Spark Connect.*session of its "
                                              "own.*spark.scheduler.pool"):
        SparkTrials(spark_session=connect_spark, scheduler_pool="team_a")
    with ActorPool(classic_spark, size=1, scheduler_pool="team_a") as pool:
        with pytest.raises(InvalidArgument, match="give scheduler_pool to ActorPool"):
            SparkTrials(backend=pool, scheduler_pool="team_a")
        trials = SparkTrials(backend=pool)
        hyperopt.fmin(pool_seen, SPACE, algo=rand.suggest, max_evals=2, trials=trials,
                      show_progressbar=False)
        assert {t["result"]["pool"] for t in trials.trials} == {"team_a"}
