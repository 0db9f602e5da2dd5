"""The pallets: each one part of the state transition function, with storage, events and calls."""
