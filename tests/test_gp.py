"""hyperspark.gp on small histories, in milliseconds: no Spark, no loop (the benchmark measures
quality: python -m benchmarks search)."""
import logging
import math

import numpy as np
import pytest
from hyperopt import Domain, Trials, fmin, hp
from hyperopt.base import JOB_STATE_DONE, JOB_STATE_ERROR

import hyperspark
from hyperspark import InvalidArgument, gp
from hyperspark.gp.model import GaussianProcess, negative_log_posterior
from hyperspark.gp.kernel import squared_differences

EVERY_KIND = {
    "u": hp.uniform("u", -1, 1), "lu": hp.loguniform("lu", -5, 0),
    "qu": hp.quniform("qu", 0, 10, 2), "qlu": hp.qloguniform("qlu", 0, 4, 1),
    "n": hp.normal("n", 0, 2), "ln": hp.lognormal("ln", 0, 1),
    "ri": hp.randint("ri", 3, 9), "c": hp.choice("c", ["a", "b", "c"]),
    "branch": hp.choice("branch", [{"k": hp.uniform("k", 0, 1)},
                                   {"m": hp.choice("m", [{"deep": hp.uniform("deep", 2, 3)},
                                                         "flat"])}]),
}


def history(space, losses, states=None, seed=0):
    """A Trials holding finished trials at points drawn by rand.suggest, with ``losses``."""
    from hyperopt import rand

    trials = Trials()
    domain = Domain(lambda p: 0.0, space)
    for tid, loss in enumerate(losses):
        doc = rand.suggest([tid], domain, trials, seed + tid)[0]
        state = (states or {}).get(tid, JOB_STATE_DONE)
        doc["state"] = state
        doc["result"] = ({"status": "ok", "loss": loss} if state == JOB_STATE_DONE and
                         math.isfinite(loss) else {"status": "fail"} if state ==
                         JOB_STATE_DONE else {"status": "new"})
        trials.insert_trial_docs([doc])
    trials.refresh()
    return trials, domain


def point(doc):
    return {label: value[0] for label, value in doc["misc"]["vals"].items() if value}


def test_every_kind_of_space_gives_valid_points():
    trials, domain = history(EVERY_KIND, list(np.linspace(1, 0, 15)))
    docs = gp.suggest([15, 16, 17], domain, trials, seed=3)
    for doc in docs:
        p = point(doc)
        assert -1 <= p["u"] <= 1 and math.exp(-5) <= p["lu"] <= 1
        assert p["qu"] in range(0, 11, 2) and float(p["qlu"]).is_integer()
        assert isinstance(p["ri"], int) and 3 <= p["ri"] < 9 and p["c"] in (0, 1, 2)
        assert p["ln"] > 0 and math.isfinite(p["n"])
        assert ("k" in p) == (p["branch"] == 0)  # a branch's parameters, and only its own
        assert ("m" in p) == (p["branch"] == 1)
        assert ("deep" in p) == (p.get("m") == 0)


def test_the_same_documents_and_seed_give_the_same_point():
    space = {"x": hp.uniform("x", 0, 1), "y": hp.loguniform("y", -3, 0)}
    losses = [((i * 7) % 11) / 11 for i in range(40)]
    first, domain_a = history(space, losses)
    again, domain_b = history(space, losses)  # another domain: no state shared
    a = gp.suggest([40, 41], domain_a, first, seed=5)
    b = gp.suggest([40, 41], domain_b, again, seed=5)
    assert [point(d) for d in a] == [point(d) for d in b]
    c = gp.suggest([40, 41], domain_a, first, seed=5)  # the cached fit changes nothing
    assert [point(d) for d in a] == [point(d) for d in c]


def test_running_trials_spread_the_suggestions_out():
    space = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)}
    trials, domain = history(space, list(np.linspace(1, 0.1, 20)))
    docs = gp.suggest(list(range(20, 28)), domain, trials, seed=1)
    xs = np.array([[point(d)["x"], point(d)["y"]] for d in docs])
    distances = np.sqrt(((xs[:, None] - xs[None]) ** 2).sum(-1))[np.triu_indices(8, 1)]
    assert distances.min() > 1e-3  # eight different points, not one point eight times
    ignoring = gp.suggest(list(range(20, 28)), domain, trials, seed=1, liar="ignore")
    assert len({round(point(d)["x"], 9) for d in ignoring}) < 8  # what the liar prevents


def test_failed_points_leave_the_model_and_are_not_suggested_again():
    space = {"c": hp.choice("c", list(range(4)))}
    trials, domain = history(space, [1.0] * 12, states={i: JOB_STATE_ERROR for i in range(12)})
    for tid, doc in enumerate(trials._dynamic_trials):  # three of four options fail
        doc["misc"]["vals"]["c"] = [tid % 3]
    good = history(space, [0.5], seed=99)[0]._dynamic_trials[0]
    good["tid"], good["misc"]["tid"] = 12, 12
    good["misc"]["vals"]["c"], good["misc"]["idxs"]["c"] = [3], [12]
    trials.insert_trial_docs([good])
    trials.refresh()
    docs = gp.suggest([13], domain, trials, seed=0, n_startup_jobs=1)
    assert point(docs[0])["c"] == 3


def test_a_known_point_is_not_suggested_again_with_only_an_irrelevant_parameter_changed():
    space = {"n": hp.quniform("n", 1, 20, 1), "junk": hp.quniform("junk", 0, 50, 1)}
    trials, domain = history(space, [0.0] * 40)
    for doc in trials._dynamic_trials:  # n = 1..20 but 6, 8 and 15, twice; junk at random
        n = [1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20][doc["tid"] % 17]
        doc["misc"]["vals"]["n"] = [float(n)]
        doc["result"]["loss"] = (n - 7.0) ** 2  # junk has no effect
    trials.refresh()
    docs = gp.suggest([40, 41], domain, trials, seed=0)
    suggested = {point(doc)["n"] for doc in docs}
    assert suggested <= {6.0, 8.0, 15.0} and len(suggested) == 2  # new, and not one twice


@pytest.mark.parametrize("losses", [[0.3], [0.5] * 12, [1.0, 1.0, 2.0, 2.0] * 4,
                                    [math.inf, 1.0, math.inf, 0.5] * 3])
def test_robust_to_one_point_constants_duplicates_and_infinite_losses(losses):
    space = {"x": hp.uniform("x", 0, 1)}
    trials, domain = history(space, losses)
    for doc in trials._dynamic_trials[1::2]:  # duplicates: every other point is the first
        doc["misc"]["vals"]["x"] = list(trials._dynamic_trials[0]["misc"]["vals"]["x"])
    docs = gp.suggest([len(losses)], domain, trials, seed=0, n_startup_jobs=1)
    assert 0 <= point(docs[0])["x"] <= 1


def test_a_long_history_is_capped():
    space = {"x": hp.uniform("x", 0, 1)}
    rng = np.random.default_rng(0)
    trials, domain = history(space, list(rng.random(gp.MAX_POINTS + 60)))
    gp.suggest([gp.MAX_POINTS + 60], domain, trials, seed=0)
    model = gp._Model(gp._state_for(domain), "believer")
    assert len(model.losses) == gp.MAX_POINTS
    best = np.sort(trials.losses())[:gp.MAX_POINTS // 2]
    assert set(np.round(best, 12)) <= set(np.round(model.losses, 12))  # the best half kept


def test_running_points_outside_the_box_of_a_normal_still_count():
    space = {"n": hp.normal("n", 0, 1)}
    trials, domain = history(space, [1.0] * 12)
    for i, doc in enumerate(trials._dynamic_trials):
        doc["misc"]["vals"]["n"] = [10.0 + i]  # far outside mu +- 4 sigma
    trials.refresh()
    docs = gp.suggest([12], domain, trials, seed=0)
    assert -4 <= point(docs[0])["n"] <= 4  # suggestions stay in the box, the model saw them


def test_unsupported_space_falls_back_with_one_warning(caplog):
    low = hp.uniform("low", 0, 1)
    space = {"low": low, "x": hp.normal("x", low, 1)}  # its mean depends on a parameter
    trials, domain = Trials(), Domain(lambda p: 0.0, space)
    with caplog.at_level(logging.WARNING, logger="hyperspark"):
        gp.suggest([0], domain, trials, seed=0)
        gp.suggest([1], domain, trials, seed=1)
    said = [r for r in caplog.records if "hyperspark.gp cannot model" in r.getMessage()]
    assert len(said) == 1


@pytest.mark.parametrize("kwargs,words", [({"liar": "sometimes"}, "liar must be one of"),
                                          ({"n_startup_jobs": -1}, "n_startup_jobs")])
def test_bad_options_are_refused_by_name(kwargs, words):
    with pytest.raises(InvalidArgument, match=words):
        gp.suggest([0], Domain(lambda p: 0, hp.uniform("x", 0, 1)), Trials(), 0, **kwargs)


def test_the_marginal_likelihoods_gradient_is_exact():
    rng = np.random.default_rng(0)
    x = rng.random((15, 3))
    x[:, 2] = rng.integers(0, 3, 15)
    squared = squared_differences(x, x, np.array([False, False, True]))
    y = rng.normal(size=15)
    theta = np.log(np.array([0.4, 0.7, 1.2, 0.9, 1e-3]))
    _, gradient = negative_log_posterior(theta, squared, y)
    step = 1e-6
    numeric = [(negative_log_posterior(theta + e, squared, y)[0]
                - negative_log_posterior(theta - e, squared, y)[0]) / (2 * step)
               for e in np.eye(5) * step]
    assert np.allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


def test_the_gradient_of_log_ei_is_exact_in_every_active_number():
    """The climb follows log EI's analytic gradient: in two numbers, beside a category."""
    from hyperspark.gp.ascent import log_ei_with_gradient

    rng = np.random.default_rng(1)
    x = rng.random((20, 3))
    x[:, 2] = rng.integers(0, 3, 20)
    model = GaussianProcess.fit(x, np.sin(4 * x[:, 0]) + x[:, 1] + 0.3 * x[:, 2],
                                np.array([False, False, True]))
    points = np.column_stack([rng.random((4, 2)), [0, 1, 2, 1]])
    numbers = np.array([0, 1])
    _, gradient = log_ei_with_gradient(model, model.best, points, numbers)
    step = 1e-6
    for column in numbers:
        e = np.zeros(3)
        e[column] = step
        up = log_ei_with_gradient(model, model.best, points + e, numbers)[0]
        down = log_ei_with_gradient(model, model.best, points - e, numbers)[0]
        assert np.allclose(gradient[:, column], (up - down) / (2 * step), rtol=1e-4, atol=1e-6)


def test_the_climb_never_ends_below_its_start_and_moves_only_what_it_may():
    from hyperspark.gp.ascent import ascend, log_ei_with_gradient

    rng = np.random.default_rng(2)
    x = rng.random((25, 3))
    model = GaussianProcess.fit(x, ((x - 0.6) ** 2).sum(axis=1), np.zeros(3, dtype=bool))
    starts = rng.random((5, 3))
    movable = np.ones_like(starts, dtype=bool)
    movable[:, 2] = False  # held, as a category or an inactive number would be
    found, values = ascend(model, model.best, starts, movable)
    before, _ = log_ei_with_gradient(model, model.best, starts, np.arange(3))
    assert np.all(values >= before) and values.max() > before.max()
    assert np.array_equal(found[:, 2], starts[:, 2])
    assert found.min() >= 0.0 and found.max() <= 1.0


@pytest.mark.parametrize("losses", [[3.0], [2.0, 2.0, 2.0], [1.0, 5.0],
                                    [0.1, 0.2, 0.15, 0.3, 5.0, 40.0, 1e6],
                                    [-3.3, -3.2, -0.1, 0.0, -0.05, -1.0]])
def test_the_warp_keeps_the_order_of_the_losses(losses):
    from hyperspark.gp.warping import warped

    out = warped(np.array(losses))
    assert out.shape == (len(losses),) and np.all(np.isfinite(out))
    assert np.array_equal(np.argsort(out, kind="stable"), np.argsort(losses, kind="stable"))


def test_the_warp_evens_out_a_long_tail():
    """A few very bad losses no longer put the good ones five spreads from the mean."""
    from hyperspark.gp.warping import warped

    losses = np.concatenate([np.linspace(0.0, 1.0, 30), [50.0, 400.0]])
    plain = (losses - losses.mean()) / losses.std()
    out = warped(losses)
    out = (out - out.mean()) / out.std()
    assert out.max() < 0.8 * plain.max()  # the worst is nearer the rest
    assert out[:30].std() > 10 * plain[:30].std()  # the good ones are told apart


def test_the_posterior_interpolates_what_it_saw():
    x = np.linspace(0, 1, 9)[:, None]
    model = GaussianProcess.fit(x, np.cos(5 * x[:, 0]), np.array([False]))
    mean, variance = model.predict(x)
    assert np.allclose(mean * model.y_scale + model.y_mean, np.cos(5 * x[:, 0]), atol=1e-2)
    assert variance.max() < 1e-3


def test_it_runs_under_hyperopt_fmin_and_hyperspark_fmin():
    space = {"x": hp.uniform("x", -2, 2), "k": hp.choice("k", ["a", "b"])}

    def loss(p):
        return (p["x"] - 0.5) ** 2 + (0 if p["k"] == "b" else 1)

    best = fmin(loss, space, algo=gp.suggest, max_evals=25, trials=Trials(),
                rstate=np.random.default_rng(0), show_progressbar=False)
    assert best["k"] == 1 and abs(best["x"] - 0.5) < 0.05
    best = hyperspark.fmin(loss, space, algo=gp.suggest, max_evals=25, show_progressbar=False,
                           trials=hyperspark.SparkTrials(backend="local", parallelism=4,
                                                         mlflow_tracking=False),
                           rstate=np.random.default_rng(0))
    assert best["k"] == 1 and abs(best["x"] - 0.5) < 0.1


def test_blas_runs_one_thread_inside_a_suggestion_and_is_put_back_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from hyperspark.gp.threads import one_blas_thread

    def blas_threads():
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                if lib["user_api"] == "blas"]

    before = blas_threads()
    with one_blas_thread():
        with one_blas_thread():  # a second search's suggestion at the same time
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}  # the first is still inside
    assert blas_threads() == before
    fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=gp.suggest, max_evals=12,
         trials=Trials(), rstate=np.random.default_rng(0), show_progressbar=False)
    assert blas_threads() == before
