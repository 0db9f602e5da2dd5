"""The benchmarks `xpl benchmark` runs: block import, a flood of gossiped transactions that
cannot pay (`intake`), a flood of finality votes (`vote-flood`), a local network, a compute
workload."""
