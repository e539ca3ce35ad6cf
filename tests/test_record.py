"""One classification of a trial (``record.TrialStatus``), read the same way by every report:
the progress counts, the summary line, ``to_pandas()``, MLflow and the counting methods."""
import logging
import time

import mlflow
import pytest
from hyperopt import base, hp, rand
from mlflow.tracking import MlflowClient

from hyperspark import SparkTrials, fmin
from hyperspark.record import TrialRecord, TrialStatus, classify

SPACE = hp.choice("case", ["ok", "fail", "raise", "hang"])


def objective(case):
    if case == "fail":
        return {"status": "fail", "loss": 5.0}
    if case == "raise":
        raise ValueError("raised on purpose")
    if case == "hang":
        for _ in range(600):  # ends when cancelled (the local backend interrupts the thread)
            time.sleep(0.05)
    return {"status": "ok", "loss": 1.0}


def test_every_report_classifies_each_outcome_the_same_way(mlflow_store, caplog):
    mlflow.set_tracking_uri(mlflow_store)
    experiment_id = mlflow.set_experiment(f"statuses-{time.time_ns()}").experiment_id
    trials = SparkTrials(backend="local", parallelism=4, trial_timeout=1.0,
                         mlflow_tracking=True)
    cases = ["ok", "fail", "raise", "hang", "ok"]
    with caplog.at_level(logging.INFO, logger="hyperspark"):
        fmin(objective, SPACE, algo=rand.suggest, max_evals=5, trials=trials,
             points_to_evaluate=[{"case": ["ok", "fail", "raise", "hang"].index(c)}
                                 for c in cases], show_progressbar=False)
    expected = ["ok", "failed", "error", "timed_out", "ok"]

    # the record of each document
    docs = sorted(trials._dynamic_trials, key=lambda d: d["tid"])
    assert [classify(d).value for d in docs] == expected
    records = [TrialRecord.from_doc(d) for d in docs]
    assert records[1].error and records[2].failure_kind == "user"
    assert "trial_timeout" in records[3].cancel_reason
    assert all(r.attempts >= 1 and r.booked is not None for r in records)

    # to_pandas: the status column is the classification
    frame = trials.to_pandas().set_index("tid")
    assert list(frame["status"]) == expected
    assert list(frame["state"]) == ["done", "done", "error", "cancelled", "done"]

    # the counting methods: hyperopt's meaning for count_failed_trials, the split beside it
    assert trials.count_successful_trials() == 2
    assert trials.count_failed_trials() == 1  # raised only, as hyperopt counts
    assert trials.count_cancelled_trials() == 1
    assert trials.status_counts() == {"ok": 2, "pruned": 0, "failed": 1, "error": 1,
                                      "timed_out": 1, "cancelled": 0}

    # the summary line (the bar shows the same four counts)
    summary = [r.message for r in caplog.records if "trials:" in r.message][-1]
    assert ("5 trials: 2 succeeded, 2 failed (1 returned status 'fail'), 1 cancelled "
            "(1 timed out)") in summary

    # MLflow: the parent's counts and each child run
    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.last_tracker.parent_run_id)
    metrics = parent.data.metrics
    assert (metrics["successful_trials_count"], metrics["failed_trials_count"],
            metrics["cancelled_trials_count"], metrics["total_trials_count"]) == (2, 2, 1, 5)
    children = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_tid = {int(c.data.tags["trial_id"]): c for c in children}
    assert [by_tid[t].data.tags["hyperspark_status"] for t in range(5)] == expected
    assert [by_tid[t].info.status for t in range(5)] == ["FINISHED", "FAILED", "FAILED",
                                                         "KILLED", "FINISHED"]


@pytest.mark.parametrize("state, result, info, status", [
    (base.JOB_STATE_NEW, {"status": "new"}, {}, TrialStatus.NEW),
    (base.JOB_STATE_RUNNING, {"status": "new"}, {}, TrialStatus.RUNNING),
    (base.JOB_STATE_DONE, {"status": "ok", "loss": 1.0}, {}, TrialStatus.OK),
    (base.JOB_STATE_DONE, {"status": "ok", "loss": 1.0, "pruned": True}, {},
     TrialStatus.PRUNED),
    (base.JOB_STATE_DONE, {"status": "fail", "pruned": True}, {}, TrialStatus.PRUNED),
    (base.JOB_STATE_DONE, {"status": "fail"}, {}, TrialStatus.FAILED),
    (base.JOB_STATE_ERROR, {"status": "fail", "error": "x"}, {"error_kind": "user"},
     TrialStatus.ERROR),
    (base.JOB_STATE_CANCEL, {"status": "fail"}, {"timed_out": True}, TrialStatus.TIMED_OUT),
    (base.JOB_STATE_CANCEL, {"status": "fail"}, {"cancel_reason": "stop"},
     TrialStatus.CANCELLED),
])
def test_record_round_trips_through_a_document(state, result, info, status):
    doc = {"tid": 7, "state": state, "result": result,
           "misc": {"vals": {"x": [0.5]}, "hyperspark": dict(info, attempts=2, waited=0.25,
                                                             start=1.0, end=3.0)}}
    record = TrialRecord.from_doc(doc)
    assert record.status is status and record.tid == 7 and record.duration == 2.0
    copy = {"tid": 7, "state": state, "result": result, "misc": {"vals": {"x": [0.5]}}}
    record.into(copy)
    assert TrialRecord.from_doc(copy) == record
    assert (status.counted_as is None) == (status in (TrialStatus.NEW, TrialStatus.RUNNING))
