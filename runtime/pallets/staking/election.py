"""The election of an era's validators and their exposures, and handing them to session."""

from __future__ import annotations

from typing import Final

from runtime.framework import BlockContext
from runtime.pallets import session
from runtime.pallets.staking.constants import MAX_CANDIDATES, MAX_NOMINATIONS, MAX_NOMINATORS
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.phragmen import Voter, seq_phragmen
from runtime.pallets.staking.storage import (
    Active,
    Candidates,
    Exposure,
    Exposures,
    Ledgers,
    Nominations,
    Nominators,
    SessionKeys,
    Validators,
)
from runtime.state import StateOverlay

# The election

MAX_ELECTION_STEPS: Final = (
    session.MAX_AUTHORITIES * MAX_CANDIDATES + MAX_NOMINATORS * MAX_NOMINATIONS**2
)
"""The most score comparisons and updates one election makes (5,096,000). Each round (one per
seat, at most MAX_AUTHORITIES) compares every candidate's score; each time one of a nominator's
targets wins, the scores of its other targets rise (at most MAX_NOMINATIONS times, each touching
MAX_NOMINATIONS targets). Below seats × nominators × nominations, Substrate's bound for a
recomputation of every score every round. Measured on the 2-core development machine with
random nominations: 55 ms for 100 seats, 1,000 candidates and 1,000 nominators naming 16 each;
0.9 s for 1,000 seats and 64 nominations each."""


def elect_validators(
    state: StateOverlay, p: StakingParams
) -> tuple[tuple[bytes, Exposure], ...] | None:
    """The next era's validators and their exposures, sorted by stash; None to keep the set.

    Eligible candidates (bonded at least `min_validator_bond`, with a session key) stand with their
    active bond; nominators (at least `min_nominator_bond`) vote for their eligible targets with
    theirs. Sequential Phragmén (`phragmen.seq_phragmen`) elects up to `validator_count` of them
    and splits each nominator's bond over its elected targets: those shares are the exposures, and
    a nominator's shares add up to its active bond, never more.
    """
    own: dict[bytes, int] = {}
    for stash in Candidates.get(state):
        ledger = Ledgers.get(state, stash)
        key = SessionKeys.get(state, stash)
        if ledger is not None and key is not None and ledger.active >= p.min_validator_bond:
            own[stash] = ledger.active
    if len(own) < p.min_validators:
        return None
    voters: list[Voter] = []
    for nominator in Nominators.get(state):
        ledger = Ledgers.get(state, nominator)
        if ledger is None or ledger.active == 0 or ledger.active < p.min_nominator_bond:
            continue
        targets = tuple(t for t in Nominations.get(state, nominator) or () if t in own)
        if targets:
            voters.append(Voter(nominator, ledger.active, targets))
    result = seq_phragmen(p.validator_count, own, voters)
    others: dict[bytes, list[tuple[bytes, int]]] = {s: [] for s in result.winners}
    for nominator in sorted(result.assignments):  # exposures list nominators sorted
        for target, amount in result.assignments[nominator]:
            others[target].append((nominator, amount))
    out = []
    for stash in sorted(result.winners):
        key = SessionKeys.get(state, stash)
        assert key is not None
        backing = tuple(others[stash])
        total = own[stash] + sum(amount for _, amount in backing)
        commission = Validators.get(state, stash) or 0
        out.append((stash, Exposure(key, total, own[stash], backing, commission)))
    return tuple(out)


def install_elected(ctx: BlockContext, elected: tuple[tuple[bytes, Exposure], ...]) -> None:
    """Make `elected` the era's validators, in staking's storage and in session's set.

    Session's order is the authoring order: validators already in the set keep their places,
    newcomers follow sorted by stash, so an unchanged election leaves the set as it is.
    """
    state = ctx.state
    for stash, _ in Active.get(state):
        Exposures.remove(state, stash)
    for stash, exposure in elected:
        Exposures.insert(state, stash, exposure)
    Active.put(state, tuple((stash, e.session_key) for stash, e in elected))
    place = {key: i for i, key in enumerate(session.authority_set(state).keys)}
    ordered = sorted(
        elected, key=lambda item: (place.get(item[1].session_key, len(place)), item[0])
    )
    session.set_authorities(ctx, [(e.session_key, e.total) for _, e in ordered])
