"""The ``hyperspark`` command: ``hyperspark demo`` (a tracked search on local Spark),
``hyperspark html`` (a search's page, from its MLflow run or its checkpoint) and
``hyperspark bench`` (throughput against parallelism, with sizing advice)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional


def _quiet_logs() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        import mlflow  # noqa: F401  (it sets its own loggers' levels when imported: first)
    except ImportError:
        pass
    for noisy in ("py4j", "hyperopt", "alembic", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def demo(args: argparse.Namespace) -> int:
    from hyperspark.demo import run_demo

    _quiet_logs()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    outcome = run_demo(max_evals=args.max_evals, parallelism=args.parallelism)
    trials = outcome["trials"]
    print()
    print(f"best validation log-loss {outcome['best_loss']:.4f} at {outcome['best']}")
    print(f"{trials.count_successful_trials()} trials succeeded, "
          f"{trials.count_failed_trials()} failed, {trials.count_cancelled_trials()} cancelled")
    if outcome["parent_run_id"]:
        uri = outcome["tracking_uri"]
        print(f"\nMLflow: parent run {outcome['parent_run_id']} (trials.run_id) in experiment "
              f"'{outcome['experiment']}', store {uri}")
        print("Open the MLflow UI on that store with:")
        print(f"    mlflow ui --backend-store-uri {uri} --port 5000")
        print("then browse this search's runs at:")
        print(f"    {outcome['ui_link']}")
        print("The search's page is logged with the parent run too (artifact search.html).")
    print(f"\nThe search's page (open it in a browser): {outcome['page']}")
    return 0


def html(args: argparse.Namespace) -> int:
    """Write a search's page from its MLflow parent run or its checkpoint file."""
    from hyperspark.page import from_checkpoint, write
    from hyperspark.tracking.page_source import page_data

    _quiet_logs()
    if args.run_id:
        data = page_data(args.run_id, args.tracking_uri)
    elif not os.path.isfile(args.checkpoint):
        raise CommandError(f"no checkpoint file {args.checkpoint!r}")
    else:
        data = from_checkpoint(args.checkpoint)
    path = write(data, args.output)
    print(f"the search's page: {path}  ({len(data['trials']['tid'])} trials)")
    return 0


def bench(argv: List[str]) -> int:
    """Run the sizing sweep (``hyperspark.bench.sweep``)."""
    from hyperspark.bench import sweep

    code, report = sweep.run(argv)
    print(report)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="hyperspark", description=HELP, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="run a real tracked TPE search on local Spark")
    run.add_argument("--max-evals", type=int, default=40)
    run.add_argument("--parallelism", type=int, default=2)
    run.set_defaults(handler=demo)
    page = commands.add_parser("html", help="write a search's page (one self-contained HTML "
                               "file) from its MLflow run or its checkpoint")
    source = page.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-id", help="the search's MLflow parent run")
    source.add_argument("--checkpoint", help="the search's checkpoint (trials_save_file)")
    page.add_argument("--tracking-uri", default=None,
                      help="the MLflow store (default: MLFLOW_TRACKING_URI, else ./mlflow.db)")
    page.add_argument("-o", "--output", default="search.html",
                      help="where to write the page (default ./search.html)")
    page.set_defaults(handler=html)
    commands.add_parser("bench", help="sweep throughput against parallelism, with sizing "
                        "advice (options: hyperspark bench --help)", add_help=False)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":
        return bench(argv[1:])
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"hyperspark {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a person reads this: one line, not a traceback
        from hyperspark.errors import HypersparkError, summarize

        logging.getLogger("hyperspark").debug("hyperspark %s failed", args.command,
                                              exc_info=True)
        ours = isinstance(exc, (CommandError, HypersparkError))
        message = str(exc).strip().splitlines()[0] if ours else summarize(exc)
        print(f"hyperspark {args.command}: error: {message}", file=sys.stderr)
        return 1


HELP = "Hyperopt searches on Apache Spark, recorded in MLflow."
EXAMPLES = """examples:
  hyperspark demo                      a tracked search on local Spark, in ./mlflow.db
  hyperspark html --run-id RUN_ID      the page of a search, from its MLflow parent run
  hyperspark html --checkpoint FILE    the page of a search, from its checkpoint
  hyperspark bench --help              the sizing sweep's options"""


class CommandError(Exception):
    """What a command says went wrong, as it should be shown."""


if __name__ == "__main__":
    sys.exit(main())
