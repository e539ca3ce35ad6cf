"""A driver process for tests that need their own SparkContext (a ``local-cluster`` or a
standalone master): runs one search and prints a JSON summary as its last line.

    python cluster_driver.py MASTER BACKEND MAX_EVALS SLEEP_S EXECUTORS [KILL_EXECUTOR_AFTER]

MASTER may be ``sc://host:port``: the search then runs on a Spark Connect session to that
server (the caller checks the server's running jobs itself).

With KILL_EXECUTOR_AFTER, once that many trials have finished, the executor JVM running a trial
at that moment is SIGKILLed (each trial leaves a file named after its executor's pid in a folder while it runs).
"""
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time

from hyperopt import hp, rand

import hyperspark
from executor_probe import executor_jvm_pid, ship_by_value

ship_by_value()


def hyperspark_threads() -> list:
    return [t.name for t in threading.enumerate() if t.name.startswith("hyperspark")]


class ExecutorKiller(hyperspark.search.Listener):
    """Kills a busy executor once ``after`` trials have finished; remembers the point ``x`` of
    the trial that was running there (busy markers are named ``<executor pid>-<x>``).

    The search loop calls listeners on its own thread, so the wait for a busy executor happens
    on a thread of the killer's own: waiting in ``trial_ended`` would stop the loop from
    starting the very trials it waits for."""

    def __init__(self, busy_dir: str, after: int) -> None:
        self.busy_dir, self.after, self.killed, self.hit_x = busy_dir, after, None, None
        self._armed = threading.Event()
        threading.Thread(target=self._kill_when_busy, daemon=True, name="killer").start()

    def trial_ended(self, doc, progress) -> None:
        if progress.finished >= self.after:
            self._armed.set()

    def _kill_when_busy(self) -> None:
        self._armed.wait()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            young = [name for name in os.listdir(self.busy_dir) if self._age_s(name) < 0.4]
            if young:  # its trial has most of its sleep ahead: the kill lands mid-trial
                pid, x = young[0].split("-", 1)
                self.hit_x, self.killed = float(x), int(pid)
                os.kill(self.killed, signal.SIGKILL)
                return
            time.sleep(0.02)

    def _age_s(self, name: str) -> float:
        try:
            return time.time() - os.stat(os.path.join(self.busy_dir, name)).st_mtime
        except FileNotFoundError:  # that trial just ended
            return float("inf")


def main() -> None:
    master, backend, max_evals, sleep_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        float(sys.argv[4])
    executors = int(sys.argv[5])
    kill_after = int(sys.argv[6]) if len(sys.argv) > 6 else None
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    connect = master.startswith("sc://")
    if connect:
        spark = SparkSession.builder.remote(master).getOrCreate()
        from hyperspark.backends.spark import runner_for

        deadline = time.monotonic() + 120  # executors register a few seconds after the server
        while runner_for(spark).task_slots() < executors:
            if time.monotonic() > deadline:
                raise SystemExit("executors did not register within 120 s")
            time.sleep(0.5)
    else:
        spark = (SparkSession.builder.master(master).appName("hyperspark-cluster-test")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1")
                 .config("spark.executor.memory", "512m")
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        deadline = time.monotonic() + 120  # executors register a few seconds after the session
        while spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < executors + 1:
            if time.monotonic() > deadline:
                raise SystemExit("executors did not register within 120 s")
            time.sleep(0.5)

    busy_dir = tempfile.mkdtemp(prefix="busy-executors-")

    def objective(params):
        try:
            pid = executor_jvm_pid()
        except RuntimeError:  # an actor's worker whose JVM this test just killed: it can
            pid = None        # outlive it a moment and take a trial; nothing to mark then
        marker = os.path.join(busy_dir, f"{pid}-{params['x']!r}")
        if pid is not None:
            open(marker, "w").close()
        time.sleep(sleep_s)
        if pid is not None:
            os.unlink(marker)
        return params["x"]

    killer = ExecutorKiller(busy_dir, kill_after) if kill_after else None
    trials = hyperspark.SparkTrials(parallelism=2, backend=backend, spark_session=spark,
                                    max_retries=3)
    trials.fmin(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest,
                max_evals=max_evals, show_progressbar=False,
                listeners=[killer] if killer else [])
    tracker = trials.last_tracker
    ended = time.monotonic()
    while hyperspark_threads() and time.monotonic() < ended + 10:  # actors wind down async
        time.sleep(0.1)
    active = [] if connect else spark.sparkContext.statusTracker().getActiveJobsIds()
    threads = hyperspark_threads()
    print(json.dumps({
        "killed_executor": killer.killed if killer else None,
        "hit_tid": next((d["tid"] for d in trials._dynamic_trials
                         if killer and d["misc"]["vals"]["x"] == [killer.hit_x]), None),
        "parent_run_id": tracker.parent_run_id if tracker else None,
        "tracking_uri": tracker.tracking_uri if tracker else None,
        "active_jobs": list(active), "hyperspark_threads": threads,
        "trials": [{"tid": d["tid"], "state": d["state"],
                    "attempts": d["misc"].get("hyperspark", {}).get("attempts"),
                    "error": d["result"].get("error")}
                   for d in trials._dynamic_trials]}))
    spark.stop()


if __name__ == "__main__":
    main()
