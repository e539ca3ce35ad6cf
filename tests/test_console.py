"""What a person sees on the console, in a fresh process as they would run it: warnings reach
stderr when the application set up no logging (and only then), a search with failures ends on
one line that names the first error, a session hyperspark starts is quiet, and a failed
trial's traceback names the user's own file."""
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
import sys
{setup}
from hyperopt import fmin, hp, tpe
from hyperspark import SparkTrials

def helper(x):
    if x > 0.5:
        raise ValueError("x is too large for this model")
    return x

def objective(x):
    return helper(x)

trials = SparkTrials(backend="local", parallelism=2, mlflow_tracking=False)
fmin(objective, hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=12, trials=trials,
     show_progressbar=False, rstate=__import__("numpy").random.default_rng(3))
print("FAILED", trials.count_failed_trials())
"""


def run(script, tmp_path, env=None, timeout=240):
    path = tmp_path / "user_search.py"
    path.write_text(textwrap.dedent(script))
    clean = {k: v for k, v in os.environ.items()
             if k not in ("HYPERSPARK_QUIET", "MLFLOW_EXPERIMENT_ID", "SPARK_REMOTE")}
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env={**clean, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr, path


def failed_count(stdout):
    return int(stdout.split("FAILED", 1)[1].split()[0])


def test_warnings_reach_stderr_when_logging_is_not_configured(tmp_path):
    out, err, _ = run(SCRIPT.format(setup=""), tmp_path)
    failed = failed_count(out)
    assert failed > 0
    lines = [line for line in err.splitlines() if line.strip()]
    per_trial = [line for line in lines if line.startswith("hyperspark: trial ")]
    assert len(per_trial) == 1, lines  # the first failure, not one line per failure
    assert "ValueError: x is too large for this model" in per_trial[0]
    summary = [line for line in lines if " trials failed; the first (trial " in line]
    assert len(summary) == 1, lines
    assert summary[0].startswith(f"hyperspark: {failed} of 12 trials failed")
    assert "ValueError: x is too large for this model" in summary[0]
    assert len(lines) == 2, lines  # nothing else: no INFO, no noise


def test_configured_logging_or_the_switch_silences_the_fallback(tmp_path):
    setup = ("import logging; logging.basicConfig(level=logging.WARNING, "
             "format='APP %(levelname)s %(name)s %(message)s')")
    _, err, _ = run(SCRIPT.format(setup=setup), tmp_path)
    assert not [line for line in err.splitlines() if line.startswith("hyperspark:")]
    app = [line for line in err.splitlines() if line.startswith("APP WARNING hyperspark")]
    assert len(app) == 2, err  # the application's handler shows them, once each

    _, err, _ = run(SCRIPT.format(setup=""), tmp_path, env={"HYPERSPARK_QUIET": "1"})
    assert err.strip() == ""


@pytest.mark.spark
@pytest.mark.slow
def test_a_session_hyperspark_starts_is_quiet_and_tracebacks_name_the_users_file(tmp_path):
    """A script that lets hyperspark start Spark (jobs backend, parallelism above the slots,
    tracked in a new sqlite store): stderr holds hyperspark's two warnings, the failure
    summary, and nothing from Spark, log4j, MLflow or pandas."""
    script = SCRIPT.replace('backend="local", parallelism=2, mlflow_tracking=False',
                            "parallelism=16")
    script = script.replace('print("FAILED"', textwrap.dedent('''
        frame = trials.to_pandas()
        failed = frame[frame.error_type.notna()]
        print("TYPES", sorted(set(failed.error_type)))
        print("TRACEBACK-START")
        print(failed.traceback.iloc[0])
        print("TRACEBACK-END")
        print("FAILED"'''))
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/fresh.db", "HYPERSPARK_MASTER":
           "local[2]"}
    out, err, path = run(script.format(setup=""), tmp_path, env=env)
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("WARNING: Using incubator modules")]
    noise = [line for line in lines if not line.startswith("hyperspark: ")]
    assert noise == [], noise  # no log4j banner, WARN line, [Stage, FutureWarning, MLflow INFO
    said = [line for line in lines if line.startswith("hyperspark: ") and "%|" not in line]
    assert any("parallelism=16 exceeds the 2 task slots" in line for line in said), said
    assert any(" trials failed; the first (trial " in line for line in said), said

    assert "TYPES ['ValueError']" in out
    traceback = out.split("TRACEBACK-START\n", 1)[1].split("TRACEBACK-END", 1)[0]
    assert "<dynamic-code>" not in traceback
    assert f'File "{path}", line' in traceback and "in helper" in traceback
    assert 'raise ValueError("x is too large for this model")' in traceback  # the source line
    assert "hyperspark/worker" not in traceback  # starts at the objective


def test_a_line_logged_while_the_bar_closes_never_deadlocks():
    """Another thread logs without pause while the search's end closes the bar: the lock
    order (a handler's, then tqdm's) holds both ways, so both threads finish. Before, the end
    took a handler's lock while it held tqdm's, and CI saw the search hang there once."""
    import logging
    import threading

    from hyperspark.progress import ProgressReporter
    from hyperspark.search import Progress

    logger = logging.getLogger("hyperspark-test-bar-close")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for _ in range(30):
            reporter = ProgressReporter(total=1, already_done=0, show_bar=True)
            reporter.search_started(None, None)
            stop = threading.Event()

            def spam():
                while not stop.is_set():
                    logger.warning("a line from another thread")

            spammer = threading.Thread(target=spam, daemon=True)
            spammer.start()
            ender = threading.Thread(target=reporter.search_ended,
                                     args=(Progress(), None, None), daemon=True)
            ender.start()
            ender.join(20)
            stop.set()
            spammer.join(20)
            assert not ender.is_alive() and not spammer.is_alive(), "deadlocked"
    finally:
        logger.removeHandler(handler)
