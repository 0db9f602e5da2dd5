"""The benchmarks `xpl benchmark` runs: block import, a local network, a compute workload."""
