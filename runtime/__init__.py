"""The state transition function: pallets, blocks, transactions; imports no other XPL package."""
