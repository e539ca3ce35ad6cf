"""Tuning an MLlib model: the driver backend at parallelism 1, 2 and 4 against plain serial
``hyperopt.Trials`` (Databricks' old advice for MLlib), on one SparkSession in one process.

Every contender runs the same TPE search (same seed, same number of trials) of a
``LogisticRegression`` on a synthetic classification problem, cached before timing. Each
trial's ``fit`` and evaluation are Spark jobs; the question is how much of the cluster one
trial leaves idle, and whether running trials side by side costs search quality.

    python -m benchmarks driver                        # the table in docs/benchmarks.md
    python -m benchmarks driver --trials 16 --rows 20000 --master "local[2]"
    python -m benchmarks driver --remote local          # the same on a local Connect server
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable, Dict, List, Sequence

import numpy as np
from hyperopt import Trials, fmin, hp, tpe

from benchmarks.common import quiet_logs, start_spark

SPACE = {"reg": hp.loguniform("reg", np.log(1e-4), np.log(1.0)),
         "elastic": hp.uniform("elastic", 0.0, 1.0)}


def make_frames(spark: Any, rows: int) -> Any:
    """Cached train and test DataFrames of a noisy 8-feature binary problem."""
    import pyspark.sql.functions as F
    from pyspark.ml.feature import VectorAssembler

    names = [f"f{i}" for i in range(8)]
    data = spark.range(rows, numPartitions=4).select(
        *[F.randn(seed=i).alias(name) for i, name in enumerate(names)])
    score = sum(F.col(name) * (1.0 / (i + 1)) for i, name in enumerate(names))
    data = data.withColumn("label", (score + F.randn(seed=99) > 0).cast("double"))
    data = VectorAssembler(inputCols=names, outputCol="features").transform(data)
    train, test = data.randomSplit([0.8, 0.2], seed=7)
    train, test = train.cache(), test.cache()
    train.count(), test.count()
    return train, test


def objective_for(train: Any, test: Any) -> Callable[[Dict[str, float]], float]:
    def objective(params: Dict[str, float]) -> float:
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.evaluation import BinaryClassificationEvaluator

        model = LogisticRegression(regParam=params["reg"], elasticNetParam=params["elastic"],
                                   maxIter=20).fit(train)
        return 1.0 - BinaryClassificationEvaluator().evaluate(model.transform(test))

    return objective


def one_search(objective: Callable, trials_object: Any, trials: int, seed: int) -> Dict[str, float]:
    began = time.perf_counter()
    fmin(objective, SPACE, algo=tpe.suggest, max_evals=trials, trials=trials_object,
         rstate=np.random.default_rng(seed), show_progressbar=False)
    wall = time.perf_counter() - began
    losses = [loss for loss in trials_object.losses() if loss is not None]
    return {"wall_s": wall, "best_loss": min(losses), "trials": len(losses)}


def run(spark: Any, parallelisms: Sequence[int], trials: int, rows: int,
        seed: int) -> List[Dict[str, Any]]:
    from hyperspark import SparkTrials

    train, test = make_frames(spark, rows)
    objective = objective_for(train, test)
    one_search(objective, Trials(), 4, seed + 1)  # warm-up, not counted: JIT, cached plans
    rows_out = [{"contender": "serial hyperopt.Trials", "parallelism": 1,
                 **one_search(objective, Trials(), trials, seed)}]
    for p in parallelisms:
        contender = SparkTrials(parallelism=p, backend="driver", spark_session=spark,
                                mlflow_tracking=False)
        rows_out.append({"contender": "hyperspark driver", "parallelism": p,
                         **one_search(objective, contender, trials, seed)})
    # Serial again, last: whichever serial run was faster is the baseline, so that a session
    # still warming up during the first run cannot flatter the driver backend.
    rows_out.append({"contender": "serial hyperopt.Trials, again", "parallelism": 1,
                     **one_search(objective, Trials(), trials, seed)})
    serial = min(rows_out[0]["wall_s"], rows_out[-1]["wall_s"])
    for row in rows_out:
        row["speedup"] = serial / row["wall_s"]
    return rows_out


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks driver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--remote", help="a Spark Connect server (sc://host:port), or 'local'")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(list(argv))
    quiet_logs()
    spark = start_spark(args.master, "hyperspark-driver-benchmark", args.remote)
    try:
        table = run(spark, args.parallelism, args.trials, args.rows, args.seed)
    finally:
        spark.stop()
    print("| contender | P | wall time | speed-up over serial | best loss (1 - AUC) |")
    print("|---|---|---|---|---|")
    for row in table:
        print(f"| {row['contender']} | {row['parallelism']} | {row['wall_s']:.1f} s | "
              f"{row['speedup']:.2f}x | {row['best_loss']:.4f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(table, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
