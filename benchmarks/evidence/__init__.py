"""Label efficiency and the evidence for the defaults: ``python -m benchmarks.evidence.<script>`` from the
repository root (see benchmarks/README.md)."""
