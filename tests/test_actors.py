"""What only the actors backend has: per-actor setup, the authenticated channel, start-up limits."""
import os
import socket
import threading
import time
from multiprocessing.connection import AuthenticationError, Client

import hyperopt
import pytest
from hyperopt import hp, rand

from hyperspark import AllTrialsFailedError, SparkTrials, worker_state
from hyperspark.backends.actors import ActorsBackend
from hyperspark.backends.spark import runner_for

from conftest import no_active_jobs, process_ended, wait_until

pytestmark = pytest.mark.spark

SPACE = hp.uniform("x", 0, 1)


def run(trials, objective, max_evals):
    return hyperopt.fmin(objective, SPACE, algo=rand.suggest, max_evals=max_evals,
                         trials=trials, show_progressbar=False)


def test_worker_setup_runs_once_per_actor(spark, counter_dir):
    def load():
        open(counter_dir / f"setup-{os.getpid()}-{time.time_ns()}", "w").close()
        return {"offset": 10.0}

    def objective(x):
        time.sleep(0.05)
        return {"loss": x + worker_state()["offset"], "status": "ok", "pid": os.getpid()}

    trials = SparkTrials(spark_session=spark, parallelism=2, backend="actors",
                         worker_setup=load, mlflow_tracking=False)
    run(trials, objective, max_evals=30)
    assert trials.count_successful_trials() == 30
    assert all(loss >= 10 for loss in trials.losses())
    serving = {result["pid"] for result in trials.results}
    setups = [int(n.split("-")[1]) for n in os.listdir(counter_dir) if n.startswith("setup-")]
    assert sorted(setups) == sorted(set(setups))  # never twice in one actor
    assert serving <= set(setups) and len(setups) <= 2  # thirty trials, at most two setups
    assert no_active_jobs(spark)


def test_hung_trial_is_cancelled_alone_and_its_actor_replaced(spark, counter_dir):
    def load():
        open(counter_dir / f"setup-{time.time_ns()}", "w").close()

    def objective(x):
        if x > 0.9:
            open(counter_dir / f"hung-{os.getpid()}", "w").close()
            time.sleep(120)
        time.sleep(0.5)  # long enough for the replacement actor to take trials too
        return x

    trials = SparkTrials(spark_session=spark, parallelism=2, backend="actors",
                         trial_timeout=3, worker_setup=load, mlflow_tracking=False)
    # 23 quick trials of 0.5 s keep the other actor busy for 11 s: the killed actor's
    # replacement (Spark frees its slot after spark.python.task.killTimeout, then a new Python
    # worker starts) is surely ready before they run out
    trials.insert_points(SPACE, [{"x": 0.95}] + [{"x": v / 30} for v in range(23)])
    began = time.monotonic()
    run(trials, objective, max_evals=24)
    assert time.monotonic() - began < 60
    frame = trials.to_pandas().set_index("tid")
    print(frame[["state", "attempts", "error"]].to_string())
    states = frame["state"]
    assert states[0] == "cancelled" and (states.drop(index=0) == "done").all()
    hung_pid = int(next(n for n in os.listdir(counter_dir) if n.startswith("hung-"))[5:])
    assert wait_until(lambda: process_ended(hung_pid), 20), "the hung actor's process must " \
        "be killed"
    setups = [n for n in os.listdir(counter_dir) if n.startswith("setup-")]
    assert len(setups) == 3  # two actors, plus the one that replaced the killed actor
    assert no_active_jobs(spark)


def test_wrong_key_and_raw_connections_are_rejected(spark, caplog):
    captured = {"backend": ActorsBackend(runner_for(spark), 2)}
    outcomes = {}

    def attack():
        while "backend" not in captured or not hasattr(captured["backend"], "address"):
            time.sleep(0.05)
        address = captured["backend"].address
        try:
            Client(address, authkey=b"not the key")
            outcomes["wrong_key"] = "accepted"
        except (AuthenticationError, EOFError, ConnectionError, OSError) as exc:
            outcomes["wrong_key"] = type(exc).__name__
        with socket.create_connection(address, timeout=5) as raw:
            raw.sendall(b"\x00\x00\x00\x10" + b"pickle-me-please")
            raw.settimeout(15)
            try:
                while raw.recv(1024):
                    pass
                outcomes["raw"] = "closed"
            except OSError as exc:
                outcomes["raw"] = type(exc).__name__

    trials = SparkTrials(parallelism=2, backend=captured["backend"], mlflow_tracking=False)
    attacker = threading.Thread(target=attack)
    attacker.start()
    run(trials, lambda x: time.sleep(0.2) or x, max_evals=20)
    attacker.join(30)
    assert outcomes["wrong_key"] != "accepted" and outcomes["raw"] in ("closed",
                                                                       "ConnectionResetError")
    assert trials.count_successful_trials() == 20  # the search was not disturbed
    assert any("failed authentication" in r.message for r in caplog.records)


def test_actors_that_cannot_start_fail_clearly_instead_of_hanging(spark):
    def never_ready():
        time.sleep(120)

    spark.conf.set("spark.hyperspark.actors.startTimeout", "4")
    try:
        trials = SparkTrials(spark_session=spark, parallelism=2, backend="actors",
                             worker_setup=never_ready, mlflow_tracking=False)
        began = time.monotonic()
        with pytest.raises(AllTrialsFailedError, match="no actor ready within 4 s"):
            run(trials, lambda x: x, max_evals=3)
        assert time.monotonic() - began < 40
    finally:
        spark.conf.unset("spark.hyperspark.actors.startTimeout")
    assert no_active_jobs(spark)


def test_setup_error_fails_trials_with_its_traceback(spark):
    def broken_setup():
        raise FileNotFoundError("/data/train.parquet")

    trials = SparkTrials(spark_session=spark, parallelism=2, backend="actors",
                         worker_setup=broken_setup, mlflow_tracking=False)
    with pytest.raises(AllTrialsFailedError, match="train.parquet"):
        run(trials, lambda x: x, max_evals=2)
    assert no_active_jobs(spark)


def test_worker_state_outside_a_worker_is_a_clear_error():
    from hyperspark.worker.state import _WORKER_STATE

    _WORKER_STATE.pop("current", None)
    with pytest.raises(RuntimeError, match="worker_setup"):
        worker_state()


QUIET_SCRIPT = """
import os, sys, time
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from hyperopt import hp, rand
from pyspark.sql import SparkSession
import hyperspark
spark = (SparkSession.builder.master("local[2]").appName("quiet-actors")
         .config("spark.driver.host", "127.0.0.1").config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
for _ in range(int(sys.argv[1])):  # Spark's default log level: what a user's script shows
    trials = hyperspark.SparkTrials(parallelism=2, backend="actors", spark_session=spark,
                                    mlflow_tracking=False)
    trials.fmin(lambda x: time.sleep(0.2) or x, hp.uniform("x", 0, 1), algo=rand.suggest,
                max_evals=40, show_progressbar=False)
    assert trials.count_successful_trials() == 40
print("searches done")
spark.stop()
"""


@pytest.mark.slow
def test_actors_searches_end_without_stack_traces():
    """An actor whose channel closes because the search is over ends its task quietly and
    successfully: nothing on stderr at Spark's default log level. Each search lasts about 4 s
    (40 trials of 0.2 s on 2 actors), so both actors have connected before it ends: an actor
    still not connected STOP_GRACE_S after the end is cancelled, and Spark logs that (on a
    loaded machine a new Python worker's imports alone can take that long)."""
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k != "MLFLOW_EXPERIMENT_ID"}
    done = subprocess.run([sys.executable, "-c", QUIET_SCRIPT, "4"], capture_output=True,
                          text=True, timeout=300, env=clean)
    assert done.returncode == 0 and "searches done" in done.stdout, done.stderr[-3000:]
    for noise in ("Exception in task", "Lost task", "Traceback", "ConnectionResetError"):
        assert noise not in done.stderr, done.stderr[-3000:]
