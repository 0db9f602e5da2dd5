"""The deterministic network simulator: the real node core and runtime on a simulated network
(`sim.network`), random fault schedules played on it and judged for finality's safety and
liveness (`sim.faults`), and many of them run over worker processes (`sim.fuzz`)."""
