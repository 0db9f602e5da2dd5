"""The benchmarks `xpl benchmark` runs: block import, a flood of gossiped transactions that
cannot pay (`intake`), a local network, a compute workload."""
