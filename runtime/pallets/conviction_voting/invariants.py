"""Conviction voting's invariants over a committed state.

- every delegation is recorded at its delegate, and what is delegated to an account is the sum of
  the delegations to it; a delegator has no votes in the class it delegates;
- each class's lock covers what its record needs, and the account's "vote" freeze is never above
  its largest class lock (it equals it, unless a slash took the lockable balance below it: the
  freeze then covers what was left until the account's next vote or unlock);
- the tally of every ongoing poll equals a recount from the voting records.
"""

from __future__ import annotations

from collections import defaultdict

from runtime.pallets import balances
from runtime.pallets.conviction_voting.constants import LOCK_ID
from runtime.pallets.conviction_voting.records import (
    Delegations,
    Voting,
    delegated,
    tally_add,
    tally_delegations,
)
from runtime.pallets.conviction_voting.storage import ClassLocksFor, VotingFor, voting_key_parts
from runtime.pallets.governance import polls
from runtime.pallets.governance.polls import Ongoing
from runtime.pallets.governance.tally import Tally
from runtime.state import PrefixIterator, StateOverlay, StateReader


def recount(records: dict[tuple[bytes, int], Voting]) -> dict[int, Tally]:
    """Every poll's tally counted from the voting records: each vote, and for a standard vote
    what is delegated to its voter."""
    tallies: dict[int, Tally] = defaultdict(Tally)
    for voting in records.values():
        for poll, vote in voting.votes:
            tally = tally_add(tallies[poll], vote)
            side = vote.standard_aye()
            if side is not None:
                tally = tally_delegations(tally, side, voting.delegations, add=True)
            tallies[poll] = tally
    return dict(tallies)


def _delegation_problems(records: dict[tuple[bytes, int], Voting]) -> list[str]:
    problems = []
    owed: dict[tuple[bytes, int], Delegations] = defaultdict(Delegations)
    for (who, cls), voting in records.items():
        d = voting.delegating
        if d is None:
            continue
        if voting.votes:
            problems.append(f"{who.hex()} votes in class {cls}, which it delegates")
        owed[(d.target, cls)] = owed[(d.target, cls)].plus(delegated(d.conviction, d.balance))
    for key in set(owed) | set(records):
        recorded = records[key].delegations if key in records else Delegations()
        if recorded != owed.get(key, Delegations()):
            problems.append(
                f"{key[0].hex()} in class {key[1]} records delegations {tuple(recorded)}, "
                f"its delegators {tuple(owed.get(key, Delegations()))}"
            )
    return problems


def broken_invariants(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """Broken conviction voting invariants in a committed state, as messages (empty: all hold)."""
    records = {
        voting_key_parts(VotingFor.key_suffix(k)): VotingFor.decode_at(k, v)
        for k, v in iterate(VotingFor.prefix)
    }
    locks = {
        ClassLocksFor.key_suffix(k): dict(ClassLocksFor.decode_at(k, v))
        for k, v in iterate(ClassLocksFor.prefix)
    }
    problems = _delegation_problems(records)
    for (who, cls), voting in records.items():
        if voting.is_empty():
            problems.append(f"{who.hex()} keeps an empty record in class {cls}")
        needed = voting.locked_balance()
        if locks.get(who, {}).get(cls, 0) < needed:
            problems.append(
                f"{who.hex()} locks less in class {cls} than its record needs ({needed})"
            )
    frozen = {
        balances.Freezes.key_suffix(k): dict(balances.Freezes.decode(v)).get(LOCK_ID, 0)
        for k, v in iterate(balances.Freezes.prefix)
    }
    for who, held in locks.items():
        largest = max(held.values(), default=0)
        if frozen.get(who, 0) > largest:
            problems.append(
                f"{who.hex()}: vote freeze {frozen.get(who, 0)} above its largest lock {largest}"
            )
    state = StateOverlay(read)
    try:
        runtime_polls = polls.polls()
    except RuntimeError:
        return problems
    for poll, counted in recount(records).items():
        status = runtime_polls.poll_status(state, poll)
        if isinstance(status, Ongoing) and status.tally != counted:
            problems.append(f"poll {poll}: tally {tuple(status.tally)}, recount {tuple(counted)}")
    return problems
