"""Speed and memory: ``python -m benchmarks.perf.<script>`` from the repository root (see benchmarks/README.md)."""
