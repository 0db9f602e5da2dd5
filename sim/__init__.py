"""The deterministic network simulator: the real node core and runtime on a simulated network."""
