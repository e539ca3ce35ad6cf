"""Shared fixtures: one real local SparkSession per test session (it takes seconds to start)."""
from __future__ import annotations

import logging
import os
import sys

import pytest

from hyperspark.search import Listener

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory):
    """Every test logs to its session's own sqlite store, never to ./mlflow.db. The store is a
    real MLflow sqlite store; it sits in memory (/dev/shm) where there is one, since on this
    machine's disk each commit's fsync costs 5-15 ms and the tests check behaviour, not the
    disk (the benchmarks measure tracking on disk)."""
    import shutil
    import tempfile

    import mlflow

    memory = "/dev/shm"
    if os.path.isdir(memory) and os.access(memory, os.W_OK):
        folder = tempfile.mkdtemp(prefix="hyperspark-tests-mlflow-", dir=memory)
    else:
        folder = str(tmp_path_factory.mktemp("mlflow"))
    uri = f"sqlite:///{folder}/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    yield uri
    if folder.startswith(memory):
        shutil.rmtree(folder, ignore_errors=True)
logging.getLogger("hyperopt").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory):
    """A real ``mlflow server`` (2 workers) on a real PostgreSQL on loopback, one per test
    session. CI installs PostgreSQL (``.ci/run``); without it these tests fail, not skip."""
    from benchmarks.servers import TrackingServer

    server = TrackingServer(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def classic_spark():
    """A real ``local[2,3]`` session: 2 task slots, and Spark's own task retries on (3 tries),
    so tests can prove hyperspark never lets Spark re-run an objective."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2,3]").appName("hyperspark-tests")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark(classic_spark):
    """The classic session (a module may override ``spark`` to run on Spark Connect too)."""
    return classic_spark


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory):
    """A real Spark Connect server (pyspark's start-connect-server.sh) in front of
    ``local[2,3]``, like the classic session: 2 slots, Spark's own task retries on."""
    from benchmarks.servers import ConnectServer

    server = ConnectServer(tmp_path_factory.mktemp("connect"), master="local[2,3]",
                           conf={"spark.python.task.killTimeout": "2s"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def connect_spark(connect_server):
    """A Spark Connect client session: no SparkContext, no RDDs, tags instead of job groups."""
    session = connect_server.session()
    session._hyperspark_test_server = connect_server  # for no_active_jobs
    yield session
    session.stop()


@pytest.fixture(params=["classic", "connect"])
def any_spark(request):
    """The same test on a classic session and on a Spark Connect session."""
    return request.getfixturevalue("classic_spark" if request.param == "classic"
                                   else "connect_spark")


@pytest.fixture
def counter_dir(tmp_path):
    """A folder where objectives leave one file per call, to count calls across processes."""
    return tmp_path


def no_active_jobs(spark, within_s: float = 15) -> bool:
    """True once Spark runs no job (waiting up to ``within_s`` for cancellations to land). On
    Spark Connect, asks the server's Spark UI."""
    import time

    server = getattr(spark, "_hyperspark_test_server", None)
    active = (server.running_jobs if server is not None
              else spark.sparkContext.statusTracker().getActiveJobsIds)
    deadline = time.monotonic() + within_s
    while active() and time.monotonic() < deadline:
        time.sleep(0.2)
    return list(active()) == []


def calls_in(folder, prefix: str = "call") -> int:
    return sum(1 for name in os.listdir(folder) if name.startswith(prefix))


def wait_until(condition, within_s: float = 60, every_s: float = 0.1) -> bool:
    """True as soon as ``condition()`` is true; False if it is still false after ``within_s``
    (every assertion that waits for something to happen waits on it, never a fixed sleep)."""
    import time

    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every_s)
    return True


def hyperspark_threads_left(within_s: float = 15) -> list:
    """The names of hyperspark's threads still alive after waiting up to ``within_s`` for
    them to end (actors and writers wind down in the background)."""
    import threading

    def names():
        return [t.name for t in threading.enumerate() if t.name.startswith("hyperspark")]

    wait_until(lambda: not names(), within_s, every_s=0.2)
    return names()


def process_ended(pid: int) -> bool:
    """True when process ``pid`` is gone or a zombie (it has exited)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"
    except (ProcessLookupError, FileNotFoundError):
        return True


class InterruptWhenRunning(Listener):
    """A scheduler listener that sends this process SIGINT once ``count`` trials run their
    objective (``delay_s`` later, to land mid-work). ``sent_at``: when it was decided."""

    def __init__(self, count: int, delay_s: float = 0.0):
        self.count, self.delay_s, self.sent_at = count, delay_s, None

    def trial_running(self, doc, progress):
        import signal
        import threading
        import time

        if self.sent_at is None and progress.running >= self.count:
            self.sent_at = time.monotonic()
            if self.delay_s:
                threading.Timer(self.delay_s, os.kill, (os.getpid(), signal.SIGINT)).start()
            else:
                os.kill(os.getpid(), signal.SIGINT)


def pytest_collection_finish(session):
    """Test modules are not importable on executors: objectives defined at module level in them
    travel by value, as they would from a notebook."""
    import cloudpickle
    from pyspark import cloudpickle as spark_cloudpickle  # Spark pickles UDFs with its own copy

    for module in {item.module for item in session.items if hasattr(item, "module")}:
        cloudpickle.register_pickle_by_value(module)
        spark_cloudpickle.register_pickle_by_value(module)


HEAVY_FILES = ["test_cluster.py", "test_spark_backends.py", "test_tracking.py", "test_gang.py",
               "test_cluster_recipe.py", "test_load.py", "test_checkpoint.py",
               "test_resources.py", "test_driver.py", "test_sweep.py", "test_connect.py",
               "test_actors.py"]
"""Test files by the time they take, longest first (``--durations`` on 2 cores: from about
290 s down to 45 s). The rest follow in name order."""


def pytest_configure(config):
    """CI runs the suite on two pytest-xdist workers, a file each (``--dist loadfile``).
    xdist's default hands out the files with the most tests first, which leaves this suite's
    long files of one or two tests (a cluster recipe, a 5,000-trial load) for the end, where
    one worker runs them while the other idles. Keeping the collection's order (longest first:
    ``HEAVY_FILES``) lets the short files fill in at the end instead."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """Longest test files first (``HEAVY_FILES``), each file's tests in their own order."""
    rank = {name: place for place, name in enumerate(HEAVY_FILES)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), item.path.name))
