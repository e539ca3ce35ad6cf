"""Pruning: TPE with ASHA against TPE alone, on a real iterative model, over several seeds; and
the cost of one ``hyperspark.report()`` call on actors.

The model is scikit-learn's ``SGDClassifier`` (logistic loss, elastic net), trained one
``partial_fit`` epoch at a time, up to 27 epochs, on a synthetic 40-feature problem loaded
once per actor by ``worker_setup``. After each epoch the objective reports the validation log
loss. Both contenders run the same number of trials with the same seeds, on the actors backend.

Compute is counted in epochs: a trial that ran to the end trained 27; a pruned one trained one
epoch more than it reported (the epoch whose report raised ``TrialPruned``). Best loss is the
best validation log loss of a fully trained model.

    python -m benchmarks pruning                  # the table in docs/pruning.md
    python -m benchmarks pruning --seeds 0 1 --trials 30
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Dict, List, Sequence

import numpy as np
from hyperopt import fmin, hp, tpe

from benchmarks.common import quiet_logs, start_spark

EPOCHS = 27
SPACE = {"alpha": hp.loguniform("alpha", np.log(1e-7), np.log(1e-1)),
         "eta0": hp.loguniform("eta0", np.log(1e-4), np.log(1.0)),
         "l1_ratio": hp.uniform("l1_ratio", 0.0, 1.0),
         "schedule": hp.choice("schedule", ["constant", "invscaling", "adaptive"])}


def load_data(rows: int = 20000) -> Dict[str, Any]:
    """Standardized train and validation splits of a noisy binary problem (worker_setup)."""
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(n_samples=rows, n_features=40, n_informative=12,
                               n_redundant=8, class_sep=0.7, flip_y=0.05, random_state=0)
    split = int(rows * 0.8)
    scaler = StandardScaler().fit(X[:split])
    return {"X": scaler.transform(X[:split]), "y": y[:split],
            "X_val": scaler.transform(X[split:]), "y_val": y[split:]}


def objective(params: Dict[str, Any]) -> float:
    """Up to EPOCHS epochs of SGD, reporting the validation log loss after each (predicted
    probabilities clipped to [1e-6, 1 - 1e-6], so a diverged model scores about 13.8)."""
    import warnings

    import hyperspark
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    data = hyperspark.worker_state()
    model = SGDClassifier(loss="log_loss", penalty="elasticnet", alpha=params["alpha"],
                          l1_ratio=params["l1_ratio"], learning_rate=params["schedule"],
                          eta0=params["eta0"], random_state=0)
    order = np.random.default_rng(0)
    loss = float("nan")
    for epoch in range(1, EPOCHS + 1):
        shuffled = order.permutation(len(data["y"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(data["X"][shuffled], data["y"][shuffled], classes=[0, 1])
        p = np.clip(model.predict_proba(data["X_val"])[:, 1], 1e-6, 1 - 1e-6)
        loss = float(-np.mean(data["y_val"] * np.log(p) + (1 - data["y_val"]) * np.log(1 - p)))
        hyperspark.report(loss, step=epoch)
    return loss


def _ship_this_module() -> None:
    """Executors may not have this folder on their path: send its functions by value."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def one_search(spark: Any, pruner: Any, trials: int, seed: int,
               parallelism: int) -> Dict[str, float]:
    from hyperspark import SparkTrials

    _ship_this_module()
    contender = SparkTrials(spark_session=spark, backend="actors", parallelism=parallelism,
                            pruner=pruner, worker_setup=load_data, mlflow_tracking=False)
    began = time.perf_counter()
    fmin(objective, SPACE, algo=tpe.suggest, max_evals=trials, trials=contender,
         rstate=np.random.default_rng(seed), show_progressbar=False)
    wall = time.perf_counter() - began
    epochs, full_losses, per_trial = 0, [], []
    for doc in contender.trials:
        reported = len(doc["misc"]["hyperspark"].get("reports", ()))
        pruned = bool(doc["result"].get("pruned"))
        per_trial.append((pruned, reported))
        if pruned:
            epochs += reported + 1  # the epoch whose report raised TrialPruned
        else:
            epochs += EPOCHS
            full_losses.append(doc["result"]["loss"])
    return {"seed": seed, "wall_s": wall, "epochs": epochs, "best_loss": min(full_losses),
            "pruned": contender.count_pruned_trials(), "trials": contender.count_total_trials(),
            "per_trial": per_trial}


def report_cost(spark: Any, calls: int = 2000) -> Dict[str, float]:
    """Milliseconds per ``hyperspark.report()`` inside an actors trial, with MLflow tracking
    and a pruner on (the loop decides on, and the tracker logs, every report)."""
    from hyperspark import SparkTrials
    from hyperspark.pruners import ASHA

    _ship_this_module()

    def timed(params: Dict[str, Any]) -> Dict[str, Any]:
        import hyperspark

        hyperspark.report(1.0, step=0)  # the connection is open before the clock starts
        began = time.perf_counter()
        for step in range(1, calls + 1):
            hyperspark.report(1.0 / step, step=step)
        per_call = (time.perf_counter() - began) / calls * 1000
        return {"status": "ok", "loss": 0.0, "report_ms": per_call}

    trials = SparkTrials(spark_session=spark, backend="actors", parallelism=1,
                         pruner=ASHA(min_step=10 ** 9))  # asks on every report, never prunes
    fmin(timed, hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=3, trials=trials,
         show_progressbar=False)
    costs = sorted(doc["result"]["report_ms"] for doc in trials.trials)
    return {"calls": calls, "report_ms_median": costs[len(costs) // 2], "report_ms_max": costs[-1]}


def run(spark: Any, seeds: Sequence[int], trials: int, parallelism: int) -> Dict[str, Any]:
    from hyperspark.pruners import ASHA

    one_search(spark, None, 2, 99, parallelism)  # warm-up: Python workers, imports
    rows: List[Dict[str, Any]] = []
    for seed in seeds:  # side by side, seed by seed
        alone = one_search(spark, None, trials, seed, parallelism)
        asha = one_search(spark, ASHA(max_step=EPOCHS), trials, seed, parallelism)
        rows.append({"seed": seed, "tpe": alone, "tpe_asha": asha,
                     "compute_ratio": asha["epochs"] / alone["epochs"],
                     "best_loss_gap": asha["best_loss"] - alone["best_loss"]})
    return {"rows": rows, "trials": trials, "parallelism": parallelism,
            "mean_compute_ratio": statistics.mean(r["compute_ratio"] for r in rows),
            "mean_best_loss_gap": statistics.mean(r["best_loss_gap"] for r in rows)}


def markdown(result: Dict[str, Any]) -> str:
    lines = ["| seed | epochs, TPE | epochs, TPE + ASHA | compute ratio | best loss, TPE | "
             "best loss, TPE + ASHA | gap | pruned | wall, TPE | wall, TPE + ASHA |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        alone, asha = row["tpe"], row["tpe_asha"]
        lines.append(f"| {row['seed']} | {alone['epochs']} | {asha['epochs']} | "
                     f"{row['compute_ratio']:.2f}x | {alone['best_loss']:.4f} | "
                     f"{asha['best_loss']:.4f} | {row['best_loss_gap']:+.4f} | "
                     f"{asha['pruned']}/{asha['trials']} | {alone['wall_s']:.1f} s | "
                     f"{asha['wall_s']:.1f} s |")
    lines.append(f"| mean | | | {result['mean_compute_ratio']:.2f}x | | | "
                 f"{result['mean_best_loss_gap']:+.4f} | | | |")
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pruning", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--remote", help="a Spark Connect server (sc://host:port), or 'local'")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--report-calls", type=int, default=2000)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(list(argv))
    quiet_logs()
    spark = start_spark(args.master, "hyperspark-pruning-benchmark", args.remote)
    try:
        result = run(spark, args.seeds, args.trials, args.parallelism)
        result["report_cost"] = report_cost(spark, args.report_calls)
    finally:
        spark.stop()
    print(f"TPE alone vs TPE + ASHA(max_step={EPOCHS}), {args.trials} trials each, "
          f"parallelism {args.parallelism}, actors")
    print(markdown(result))
    cost = result["report_cost"]
    print(f"\nhyperspark.report() on actors (tracking and a pruner on): "
          f"{cost['report_ms_median']:.3f} ms per call (median of 3 trials of "
          f"{cost['calls']} calls; worst {cost['report_ms_max']:.3f} ms)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
