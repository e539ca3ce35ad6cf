"""A driver process for the gang-trial tests (tests/test_gang.py): one session on MASTER
(``local-cluster[2,2,1024]``: 4 task slots on two executor JVMs, or ``sc://...``: a Connect
server in front of one), several searches of trials of 2 tasks, one JSON line per scenario.

    python gang_driver.py MASTER WORK_DIR SCENARIO [SCENARIO ...]

Each objective leaves what it saw in its result (rank 0's) and in files under WORK_DIR, so
the test can check ranks, timing and which Python workers are still alive.
"""
import json
import logging
import os
import signal
import sys
import threading
import time

from hyperopt import hp, rand

import hyperspark
from executor_probe import executor_jvm_pid, ship_by_value

ship_by_value()
SPACE = {"x": hp.uniform("x", 0, 0.9)}
MARKED = 0.95
"""A point inserted first: the trial at it misbehaves (hangs, fails, or is killed)."""


def session(master):
    from pyspark.sql import SparkSession

    if master.startswith("sc://"):
        spark = SparkSession.builder.remote(master).getOrCreate()
    else:
        spark = (SparkSession.builder.master(master).appName("hyperspark-gang-test")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1")
                 .config("spark.executor.memory", "512m")
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
    APP_ID["id"] = (spark.conf.get("spark.app.id") if master.startswith("sc://")
                    else spark.sparkContext.applicationId)
    from hyperspark.backends.spark import runner_for

    deadline = time.monotonic() + 120  # executors register a few seconds after the session
    while runner_for(spark).task_slots() < 4:
        if time.monotonic() > deadline:
            raise SystemExit("4 task slots did not register within 120 s")
        time.sleep(0.5)
    return spark


APP_ID = {}
"""The application id of this process's cluster (set by ``session``): other tests' clusters
run executors on this machine at the same time, and they come and go."""


def executor_pids():
    """The executor JVMs of this cluster now (each is started with ``--app-id <its app>``)."""
    mine = APP_ID["id"].encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    words = handle.read().split(b"\0")
            except OSError:
                continue
            if b"org.apache.spark.executor.CoarseGrainedExecutorBackend" in words and mine in words:
                found.append(int(name))
    return sorted(found)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def summary(trials, **extra):
    return {"trials": [
        {"tid": d["tid"], "state": d["state"], "status": hyperspark.record.classify(d).value,
         "attempts": d["misc"].get("hyperspark", {}).get("attempts"),
         "error": d["result"].get("error"),
         "traceback": d["misc"].get("hyperspark", {}).get("traceback"),
         "seen": d["result"].get("seen"), "start": d["result"].get("start"),
         "end": d["result"].get("end"),
         "duration": (d["misc"].get("hyperspark", {}).get("end") or 0) -
         (d["misc"].get("hyperspark", {}).get("start") or 0)}
        for d in trials._dynamic_trials], **extra}


def search(spark, objective, max_evals, marked=False, **kwargs):
    trials = hyperspark.SparkTrials(spark_session=spark, tasks_per_trial=2,
                                    mlflow_tracking=kwargs.pop("mlflow_tracking", False),
                                    **{"parallelism": 2, **kwargs})
    if marked:
        trials.insert_points(SPACE, [{"x": MARKED}])
    hyperspark.fmin(objective, SPACE, algo=rand.suggest, max_evals=max_evals, trials=trials,
                    show_progressbar=False, return_argmin=False,
                    rstate=__import__("numpy").random.default_rng(0))
    return trials


# ---------------------------------------------------------------- scenarios
def ranks(spark, work):
    """Who the ranks are, what all_gather returns, and two trials side by side; tracked."""
    def objective(params):
        ctx = hyperspark.trial_context()
        start = time.time()
        seen = ctx.all_gather({"rank": ctx.rank, "world": ctx.world_size, "pid": os.getpid(),
                               "master": [ctx.master_addr, ctx.master_port],
                               "addresses": list(ctx.addresses), "array": [ctx.rank] * 3})
        ctx.barrier()
        time.sleep(1.5)
        return {"loss": params["x"], "status": "ok", "seen": seen, "start": start,
                "end": time.time()}

    trials = search(spark, objective, 4, mlflow_tracking=True)
    tracker = trials.last_tracker
    return summary(trials, parent_run_id=tracker.parent_run_id if tracker else None,
                   tracking_uri=tracker.tracking_uri if tracker else None)


def queue(spark, work):
    """parallelism 3 x 2 tasks on 4 slots: at most 2 trials at once, waiting is not running."""
    def objective(params):
        start = time.time()
        hyperspark.trial_context().barrier()
        time.sleep(2.0)
        return {"loss": params["x"], "status": "ok", "start": start, "end": time.time()}

    trials = search(spark, objective, 6, parallelism=3, trial_timeout=3.5)
    return summary(trials)


def wide(spark, work):
    """A trial of 5 tasks on 4 slots: refused by name before anything runs."""
    try:
        hyperspark.SparkTrials(spark_session=spark, tasks_per_trial=5, parallelism=1,
                               mlflow_tracking=False).fmin(
            lambda p: 0.0, SPACE, algo=rand.suggest, max_evals=1, show_progressbar=False)
    except hyperspark.InvalidArgument as exc:
        return {"refused": str(exc)}
    return {"refused": None}


def hang(spark, work):
    """Rank 1 of the marked trial hangs; rank 0 waits for it in a barrier. trial_timeout ends
    both ranks' Python workers, and no executor dies."""
    def objective(params):
        ctx = hyperspark.trial_context()
        if params["x"] == MARKED:
            with open(os.path.join(work, f"hang-{ctx.rank}"), "w") as handle:
                handle.write(str(os.getpid()))
            if ctx.rank == 1:
                time.sleep(600)
        ctx.barrier()
        time.sleep(0.5)
        return params["x"]

    before = executor_pids()
    trials = search(spark, objective, 5, marked=True, trial_timeout=4)
    pids = [int(open(os.path.join(work, f"hang-{rank}")).read()) for rank in (0, 1)]
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return summary(trials, hung_alive=[alive(pid) for pid in pids],
                   executors_before=before, executors_after=executor_pids())


def rank_fails(spark, work):
    """Rank 1 of the marked trial raises while rank 0 waits for it in an all_gather: the
    trial fails at once, naming rank 1, and the search goes on."""
    def objective(params):
        ctx = hyperspark.trial_context()
        if params["x"] == MARKED and ctx.rank == 1:
            time.sleep(0.5)
            raise ValueError("rank 1 cannot train at this point")
        ctx.all_gather(params["x"])
        time.sleep(0.3)
        return params["x"]

    before = executor_pids()
    trials = search(spark, objective, 5, marked=True, trial_timeout=120)
    return summary(trials, executors_before=before, executors_after=executor_pids())


def prune(spark, work):
    """Rank 0 reports; the pruner stops the marked trial; rank 1, waiting in an all_gather,
    is stopped with it."""
    def objective(params):
        ctx = hyperspark.trial_context()
        loss = 10.0 if params["x"] == MARKED else params["x"]
        for step in range(1, 30):
            ctx.all_gather(step)
            hyperspark.report(loss, step=step)  # counts on rank 0 only
            time.sleep(0.1)
        return loss

    before = executor_pids()
    trials = search(spark, objective, 4, marked=True,
                    pruner=hyperspark.pruners.Threshold(upper=5.0), trial_timeout=60)
    return summary(trials, executors_before=before, executors_after=executor_pids())


def kill_executor(spark, work):
    """An executor JVM running a rank is SIGKILLed mid-trial: every trial ends once."""
    busy = os.path.join(work, "busy")
    os.makedirs(busy, exist_ok=True)

    def objective(params):
        try:
            pid = executor_jvm_pid()
        except RuntimeError:  # a rank starting as its JVM was killed: its Python worker is
            time.sleep(60)  # an orphan that pyspark's daemon kills at once; not the objective
        marker = os.path.join(busy, f"{pid}-{params['x']!r}-{hyperspark.trial_context().rank}")
        open(marker, "w").close()
        time.sleep(1.5)
        os.unlink(marker)
        return params["x"]

    killed = {}

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for name in os.listdir(busy):
                try:
                    young = time.time() - os.stat(os.path.join(busy, name)).st_mtime < 0.5
                except FileNotFoundError:
                    continue
                if young and len(os.listdir(busy)) >= 2:
                    pid, x, _ = name.split("-")
                    killed.update(pid=int(pid), x=float(x))
                    os.kill(int(pid), signal.SIGKILL)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    trials = search(spark, objective, 8, max_retries=3)
    thread.join(1)
    hit = next((d["tid"] for d in trials._dynamic_trials
                if d["misc"]["vals"]["x"] == [killed.get("x")]), None)
    return summary(trials, killed=killed.get("pid"), hit_tid=hit)


def everything_else(spark, work):
    """Checkpoints and resume, reproducible mode, worker_setup and the page, with trials of 2
    tasks: a search of 4, then the same checkpoint resumed to 6."""
    def setup():
        return {"ready": True}

    def objective(params):
        ctx = hyperspark.trial_context()
        state = hyperspark.worker_state()
        seen = ctx.all_gather(bool(state and state.get("ready")))
        return {"loss": params["x"], "status": "ok", "seen": seen}

    path = os.path.join(work, "search.ckpt")
    rounds = []
    for max_evals in (4, 6):
        trials = hyperspark.SparkTrials(spark_session=spark, tasks_per_trial=2, parallelism=2,
                                        reproducible=True, checkpoint=path,
                                        worker_setup=setup, mlflow_tracking=False)
        hyperspark.fmin(objective, SPACE, max_evals=max_evals, trials=trials,
                        show_progressbar=False, rstate=__import__("numpy").random.default_rng(7))
        rounds.append(summary(trials, points=[d["misc"]["vals"]["x"][0]
                                              for d in trials._dynamic_trials]))
    page = trials.to_html(os.path.join(work, "search.html"))
    return {"rounds": rounds, "page_bytes": os.path.getsize(page),
            "settings": trials.last_settings.get("tasks_per_trial")}


def main():
    master, work, scenarios = sys.argv[1], sys.argv[2], sys.argv[3:]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spark = session(master)
    for name in scenarios:
        scenario_dir = os.path.join(work, name)
        os.makedirs(scenario_dir, exist_ok=True)
        started = time.monotonic()
        result = globals()[name](spark, scenario_dir)
        result.update(scenario=name, seconds=time.monotonic() - started)
        print(json.dumps(result), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
