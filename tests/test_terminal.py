"""What a person sees in a real terminal: a search in a pseudo-terminal of 80 columns, its
output rendered by a VT100 emulator (pyte) into the screen a person would read.

Each search runs in its own Python process, as a user's script does (the terminal is its
stdin, stdout and stderr), with the window size set: tqdm draws nothing in a pty of width 0.
"""
from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import textwrap
import time

import pyte
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

COLUMNS = 80


def run_in_terminal(script: str, cwd, columns: int = COLUMNS, within_s: float = 300) -> str:
    """Run ``script`` with a pty as its terminal (``columns`` wide); returns all it wrote."""
    path = os.path.join(cwd, "script.py")
    with open(path, "w") as handle:
        handle.write(textwrap.dedent(script))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlflow.db",
           "TERM": "xterm", "COLUMNS": str(columns)}
    for name in ("HYPERSPARK_QUIET", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME",
                 "MLFLOW_RUN_ID"):  # the script's own store and experiment, as a user's
        env.pop(name, None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, path], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    output = b""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    text = output.decode("utf-8", errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    return text


def screen_of(output: str, columns: int = COLUMNS) -> list:
    """The lines a terminal of ``columns`` columns shows after ``output`` (long lines wrap)."""
    screen = pyte.Screen(columns, 400)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n").replace("\r\r\n", "\r\n"))
    return [line.rstrip() for line in screen.display if line.strip()]


def test_log_lines_go_through_the_bar_and_the_bar_keeps_what_matters_in_80_columns(tmp_path):
    """On a session hyperspark makes, with the application showing INFO (as the demo does):
    lines logged while the bar is drawn (MLflow's, at the search's start) leave no stale copy
    of the bar; the one bar left starts with done/total, the best loss and the failures, and
    fits the width."""
    output = run_in_terminal("""
        import logging, time
        import numpy as np
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        from hyperopt import hp
        from hyperspark import SparkTrials, fmin

        def objective(x):
            time.sleep(0.2)
            if x < 0:
                raise ValueError("x too small")
            return (x - 1) ** 2

        trials = SparkTrials(parallelism=2)
        fmin(objective, hp.uniform("x", -5, 5), max_evals=12, trials=trials,
             rstate=np.random.default_rng(0))
        logging.getLogger("hyperspark").info("done: run %s, %d failed", trials.run_id,
                                             trials.count_failed_trials())
    """, tmp_path)
    lines = screen_of(output)
    bars = [line for line in lines if line.startswith("hyperspark ") and "|" in line]
    assert len(bars) == 1, "\n".join(lines)
    bar = bars[0]
    assert len(bar) <= COLUMNS, bar
    assert bar.startswith("hyperspark 12/12 best "), "\n".join(lines)
    done = [line for line in lines if "done: run" in line][0]
    failed = int(done.split(", ")[-1].split()[0])
    assert 0 < failed < 12  # the seed gives both: a best loss and failures
    assert f"{failed} failed |" in bar  # both before the bar itself, never cut
    screen = "\n".join(lines)
    # lines logged while the bar was drawn (each failure, at the moment it happened) show
    # whole, above the bar; the line logged after the search, below it
    mid_search = [i for i, line in enumerate(lines)
                  if line.startswith("hyperspark: trial ") and "failed (user): ValueError" in line]
    assert len(mid_search) == failed, screen
    assert max(mid_search) < lines.index(bar) < lines.index(done), screen
    assert not any(" WARN " in line for line in lines), screen  # Spark's own


def test_hyperspark_causes_no_spark_warn_line_on_the_users_session(tmp_path):
    """On a session the user made (Spark logs WARN to the console), nothing hyperspark does
    (the jobs backend's probe and groups, the actors' start and stop) logs a Spark WARN."""
    output = run_in_terminal("""
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        from hyperopt import hp
        from hyperspark import SparkTrials, fmin

        for backend in ("jobs", "actors"):
            trials = SparkTrials(parallelism=2, backend=backend, mlflow_tracking=False)
            fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), max_evals=4, trials=trials,
                 show_progressbar=False)
        print("searches done")
        spark.stop()
    """, tmp_path)
    assert "searches done" in output
    warnings = [line for line in output.splitlines() if " WARN " in line]
    assert not [line for line in warnings if "hyperspark" in line or "job group" in line], \
        "\n".join(warnings)
