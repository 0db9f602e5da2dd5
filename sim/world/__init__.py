"""A scenario's world: its chain spec, network and agents built (`build`), and run (`run`)."""
