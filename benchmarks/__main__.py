"""``python -m benchmarks NAME [options]``: run one benchmark of this folder."""
import sys

from benchmarks import (checkpoint, connect, continuation, distributed, driver, gp_speed,
                        multiobjective, overhead, page, pool, pruning, reproducible, search, sharing,
                        suggest, throughput, tracking)
from hyperspark import cli

COMMANDS = {"checkpoint": checkpoint.main, "connect": connect.main,
            "continue": continuation.main,
            "distributed": distributed.main, "driver": driver.main, "gp_speed": gp_speed.main,
            "multiobjective": multiobjective.main,
            "overhead": overhead.main, "page": page.main, "pool": pool.main, "pruning": pruning.main, "reproducible": reproducible.main,
            "search": search.main, "sharing": sharing.main, "suggest": suggest.main, "tracking": tracking.main,
            "throughput": throughput.main, "sweep": cli.bench}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m benchmarks {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
