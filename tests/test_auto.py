"""hyperspark.auto: its rule, and the record of which algorithm made each trial (in the trial
documents, on MLflow's child runs, on the page). On the local backend: no Spark needed."""
import numpy as np
import pytest
from hyperopt import Domain, Trials, fmin, hp
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import auto
from hyperspark.page import from_trials
from hyperspark.record import TrialRecord
from hyperspark.space import Space

NUMBERS = {"x": hp.uniform("x", 0, 1), "lr": hp.loguniform("lr", -5, 0)}
CATEGORIES = {f"c{i}": hp.choice(f"c{i}", ["a", "b", "c"]) for i in range(5)}


@pytest.mark.parametrize("space,made,expected", [
    (NUMBERS, 0, "gp"), (NUMBERS, auto.GP_UNTIL - 1, "gp"), (NUMBERS, auto.GP_UNTIL, "tpe"),
    (CATEGORIES, 10, "gp"), ({**CATEGORIES, "x": hp.uniform("x", 0, 1)}, 10, "gp"),
    ({"k": hp.choice("k", [{"a": hp.uniform("a", 0, 1)}, {"b": hp.normal("b", 0, 1)}])}, 10,
     "tpe"),
    ({"x": hp.uniform("x", 0, 1), "k": hp.choice("k", [{"a": hp.uniform("a", 0, 1)}, "none"])},
     10, "tpe"),
])
def test_the_rule_reads_the_space_and_the_number_of_trials(space, made, expected):
    algorithm, reason = auto.decide(Space.from_expr(space), made)
    assert algorithm == expected and reason


def test_a_space_the_gp_cannot_model_goes_to_tpe():
    assert auto.decide(None, 3) == ("tpe", "a space the GP cannot model")


def test_several_losses_or_constraints_go_to_tpe():
    from hyperspark.objectives import Objectives

    space = Space.from_expr(NUMBERS)
    assert auto.decide(space, 50, Objectives(("error", "size")))[0] == "tpe"
    assert auto.decide(space, 50, Objectives((), ("memory",)))[0] == "tpe"
    assert auto.decide(space, 50, Objectives())[0] == "gp"  # one loss, as hyperopt knows it


def test_each_trial_says_which_algorithm_made_it(monkeypatch):
    monkeypatch.setattr(auto, "GP_UNTIL", 12)  # the hand-over, within a small search
    trials = Trials()
    fmin(lambda p: (p["x"] - 0.3) ** 2 + p["lr"], NUMBERS, algo=auto.suggest, max_evals=16,
         trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    made_by = [TrialRecord.from_doc(doc).suggested_by for doc in trials.trials]
    assert made_by == ["gp"] * 12 + ["tpe"] * 4


def test_the_tag_on_mlflow_and_the_page(mlflow_store):
    trials = hyperspark.SparkTrials(backend="local", parallelism=2)
    hyperspark.fmin(lambda p: p["x"] + p["lr"], NUMBERS, algo=auto.suggest, max_evals=6,
                    trials=trials, show_progressbar=False, rstate=np.random.default_rng(0))
    client = MlflowClient(mlflow_store)
    parent = client.get_run(trials.run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{trials.run_id}'")
    assert len(children) == 6
    assert {c.data.tags.get("hyperspark.suggested_by") for c in children} == {"gp"}
    assert from_trials(trials)["trials"]["suggested_by"] == ["gp"] * 6


def test_a_resumed_trial_keeps_who_made_it():
    from hyperspark import record

    trials = Trials()
    domain = Domain(lambda p: 0.0, NUMBERS)
    doc = auto.suggest([0], domain, trials, seed=0)[0]
    record.reset_for_rerun(doc)  # what a resume does to a trial that was running
    assert TrialRecord.from_doc(doc).suggested_by == "gp" and TrialRecord.from_doc(doc).resumed
