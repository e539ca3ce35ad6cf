"""What a new user meets in the first hour, checked on the local backend (no Spark: the
answers do not depend on where trials run): a space refused before the first trial, the
types fmin returns, failures that read well, and the run id of a search in a script."""
import logging
import re

import hyperopt
import numpy as np
import pytest
from hyperopt import hp
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import AllTrialsFailedError, InvalidArgument, SparkTrials


def local(**kwargs):
    kwargs.setdefault("mlflow_tracking", False)
    return SparkTrials(backend="local", parallelism=2, **kwargs)


# ---------------------------------------------------------------- the space, checked first
@pytest.mark.parametrize("space,words", [
    ({"x": hp.uniform}, ["space['x'] is the function hp.uniform itself",
                         "hp.uniform('x', low, high)"]),
    ({"model": {"depth": hp.choice}}, ["space['model']['depth']", "hp.choice('depth', "]),
    ({"x": (-1, 1)}, ["no hyperopt parameter", "did you mean hp.uniform('x', -1, 1)"]),
    ({"act": ["relu", "tanh"]}, ["no hyperopt parameter",
                                 "did you mean hp.choice('act', ['relu', 'tanh'])"]),
    (3.0, ["no hyperopt parameter"]),
])
@pytest.mark.parametrize("entry", ["SparkTrials", "hyperspark.fmin"])
def test_a_space_without_parameters_is_refused_before_any_trial(space, words, entry):
    calls = []

    def objective(params):
        calls.append(params)
        return 0.0

    with pytest.raises(InvalidArgument) as info:
        if entry == "SparkTrials":
            hyperopt.fmin(objective, space, algo=hyperspark.tpe.suggest, max_evals=3,
                          trials=local(), show_progressbar=False)
        else:
            hyperspark.fmin(objective, space, max_evals=3, trials=hyperopt.Trials(),
                            show_progressbar=False)
    for word in words:
        assert word in str(info.value)
    assert calls == []


def test_a_space_with_parameters_and_constants_is_fine():
    best = hyperspark.fmin(lambda p: p["x"] ** 2 + p["c"], {"x": hp.uniform("x", -1, 1),
                                                           "c": 1.0, "pair": (1, 2)},
                           max_evals=3, trials=local(), show_progressbar=False)
    assert set(best) == {"x"}


# ---------------------------------------------------------------- the types fmin returns
@pytest.mark.parametrize("algo", [hyperopt.tpe.suggest, hyperopt.rand.suggest,
                                  hyperspark.tpe.suggest])
def test_fmin_returns_python_numbers(algo):
    space = {"x": hp.uniform("x", -5, 5), "k": hp.choice("k", ["a", "b"]),
             "n": hp.randint("n", 1, 9)}
    trials = local()
    best = hyperopt.fmin(lambda p: p["x"] ** 2, space, algo=algo, max_evals=5, trials=trials,
                         show_progressbar=False, rstate=np.random.default_rng(0))
    assert {k: type(v) for k, v in best.items()} == {"x": float, "k": int, "n": int}
    resolved = hyperopt.fmin(lambda p: p["x"] ** 2, space, algo=algo, max_evals=6,
                             trials=trials, show_progressbar=False, return_argmin=False)
    assert {k: type(v) for k, v in resolved.items()} == {"x": float, "k": str, "n": int}


# ---------------------------------------------------------------- failures read well
def bad_status(x):
    return {"status": "done", "loss": x}


def test_an_invalid_result_names_the_objective_and_offers_ok_or_fail():
    trials = local()
    with pytest.raises(AllTrialsFailedError) as info:
        hyperspark.fmin(bad_status, hp.uniform("x", 0, 1), max_evals=2, trials=trials,
                        show_progressbar=False)
    text = str(info.value)
    line = bad_status.__code__.co_firstlineno
    assert f'File "{__file__}", line {line}, in bad_status' in text
    assert "def bad_status(x):" in text
    assert "result status 'done' is not 'ok' or 'fail'" in text
    frame = trials.to_pandas()["traceback"].iloc[0]
    assert f'line {line}, in bad_status' in frame


def missing_loss(x):
    return {"status": "ok"}


def test_a_missing_loss_names_the_objective_too():
    trials = local()
    with pytest.raises(AllTrialsFailedError, match="must have a 'loss'") as info:
        hyperspark.fmin(missing_loss, hp.uniform("x", 0, 1), max_evals=1, trials=trials,
                        show_progressbar=False)
    assert f"line {missing_loss.__code__.co_firstlineno}, in missing_loss" in str(info.value)


def test_all_trials_failed_shows_the_first_failures_traceback_once(caplog):
    def objective(x):
        if x > 0.5:
            raise KeyError("another kind")
        raise ValueError(" ".join(["the", "one", "message"]))  # not in the source line

    with caplog.at_level(logging.INFO, logger="hyperspark"), \
            pytest.raises(AllTrialsFailedError) as info:
        hyperspark.fmin(objective, hp.uniform("x", 0, 1), max_evals=6, trials=local(),
                        show_progressbar=False,
                        points_to_evaluate=[{"x": 0.1}, {"x": 0.2}, {"x": 0.9}])
    text = "".join(__import__("traceback").format_exception(info.value))
    assert text.count("the one message") == 1, text  # one traceback, then one line a kind
    assert text.count("Traceback (most recent call last)") == 2  # the error's own, and the
    assert "trial 0 (1 attempt, user)" in text  # first failure's: trial 0, the lowest tid
    assert re.search(r"\d more: trials? [\d, ]+: KeyError: 'another kind'", text), text
    # the log's "first" is the same trial, whatever order the trials ended in
    ended = [r.getMessage() for r in caplog.records if "trials failed; the first" in r.getMessage()]
    assert ended and "the first (trial 0)" in ended[0]


# ---------------------------------------------------------------- the run id in a script
def test_run_id_is_the_parent_run_of_the_last_search(mlflow_store):
    trials = local(mlflow_tracking=None)
    assert trials.run_id is None
    assert "run_id=None" in repr(trials) and "no trials" in repr(trials)
    hyperspark.fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), max_evals=3, trials=trials,
                    show_progressbar=False)
    run = MlflowClient(mlflow_store).get_run(trials.run_id)
    assert trials.run_id == trials.last_tracker.parent_run_id
    assert run.data.tags["hyperspark.search_id"] == trials.last_search_id
    assert repr(trials) == (f"SparkTrials(backend='local', parallelism=2, trials=3 (3 ok), "
                            f"run_id='{trials.run_id}')")
    experiment = MlflowClient(mlflow_store).get_experiment(run.info.experiment_id).name
    assert repr(trials.last_tracker).startswith(
        f"MlflowTracker(run_id='{trials.run_id}', experiment='{experiment}', search_id=")
    untracked = local()
    hyperspark.fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), max_evals=2, trials=untracked,
                    show_progressbar=False)
    assert untracked.run_id is None


def test_the_tracker_links_to_its_runs_in_the_ui(mlflow_store):
    trials = local(mlflow_tracking=None)
    hyperspark.fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), max_evals=2, trials=trials,
                    show_progressbar=False)
    tracker = trials.last_tracker
    assert tracker.ui_link() is None  # a sqlite store has no UI until `mlflow ui` serves it
    link = tracker.ui_link("http://127.0.0.1:5000/")
    experiment = tracker.experiment_id
    assert link == (f"http://127.0.0.1:5000/#/experiments/{experiment}/runs?searchFilter="
                    f"tags.%60hyperspark.search_id%60%20%3D%20%27{trials.last_search_id}%27")
