"""The simulated world: its agents' context, how a scenario builds it, and the run loop."""
