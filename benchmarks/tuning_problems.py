"""Real tuning problems for the search benchmark: scikit-learn models on the datasets that
scikit-learn ships (no download), each scored by a 3-fold cross-validated loss.

Chosen as the 2020 black-box optimisation challenge (bayesmark) chose: a handful of common
model families, classifiers and regressors, each with the hyperparameters a user tunes.

- ``svr_diabetes``: ``SVR`` (RBF) on diabetes, mean squared error of the standardised target;
- ``svr_kernel_diabetes``: ``SVR`` with the kernel as a choice, each kernel with its own
  parameters (a conditional space);
- ``knn_diabetes``: ``KNeighborsRegressor``: neighbours, weighting and metric (categoricals);
- ``rf_breast``: ``RandomForestClassifier`` (30 trees) on breast cancer, log-loss;
- ``mlp_breast``: ``MLPClassifier`` (adam) on breast cancer, log-loss;
- ``logreg_breast``: ``LogisticRegression`` on breast cancer, log-loss;
- ``gbm_diabetes``: ``HistGradientBoostingRegressor`` (50 rounds) on diabetes, mean squared
  error.

``sgd_digits`` of ``search_problems`` is an eighth, scored with the synthetic ones.

Each evaluation takes well under a second here. An evaluation is cached by its parameters in
the process, so a method that suggests the same point twice does not pay for it twice (and
gets the same loss: the splits and the models' seeds are fixed).
"""
from __future__ import annotations

import functools
import json
import math
import warnings
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
from hyperopt import hp

from benchmarks.search_problems import Problem

BUDGET = 128
_LOG = math.log
Folds = List[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


# ---------------------------------------------------------------------- data and scoring
@functools.lru_cache(maxsize=None)
def _folds(name: str) -> Folds:
    """Three fixed folds of a bundled dataset, features standardised on each training part
    (a regression target standardised on the whole set, so a loss of 1 is the mean)."""
    from sklearn import datasets
    from sklearn.model_selection import KFold, StratifiedKFold

    x, y = {"diabetes": datasets.load_diabetes,
            "breast": datasets.load_breast_cancer}[name](return_X_y=True)
    regression = name == "diabetes"
    if regression:
        y = (y - y.mean()) / y.std()
    splitter = (KFold if regression else StratifiedKFold)(3, shuffle=True, random_state=0)
    folds = []
    for train, test in splitter.split(x, y):
        mean, std = x[train].mean(0), x[train].std(0) + 1e-12
        folds.append(((x[train] - mean) / std, y[train], (x[test] - mean) / std, y[test]))
    return folds


def _cross_validated(dataset: str, make: Callable[[], Any]) -> float:
    """The mean over the folds of the squared error (regression) or the log-loss."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss

    losses = []
    for x_train, y_train, x_test, y_test in _folds(dataset):
        model = make()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            model.fit(x_train, y_train)
            if dataset == "diabetes":
                loss = float(np.mean((model.predict(x_test) - y_test) ** 2))
            else:
                proba = np.clip(np.nan_to_num(model.predict_proba(x_test), nan=0.5), 1e-6, 1)
                loss = float(log_loss(y_test, proba / proba.sum(1, keepdims=True),
                                      labels=[0, 1]))
        losses.append(loss if math.isfinite(loss) else 10.0)
    return float(min(np.mean(losses), 10.0))


def cached(loss: Callable[[Dict[str, Any]], float]) -> Callable[[Dict[str, Any]], float]:
    """``loss``, remembered by its parameters (floats to 12 significant digits)."""
    seen: Dict[str, float] = {}

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in sorted(value.items())}
        if isinstance(value, (float, np.floating)):
            return float(f"{float(value):.12g}")
        if isinstance(value, np.integer):
            return int(value)
        return value

    @functools.wraps(loss)
    def remembered(params: Dict[str, Any]) -> float:
        key = json.dumps(plain(params), sort_keys=True, default=str)
        if key not in seen:
            seen[key] = loss(params)
        return seen[key]

    return remembered


# ---------------------------------------------------------------------- SVR
SVR_SPACE = {
    "C": hp.loguniform("C", _LOG(1e-2), _LOG(1e3)),
    "gamma": hp.loguniform("gamma", _LOG(1e-4), _LOG(1.0)),
    "epsilon": hp.loguniform("epsilon", _LOG(1e-3), _LOG(1.0)),
}


def _svr_optuna(trial: Any) -> Dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-2, 1e3, log=True),
            "gamma": trial.suggest_float("gamma", 1e-4, 1.0, log=True),
            "epsilon": trial.suggest_float("epsilon", 1e-3, 1.0, log=True)}


def _svr(params: Dict[str, Any]) -> float:
    from sklearn.svm import SVR

    return _cross_validated("diabetes", lambda: SVR(C=params["C"], gamma=params["gamma"],
                                                     epsilon=params["epsilon"]))


# ---------------------------------------------------------------------- SVR, kernel chosen
SVR_KERNEL_SPACE = {
    "kernel": hp.choice("kernel", [
        {"name": "rbf", "gamma": hp.loguniform("rbf_gamma", _LOG(1e-4), _LOG(1.0))},
        {"name": "poly", "degree": hp.quniform("degree", 2, 4, 1),
         "gamma": hp.loguniform("poly_gamma", _LOG(1e-3), _LOG(1.0)),
         "coef0": hp.uniform("coef0", 0.0, 2.0)},
        {"name": "linear"},
    ]),
    "C": hp.loguniform("C", _LOG(1e-2), _LOG(1e2)),
    "epsilon": hp.loguniform("epsilon", _LOG(1e-3), _LOG(1.0)),
}


def _svr_kernel_optuna(trial: Any) -> Dict[str, Any]:
    name = trial.suggest_categorical("kernel", ["rbf", "poly", "linear"])
    if name == "rbf":
        kernel = {"name": name, "gamma": trial.suggest_float("rbf_gamma", 1e-4, 1.0, log=True)}
    elif name == "poly":
        kernel = {"name": name, "degree": float(trial.suggest_int("degree", 2, 4)),
                  "gamma": trial.suggest_float("poly_gamma", 1e-3, 1.0, log=True),
                  "coef0": trial.suggest_float("coef0", 0.0, 2.0)}
    else:
        kernel = {"name": name}
    return {"kernel": kernel, "C": trial.suggest_float("C", 1e-2, 1e2, log=True),
            "epsilon": trial.suggest_float("epsilon", 1e-3, 1.0, log=True)}


def _svr_kernel(params: Dict[str, Any]) -> float:
    from sklearn.svm import SVR

    kernel = params["kernel"]
    options = {"kernel": kernel["name"], "C": params["C"], "epsilon": params["epsilon"],
               "max_iter": 200_000}
    if kernel["name"] != "linear":
        options["gamma"] = kernel["gamma"]
    if kernel["name"] == "poly":
        options.update(degree=int(kernel["degree"]), coef0=kernel["coef0"])
    return _cross_validated("diabetes", lambda: SVR(**options))


# ---------------------------------------------------------------------- k nearest neighbours
KNN_SPACE = {
    "n_neighbors": hp.quniform("n_neighbors", 1, 60, 1),
    "weights": hp.choice("weights", ["uniform", "distance"]),
    "p": hp.choice("p", [1, 2, 3]),
    "leaf_size": hp.quniform("leaf_size", 5, 50, 1),  # no effect on the loss: a distractor
}


def _knn_optuna(trial: Any) -> Dict[str, Any]:
    return {"n_neighbors": float(trial.suggest_int("n_neighbors", 1, 60)),
            "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
            "p": trial.suggest_categorical("p", [1, 2, 3]),
            "leaf_size": float(trial.suggest_int("leaf_size", 5, 50))}


def _knn(params: Dict[str, Any]) -> float:
    from sklearn.neighbors import KNeighborsRegressor

    return _cross_validated("diabetes", lambda: KNeighborsRegressor(
        n_neighbors=int(params["n_neighbors"]), weights=params["weights"], p=params["p"],
        leaf_size=int(params["leaf_size"])))


# ---------------------------------------------------------------------- random forest
RF_SPACE = {
    "max_depth": hp.quniform("max_depth", 1, 16, 1),
    "min_samples_split": hp.uniform("min_samples_split", 0.01, 0.5),
    "min_samples_leaf": hp.uniform("min_samples_leaf", 0.001, 0.2),
    "max_features": hp.uniform("max_features", 0.05, 1.0),
    "criterion": hp.choice("criterion", ["gini", "entropy"]),
}


def _rf_optuna(trial: Any) -> Dict[str, Any]:
    return {"max_depth": float(trial.suggest_int("max_depth", 1, 16)),
            "min_samples_split": trial.suggest_float("min_samples_split", 0.01, 0.5),
            "min_samples_leaf": trial.suggest_float("min_samples_leaf", 0.001, 0.2),
            "max_features": trial.suggest_float("max_features", 0.05, 1.0),
            "criterion": trial.suggest_categorical("criterion", ["gini", "entropy"])}


def _rf(params: Dict[str, Any]) -> float:
    from sklearn.ensemble import RandomForestClassifier

    return _cross_validated("breast", lambda: RandomForestClassifier(
        n_estimators=30, max_depth=int(params["max_depth"]),
        min_samples_split=params["min_samples_split"],
        min_samples_leaf=params["min_samples_leaf"], max_features=params["max_features"],
        criterion=params["criterion"], random_state=0, n_jobs=1))


# ---------------------------------------------------------------------- a small network
MLP_SPACE = {
    "width": hp.qloguniform("width", _LOG(4), _LOG(64), 1),
    "alpha": hp.loguniform("alpha", _LOG(1e-6), _LOG(10.0)),
    "learning_rate_init": hp.loguniform("learning_rate_init", _LOG(1e-4), _LOG(0.3)),
    "batch_size": hp.qloguniform("batch_size", _LOG(8), _LOG(256), 1),
    "max_iter": hp.quniform("max_iter", 5, 30, 1),
}


def _mlp_optuna(trial: Any) -> Dict[str, Any]:
    return {"width": float(trial.suggest_int("width", 4, 64, log=True)),
            "alpha": trial.suggest_float("alpha", 1e-6, 10.0, log=True),
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 0.3, log=True),
            "batch_size": float(trial.suggest_int("batch_size", 8, 256, log=True)),
            "max_iter": float(trial.suggest_int("max_iter", 5, 30))}


def _mlp(params: Dict[str, Any]) -> float:
    from sklearn.neural_network import MLPClassifier

    return _cross_validated("breast", lambda: MLPClassifier(
        hidden_layer_sizes=(int(params["width"]),), alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"], batch_size=int(params["batch_size"]),
        max_iter=int(params["max_iter"]), random_state=0))


# ---------------------------------------------------------------------- logistic regression
LOGREG_SPACE = {
    "C": hp.loguniform("C", _LOG(1e-4), _LOG(1e3)),
    "intercept_scaling": hp.loguniform("intercept_scaling", _LOG(1e-2), _LOG(1e2)),
    "class_weight": hp.choice("class_weight", [None, "balanced"]),
    "l1_ratio": hp.uniform("l1_ratio", 0.0, 1.0),
}


def _logreg_optuna(trial: Any) -> Dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-4, 1e3, log=True),
            "intercept_scaling": trial.suggest_float("intercept_scaling", 1e-2, 1e2, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
            "l1_ratio": trial.suggest_float("l1_ratio", 0.0, 1.0)}


def _logreg(params: Dict[str, Any]) -> float:
    from sklearn.linear_model import LogisticRegression

    return _cross_validated("breast", lambda: LogisticRegression(
        C=params["C"], solver="saga", l1_ratio=params["l1_ratio"], max_iter=200,
        intercept_scaling=params["intercept_scaling"], class_weight=params["class_weight"],
        random_state=0))


# ---------------------------------------------------------------------- gradient boosting
GBM_SPACE = {
    "learning_rate": hp.loguniform("learning_rate", _LOG(1e-2), _LOG(1.0)),
    "max_leaf_nodes": hp.qloguniform("max_leaf_nodes", _LOG(2), _LOG(64), 1),
    "min_samples_leaf": hp.qloguniform("min_samples_leaf", _LOG(1), _LOG(100), 1),
    "l2_regularization": hp.loguniform("l2_regularization", _LOG(1e-6), _LOG(10.0)),
}


def _gbm_optuna(trial: Any) -> Dict[str, Any]:
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-2, 1.0, log=True),
            "max_leaf_nodes": float(trial.suggest_int("max_leaf_nodes", 2, 64, log=True)),
            "min_samples_leaf": float(trial.suggest_int("min_samples_leaf", 1, 100, log=True)),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 10.0,
                                                     log=True)}


def _gbm(params: Dict[str, Any]) -> float:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return _cross_validated("diabetes", lambda: HistGradientBoostingRegressor(
        learning_rate=params["learning_rate"], max_leaf_nodes=int(params["max_leaf_nodes"]),
        min_samples_leaf=int(params["min_samples_leaf"]),
        l2_regularization=params["l2_regularization"], max_iter=50, early_stopping=False,
        random_state=0))


def _problem(name: str, space: Any, optuna_params: Callable, loss: Callable) -> Problem:
    return Problem(name, space, optuna_params, cached(loss), budget=BUDGET)


TUNING_PROBLEMS = {p.name: p for p in (
    _problem("svr_diabetes", SVR_SPACE, _svr_optuna, _svr),
    _problem("svr_kernel_diabetes", SVR_KERNEL_SPACE, _svr_kernel_optuna, _svr_kernel),
    _problem("knn_diabetes", KNN_SPACE, _knn_optuna, _knn),
    _problem("rf_breast", RF_SPACE, _rf_optuna, _rf),
    _problem("mlp_breast", MLP_SPACE, _mlp_optuna, _mlp),
    _problem("logreg_breast", LOGREG_SPACE, _logreg_optuna, _logreg),
    _problem("gbm_diabetes", GBM_SPACE, _gbm_optuna, _gbm),
)}
"""The real problems: 2020-challenge scores (0 = random search's mean best, 1 = the best any
method found in the same run), 128 evaluations each."""
