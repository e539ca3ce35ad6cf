"""``hyperspark bench``: the cluster-sizing harness, shipped in the package so that it runs
from an install, in any directory, against any master: its objectives are importable on
the executors wherever hyperspark is installed."""
