"""docs/cluster.md's standalone recipe, run as written: a Master and two Workers started with
``spark-class``, hyperspark's wheel and what executors import packed into a venv with
venv-pack, the search submitted with ``spark-submit --archives env.tar.gz#environment``. Every
trial must run on the executors' Python from that archive, and a Worker SIGKILLed mid-search
(with its executor) must lose no trial."""
import glob
import json
import os
import subprocess
import sys
import time

import pytest

from benchmarks.servers import StandaloneCluster
from conftest import wait_until

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "tests", "standalone_app.py")
EXECUTOR_PACKAGES = ["hyperopt", "cloudpickle", "networkx", "numpy", "scipy", "tqdm",
                     "tenacity"]
"""What an executor imports besides hyperspark (pyspark comes with Spark itself)."""


def run(*command, cwd=None, timeout=600):
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
    return done


@pytest.fixture(scope="module")
def packed_env(tmp_path_factory):
    """The recipe's first step: a venv with hyperspark's wheel, packed by venv-pack. (The
    recipe installs the wheel with its dependencies; here the executor's share of them, so
    the archive is 90 MB, not 1 GB.)"""
    folder = tmp_path_factory.mktemp("packed")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder / "wheels"),
        ROOT)
    wheel = glob.glob(str(folder / "wheels" / "hyperspark-*.whl"))[0]
    run(sys.executable, "-m", "venv", str(folder / "env"))
    run(str(folder / "env" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
        wheel, *EXECUTOR_PACKAGES)
    run(sys.executable, "-m", "venv_pack", "-p", str(folder / "env"), "-o",
        str(folder / "env.tar.gz"), "--compress-level", "1")
    return folder / "env.tar.gz"


def count_done(progress):
    return sum(name.startswith("done-") for name in os.listdir(progress))


def just_started_in(progress, session, within_s):
    """Whether an attempt started less than ``within_s`` ago in ``session`` is running
    (see tests/standalone_app.py's markers)."""
    for name in os.listdir(progress):
        try:
            path = progress / name
            if (name.startswith("running-") and path.read_text() == str(session)
                    and time.time() - path.stat().st_mtime < within_s):
                return True
        except FileNotFoundError:  # it ended meanwhile
            continue
    return False


def test_spark_submit_with_a_packed_env_on_standalone_loses_no_trial_to_a_dead_worker(
        tmp_path, packed_env):
    cluster = StandaloneCluster(tmp_path, cores=1, memory="1g", workers=2).start()
    progress = tmp_path / "progress"
    progress.mkdir()
    max_evals, sleep_s = 24, 1.0
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_EXPERIMENT_ID",
                                                           "SPARK_REMOTE")}
    env.update(PYSPARK_DRIVER_PYTHON=sys.executable,  # the driver runs this venv's Python,
               PYSPARK_PYTHON="./environment/bin/python",  # executors the archive's
               SPARK_LOCAL_IP="127.0.0.1")
    started = time.monotonic()
    try:
        submit = subprocess.Popen(
            [os.path.join(cluster.spark_home, "bin", "spark-submit"), "--master",
             cluster.master_url, "--archives", f"{packed_env}#environment",
             "--conf", "spark.executor.memory=512m", "--conf", "spark.ui.enabled=false",
             "--conf", "spark.driver.host=127.0.0.1", APP, str(max_evals), str(sleep_s), "2",
             str(progress)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert wait_until(lambda: count_done(progress) >= max_evals // 3, 240, every_s=0.2), \
            "the search did not get going"
        # a third of the trials done, kill the second Worker (and its executor) while a trial
        # has just started on it: killed between two trials, it would take no trial with it
        doomed = cluster.workers[1].pid  # it leads the session its executor's workers are in
        assert wait_until(lambda: just_started_in(progress, doomed, sleep_s / 2), 120,
                          every_s=0.02), \
            ("no trial started on the second Worker", doomed,
             {p.name: p.read_text() for p in progress.iterdir()})
        cluster.kill_worker(1)
        out, err = submit.communicate(timeout=300)
    finally:
        cluster.stop()
    assert submit.returncode == 0, err[-4000:]
    summary = json.loads(out.strip().splitlines()[-1])
    trials = summary["trials"]
    assert sorted(t["tid"] for t in trials) == list(range(max_evals))  # none lost, none twice
    assert all(t["state"] == 2 for t in trials), [t for t in trials if t["state"] != 2]
    assert any(t["attempts"] > 1 for t in trials), "no trial was running on the dead Worker"
    work = str(cluster.work_dir)
    for trial in trials:  # every trial ran on an executor, in the archive's Python
        assert trial["prefix"].startswith(work) and trial["prefix"].endswith(
            "/environment"), trial
        assert trial["python"].endswith("environment/bin/python"), trial
    assert summary["driver_python"] == sys.executable
    print(f"standalone recipe: {max_evals} trials, a Worker killed, "
          f"{time.monotonic() - started:.1f} s")
