"""hyperspark.tpe: valid on every hyperopt expression, deterministic from its inputs, the same
from its incremental state as from scratch, and a drop-in for hyperopt's tpe.suggest."""
import functools
import itertools
import logging
import math

import numpy as np
import pytest
from hyperopt import Trials, base, fmin, hp, pyll
from hypothesis import HealthCheck, given, settings, strategies as st

import hyperspark.tpe as tpe
from hyperspark import InvalidArgument
from hyperspark import hyperopt_internals as internals

# ---------------------------------------------------------------------- random spaces
LEAF_KINDS = ["uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
              "lognormal", "qlognormal", "randint", "randint2", "uniformint", "choice",
              "pchoice"]


@st.composite
def leaves(draw, label):
    kind = draw(st.sampled_from(LEAF_KINDS))
    low = draw(st.floats(-20, 20))
    width = draw(st.floats(0.5, 30))
    q = draw(st.sampled_from([0.5, 1.0, 2.0]))
    if kind == "uniform":
        return hp.uniform(label, low, low + width), ("uniform", low, low + width, None)
    if kind == "quniform":
        return hp.quniform(label, low, low + width, q), ("quniform", low, low + width, q)
    if kind == "loguniform":
        lo = draw(st.floats(-6, 3))
        return hp.loguniform(label, lo, lo + width / 10), ("loguniform", lo, lo + width / 10, None)
    if kind == "qloguniform":
        lo = draw(st.floats(0, 3))
        return hp.qloguniform(label, lo, lo + 2, q), ("qloguniform", lo, lo + 2, q)
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        sigma = draw(st.floats(0.1, 5))
        if kind == "normal":
            return hp.normal(label, low, sigma), (kind, None, None, None)
        if kind == "lognormal":
            return hp.lognormal(label, low / 10, sigma / 5), (kind, None, None, None)
        if kind == "qnormal":
            return hp.qnormal(label, low, sigma, q), (kind, None, None, q)
        return hp.qlognormal(label, low / 10, sigma / 5, q), (kind, None, None, q)
    if kind == "randint":
        upper = draw(st.integers(1, 9))
        return hp.randint(label, upper), ("randint", 0, upper, None)
    if kind == "randint2":
        lo = draw(st.integers(-5, 5))
        hi = lo + draw(st.integers(1, 9))
        return hp.randint(label, lo, hi), ("randint", lo, hi, None)
    if kind == "uniformint":
        lo = draw(st.integers(-5, 5))
        hi = lo + draw(st.integers(1, 9))
        return hp.uniformint(label, lo, hi), ("quniform", lo, hi, 1.0)
    options = draw(st.integers(1, 4))
    if kind == "choice":
        return hp.choice(label, list(range(options))), ("index", 0, options, None)
    weights = draw(st.lists(st.floats(0.05, 1), min_size=options, max_size=options))
    probs = [w / sum(weights) for w in weights]
    probs[-1] = 1 - sum(probs[:-1])
    return (hp.pchoice(label, list(zip(probs, range(options)))), ("index", 0, options, None))


@st.composite
def spaces(draw, depth=2, counter=None):
    """A dict of leaves and nested choices; every label unique; ``kinds`` maps label ->
    (kind, low, high, q) for the support checks."""
    counter = counter if counter is not None else itertools.count()
    kinds = {}
    space = {}
    for _ in range(draw(st.integers(1, 3))):
        label = f"p{next(counter)}"
        if depth > 0 and draw(st.booleans()):
            branches = []
            for _ in range(draw(st.integers(1, 3))):
                sub, sub_kinds = draw(spaces(depth - 1, counter))
                branches.append(sub)
                kinds.update(sub_kinds)
            space[label] = hp.choice(label, branches)
            kinds[label] = ("index", 0, len(branches), None)
        else:
            space[label], kinds[label] = draw(leaves(label))
    return space, kinds


def in_support(value, kind, low, high, q):
    if kind == "index":
        return float(value).is_integer() and low <= value < high
    if kind == "randint":
        return isinstance(value, (int, np.integer)) and low <= value < high
    if q is not None and not math.isclose(value / q, round(value / q), abs_tol=1e-6):
        return False
    if kind in ("uniform",):
        return low <= value <= high
    if kind == "quniform":
        return round(low / q) * q - 1e-9 <= value <= round(high / q) * q + 1e-9
    if kind == "loguniform":
        return math.exp(low) * (1 - 1e-9) <= value <= math.exp(high) * (1 + 1e-9)
    if kind == "qloguniform":
        return 0 <= value <= round(math.exp(high) / q) * q + 1e-9
    if kind in ("lognormal",):
        return value > 0
    if kind == "qlognormal":
        return value >= 0
    return math.isfinite(value)


def check_doc(doc, domain, kinds):
    vals = doc["misc"]["vals"]
    assert set(vals) == set(domain.params)
    active = {label: value[0] for label, value in vals.items() if value}
    for label, value in active.items():
        assert in_support(value, *kinds[label]), (label, value, kinds[label])
    # every active label is needed to evaluate the space, and the inactive ones are not
    pyll.rec_eval(domain.expr, memo=domain.memo_from_config(active))
    for label in active:
        fewer = {k: v for k, v in active.items() if k != label}
        with pytest.raises(Exception):
            pyll.rec_eval(domain.expr, memo=domain.memo_from_config(fewer))


SPACES_TRIED = []


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(spaces(), st.integers(0, 2 ** 31 - 2), st.booleans(),
       st.sampled_from(tpe.LIARS))
def test_every_suggestion_lies_in_the_space_with_consistent_branches(space_kinds, seed,
                                                                     multivariate, liar):
    space, kinds = space_kinds
    SPACES_TRIED.append(1)
    domain = base.Domain(lambda params: 0.0, space)
    trials = Trials()
    rng = np.random.default_rng(seed)
    algo = functools.partial(tpe.suggest, n_startup_jobs=3, multivariate=multivariate,
                             liar=liar, n_EI_candidates=8)
    for round_ in range(6):
        ids = trials.new_trial_ids(int(rng.integers(1, 4)))
        docs = algo(ids, domain, trials, int(rng.integers(2 ** 31 - 1)))
        assert [d["tid"] for d in docs] == ids
        for doc in docs:
            check_doc(doc, domain, kinds)
        stored = internals.add_docs(trials, docs)
        for doc in stored[:-1]:  # the last of each batch stays running
            outcome = rng.random()
            doc["result"] = ({"status": "ok", "loss": float(rng.normal())} if outcome < 0.8
                             else {"status": "fail"})
            doc["state"] = base.JOB_STATE_DONE if outcome < 0.9 else base.JOB_STATE_ERROR
        for doc in stored[-1:]:
            doc["state"] = base.JOB_STATE_RUNNING
        trials.refresh()


# ---------------------------------------------------------------------- determinism
SPACE = {"kind": hp.choice("kind", [{"a": hp.uniform("a", 0, 1)},
                                    {"b": hp.loguniform("b", -3, 1),
                                     "n": hp.quniform("n", 1, 9, 1)}]),
         "x": hp.normal("x", 0, 2)}


def _trials_with_results(count, seed=0):
    domain = base.Domain(lambda p: 0.0, SPACE)
    trials = Trials()
    from hyperopt import rand

    rng = np.random.default_rng(seed)
    for tid in range(count):
        doc = rand.suggest([tid], domain, trials, int(rng.integers(1e9)))[0]
        stored = internals.add_docs(trials, [doc])[0]
        stored["result"] = {"status": "ok", "loss": float(rng.normal())}
        stored["state"] = base.JOB_STATE_DONE
    trials.refresh()
    return trials


def _vals(doc):
    return {k: v for k, v in doc["misc"]["vals"].items()}


def test_a_point_depends_on_the_seed_its_tid_and_what_is_known():
    trials = _trials_with_results(30)
    batch = tpe.suggest([30, 31], base.Domain(lambda p: 0.0, SPACE), trials, seed=7)
    first = tpe.suggest([30], base.Domain(lambda p: 0.0, SPACE), trials, seed=7)
    assert _vals(first[0]) == _vals(batch[0])  # the first of a batch, as alone
    again = tpe.suggest([30], base.Domain(lambda p: 0.0, SPACE), trials, seed=7)
    assert _vals(again[0]) == _vals(first[0])
    other = tpe.suggest([30], base.Domain(lambda p: 0.0, SPACE), trials, seed=8)
    assert _vals(other[0]) != _vals(first[0])
    internals.add_docs(trials, batch[:1])  # 30 queued: pending for the next one
    trials.refresh()
    alone = tpe.suggest([31], base.Domain(lambda p: 0.0, SPACE), trials, seed=7)
    assert set(alone[0]["misc"]["vals"]) == set(batch[1]["misc"]["vals"])


def test_later_points_of_a_batch_avoid_the_earlier_ones():
    """A batch of 16 from one model: each later point sees the earlier ones as running, so
    they spread around the good region instead of piling onto the model's favourite."""
    space = hp.uniform("x", 0, 1)
    trials = Trials()
    from hyperopt import rand

    domain = base.Domain(lambda x: 0.0, space)
    for tid in range(40):
        stored = internals.add_docs(trials, rand.suggest([tid], domain, trials, tid))[0]
        stored["result"] = {"status": "ok", "loss": abs(stored["misc"]["vals"]["x"][0] - 0.3)}
        stored["state"] = base.JOB_STATE_DONE
    trials.refresh()

    def batch(liar):
        docs = tpe.suggest(list(range(40, 56)), base.Domain(lambda x: 0.0, space), trials,
                           seed=11, liar=liar)
        xs = np.array([d["misc"]["vals"]["x"][0] for d in docs])
        return xs.std(), np.abs(xs - 0.3).mean()

    spread_with_liar, _ = batch("worst")
    spread_without, off_without = batch("ignore")
    assert spread_with_liar > 2 * spread_without
    assert off_without < 0.05  # without the liar they crowd the best region


def test_incremental_history_gives_what_a_rebuild_gives():
    trials = _trials_with_results(40)
    warm = base.Domain(lambda p: 0.0, SPACE)
    for tid in range(40, 70):  # the warm state follows the trials one by one
        doc = tpe.suggest([tid], warm, trials, seed=tid)[0]
        stored = internals.add_docs(trials, [doc])[0]
        if tid % 3:
            stored["result"] = {"status": "ok", "loss": float(tid % 7)}
            stored["state"] = base.JOB_STATE_DONE
        else:
            stored["state"] = base.JOB_STATE_RUNNING
        trials.refresh()
    for doc in internals.all_docs(trials)[40:50]:  # some running ones finish meanwhile
        if doc["state"] == base.JOB_STATE_RUNNING:
            doc["result"] = {"status": "ok", "loss": -1.0}
            doc["state"] = base.JOB_STATE_DONE
    from_warm = tpe.suggest([70, 71], warm, trials, seed=3)
    from_cold = tpe.suggest([70, 71], base.Domain(lambda p: 0.0, SPACE), trials, seed=3)
    assert [_vals(d) for d in from_warm] == [_vals(d) for d in from_cold]
    internals.remove_docs(trials, lambda d: d["tid"] >= 60)  # withdrawn: the state starts over
    trials.refresh()
    after = tpe.suggest([70], warm, trials, seed=3)
    cold = tpe.suggest([70], base.Domain(lambda p: 0.0, SPACE), trials, seed=3)
    assert _vals(after[0]) == _vals(cold[0])


def test_random_start_counts_finished_trials_not_suggested_ones(monkeypatch):
    calls = []
    propose = tpe._Models.propose
    monkeypatch.setattr(tpe._Models, "propose",
                        lambda self, rng: calls.append(1) or propose(self, rng))
    domain = base.Domain(lambda p: 0.0, SPACE)
    trials = Trials()
    for tid in range(12):  # 12 pending, nothing finished: still the random start
        internals.add_docs(trials, tpe.suggest([tid], domain, trials, seed=tid, n_startup_jobs=5))
    assert calls == []
    for doc in internals.all_docs(trials)[:5]:
        doc["result"] = {"status": "ok", "loss": 1.0}
        doc["state"] = base.JOB_STATE_DONE
    tpe.suggest([12], domain, trials, seed=1, n_startup_jobs=5)
    assert calls == [1]


# ---------------------------------------------------------------------- drop-in
def test_drop_in_for_hyperopt_fmin_with_its_keywords():
    algo = functools.partial(tpe.suggest, n_startup_jobs=5, gamma=0.2, n_EI_candidates=12,
                             prior_weight=0.5)
    trials = Trials()
    best = fmin(lambda p: (p["x"] - 1) ** 2 + (p["kind"].get("a", 0.5) - 0.3) ** 2, SPACE,
                algo=algo, max_evals=60, trials=trials, rstate=np.random.default_rng(0),
                show_progressbar=False)
    assert len(trials.trials) == 60 and abs(best["x"] - 1) < 0.5


def test_finds_a_narrow_minimum_serially_better_than_random():
    from hyperopt import rand

    def objective(p):
        return (p["u"] - 0.712) ** 2 + (math.log10(p["v"]) + 2.3) ** 2

    space = {"u": hp.uniform("u", 0, 1), "v": hp.loguniform("v", math.log(1e-5), 0)}
    best = {}
    for name, algo in (("tpe", tpe.suggest), ("rand", rand.suggest)):
        scores = []
        for seed in range(5):
            trials = Trials()
            fmin(objective, space, algo=algo, max_evals=60, trials=trials,
                 rstate=np.random.default_rng(seed), show_progressbar=False)
            scores.append(min(trials.losses()))
        best[name] = float(np.median(scores))
    assert best["tpe"] < best["rand"] / 3, best


@pytest.mark.parametrize("keyword, value", [("liar", "optimistic"), ("gamma", 0),
                                            ("gamma", 1.5), ("n_EI_candidates", 0),
                                            ("n_startup_jobs", -1), ("prior_weight", 0)])
def test_bad_keywords_are_named(keyword, value):
    with pytest.raises(InvalidArgument, match=keyword):
        tpe.suggest([0], base.Domain(lambda p: 0.0, SPACE), Trials(), 1, **{keyword: value})


def test_a_space_it_cannot_model_goes_to_hyperopts_tpe_with_a_warning(caplog):
    low = hp.uniform("low", 0, 1)
    space = {"low": low, "x": hp.normal("x", low, 1)}  # its mean depends on a parameter
    trials = Trials()
    with caplog.at_level(logging.WARNING, logger="hyperspark"):  # (hyperopt's TPE itself
        fmin(lambda p: p["x"], space, algo=tpe.suggest, max_evals=8,  # gets only as far as
             trials=trials, rstate=np.random.default_rng(0),  # its random start with it)
             show_progressbar=False)
    assert len(trials.trials) == 8
    assert sum("cannot model this space" in r.message for r in caplog.records) == 1
