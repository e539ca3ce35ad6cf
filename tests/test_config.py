"""Bad input gets a clear error naming the argument."""
import pytest
from hypothesis import given, strategies as st
from hyperopt import hp

from hyperspark import SparkTrials, fmin
from hyperspark import config


@pytest.mark.parametrize("kwargs, error, words", [
    ({"parallelism": 0}, ValueError, "parallelism"),
    ({"parallelism": -3}, ValueError, "parallelism"),
    ({"parallelism": True}, TypeError, "parallelism"),
    ({"parallelism": 2.0}, TypeError, "parallelism"),
    ({"parallelism": "4"}, TypeError, "parallelism"),
    ({"timeout": 0}, ValueError, "timeout"),
    ({"timeout": -1.5}, ValueError, "timeout"),
    ({"timeout": True}, TypeError, "timeout"),
    ({"timeout": "60"}, TypeError, "timeout"),
    ({"timeout": float("nan")}, ValueError, "timeout"),
    ({"trial_timeout": 0}, ValueError, "trial_timeout"),
    ({"trial_timeout": False}, TypeError, "trial_timeout"),
    ({"max_retries": -1}, ValueError, "max_retries"),
    ({"max_retries": 1.5}, TypeError, "max_retries"),
    ({"retry_on": ValueError()}, TypeError, "retry_on"),
    ({"retry_on": (ValueError, "KeyError")}, TypeError, "retry_on"),
    ({"retry_on": "ValueError"}, TypeError, "retry_on"),
    ({"backend": "threads"}, ValueError, "'jobs'"),
    ({"loss_threshold": "0.1"}, TypeError, "loss_threshold"),
    ({"worker_setup": "load_data"}, TypeError, "worker_setup"),
    ({"mlflow_tracking": "yes"}, TypeError, "mlflow_tracking"),
])
def test_constructor_rejects_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        SparkTrials(backend=kwargs.pop("backend", "local"), **kwargs)


def test_retry_on_accepts_one_class_or_several():
    assert SparkTrials(backend="local", retry_on=KeyError).retry_on == (KeyError,)
    assert SparkTrials(backend="local", retry_on=[KeyError, OSError]).retry_on == (KeyError,
                                                                                   OSError)


@pytest.mark.parametrize("max_evals", [None, 0, -2])
def test_max_evals_missing_or_below_one(max_evals):
    with pytest.raises(ValueError, match="max_evals"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=max_evals,
             trials=SparkTrials(backend="local"), show_progressbar=False)


def test_max_queue_len_checked():
    with pytest.raises(ValueError, match="max_queue_len"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=2, max_queue_len=0,
             trials=SparkTrials(backend="local"), show_progressbar=False)


def test_fmin_timeout_checked():
    with pytest.raises(ValueError, match="timeout"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=2, timeout=-1,
             trials=SparkTrials(backend="local"), show_progressbar=False)


def test_points_to_evaluate_with_unknown_label():
    with pytest.raises(ValueError, match=r"points_to_evaluate\[1\].*'y'"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=3,
             points_to_evaluate=[{"x": 0.5}, {"y": 1.0}], trials=SparkTrials(backend="local"),
             show_progressbar=False)


def test_env_flag():
    assert config.env_flag("HYPERSPARK_TEST_UNSET_FLAG", True) is True


@given(st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                 st.text(max_size=3)))
def test_positive_int_check_accepts_exactly_positive_ints(value):
    good = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if good:
        assert config.check_positive_int("parallelism", value) == value
    else:
        with pytest.raises((TypeError, ValueError), match="parallelism"):
            config.check_positive_int("parallelism", value)


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                 st.text(max_size=3)))
def test_positive_number_check_accepts_exactly_positive_finite_numbers(value):
    good = (isinstance(value, (int, float)) and not isinstance(value, bool)
            and value == value and 0 < value < float("inf"))
    if good:
        assert config.check_positive_number("timeout", value) == float(value)
    else:
        with pytest.raises((TypeError, ValueError), match="timeout"):
            config.check_positive_number("timeout", value)
