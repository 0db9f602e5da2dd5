"""Bounties' invariants: every deposit held is owed, every open bounty's funds exist, and each
bounty's list of children is its open child bounties."""

from __future__ import annotations

from runtime.pallets import system
from runtime.pallets.bounties.params import HOLD, MAX_CHILDREN
from runtime.pallets.bounties.storage import (
    CURATED,
    PROPOSED,
    Bounties,
    ChildBounties,
    Children,
    bounty_account,
    child_account,
)
from runtime.state import PrefixIterator, StateReader


def _u64(suffix: bytes) -> int:
    return int.from_bytes(suffix, "big")


def broken_invariants(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """Broken bounties invariants in a committed state, as messages (empty: all hold):

    - each account's "bounties" hold equals the bonds of its proposals plus the deposits of the
      bounties and child bounties it curates (active or awarded): deposits held == deposits owed;
    - every bounty past its proposal has an account, every child bounty has one;
    - `Children` lists exactly each bounty's open child bounties, at most MAX_CHILDREN, and
      every child's parent is a bounty past its proposal.
    """
    del read
    problems: list[str] = []
    owed: dict[bytes, int] = {}
    funded: dict[int, str] = {}
    if all(next(iter(iterate(m.prefix)), None) is None for m in (Bounties, ChildBounties)):
        # No bounty and no child, so nothing held for one (every hold this pallet makes has a
        # record). Skipping the scan of every account keeps a check after every block cheap on
        # chains without bounties.
        return []
    accounts = dict(system.accounts_in(iterate))

    def owe(who: bytes | None, amount: int) -> None:
        if who is not None and amount:
            owed[who] = owed.get(who, 0) + amount

    for key, raw in iterate(Bounties.prefix):
        bounty_id = _u64(Bounties.key_suffix(key))
        current = Bounties.decode_at(key, raw)
        if current.status == PROPOSED:
            owe(current.proposer, current.bond)
            continue
        funded[bounty_id] = current.status
        if current.status in CURATED:
            owe(current.curator, current.curator_deposit)
        if bounty_account(bounty_id) not in accounts:
            problems.append(f"bounty {bounty_id} is {current.status} but has no account")
    children: dict[int, set[int]] = {}
    for key, raw in iterate(ChildBounties.prefix):
        child_id = _u64(ChildBounties.key_suffix(key))
        child = ChildBounties.decode_at(key, raw)
        children.setdefault(child.parent, set()).add(child_id)
        if child.status in CURATED:
            owe(child.curator, child.curator_deposit)
        if child.parent not in funded:
            problems.append(f"child bounty {child_id}'s parent {child.parent} is not funded")
        if child_account(child_id) not in accounts:
            problems.append(f"child bounty {child_id} has no account")
    listed: dict[int, set[int]] = {}
    for key, raw in iterate(Children.prefix):
        ids = Children.decode(raw)
        listed[_u64(Children.key_suffix(key))] = set(ids)
        if not ids or len(ids) > MAX_CHILDREN or len(set(ids)) != len(ids):
            problems.append(f"bounty {_u64(Children.key_suffix(key))}'s list of children is bad")
    if listed != children:
        problems.append("the bounties' lists of children differ from the child bounties")
    held = {who: info.held(HOLD) for who, info in accounts.items() if info.held(HOLD)}
    if held != owed:
        problems.append(f"bounty deposits held {held} differ from the deposits owed {owed}")
    return problems
