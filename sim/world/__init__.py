"""A scenario's world: the agents' context (`context`), how a scenario builds it (`build`), and the
run loop (`run`)."""
