"""Distributed trials: ``python -m benchmarks distributed``.

Tunes data-parallel training of a small network (one hidden layer, softmax, full-batch
gradient descent on synthetic data): each rank trains on its shard, and the ranks average their
gradients at every step, with ``torch.distributed`` (gloo) where torch is installed and
``--comm torch`` is asked, otherwise with ``hyperspark.trial_context().all_gather`` in numpy.
Real distributed training, on a real ``local-cluster`` (executor JVMs), not a sleep.

Three measurements, side by side in one run:

- **correctness**: a trial's validation loss after K steps against the same training in one
  process on the whole data (the averaged shard gradients equal the full gradient, so they
  must agree to rounding);
- **speed**: the same trials (the same points, inserted) run as P=2 trials x N=2 tasks side by
  side, and one at a time with N=4 (the usual advice for distributed training under hyperopt);
  the throughput ratio over ``--repeats`` rounds, mean and standard error;
- **overhead**: the per-trial cost of a barrier job of 2 tasks against a plain one-task job,
  for a no-op objective at parallelism 1.

    python -m benchmarks distributed                       # local-cluster[2,2,1024]
    python -m benchmarks distributed --repeats 5 --trials 8 --comm torch
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from typing import Any, Dict, List, Sequence

import numpy as np

ROWS, FEATURES, CLASSES = 12_000, 48, 4


def make_data(seed: int = 0) -> Dict[str, np.ndarray]:
    """Rows labelled by a random teacher network: learnable, not linearly separable."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, FEATURES))
    teacher = np.tanh(x @ rng.normal(size=(FEATURES, 32))) @ rng.normal(size=(32, CLASSES))
    y = teacher.argmax(axis=1)
    split = ROWS * 5 // 6
    return {"x": x[:split], "y": y[:split], "x_val": x[split:], "y_val": y[split:]}


def init_weights(hidden: int, seed: int = 1) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=1 / math.sqrt(FEATURES), size=(FEATURES, hidden)),
            np.zeros(hidden), rng.normal(scale=1 / math.sqrt(hidden), size=(hidden, CLASSES)),
            np.zeros(CLASSES)]


def loss_and_gradient(weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
                      l2: float) -> tuple:
    """Mean cross-entropy of ``x`` (plus the l2 term) and its gradient, summed over rows
    (the caller divides by the rows of all shards, so shard gradients add up exactly)."""
    w1, b1, w2, b2 = weights
    hidden = np.tanh(x @ w1 + b1)
    logits = hidden @ w2 + b2
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    loss_sum = -np.log(p[np.arange(len(y)), y] + 1e-12).sum()
    d_logits = p
    d_logits[np.arange(len(y)), y] -= 1
    g_w2, g_b2 = hidden.T @ d_logits, d_logits.sum(axis=0)
    d_hidden = (d_logits @ w2.T) * (1 - hidden ** 2)
    g_w1, g_b1 = x.T @ d_hidden, d_hidden.sum(axis=0)
    return loss_sum, [g_w1, g_b1, g_w2, g_b2]


def validation_loss(weights: Sequence[np.ndarray], data: Dict[str, np.ndarray]) -> float:
    loss_sum, _ = loss_and_gradient(weights, data["x_val"], data["y_val"], 0.0)
    return float(loss_sum / len(data["y_val"]))


def train(params: Dict[str, Any], data: Dict[str, np.ndarray], rank: int = 0, world: int = 1,
          average: Any = None) -> float:
    """Full-batch gradient descent on shard ``rank`` of ``world``, the gradient summed over
    every shard by ``average`` at each step; returns the validation loss."""
    x, y = data["x"][rank::world], data["y"][rank::world]
    total_rows = len(data["y"])
    weights = init_weights(int(params["hidden"]))
    for _ in range(int(params["steps"])):
        _, gradient = loss_and_gradient(weights, x, y, params["l2"])
        if average is not None:
            gradient = average(gradient)
        for w, g in zip(weights, gradient):
            w -= params["lr"] * (g / total_rows + params["l2"] * w)
    return validation_loss(weights, data)


def objective(params: Dict[str, Any]) -> Dict[str, Any]:
    """One trial: every rank trains on its shard; rank 0's validation loss is the result."""
    import hyperspark

    ctx = hyperspark.trial_context()
    data = make_data()
    if params.get("comm") == "torch" and ctx.world_size > 1:
        return _torch_trial(params, data, ctx)

    def average(gradient: List[np.ndarray]) -> List[np.ndarray]:
        every = ctx.all_gather(gradient)
        return [sum(parts) for parts in zip(*every)]

    loss = train(params, data, ctx.rank, ctx.world_size,
                 average if ctx.world_size > 1 else None)
    return {"loss": loss, "status": "ok"}


def _torch_trial(params: Dict[str, Any], data: Dict[str, np.ndarray], ctx: Any) -> Dict:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://{ctx.master_addr}:{ctx.master_port}",
                            rank=ctx.rank, world_size=ctx.world_size)
    try:
        def average(gradient: List[np.ndarray]) -> List[np.ndarray]:
            summed = []
            for part in gradient:
                tensor = torch.from_numpy(np.ascontiguousarray(part))
                dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
                summed.append(tensor.numpy())
            return summed

        loss = train(params, data, ctx.rank, ctx.world_size, average)
    finally:
        dist.destroy_process_group()
    return {"loss": loss, "status": "ok"}


def noop(params: Dict[str, Any]) -> float:
    return 0.0


# ---------------------------------------------------------------- the runs
SPACE_LABELS = ("lr", "hidden", "l2")


def space(comm: str, steps: int) -> Dict[str, Any]:
    from hyperopt import hp

    return {"lr": hp.loguniform("lr", math.log(0.05), math.log(1.0)),
            "hidden": hp.choice("hidden", [64, 128, 256]),
            "l2": hp.loguniform("l2", math.log(1e-6), math.log(1e-3)),
            "steps": steps, "comm": comm}


def points(count: int, seed: int) -> List[Dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [{"lr": float(math.exp(rng.uniform(math.log(0.05), 0.0))),
             "hidden": int(rng.integers(3)),
             "l2": float(math.exp(rng.uniform(math.log(1e-6), math.log(1e-3))))}
            for _ in range(count)]


def timed_search(spark: Any, fn: Any, trial_points: List[Dict[str, Any]], space_: Any,
                 parallelism: int, tasks: int) -> tuple:
    """Wall seconds of a search of exactly ``trial_points`` (inserted), and its losses."""
    import hyperspark
    from hyperopt import rand

    trials = hyperspark.SparkTrials(spark_session=spark, parallelism=parallelism,
                                    tasks_per_trial=tasks, mlflow_tracking=False)
    trials.insert_points(space_, trial_points)
    started = time.perf_counter()
    hyperspark.fmin(fn, space_, algo=rand.suggest, max_evals=len(trial_points), trials=trials,
                    show_progressbar=False)
    seconds = time.perf_counter() - started
    losses = [d["result"].get("loss") for d in sorted(trials._dynamic_trials,
                                                     key=lambda d: d["tid"])]
    return seconds, losses


def mean_se(values: Sequence[float]) -> tuple:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def start_session(master: str) -> Any:
    from pyspark.sql import SparkSession

    from hyperspark.backends.spark import runner_for
    from hyperspark.backends.spark.session import quiet_conf

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(master).appName("hyperspark-distributed-benchmark")
             .config(map=quiet_conf())
             .config("spark.executor.memory", "1g")
             # one BLAS thread per rank: a rank is one core's worth of work
             .config("spark.executorEnv.OMP_NUM_THREADS", "1")
             .config("spark.executorEnv.OPENBLAS_NUM_THREADS", "1")
             .config("spark.executorEnv.MKL_NUM_THREADS", "1").getOrCreate())
    deadline = time.monotonic() + 120
    while runner_for(spark).task_slots() < 4:
        if time.monotonic() > deadline:
            raise SystemExit("the cluster did not show 4 task slots within 120 s")
        time.sleep(0.5)
    return spark


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks distributed",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", default="local-cluster[2,2,1024]",
                        help="a master with at least 4 task slots")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=8, help="trials per search (speed)")
    parser.add_argument("--steps", type=int, default=40, help="gradient steps per trial")
    parser.add_argument("--comm", choices=["numpy", "torch"], default="numpy",
                        help="how ranks average gradients (torch: gloo all_reduce)")
    parser.add_argument("--overhead-trials", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(list(argv))
    if args.comm == "torch":
        import torch  # noqa: F401  (fail now, not on the executors)

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # executors lack benchmarks/
    spark = start_session(args.master)
    space_ = space(args.comm, args.steps)
    report: Dict[str, Any] = {"master": args.master, "comm": args.comm, "steps": args.steps}

    # correctness: the same point, trained in one process and as trials of 2 and 4 ranks
    probe = {"lr": 0.5, "hidden": 128, "l2": 1e-4, "steps": args.steps}
    single = train(probe, make_data())
    distributed = {}
    for tasks in (2, 4):
        _, losses = timed_search(spark, objective, [{"lr": 0.5, "hidden": 1, "l2": 1e-4}],
                                 space_, 1, tasks)
        distributed[tasks] = losses[0]
    report["correctness"] = {"single_process": single,
                             **{f"ranks_{n}": loss for n, loss in distributed.items()},
                             "max_abs_diff": max(abs(loss - single)
                                                 for loss in distributed.values())}

    # speed: the same trials, P=2 x N=2 side by side against one at a time with N=4
    ratios, side, serial = [], [], []
    for repeat in range(args.repeats):
        trial_points = points(args.trials, seed=100 + repeat)
        order = [(2, 2), (1, 4)] if repeat % 2 == 0 else [(1, 4), (2, 2)]
        seconds = {}
        for parallelism, tasks in order:
            seconds[(parallelism, tasks)], _ = timed_search(spark, objective, trial_points,
                                                            space_, parallelism, tasks)
        side.append(seconds[(2, 2)])
        serial.append(seconds[(1, 4)])
        ratios.append(seconds[(1, 4)] / seconds[(2, 2)])
    report["speed"] = {"trials": args.trials, "p2_n2_s": mean_se(side),
                       "p1_n4_s": mean_se(serial), "throughput_ratio": mean_se(ratios)}

    # overhead: a no-op trial as a barrier job of 2 tasks against a plain one-task job
    plain, gang, extra = [], [], []
    for repeat in range(args.repeats):
        trial_points = points(args.overhead_trials, seed=200 + repeat)
        one, _ = timed_search(spark, noop, trial_points, space_, 1, 1)
        two, _ = timed_search(spark, noop, trial_points, space_, 1, 2)
        plain.append(one / args.overhead_trials)
        gang.append(two / args.overhead_trials)
        extra.append((two - one) / args.overhead_trials)
    report["overhead"] = {"plain_s": mean_se(plain), "barrier_2_s": mean_se(gang),
                          "extra_s": mean_se(extra)}
    spark.stop()
    print(render(report))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0


def render(report: Dict[str, Any]) -> str:
    c, s, o = report["correctness"], report["speed"], report["overhead"]

    def ms(pair: tuple) -> str:
        return f"{pair[0] * 1000:.0f} ± {pair[1] * 1000:.0f} ms"

    return "\n".join([
        f"distributed trials on {report['master']}, gradients averaged with {report['comm']}, "
        f"{report['steps']} full-batch steps per trial",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| validation loss, one process on all the data | {c['single_process']:.6f} |",
        f"| the same, a trial of 2 ranks / of 4 ranks | {c['ranks_2']:.6f} / {c['ranks_4']:.6f} "
        f"(largest difference {c['max_abs_diff']:.1e}) |",
        f"| {s['trials']} trials, P=2 x N=2 side by side | {s['p2_n2_s'][0]:.1f} ± "
        f"{s['p2_n2_s'][1]:.1f} s |",
        f"| the same trials one at a time, N=4 | {s['p1_n4_s'][0]:.1f} ± "
        f"{s['p1_n4_s'][1]:.1f} s |",
        f"| throughput ratio (side by side / one at a time) | {s['throughput_ratio'][0]:.2f} ± "
        f"{s['throughput_ratio'][1]:.2f} |",
        f"| no-op trial, plain one-task job | {ms(o['plain_s'])} |",
        f"| no-op trial, barrier job of 2 tasks | {ms(o['barrier_2_s'])} |",
        f"| start-up cost of the barrier job | {ms(o['extra_s'])} per trial |",
    ])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
