"""hyperspark's benchmarks. Run ``python -m benchmarks overhead`` (see docs/benchmarks.md)."""
