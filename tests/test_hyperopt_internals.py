"""Pins each assumption hyperspark makes about hyperopt's private attributes (listed in
hyperspark/hyperopt_internals.py) against the installed hyperopt."""
from hyperopt import base, hp, rand
from hyperopt.fmin import generate_trial

from hyperspark import hyperopt_internals as internals

SPACE = hp.uniform("x", 0, 1)


def _trials_with(states):
    trials = base.Trials()
    tids = trials.new_trial_ids(len(states))
    stored = internals.add_docs(trials, [generate_trial(tid, {"x": 0.5}) for tid in tids])
    for doc, state in zip(stored, states):
        doc["state"] = state
        if state == base.JOB_STATE_DONE:
            doc["result"] = {"status": "ok", "loss": 0.5}
    return trials, stored


def test_dynamic_trials_hold_every_state_and_add_returns_the_stored_copies():
    states = [base.JOB_STATE_NEW, base.JOB_STATE_RUNNING, base.JOB_STATE_DONE,
              base.JOB_STATE_ERROR, base.JOB_STATE_CANCEL]
    trials, stored = _trials_with(states)
    assert internals.all_docs(trials) == stored  # insertion order, every state
    assert all(a is b for a, b in zip(internals.all_docs(trials), stored))  # the same objects
    trials.refresh()  # (1, 3) changed in place, shown after refresh, NEW/RUNNING/DONE only
    assert [doc["state"] for doc in trials.trials] == states[:3]
    assert trials.trials[2]["result"]["loss"] == 0.5


def test_handed_out_ids_grow_with_new_trial_ids_and_reserve():
    trials = base.Trials()
    first = trials.new_trial_ids(3)
    assert set(first) == internals.handed_out_ids(trials) == {0, 1, 2}  # (2)
    internals.reserve_ids(trials, 10)
    assert trials.new_trial_ids(1) == [10]
    assert trials.new_trial_ids(1)[0] not in first


def test_released_ids_are_handed_out_again():
    trials = base.Trials()
    assert trials.new_trial_ids(4) == [0, 1, 2, 3]
    internals.release_ids(trials, [2, 3])  # (2) new_trial_ids picks the lowest free ones
    assert trials.new_trial_ids(2) == [2, 3]


def test_algorithm_view_shows_valid_docs_in_order_as_copies_and_shares_the_live_list():
    states = [base.JOB_STATE_DONE, base.JOB_STATE_RUNNING, base.JOB_STATE_ERROR,
              base.JOB_STATE_NEW, base.JOB_STATE_CANCEL]
    trials, stored = _trials_with(states)
    view = internals.algorithm_view(trials)  # (6) computed lazily from _dynamic_trials
    internals.add_docs(trials, [generate_trial(9, {"x": 0.1})])  # after the view: not in it
    assert [d["tid"] for d in view.trials] == [0, 1, 3]  # valid states, insertion order
    assert len(view) == 3 and view.trials[0]["result"]["loss"] == 0.5
    view.trials[1]["state"] = "changed"
    assert stored[1]["state"] == base.JOB_STATE_RUNNING  # copies: the loop's docs are safe
    assert internals.all_docs(view) is internals.all_docs(trials)  # the live list
    docs = rand.suggest(view.new_trial_ids(1), base.Domain(lambda x: x, SPACE), view, seed=1)
    assert docs[0]["tid"] not in {0, 1, 2, 3, 4}


def test_remove_docs_removes_exactly_those():
    trials, _ = _trials_with([base.JOB_STATE_NEW, base.JOB_STATE_DONE])
    internals.remove_docs(trials, lambda doc: doc["state"] == base.JOB_STATE_NEW)
    assert [doc["tid"] for doc in internals.all_docs(trials)] == [1]


def test_finished_view_is_what_an_algorithm_reads_and_shares_the_ids():
    trials, stored = _trials_with([base.JOB_STATE_DONE, base.JOB_STATE_DONE])
    view = internals.finished_view(stored, trials)
    assert view.trials == stored and len(view) == 2  # (3) what algorithms read
    assert view._exp_key is None  # (4) plain Trials
    new = view.new_trial_ids(1)
    assert new == [2] and 2 in internals.handed_out_ids(trials)  # (2) one shared set
    domain = base.Domain(lambda x: x, SPACE)
    docs = rand.suggest(new, domain, view, seed=1)
    assert [doc["tid"] for doc in docs] == [2]


def test_attachments_is_the_dict_behind_trial_attachments():
    trials, stored = _trials_with([base.JOB_STATE_DONE])
    trials.trial_attachments(stored[0])["model"] = b"bytes"
    assert list(internals.attachments(trials).values()) == [b"bytes"]  # (5)
