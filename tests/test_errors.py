"""One root for hyperspark's errors, each also the built-in users caught before; one summary
line for any exception."""
import hyperopt.exceptions
import pytest
from hypothesis import given, strategies as st

import hyperspark
from hyperspark import errors
from hyperspark.errors import summarize


def test_every_error_has_the_root_and_is_exported():
    found = [value for value in vars(errors).values()
             if isinstance(value, type) and issubclass(value, Exception)
             and value.__module__ == errors.__name__]
    assert len(found) >= 8
    for error in found:
        assert issubclass(error, hyperspark.HypersparkError), error
        assert getattr(hyperspark, error.__name__) is error, f"{error.__name__} not exported"


def test_errors_keep_the_builtin_users_caught_before():
    assert issubclass(hyperspark.AllTrialsFailedError, hyperopt.exceptions.AllTrialsFailed)
    assert issubclass(hyperspark.ObjectiveNotSerializable, TypeError)
    assert issubclass(hyperspark.CheckpointMismatch, ValueError)
    assert issubclass(hyperspark.InvalidArgument, ValueError)
    assert issubclass(hyperspark.InvalidArgumentType, TypeError)


def test_bad_arguments_raise_the_root_and_name_the_argument():
    with pytest.raises(hyperspark.HypersparkError, match="parallelism"):
        hyperspark.SparkTrials(backend="local", parallelism=0)
    with pytest.raises(hyperspark.InvalidArgument, match="backend must be one of"):
        hyperspark.SparkTrials(backend="threads")


@pytest.mark.parametrize("exc, expected", [
    (TimeoutError(), "TimeoutError"),
    (ValueError(""), "ValueError"),
    (ValueError("   \n  "), "ValueError"),
    (KeyError("k"), "KeyError: 'k'"),
    (RuntimeError("first\nsecond"), "RuntimeError: first"),
    (RuntimeError("py4j said:\norg.apache.spark.SparkException: Job aborted\n\tat x"),
     "RuntimeError: org.apache.spark.SparkException: Job aborted"),
])
def test_summary_is_one_telling_line(exc, expected):
    assert summarize(exc) == expected


class _BrokenStr(Exception):
    def __str__(self):
        raise RuntimeError("no text")


@given(st.text(), st.integers(min_value=8, max_value=400))
def test_summary_never_fails_and_stays_short(message, limit):
    for exc in (Exception(message), OSError(message), _BrokenStr(message)):
        line = summarize(exc, limit=limit)
        assert line and "\n" not in line
        assert len(line) <= limit + len(type(exc).__name__) + 2
