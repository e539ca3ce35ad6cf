"""Reports and pruning without Spark: each pruner's decisions on scripted reports, and the loop
(SparkTrials(backend="local")) turning decisions into pruned trials."""
import logging
import math
import threading
import time

import hyperopt
import numpy as np
import pytest
from hyperopt import hp, rand, tpe

import hyperspark
from hyperspark import InvalidArgument, InvalidArgumentType, SparkTrials, TrialPruned
from hyperspark.pruners import ASHA, History, MedianStopping, Threshold
from hyperspark.reporting import Report

SPACE = hp.uniform("x", 0, 1)


def history_of(*rows):
    """A History from (tid, step, loss) rows, in arrival order."""
    history = History()
    for tid, step, loss in rows:
        history.add(tid, Report(step, loss))
    return history


def decisions(pruner, rows):
    """Feed (tid, step, loss) rows one by one, as the loop does; the decision for each."""
    history, out = History(), []
    for tid, step, loss in rows:
        history.add(tid, Report(step, loss))
        out.append(pruner.should_prune(tid, history))
    return out


# ---------------------------------------------------------------- the pruners alone
def test_asha_keeps_the_best_third_at_each_rung():
    rows = [(0, 1, 0.5), (1, 1, 0.7), (2, 1, 0.4), (3, 1, 0.6),  # rung 1
            (0, 2, 0.45),  # not a rung: no decision
            (0, 3, 0.3), (2, 3, 0.35), (4, 1, 0.1)]
    assert decisions(ASHA(), rows) == [
        False,  # first at rung 1: best of one
        True,   # 0.7 > best of two
        False,  # 0.4 is the best of three
        True,   # four recorded: keep the best ceil(4/3) = 2 (0.4, 0.5); 0.6 is out
        False,
        False,  # first at rung 3
        True,   # 0.35 > 0.3, best of two at rung 3
        False,  # a new best at rung 1
    ]


def test_asha_rungs_and_max_step():
    assert ASHA(min_step=2, reduction_factor=2).rungs_up_to(20) == [2, 4, 8, 16]
    assert ASHA(max_step=9).rungs_up_to(100) == [1, 3]  # no rung at the last step
    # a report past two rungs at once records both; NaN is the worst loss
    assert decisions(ASHA(), [(0, 3, 0.2), (1, 5, math.nan)]) == [False, True]


def test_median_stopping_waits_for_enough_trials_then_compares_best_so_far():
    pruner = MedianStopping(min_trials=3, warmup_steps=1)
    rows = [(t, step, 0.1 * t + 1 / step) for t in range(3) for step in (1, 2, 3)]
    assert decisions(pruner, rows) == [False] * 9  # never three *other* trials
    history = history_of(*rows)
    history.add(3, Report(1, 9.0))
    assert not pruner.should_prune(3, history)  # within its warmup
    history.add(3, Report(2, 0.5))  # others at step 2: 0.5, 0.6, 0.7 -> median 0.6
    assert not pruner.should_prune(3, history)
    history.add(4, Report(2, 0.65))  # 0.65 > median(0.5, 0.6, 0.7, 0.5)
    assert pruner.should_prune(4, history)
    history.add(5, Report(2, 0.55))  # best so far counts: 0.55 < 0.575
    assert not pruner.should_prune(5, history)


def test_threshold_bounds_and_non_finite_losses():
    assert decisions(Threshold(), [(0, 1, 5.0), (1, 1, math.inf), (2, 1, math.nan)]) == [
        False, True, True]
    assert decisions(Threshold(upper=1.0, lower=0.0, warmup_steps=1), [
        (0, 1, 3.0), (0, 2, 3.0), (1, 2, -1.0), (2, 2, 0.5)]) == [False, True, True, False]


@pytest.mark.parametrize("build, message", [
    (lambda: ASHA(reduction_factor=1), "reduction_factor"),
    (lambda: ASHA(min_step=0), "min_step"),
    (lambda: MedianStopping(min_trials=0), "min_trials"),
    (lambda: Threshold(lower=2, upper=1), "lower must be below upper"),
    (lambda: Threshold(upper="1"), "upper must be a number"),
    (lambda: ASHA(grace_s=0), "grace_s"),
    (lambda: SparkTrials(backend="local", pruner="asha"), "should_prune"),
])
def test_bad_pruner_arguments_say_what_is_allowed(build, message):
    with pytest.raises((InvalidArgument, InvalidArgumentType), match=message):
        build()


# ---------------------------------------------------------------- report() itself
def test_report_outside_a_trial_does_nothing_so_one_objective_works_everywhere():
    def objective(x):
        for step in range(3):
            hyperspark.report(x + step, accuracy=0.5)
        return x

    assert hyperspark.report(1.0) is None
    trials = hyperopt.Trials()
    hyperopt.fmin(objective, SPACE, algo=rand.suggest, max_evals=3, trials=trials,
                  show_progressbar=False)
    assert len(trials.trials) == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(loss="0.5"), "loss must be a real number"),
    (dict(loss=0.5, step=-1), "step"),
    (dict(loss=0.5, step=1.5), "step"),
    (dict(loss=0.5, accuracy=None), "accuracy must be a real number"),
])
def test_bad_report_fails_the_trial_with_a_clear_error(kwargs, message):
    trials = SparkTrials(backend="local", parallelism=1, mlflow_tracking=False)
    with pytest.raises(hyperspark.AllTrialsFailedError, match=message):
        hyperspark.fmin(lambda x: hyperspark.report(**kwargs) or x, SPACE, algo=rand.suggest,
                        max_evals=1, trials=trials, show_progressbar=False)


# ---------------------------------------------------------------- the loop
def run(objective, pruner, max_evals=12, parallelism=2, **kwargs):
    trials = SparkTrials(backend="local", parallelism=parallelism, pruner=pruner,
                         mlflow_tracking=False)
    best = hyperspark.fmin(objective, SPACE, algo=kwargs.pop("algo", rand.suggest),
                           max_evals=max_evals, trials=trials, show_progressbar=False,
                           rstate=__import__("numpy").random.default_rng(0), **kwargs)
    return best, trials


def learning_curve(x):
    """Loss x + 1/step over 9 steps: higher x is worse at every step."""
    for step in range(1, 10):
        hyperspark.report(x + 1 / step)
        time.sleep(0.04)  # ample time for the decision to come back before the next report
    return x


def test_cooperative_trial_is_pruned_at_its_next_report_and_recorded_done():
    best, trials = run(learning_curve, Threshold(upper=1.0, warmup_steps=1))
    frame = trials.to_pandas().set_index("tid")
    pruned = [doc for doc in trials.trials if doc["result"].get("pruned")]
    assert pruned and trials.count_pruned_trials() == len(pruned)
    assert trials.count_successful_trials() + len(pruned) == 12 == trials.count_total_trials()
    for doc in pruned:
        result, reports = doc["result"], doc["misc"]["hyperspark"]["reports"]
        assert doc["state"] == hyperopt.JOB_STATE_DONE and result["status"] == "ok"
        assert doc["misc"]["hyperspark"]["pruned_at"] == 2  # the first step past the warmup
        assert len(reports) <= 3  # stopped at its next report (which may have been sent
        # before the decision reached it: at most one more)
        assert result["step"] == reports[-1][0] and result["loss"] == reports[-1][1] > 0.8
        assert frame.loc[doc["tid"], "state"] == "pruned"
    kept = [doc for doc in trials.trials if not doc["result"].get("pruned")]
    assert all(len(doc["misc"]["hyperspark"]["reports"]) == 9 for doc in kept)
    assert best["x"] == min(doc["misc"]["vals"]["x"][0] for doc in kept)


def test_the_algorithm_learns_from_pruned_trials():
    seen = []

    def algo(new_ids, domain, trials, seed):
        seen.append([doc["result"] for doc in trials.trials])
        return tpe.suggest(new_ids, domain, trials, seed, n_startup_jobs=3)

    _, trials = run(learning_curve, ASHA(), max_evals=10, parallelism=1, algo=algo)
    assert trials.count_pruned_trials() > 0
    assert any(result.get("pruned") and result["status"] == "ok" for result in seen[-1])


def test_uncooperative_trial_is_cancelled_after_the_grace_period():
    def objective(x):
        hyperspark.report(5.0 if x < 0.5 else 0.0)
        threading.Event().wait(30)  # never reports again
        return x

    began = time.monotonic()
    _, trials = run(objective, Threshold(upper=1.0, grace_s=0.5), max_evals=4,
                    points_to_evaluate=[{"x": 0.1}, {"x": 0.2}, {"x": 0.3}, {"x": 0.4}])
    assert time.monotonic() - began < 20  # not the 30 s the objective would take
    assert trials.count_pruned_trials() == 4
    for doc in trials.trials:
        assert doc["result"] == {"status": "ok", "loss": 5.0, "pruned": True, "step": 1}


def test_objective_may_raise_trial_pruned_itself():
    def objective(x):
        hyperspark.report(2.0, step=7)
        raise TrialPruned("gave up")

    _, trials = run(objective, None, max_evals=2)
    assert trials.count_pruned_trials() == 2
    assert trials.trials[0]["result"] == {"status": "ok", "loss": 2.0, "pruned": True,
                                          "step": 7}


def test_reports_without_a_pruner_are_kept_and_nothing_is_pruned():
    _, trials = run(learning_curve, None, max_evals=4)
    assert trials.count_pruned_trials() == 0 and trials.count_successful_trials() == 4
    steps = [[row[0] for row in doc["misc"]["hyperspark"]["reports"]] for doc in trials.trials]
    assert steps == [list(range(1, 10))] * 4


def test_a_broken_pruner_never_stops_the_search(caplog):
    class Broken:
        def should_prune(self, tid, history):
            raise RuntimeError("pruner bug")

    with caplog.at_level(logging.WARNING, logger="hyperspark"):
        _, trials = run(learning_curve, Broken(), max_evals=3)
    assert trials.count_successful_trials() == 3 and "pruner bug" in caplog.text


def test_a_retried_attempt_starts_its_reports_over():
    attempts = {}

    def objective(x):
        tid_attempt = attempts.setdefault(x, 0)
        attempts[x] += 1
        hyperspark.report(1.0)
        hyperspark.report(0.9)
        if tid_attempt == 0:
            raise ConnectionError("flaky")
        return 0.5

    trials = SparkTrials(backend="local", parallelism=1, retry_on=[ConnectionError],
                         mlflow_tracking=False)
    hyperspark.fmin(objective, SPACE, algo=rand.suggest, max_evals=1, trials=trials,
                    show_progressbar=False)
    doc = trials.trials[0]
    assert doc["misc"]["hyperspark"]["attempts"] == 2
    assert [row[0] for row in doc["misc"]["hyperspark"]["reports"]] == [1, 2]


def test_checkpoint_resume_keeps_reports_and_decisions(tmp_path):
    path = str(tmp_path / "search.ckpt")

    class Counting(ASHA):
        calls = 0

        def should_prune(self, tid, history):
            Counting.calls += 1
            return super().should_prune(tid, history)

    first = SparkTrials(backend="local", parallelism=1, pruner=ASHA(), checkpoint=path,
                        mlflow_tracking=False)
    # seeded: unseeded, some draws of 6 points have no trial for ASHA to prune (seen in CI)
    hyperspark.fmin(learning_curve, SPACE, algo=rand.suggest, max_evals=6, trials=first,
                    show_progressbar=False, rstate=np.random.default_rng(0))
    kept = {doc["tid"]: (doc["result"], doc["misc"]["hyperspark"]["reports"])
            for doc in first.trials}
    reports = sum(len(rows) for _, rows in kept.values())

    pruner = Counting()
    second = SparkTrials(backend="local", parallelism=1, pruner=pruner, checkpoint=path,
                         mlflow_tracking=False)
    hyperspark.fmin(learning_curve, SPACE, algo=rand.suggest, max_evals=8, trials=second,
                    show_progressbar=False)
    assert {doc["tid"]: (doc["result"], doc["misc"]["hyperspark"]["reports"])
            for doc in second.trials if doc["tid"] in kept} == kept
    assert second.count_pruned_trials() >= first.count_pruned_trials() > 0
    # the saved reports were replayed through the new pruner before new trials reported
    assert Counting.calls >= reports
    rung_1 = list(pruner._rungs[1])  # ASHA's rung 1 holds every kept trial's first report
    for _, rows in kept.values():
        rung_1.remove(rows[0][1])
