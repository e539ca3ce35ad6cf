"""The problems of the search-quality benchmark, each written twice: as a hyperopt space and as
Optuna's define-by-run calls, with one loss function over the resolved parameters.

- ``rosenbrock4``: the 4-D Rosenbrock function on [-2, 2]^4, as log10(1 + f).
- ``hartmann6``: the 6-D Hartmann function on [0, 1]^6 (minimum -3.32237).
- ``conditional``: a model-family choice with its own parameters in each branch (log-scaled,
  quantized, integer and categorical ones, correlated within a branch) and one shared
  parameter; the deepest branch holds the best loss.
- ``sgd_digits``: scikit-learn's ``SGDClassifier`` (logistic loss, elastic net) on the bundled
  digits data: its regularisation, step size schedule and epochs, tuned by 3-fold
  cross-validated log-loss.

A second set (``MORE_PROBLEMS``: Ackley 10-D, six categoricals with an interaction, and
Styblinski-Tang 8-D on a 0.5 grid) runs when named; it was written after the defaults were
chosen, to check they were not tuned to the first four.

Each was kept because hyperopt's serial TPE clearly beats random search on it within the
budget, so the benchmark's score (0 = random, 1 = serial TPE) is well defined; on flatter
problems (Branin at 100 trials, kernel ridge on the diabetes data) the two medians were too
close for that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import numpy as np
from hyperopt import hp


@dataclass(frozen=True)
class Problem:
    name: str
    space: Any  # hyperopt
    optuna_params: Callable[[Any], Dict[str, Any]]  # an optuna.Trial -> the same params dict
    loss: Callable[[Dict[str, Any]], float]
    budget: int
    optimum: Optional[float] = None
    """The lowest loss the space holds, where it is known: the regret score's zero."""


# ---------------------------------------------------------------------- Rosenbrock
_R4 = [f"r{i}" for i in range(4)]


def _rosenbrock4(params: Dict[str, Any]) -> float:
    x = np.array([params[name] for name in _R4])
    value = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return float(math.log10(1 + value))  # its long curved valley, on a log scale


ROSENBROCK4 = Problem(
    "rosenbrock4", {name: hp.uniform(name, -2, 2) for name in _R4},
    lambda trial: {name: trial.suggest_float(name, -2, 2) for name in _R4},
    _rosenbrock4, budget=100, optimum=0.0)

# ---------------------------------------------------------------------- Hartmann 6
_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
               [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6 = [f"x{i}" for i in range(6)]


def _hartmann6(params: Dict[str, Any]) -> float:
    x = np.array([params[name] for name in _H6])
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A * (x - _P) ** 2, axis=1))))


HARTMANN6 = Problem(
    "hartmann6", {name: hp.uniform(name, 0, 1) for name in _H6},
    lambda trial: {name: trial.suggest_float(name, 0, 1) for name in _H6},
    _hartmann6, budget=150, optimum=-3.32237)

# ---------------------------------------------------------------------- conditional
_LOG = math.log
CONDITIONAL_SPACE = {
    "model": hp.choice("model", [
        {"kind": "linear", "lr": hp.loguniform("lin_lr", _LOG(1e-5), _LOG(1.0)),
         "l2": hp.loguniform("lin_l2", _LOG(1e-7), _LOG(1e-1))},
        {"kind": "tree", "depth": hp.quniform("depth", 1, 16, 1),
         "min_leaf": hp.qloguniform("min_leaf", _LOG(1), _LOG(200), 1),
         "split": hp.choice("split", ["gini", "entropy"])},
        {"kind": "net", "layers": hp.randint("layers", 1, 6),
         "width": hp.qloguniform("width", _LOG(8), _LOG(1024), 8),
         "dropout": hp.uniform("dropout", 0.0, 0.8),
         "act": hp.choice("act", ["relu", "tanh", "gelu"])},
    ]),
    "batch": hp.qloguniform("batch", _LOG(16), _LOG(1024), 16),
}


def _conditional_optuna(trial: Any) -> Dict[str, Any]:
    kind = trial.suggest_categorical("model", ["linear", "tree", "net"])
    if kind == "linear":
        model = {"kind": kind, "lr": trial.suggest_float("lin_lr", 1e-5, 1.0, log=True),
                 "l2": trial.suggest_float("lin_l2", 1e-7, 1e-1, log=True)}
    elif kind == "tree":
        model = {"kind": kind, "depth": float(trial.suggest_int("depth", 1, 16)),
                 "min_leaf": float(trial.suggest_int("min_leaf", 1, 200, log=True)),
                 "split": trial.suggest_categorical("split", ["gini", "entropy"])}
    else:
        width = trial.suggest_int("width", 8, 1024, log=True)
        model = {"kind": kind, "layers": trial.suggest_int("layers", 1, 5),
                 "width": float(max(8, round(width / 8) * 8)),
                 "dropout": trial.suggest_float("dropout", 0.0, 0.8),
                 "act": trial.suggest_categorical("act", ["relu", "tanh", "gelu"])}
    batch = trial.suggest_int("batch", 16, 1024, log=True)
    return {"model": model, "batch": float(max(16, round(batch / 16) * 16))}


def _conditional(params: Dict[str, Any]) -> float:
    model = params["model"]
    batch = math.log2(max(params["batch"], 1) / 64) / 2
    if model["kind"] == "linear":
        x = math.log10(model["lr"]) + 2.5
        y = math.log10(model["l2"]) + 4.0
        loss = 0.36 + 0.04 * (x * x + y * y + 1.6 * x * y)
    elif model["kind"] == "tree":
        d = (model["depth"] - 9) / 3
        m = (math.log(max(model["min_leaf"], 1)) - math.log(12)) / 1.2
        loss = 0.27 + 0.05 * (d * d + m * m - 1.4 * d * m) + 0.02 * (model["split"] == "gini")
    else:
        w = (math.log2(max(model["width"], 1)) - 7.5) / 1.2
        r = (model["dropout"] - 0.35) / 0.12
        loss = (0.16 + 0.06 * (w * w + r * r + 1.6 * w * r) + 0.025 * (model["layers"] - 3) ** 2
                + {"relu": 0.0, "tanh": 0.04, "gelu": 0.015}[model["act"]])
    return loss + 0.015 * batch * batch


CONDITIONAL = Problem("conditional", CONDITIONAL_SPACE, _conditional_optuna, _conditional,
                      budget=150)

# ---------------------------------------------------------------------- a real model
SGD_SPACE = {
    "alpha": hp.loguniform("alpha", _LOG(1e-8), _LOG(1.0)),
    "l1_ratio": hp.uniform("l1_ratio", 0.0, 1.0),
    "eta0": hp.loguniform("eta0", _LOG(1e-6), _LOG(10.0)),
    "power_t": hp.uniform("power_t", 0.0, 1.0),
    "epochs": hp.quniform("epochs", 2, 20, 1),
}


def _sgd_optuna(trial: Any) -> Dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-8, 1.0, log=True),
            "l1_ratio": trial.suggest_float("l1_ratio", 0.0, 1.0),
            "eta0": trial.suggest_float("eta0", 1e-6, 10.0, log=True),
            "power_t": trial.suggest_float("power_t", 0.0, 1.0),
            "epochs": float(trial.suggest_int("epochs", 2, 20))}


_FOLDS: Any = None


def _folds() -> Any:
    global _FOLDS
    if _FOLDS is None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import StratifiedKFold

        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        splits = StratifiedKFold(3, shuffle=True, random_state=0).split(x, y)
        _FOLDS = [(x[train], y[train], x[test], y[test]) for train, test in splits]
    return _FOLDS


def _sgd_digits(params: Dict[str, Any]) -> float:
    """3-fold cross-validated log-loss of a logistic regression trained by SGD (elastic net,
    an inverse-scaling step size) on scikit-learn's bundled digits."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import log_loss

    losses = []
    for x_train, y_train, x_test, y_test in _folds():
        model = SGDClassifier(loss="log_loss", penalty="elasticnet", alpha=params["alpha"],
                              l1_ratio=params["l1_ratio"], learning_rate="invscaling",
                              eta0=params["eta0"], power_t=params["power_t"],
                              max_iter=int(params["epochs"]), tol=None, random_state=0)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
            proba = np.clip(np.nan_to_num(model.predict_proba(x_test), nan=0.1), 1e-9, 1.0)
        losses.append(log_loss(y_test, proba / proba.sum(1, keepdims=True), labels=range(10)))
    return float(min(np.mean(losses), 50.0))


SGD_DIGITS = Problem("sgd_digits", SGD_SPACE, _sgd_optuna, _sgd_digits, budget=100)

PROBLEMS = {p.name: p for p in (ROSENBROCK4, HARTMANN6, CONDITIONAL, SGD_DIGITS)}
"""The default set: what docs/search-quality.md reports and the defaults were chosen on."""


# ---------------------------------------------------------------------- a second set
# Written after hyperspark.tpe's defaults were fixed and never used to choose them: a check
# that its quality is not tuned to the four above (``--problems ackley10 mixed_cat
# styblinski8``). Wider (10-D), mostly categorical, and on a grid.
_AK = [f"a{i}" for i in range(10)]


def _ackley10(params: Dict[str, Any]) -> float:
    x = np.array([params[name] for name in _AK])
    ripple = np.exp(np.mean(np.cos(2 * np.pi * x)))
    return float(20 + np.e - 20 * np.exp(-0.2 * np.sqrt(np.mean(x * x))) - ripple)


ACKLEY10 = Problem(
    "ackley10", {name: hp.uniform(name, -5, 10) for name in _AK},
    lambda trial: {name: trial.suggest_float(name, -5, 10) for name in _AK},
    _ackley10, budget=200, optimum=0.0)

_CATS, _LEVELS = [f"c{i}" for i in range(6)], ["a", "b", "c", "d", "e"]
_CAT_EFFECT = np.random.default_rng(7).normal(size=(len(_CATS), len(_LEVELS)))


def _mixed_cat(params: Dict[str, Any]) -> float:
    """Six 5-level categoricals with fixed random effects, one interaction (c0 equal to c1),
    a log-scaled step size and an integer width."""
    levels = [_LEVELS.index(params[name]) for name in _CATS]
    loss = sum(_CAT_EFFECT[i, level] for i, level in enumerate(levels))
    loss += 0.8 * (levels[0] == levels[1])
    step = math.log10(params["lr"]) + 3
    return float(loss + 0.5 * step * step + 0.003 * (params["units"] - 37) ** 2)


MIXED_CAT = Problem(
    "mixed_cat", {**{name: hp.choice(name, _LEVELS) for name in _CATS},
                  "lr": hp.loguniform("lr", _LOG(1e-6), _LOG(1.0)),
                  "units": hp.quniform("units", 4, 128, 1)},
    lambda trial: {**{name: trial.suggest_categorical(name, _LEVELS) for name in _CATS},
                   "lr": trial.suggest_float("lr", 1e-6, 1.0, log=True),
                   "units": float(trial.suggest_int("units", 4, 128))},
    _mixed_cat, budget=150, optimum=-9.07242392687503)  # every level tried, lr 1e-3, 37 units

_ST = [f"s{i}" for i in range(8)]


def _styblinski8(params: Dict[str, Any]) -> float:
    x = np.array([params[name] for name in _ST])
    return float(np.sum(x ** 4 - 16 * x * x + 5 * x) / 2)


STYBLINSKI8 = Problem(
    "styblinski8", {name: hp.quniform(name, -5, 5, 0.5) for name in _ST},
    lambda trial: {name: trial.suggest_float(name, -5, 5, step=0.5) for name in _ST},
    _styblinski8, budget=150, optimum=-312.0)  # -3 in every dimension: -39 each on the grid


def _branin(params: Dict[str, Any]) -> float:
    x, y = params["x"], params["y"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return float((y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10)


BRANIN = Problem(
    "branin", {"x": hp.uniform("x", -5, 10), "y": hp.uniform("y", 0, 15)},
    lambda trial: {"x": trial.suggest_float("x", -5, 10), "y": trial.suggest_float("y", 0, 15)},
    _branin, budget=100, optimum=0.397887357729738)

MORE_PROBLEMS = {p.name: p for p in (ACKLEY10, MIXED_CAT, STYBLINSKI8, BRANIN)}
"""The second set, run when named (``--problems``)."""
