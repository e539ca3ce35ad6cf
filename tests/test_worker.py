"""The worker turns everything the objective does into data."""
import math
import os
import pickle

import pytest
from hyperopt import hp
from hyperopt.base import Domain
from hypothesis import given, strategies as st

from hyperspark.outcome import FailureKind
from hyperspark.worker import InvalidResult, normalize_result, run_attempt


class Unpicklable(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.handle = lambda: None  # a lambda attribute: pickle fails on it

    def __reduce__(self):
        raise TypeError("this exception refuses to be pickled")


def test_numbers_become_ok_results():
    assert normalize_result(3) == {"loss": 3.0, "status": "ok"}
    assert normalize_result({"loss": "2.5", "status": "ok", "extra": 1}) == {
        "loss": 2.5, "status": "ok", "extra": 1}
    assert normalize_result({"status": "fail"}) == {"status": "fail"}


@pytest.mark.parametrize("value, words", [
    (float("nan"), "finite"), (float("inf"), "finite"), ({"loss": float("-inf"),
                                                          "status": "ok"}, "finite"),
    ({"loss": "abc", "status": "ok"}, "number"), ({"status": "ok"}, "'loss'"),
    ({"loss": 1.0}, "'status'"), ({"loss": 1.0, "status": "great"}, "status"),
    (None, "NoneType"), ("0.5", "str"), ([1.0], "list"),
])
def test_invalid_results_are_explained(value, words):
    with pytest.raises(InvalidResult, match=words):
        normalize_result(value)


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.none(),
                 st.text(max_size=5), st.dictionaries(st.sampled_from(["loss", "status", "x"]),
                                                      st.one_of(st.floats(), st.text(max_size=4),
                                                                st.sampled_from(["ok", "fail"])))))
def test_normalize_result_never_crashes_otherwise(value):
    try:
        result = normalize_result(value)
    except InvalidResult:
        return
    assert result["status"] in ("ok", "fail", "new", "running", "suspended")
    if result["status"] == "ok":
        assert math.isfinite(result["loss"])


def _domain(fn):
    return Domain(fn, {"x": hp.uniform("x", 0, 1)})


def test_user_exception_returned_with_traceback_even_if_unpicklable():
    def objective(params):
        raise Unpicklable(f"bad point {params['x']}")

    outcome = run_attempt(_domain(objective), {"x": 0.25}, tid=7)
    assert outcome.ok is False and outcome.failure.kind is FailureKind.USER
    assert outcome.failure.error_type.endswith("Unpicklable")
    assert "bad point 0.25" in outcome.failure.message
    assert "in objective" in outcome.failure.traceback
    assert pickle.loads(pickle.dumps(outcome)) == outcome  # the outcome itself always travels


def test_retry_on_marks_outcome_retryable():
    def objective(params):
        raise ConnectionError("flaky")

    assert run_attempt(_domain(objective), {"x": 0.1}, 0, (ConnectionError,)).retryable
    assert not run_attempt(_domain(objective), {"x": 0.1}, 0, (KeyError,)).retryable


def test_trial_environment_is_restored(monkeypatch):
    import os

    monkeypatch.delenv("HS_TEST_VAR", raising=False)
    seen = {}

    def objective(params):
        seen["value"] = os.environ.get("HS_TEST_VAR")
        return 0.0

    assert run_attempt(_domain(objective), {"x": 0.1}, 0, (), {"HS_TEST_VAR": "on"}).ok
    assert seen["value"] == "on" and "HS_TEST_VAR" not in os.environ


def test_overlapping_trials_in_one_process_leave_the_environment_as_it_was(monkeypatch):
    """The local backend runs trials as threads: their environments overlap in os.environ."""
    import threading

    from hyperspark.worker import trial_environment

    monkeypatch.delenv("HYPERSPARK_TEST_VAR", raising=False)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with trial_environment({"HYPERSPARK_TEST_VAR": "1"}):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with trial_environment({"HYPERSPARK_TEST_VAR": "2"}):  # enters after, leaves last
        second_in.set()
        first_out.wait(5)
    thread.join()
    assert "HYPERSPARK_TEST_VAR" not in os.environ
