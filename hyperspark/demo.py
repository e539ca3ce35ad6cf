"""The demo search: tune a small numpy logistic regression on synthetic data, on local Spark,
recorded in MLflow. Run it with ``hyperspark demo``."""
from __future__ import annotations

import logging
from typing import Any, Dict

import numpy as np
from hyperopt import hp

logger = logging.getLogger("hyperspark")

UI_URL = "http://127.0.0.1:5000"
"""Where ``mlflow ui --port 5000`` serves the UI: the demo's link points there."""

SPACE = {
    "learning_rate": hp.loguniform("learning_rate", np.log(1e-3), np.log(1.0)),
    "l2": hp.loguniform("l2", np.log(1e-6), np.log(1e-1)),
    "epochs": hp.quniform("epochs", 5, 60, 5),
    "features": hp.choice("features", ["raw", "squared"]),
}


def make_data(seed: int = 7, rows: int = 600) -> Dict[str, np.ndarray]:
    """Two classes separated by a curved boundary: squared features help."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    y = ((x[:, 0] ** 2 + 0.5 * x[:, 1]) > 0.8).astype(float)
    split = rows * 2 // 3
    return {"x_train": x[:split], "y_train": y[:split], "x_val": x[split:], "y_val": y[split:]}


def _features(x: np.ndarray, kind: str) -> np.ndarray:
    columns = [x, x ** 2] if kind == "squared" else [x]
    return np.hstack(columns + [np.ones((len(x), 1))])


def train_and_score(params: Dict[str, Any], data: Dict[str, np.ndarray]) -> float:
    """Validation log-loss of a logistic regression trained by gradient descent."""
    x_train = _features(data["x_train"], params["features"])
    x_val = _features(data["x_val"], params["features"])
    weights = np.zeros(x_train.shape[1])
    for _ in range(int(params["epochs"])):
        for _ in range(20):
            p = 1 / (1 + np.exp(-x_train @ weights))
            gradient = x_train.T @ (p - data["y_train"]) / len(x_train) + params["l2"] * weights
            weights -= params["learning_rate"] * gradient
    p_val = np.clip(1 / (1 + np.exp(-x_val @ weights)), 1e-9, 1 - 1e-9)
    y = data["y_val"]
    return float(-np.mean(y * np.log(p_val) + (1 - y) * np.log(1 - p_val)))


def objective(params: Dict[str, Any]) -> Dict[str, Any]:
    import mlflow

    loss = train_and_score(params, make_data())
    mlflow.log_metric("val_log_loss", loss)  # lands in this trial's child run
    return {"loss": loss, "status": "ok"}


def run_demo(max_evals: int = 40, parallelism: int = 2) -> Dict[str, Any]:
    """Run the tracked demo search and return what a person needs to look at it."""
    import mlflow

    from hyperspark import SparkTrials, fmin, tpe
    from hyperspark.tracking.store import absolute_tracking_uri

    mlflow.set_experiment("hyperspark-demo")
    trials = SparkTrials(parallelism=parallelism)
    best = fmin(objective, SPACE, algo=tpe.suggest, max_evals=max_evals, trials=trials,
                return_argmin=False)
    tracker = trials.last_tracker
    page = trials.to_html("hyperspark-demo.html")
    return {"best": best, "best_loss": trials.best_trial["result"]["loss"], "trials": trials,
            "page": page,
            "tracking_uri": absolute_tracking_uri(mlflow.get_tracking_uri()),
            "parent_run_id": trials.run_id,
            "experiment": tracker.experiment_name if tracker else None,
            "ui_link": tracker.ui_link(UI_URL) if tracker else None,
            "fmin_uuid": tracker.fmin_uuid if tracker else None,
            "search_id": trials.last_search_id}
