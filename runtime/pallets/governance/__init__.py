"""What the governance pallets share: the tracks referenda are decided on, and their tallies."""
