"""The event loop, driven through SparkTrials(backend="local"): no Spark, milliseconds per test."""
import logging
import os
import re
import signal
import threading
import time

import hyperopt
import numpy as np
import pytest
from hyperopt import hp, rand, tpe
from hyperopt.early_stop import no_progress_loss
from hyperopt.exceptions import AllTrialsFailed
from hypothesis import given, settings, strategies as st

from hyperspark import AllTrialsFailedError, ObjectiveNotSerializable, SparkTrials, fmin
from hyperspark import search as hyperspark_search
from hyperspark.backends.local import LocalBackend
from hyperspark.retries import AttemptLost
from hyperspark.serialization import dumps_objective
from hyperopt.base import Domain

SPACE = hp.uniform("x", 0, 1)


def run(objective, *, max_evals=10, trials=None, **kwargs):
    if trials is None:
        trials = SparkTrials(backend="local", parallelism=kwargs.pop("parallelism", 2))
    kwargs.setdefault("algo", rand.suggest)
    kwargs.setdefault("show_progressbar", False)
    kwargs.setdefault("space", SPACE)
    best = fmin(objective, max_evals=max_evals, trials=trials, **kwargs)
    return best, trials


class Recorder:
    """Wraps an algorithm; records what each suggestion call was asked and could see."""

    def __init__(self, algo=rand.suggest):
        self.algo, self.asked, self.seen_finished, self.seen_open = algo, [], [], []
        self.seen_tids = []

    def __call__(self, new_ids, domain, trials, seed):
        self.asked.append(len(new_ids))
        self.seen_finished.append(sum(d["state"] == 2 for d in trials.trials))
        self.seen_open.append(sum(d["state"] in (0, 1) for d in trials.trials))
        self.seen_tids.append([d["tid"] for d in trials.trials])
        return self.algo(new_ids, domain, trials, seed)


def test_runs_max_evals_and_finds_the_minimum():
    best, trials = run(lambda x: (x - 0.3) ** 2, max_evals=60, algo=tpe.suggest,
                       rstate=__import__("numpy").random.default_rng(0))
    assert trials.count_successful_trials() == 60 == trials.count_total_trials()
    assert abs(best["x"] - 0.3) < 0.1
    assert trials.fmin_cancelled_reason is None
    assert len(trials.trials) == len(trials.results) == len(trials.losses()) == 60
    assert trials.best_trial["result"]["loss"] == min(trials.losses())
    assert trials.argmin == best and set(trials.vals) == {"x"}


def test_drop_in_for_hyperopt_fmin_with_return_argmin_false():
    space = {"act": hp.choice("act", ["relu", "tanh"]), "x": SPACE}
    trials = SparkTrials(backend="local", parallelism=2)
    point = hyperopt.fmin(lambda p: p["x"] + (p["act"] == "relu"), space, algo=rand.suggest,
                          max_evals=12, trials=trials, return_argmin=False,
                          show_progressbar=False)
    assert point["act"] in ("relu", "tanh") and 0 <= point["x"] <= 1
    assert trials.count_successful_trials() == 12


def test_queue_never_holds_more_than_max_queue_len():
    algo = Recorder()
    queued_at_start = []

    class Watch(LocalBackend):
        def start(self, tid, spec):
            queued_at_start.append(sum(1 for d in trials._dynamic_trials if d["state"] == 0))
            super().start(tid, spec)

    trials = SparkTrials(backend=Watch(), parallelism=2)
    run(lambda x: time.sleep(0.002) or x, max_evals=30, trials=trials, algo=algo,
        max_queue_len=3)
    # points for the free slots, and max_queue_len - 1 = 2 ahead of them
    assert max(algo.asked) <= 2 + 2 and sum(algo.asked) >= 30
    assert max(queued_at_start) <= 2 + 2
    assert sorted(d["tid"] for d in trials._dynamic_trials) == list(range(30))


def test_at_parallelism_one_each_suggestion_sees_every_result_before_it():
    algo = Recorder()
    run(lambda x: x, max_evals=15, algo=algo, parallelism=1)
    # the serial algorithm: call k is made once trial k - 1 has finished
    assert algo.seen_finished == list(range(15)) and set(algo.seen_open) == {0}


def test_the_algorithm_sees_running_trials_in_tid_order_as_hyperopt_shows_them():
    algo = Recorder()
    run(lambda x: time.sleep(0.02) or x, max_evals=24, algo=algo, parallelism=4)
    assert max(algo.seen_open) >= 3  # the running ones (and queued points) are shown
    assert all(tids == sorted(tids) for tids in algo.seen_tids)
    assert all(len(tids) == len(set(tids)) for tids in algo.seen_tids)


def test_an_algorithm_that_uses_fewer_ids_than_it_was_given_leaves_no_gap():
    from hyperopt import tpe as hyperopt_tpe  # it returns one document whatever it is given

    _, trials = run(lambda x: x, max_evals=30, algo=hyperopt_tpe.suggest, parallelism=8,
                    max_queue_len=4)
    assert sorted(d["tid"] for d in trials._dynamic_trials) == list(range(30))


def test_at_parallelism_one_the_search_is_hyperopts_serial_search():
    """Same seed, same algorithm: hyperspark's loop at parallelism 1 proposes exactly the
    points hyperopt's own serial fmin proposes, and early_stop_fn sees the same trials."""
    import numpy as np

    space = {"x": hp.uniform("x", -2, 2), "c": hp.choice("c", [0, hp.uniform("y", 0, 1)])}
    seen = {"hyperopt": [], "hyperspark": []}

    def stop_fn(name):
        def early_stop(trials, *args):
            seen[name].append([(d["tid"], d["result"]["loss"]) for d in trials.trials])
            return False, args
        return early_stop

    plain = hyperopt.Trials()
    hyperopt.fmin(lambda p: p["x"] ** 2, space, algo=tpe.suggest, max_evals=30, trials=plain,
                  rstate=np.random.default_rng(5), show_progressbar=False,
                  early_stop_fn=stop_fn("hyperopt"))
    ours = SparkTrials(backend="local", parallelism=1)
    hyperopt.fmin(lambda p: p["x"] ** 2, space, algo=tpe.suggest, max_evals=30, trials=ours,
                  rstate=np.random.default_rng(5), show_progressbar=False,
                  early_stop_fn=stop_fn("hyperspark"))
    assert [d["misc"]["vals"] for d in ours.trials] == [d["misc"]["vals"] for d in plain.trials]
    assert seen["hyperspark"] == seen["hyperopt"]


def test_never_more_than_parallelism_trials_at_once():
    changed, running, peak = threading.Condition(), [0], [0]

    def objective(x):
        with changed:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            changed.notify_all()
            changed.wait_for(lambda: peak[0] >= 3, timeout=10)  # however slowly trials start
        time.sleep(0.01)
        with changed:
            running[0] -= 1
        return x

    run(objective, max_evals=12, parallelism=3)
    assert peak[0] == 3


def test_parallelism_trimmed_to_max_evals():
    _, trials = run(lambda x: x, max_evals=3, parallelism=16)
    assert trials.actual_parallelism == 3


RELEASE = threading.Event()


def slow_when_flagged(params):
    if params["slow"]:
        RELEASE.wait(20)
    return params["x"]


FLAGGED_SPACE = {"slow": hp.choice("slow", [False, True]), "x": SPACE}


def test_trial_timeout_cancels_that_trial_alone():
    trials = SparkTrials(backend="local", parallelism=2, trial_timeout=0.3)
    began = time.monotonic()
    try:
        run(slow_when_flagged, trials=trials, max_evals=6, space=FLAGGED_SPACE,
            points_to_evaluate=[{"slow": 1, "x": 0.5}, {"slow": 0, "x": 0.1}],
            algo=Recorder(lambda ids, d, t, s: [dict(doc, misc=dict(
                doc["misc"], vals={"slow": [0], "x": [0.2]})) for doc in rand.suggest(
                ids, d, t, s)]))
    finally:
        RELEASE.set()
        RELEASE.clear()
    assert time.monotonic() - began < 15  # not the 20 s the slow trial would take
    frame = trials.to_pandas().set_index("tid")
    assert frame.loc[0, "state"] == "cancelled" and "trial_timeout" in frame.loc[0, "error"]
    assert (frame.drop(index=0)["state"] == "done").all()
    assert trials.count_cancelled_trials() == 1 and trials.count_successful_trials() == 5
    assert trials.fmin_cancelled_reason is None


def test_global_timeout_cancels_running_and_keeps_finished():
    def objective(x):
        if x > 0.5:
            RELEASE.wait(20)
        return x

    trials = SparkTrials(backend="local", parallelism=2, timeout=2)
    began = time.monotonic()
    try:
        best, _ = run(objective, trials=trials, max_evals=200,
                      points_to_evaluate=[{"x": 0.1}, {"x": 0.2}])  # surely two fast ones
    finally:
        RELEASE.set()
        RELEASE.clear()
    assert time.monotonic() - began < 10
    assert trials.fmin_cancelled_reason == "fmin run timeout"
    assert trials.count_successful_trials() >= 1 and trials.count_cancelled_trials() >= 1
    assert best["x"] == trials.argmin["x"] <= 0.5
    assert all(d["state"] in (2, 3, 4) for d in trials._dynamic_trials)


def test_fmin_timeout_and_constructor_timeout_smaller_wins():
    trials = SparkTrials(backend="local", parallelism=1, timeout=100)
    began = time.monotonic()
    run(lambda x: time.sleep(0.05) or x, trials=trials, max_evals=10_000, timeout=0.3)
    assert time.monotonic() - began < 5 and trials.fmin_cancelled_reason == "fmin run timeout"


def test_timeout_without_max_evals_runs_until_deadline():
    trials = SparkTrials(backend="local", parallelism=2, timeout=1.5)
    run(lambda x: time.sleep(0.01) or x, trials=trials, max_evals=None)
    assert trials.count_successful_trials() > 2
    assert trials.fmin_cancelled_reason == "fmin run timeout"


def test_constructor_loss_threshold_is_honoured():
    trials = SparkTrials(backend="local", parallelism=1, loss_threshold=0.2)
    run(lambda x: x, trials=trials, max_evals=500, rstate=__import__("numpy").random.default_rng(1))
    assert trials.count_total_trials() < 500
    assert min(trials.losses()) < 0.2 and trials.fmin_cancelled_reason == "loss_threshold reached"


def test_fmin_loss_threshold_overrides_constructor():
    trials = SparkTrials(backend="local", parallelism=1, loss_threshold=-1.0)
    run(lambda x: x, trials=trials, max_evals=500, loss_threshold=0.3)
    assert trials.count_total_trials() < 500 and min(trials.losses()) < 0.3


def test_early_stop_fn_stops_and_sees_finished_trials_only():
    seen_states = []

    def stop_fn(trials, *args):
        seen_states.extend(d["state"] for d in trials.trials)
        return no_progress_loss(5)(trials, *args)

    def objective(x):
        if x < 0.1:
            raise ValueError("fails sometimes")
        return 1.0  # never improves

    _, trials = run(objective, max_evals=500, early_stop_fn=stop_fn)
    assert trials.fmin_cancelled_reason == "early_stop_fn asked to stop"
    assert trials.count_total_trials() < 50
    assert set(seen_states) == {2}  # JOB_STATE_DONE only


def test_early_stop_fn_error_is_raised_and_results_kept():
    def stop_fn(trials, *args):
        raise RuntimeError("my stop function is broken")

    trials = SparkTrials(backend="local", parallelism=1)
    with pytest.raises(RuntimeError, match="broken"):
        run(lambda x: x, trials=trials, max_evals=20, early_stop_fn=stop_fn)
    assert trials.count_successful_trials() >= 1


def test_user_errors_retried_only_when_listed(counter_dir):
    def flaky(x):
        calls = len(os.listdir(counter_dir))
        open(counter_dir / f"call{calls}", "w").close()
        if calls < 2:
            raise ConnectionError("database not ready")
        return x

    trials = SparkTrials(backend=LocalBackend(backoff_s=0.001), parallelism=1,
                         retry_on=ConnectionError, max_retries=2)
    run(flaky, trials=trials, max_evals=1)
    assert trials.to_pandas().loc[0, "attempts"] == 3 and trials.count_successful_trials() == 1

    for name in os.listdir(counter_dir):
        os.remove(counter_dir / name)
    trials = SparkTrials(backend="local", parallelism=1, max_retries=2)
    with pytest.raises(AllTrialsFailedError, match="database not ready"):
        run(flaky, trials=trials, max_evals=1)
    row = trials.to_pandas().loc[0]
    assert row["attempts"] == 1 and row["state"] == "error"
    assert "ConnectionError" in trials._dynamic_trials[0]["misc"]["hyperspark"]["traceback"]


class LosesFirstAttempt(LocalBackend):
    def call_worker(self, tid, spec, attempt, env):
        if attempt == 1:
            raise AttemptLost("executor lost (simulated)")
        return super().call_worker(tid, spec, attempt, env)


class BrokenBackend(LocalBackend):
    def call_worker(self, tid, spec, attempt, env):
        raise RuntimeError("a bug in the backend")


def test_backend_bug_fails_the_trial_instead_of_hanging():
    trials = SparkTrials(backend=BrokenBackend(), parallelism=2)
    with pytest.raises(AllTrialsFailedError, match="a bug in the backend"):
        run(lambda x: x, trials=trials, max_evals=3)


@pytest.mark.parametrize("max_retries, state, attempts", [(1, "done", 2), (0, "error", 1)])
def test_lost_attempts_retried_up_to_max_retries(max_retries, state, attempts):
    trials = SparkTrials(backend=LosesFirstAttempt(backoff_s=0.001), parallelism=2,
                         max_retries=max_retries)
    try:
        run(lambda x: x, trials=trials, max_evals=4)
    except AllTrialsFailedError as exc:
        assert "executor lost" in str(exc) and state == "error"
    frame = trials.to_pandas()
    assert (frame["state"] == state).all() and (frame["attempts"] == attempts).all()
    assert len(frame) == 4  # retries make attempts, never more trials


def test_all_trials_failed_error_shows_tracebacks():
    def broken(x):
        return {"loss": x}  # no status

    trials = SparkTrials(backend="local", parallelism=2)
    with pytest.raises(AllTrialsFailedError) as info:
        run(broken, trials=trials, max_evals=5)
    assert isinstance(info.value, AllTrialsFailed)  # hyperopt's own type still catches it
    assert "all 5 trial(s) failed" in str(info.value) and "'status'" in str(info.value)
    assert trials.count_failed_trials() == 5


def test_invalid_results_fail_their_trial_only():
    def objective(x):
        return float("nan") if x < 0.3 else x

    _, trials = run(objective, max_evals=30, rstate=__import__("numpy").random.default_rng(3))
    assert trials.count_failed_trials() >= 1
    assert trials.count_failed_trials() + trials.count_successful_trials() == 30
    errors = trials.to_pandas().dropna(subset=["error"])["error"]
    assert errors.str.contains("finite").all()


RESULTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.none(),
    st.text(max_size=3), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["loss", "status", "other"]),
                    st.one_of(st.floats(allow_nan=True), st.text(max_size=3),
                              st.sampled_from(["ok", "fail"])), max_size=3))


@settings(max_examples=40, deadline=None)
@given(st.lists(RESULTS, min_size=1, max_size=8))
def test_any_result_ends_its_trial_and_never_the_loop(results):
    """Whatever the objective returns, each trial gets a final state and the search finishes."""
    space = hp.choice("i", list(range(len(results))))
    trials = SparkTrials(backend="local", parallelism=2, mlflow_tracking=False)
    try:
        fmin(lambda i: results[i], space, algo=rand.suggest, max_evals=len(results),
             trials=trials, show_progressbar=False,
             points_to_evaluate=[{"i": i} for i in range(len(results))])
    except AllTrialsFailed:
        pass  # every result was unusable: raised after the search, with all trials recorded
    docs = {d["misc"]["vals"]["i"][0]: d for d in trials._dynamic_trials}
    assert sorted(docs) == list(range(len(results)))
    for i, doc in docs.items():
        assert doc["state"] in (2, 3)
        if doc["state"] == 3:
            assert doc["result"]["status"] == "fail" and doc["result"]["error"]
        elif doc["result"]["status"] == "ok":
            assert doc["result"]["loss"] == doc["result"]["loss"]  # not NaN


def test_second_fmin_continues_to_new_max_evals():
    trials = SparkTrials(backend="local", parallelism=2, timeout=1.0)
    run(lambda x: time.sleep(0.03) or x, trials=trials, max_evals=10_000)
    first = trials.count_total_trials()
    trials.timeout = None
    run(lambda x: x, trials=trials, max_evals=first + 7)
    assert trials.count_total_trials() == first + 7
    assert len({d["tid"] for d in trials._dynamic_trials}) == first + 7


def test_points_to_evaluate_run_first_and_count_toward_max_evals():
    points = [{"x": 0.11}, {"x": 0.22}, {"x": 0.33}]
    _, trials = run(lambda x: x, max_evals=8, points_to_evaluate=points)
    assert trials.count_total_trials() == 8
    assert [d["misc"]["vals"]["x"][0] for d in trials._dynamic_trials[:3]] == [0.11, 0.22, 0.33]
    assert all(d["state"] == 2 for d in trials._dynamic_trials[:3])


def test_unpicklable_objective_names_the_culprit():
    lock = threading.Lock()

    def objective(x):
        with lock:
            return x

    with pytest.raises(ObjectiveNotSerializable, match="captured variable 'lock'"):
        dumps_objective(Domain(objective, SPACE), objective)


def test_algorithm_running_out_of_points_ends_the_search():
    def three_only(new_ids, domain, trials, seed):
        return [] if len(trials.trials) >= 3 else rand.suggest(new_ids, domain, trials, seed)

    _, trials = run(lambda x: x, max_evals=50, algo=three_only, parallelism=1)
    assert 3 <= trials.count_total_trials() < 50
    assert trials.fmin_cancelled_reason == "the algorithm has no more points to suggest"


def test_algorithm_error_is_raised_with_results_kept():
    def breaks_later(new_ids, domain, trials, seed):
        if len(trials.trials) >= 2:
            raise ZeroDivisionError("algorithm bug")
        return rand.suggest(new_ids, domain, trials, seed)

    trials = SparkTrials(backend="local", parallelism=1)
    with pytest.raises(ZeroDivisionError):
        run(lambda x: x, trials=trials, max_evals=10, algo=breaks_later)
    assert trials.count_successful_trials() >= 2


def test_ctrl_c_cancels_running_trials_and_raises_quickly():
    trials = SparkTrials(backend="local", parallelism=2)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            run(lambda x: RELEASE.wait(20) or x, trials=trials, max_evals=10)
    finally:
        timer.cancel()
        RELEASE.set()
        RELEASE.clear()
    assert time.monotonic() - began < 5
    assert trials.count_cancelled_trials() == 2
    assert all(d["state"] == 4 for d in trials._dynamic_trials)
    assert trials.fmin_cancelled_reason.startswith("interrupted")


def test_to_pandas_has_one_row_per_trial_with_resolved_params():
    space = {"act": hp.choice("act", ["relu", "tanh"]), "x": SPACE}
    _, trials = run(lambda p: p["x"], max_evals=6, space=space)
    frame = trials.to_pandas()
    assert list(frame.columns) == ["tid", "state", "status", "loss", "params", "start", "end",
                                   "duration", "waited", "attempts", "reports", "error",
                                   "error_type", "traceback"]
    assert len(frame) == 6 and (frame["duration"] >= 0).all()
    assert all(row["act"] in ("relu", "tanh") for row in frame["params"])
    assert frame["error"].isna().all() and frame["traceback"].isna().all()


def failing_half(x):
    if x > 0.5:
        raise KeyError(f"no model for x={x:.2f}")
    return x ** 2


def test_to_pandas_has_the_type_and_traceback_of_each_failure_and_a_summary_line(caplog):
    caplog.set_level(logging.INFO, logger="hyperspark")
    _, trials = run(failing_half, max_evals=12, rstate=np.random.default_rng(2))
    frame = trials.to_pandas()
    failed = frame[frame["status"] == "error"].set_index("tid")
    assert len(failed) > 0 and (frame["status"] == "ok").any()
    assert set(failed["error_type"]) == {"KeyError"}
    for _, row in failed.iterrows():
        assert row["error"].startswith("'no model for x=")
        assert row["traceback"].startswith("Traceback (most recent call last):")
        assert "in failing_half" in row["traceback"] and __file__ in row["traceback"]
        assert row["traceback"].rstrip().endswith(f"KeyError: {row['error']}")
    ok = frame[frame["status"] == "ok"]
    assert ok["error_type"].isna().all() and ok["traceback"].isna().all()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if w.startswith("trial ")]) == 1  # the first failure only
    summary = [w for w in warnings if "trials failed" in w]
    assert len(summary) == 1
    found = re.fullmatch(r"(\d+) of 12 trials failed; the first \(trial (\d+)\): KeyError: "
                         r"(.*) \(every error and traceback: trials.to_pandas\(\)\)", summary[0])
    assert found, summary
    assert int(found.group(1)) == len(failed)
    assert found.group(3) == failed.loc[int(found.group(2)), "error"]


def test_progress_bar_and_summary_line(capsys, caplog):
    caplog.set_level(logging.INFO, logger="hyperspark")
    run(lambda x: x, max_evals=5, show_progressbar=True)
    assert "hyperspark" in capsys.readouterr().err
    assert any("5 trials: 5 succeeded, 0 failed, 0 cancelled in" in r.message
               for r in caplog.records)


class SlowToStart(LocalBackend):
    """Each attempt waits ``delay`` before its objective starts, as a trial waits in Spark's
    queue or for a Python worker: that time must not count against trial_timeout."""

    delay = 0.6

    def call_worker(self, tid, spec, attempt, env):
        time.sleep(self.delay)
        return super().call_worker(tid, spec, attempt, env)


class PhaseWatch(hyperspark_search.Listener):
    def __init__(self):
        self.seen = []

    def trial_started(self, doc, progress):
        self.seen.append(("started", doc["tid"], progress.running, progress.waiting))

    def trial_running(self, doc, progress):
        self.seen.append(("running", doc["tid"], progress.running, progress.waiting))


def test_trial_timeout_starts_when_the_objective_does():
    trials = SparkTrials(backend=SlowToStart(), parallelism=2, trial_timeout=0.4)
    watch = PhaseWatch()

    def objective(x):
        if x > 0.5:
            time.sleep(5)  # runs past its 0.4 s
        time.sleep(0.1)  # waited 0.6 s, ran 0.1 s: inside its 0.4 s
        return x

    trials.insert_points(SPACE, [{"x": 0.1}, {"x": 0.9}])
    trials.fmin(objective, SPACE, algo=rand.suggest, max_evals=2, show_progressbar=False,
                listeners=[watch])
    frame = trials.to_pandas().set_index("tid")
    assert frame.loc[0, "state"] == "done"
    assert frame.loc[1, "state"] == "cancelled" and "trial_timeout" in frame.loc[1, "error"]
    waited = [d["misc"]["hyperspark"]["waited"] for d in trials._dynamic_trials]
    assert all(w >= SlowToStart.delay * 0.9 for w in waited), waited
    # both handed over at once (waiting 1, then 2); each counted running when it started
    assert watch.seen[:2] == [("started", 0, 0, 1), ("started", 1, 0, 2)]
    assert sorted(entry[2] + entry[3] for entry in watch.seen[2:]) == [2, 2]
    assert {entry[1] for entry in watch.seen[2:]} == {0, 1}


class SlowToReturn(LocalBackend):
    """The objective returns at once, and its outcome takes ``delay`` to reach the driver, as a
    Spark task's result does on a loaded cluster. ``says_returned``: the worker says when its
    objective returned (the jobs backend's channel does), or not."""

    delay = 0.6

    def __init__(self, says_returned):
        super().__init__()
        self.says_returned = says_returned

    def call_worker(self, tid, spec, attempt, env):
        outcome = super().call_worker(tid, spec, attempt, env)
        if self.says_returned:
            self.returned(self._states[tid], attempt)
        time.sleep(self.delay)
        return outcome


@pytest.mark.parametrize("says_returned, state", [(True, "done"), (False, "cancelled")])
def test_trial_timeout_stops_when_the_objective_returns(says_returned, state):
    """Only the objective's own time counts: once its worker says it returned, a slow way back
    never cancels the trial; without that word, the clock runs until the outcome arrives."""
    trials = SparkTrials(backend=SlowToReturn(says_returned), parallelism=2, trial_timeout=0.3)
    try:
        trials.fmin(lambda x: x, SPACE, algo=rand.suggest, max_evals=2, show_progressbar=False)
    except AllTrialsFailed:  # every trial cancelled, as the control case expects
        pass
    assert (trials.to_pandas()["state"] == state).all()


def test_no_success_return_argmin_false_like_hyperopt():
    """None when hyperopt's fmin counts no trial (all failed or cancelled); an error when a
    trial returned status 'fail' (hyperopt's argmin raises there too)."""
    trials = SparkTrials(backend="local", parallelism=2, trial_timeout=0.2)
    trials.insert_points(SPACE, [{"x": 0.1}, {"x": 0.9}])
    best = hyperopt.fmin(lambda x: 1 / 0 if x < 0.5 else time.sleep(3), SPACE,
                         algo=rand.suggest, max_evals=2, trials=trials, show_progressbar=False,
                         return_argmin=False)
    assert best is None
    assert trials.count_failed_trials() == 1 and trials.count_cancelled_trials() == 1
    with pytest.raises(AllTrialsFailed):
        hyperopt.fmin(lambda x: {"status": "fail"}, SPACE, algo=rand.suggest, max_evals=2,
                      trials=SparkTrials(backend="local"), show_progressbar=False,
                      return_argmin=False)


def test_worker_setup_runs_once_and_every_trial_thread_sees_it():
    """On the local (and driver) backend, trials run on several threads of this process: the
    setup runs once per search, and each trial reads its value."""
    import hyperspark

    calls = []

    def setup():
        calls.append(threading.get_ident())
        return {"data": 41}

    def objective(params):
        return hyperspark.worker_state()["data"] + params["x"]

    trials = SparkTrials(backend="local", parallelism=2, worker_setup=setup,
                         mlflow_tracking=False)
    hyperopt.fmin(objective, {"x": hp.choice("x", [1])}, algo=rand.suggest, max_evals=6,
                  trials=trials, show_progressbar=False)
    assert len(calls) == 1
    assert sorted(trials.losses()) == [42] * 6
