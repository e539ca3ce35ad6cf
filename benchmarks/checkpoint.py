"""What a checkpoint costs: the same no-op search with and without ``trials_save_file``, side
by side in one process, at growing sizes. The question is whether the cost per trial stays flat
as the search grows (a naive rewrite-after-every-trial is quadratic).

The backend is ``local`` (threads, no Spark), so that the loop is as fast as it gets and the
checkpoint's share is as large as it gets: on Spark, trials are slower and the share smaller.

    python -m benchmarks checkpoint                       # 1,000 / 5,000 / 20,000 trials
    python -m benchmarks checkpoint --sizes 500 2000 --repeats 1 --parallelism 8
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from hyperopt import hp, rand

import hyperspark
from hyperspark.checkpoint import CheckpointWriter


def one_search(trials_count: int, path: Optional[str], parallelism: int = 2) -> Dict[str, float]:
    """Seconds per trial of one search, and the checkpoint's writes when there is one."""
    writers: List[CheckpointWriter] = []
    original = CheckpointWriter.search_started

    def spy(self, search, settings):  # to read the write counts after fmin
        writers.append(self)
        original(self, search, settings)

    CheckpointWriter.search_started = spy
    try:
        trials = hyperspark.SparkTrials(backend="local", parallelism=parallelism,
                                        mlflow_tracking=False)
        began = time.perf_counter()
        hyperspark.fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest,
                        max_evals=trials_count, trials=trials, trials_save_file=path or "",
                        show_progressbar=False)
        seconds = time.perf_counter() - began
    finally:
        CheckpointWriter.search_started = original
    row = {"ms_per_trial": 1000 * seconds / trials_count, "writes": 0, "write_s": 0.0,
           "file_mb": 0.0}
    if writers:
        row.update(writes=writers[0].writes, write_s=writers[0].write_seconds,
                   file_mb=os.path.getsize(path) / 2 ** 20)
    return row


def run(sizes: Sequence[int], repeats: int, parallelism: int = 2) -> List[Dict[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            for repeat in range(repeats):
                plain = one_search(size, None, parallelism)
                path = os.path.join(folder, f"search-{size}-{repeat}.ckpt")
                saved = one_search(size, path, parallelism)
                rows.append({"trials": size, "repeat": repeat,
                             "plain_ms": plain["ms_per_trial"],
                             "checkpoint_ms": saved["ms_per_trial"],
                             "ratio": saved["ms_per_trial"] / plain["ms_per_trial"],
                             "writes": saved["writes"], "write_s": saved["write_s"],
                             "file_mb": saved["file_mb"]})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def markdown(rows: List[Dict[str, float]]) -> str:
    lines = ["| trials | without (ms/trial) | with checkpoint (ms/trial) | ratio | writes | "
             "seconds writing | file |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['trials']} | {row['plain_ms']:.2f} | {row['checkpoint_ms']:.2f} | "
                     f"{row['ratio']:.2f}× | {row['writes']} | {row['write_s']:.2f} | "
                     f"{row['file_mb']:.1f} MB |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks checkpoint",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args(argv)
    if any(size < 1 for size in args.sizes) or args.repeats < 1 or args.parallelism < 1:
        parser.error("--sizes, --repeats and --parallelism must be positive integers")
    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    print(markdown(run(args.sizes, args.repeats, args.parallelism)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
