"""Every invariant of a committed state, checked by one call.

Each pallet states its own invariants (`Pallet.check_invariants`); this module runs them all, in
the runtime's pallet order, so that the tests, the simulator and a node run with
`--check-invariants` check the same things. Total issuance is among them: balances checks that
the sum over every account of its free and held balance equals `balances.TotalIssuance`, and
staking and market check that every hold is explained by a ledger, a bond or an escrow.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.executive import PALLETS
from runtime.state import PrefixIterator, StateReader


class InvariantsBroken(Exception):
    """A committed state breaks invariants; `problems` names every one."""

    def __init__(self, problems: Sequence[str], where: str) -> None:
        self.problems = tuple(problems)
        self.where = where
        super().__init__(f"invariants broken at {where}: " + "; ".join(self.problems))


def check_invariants(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """Every broken invariant of every pallet in a committed state, each prefixed with its
    pallet's name (empty: all hold)."""
    return [
        f"{pallet.NAME}: {problem}"
        for pallet in PALLETS
        for problem in pallet.check_invariants(read, iterate)
    ]


def ensure_invariants(read: StateReader, iterate: PrefixIterator, *, where: str) -> None:
    """Raise InvariantsBroken if any invariant fails; `where` names the state (a block)."""
    problems = check_invariants(read, iterate)
    if problems:
        raise InvariantsBroken(problems, where)
