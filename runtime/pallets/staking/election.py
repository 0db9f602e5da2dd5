"""The election of an era's validators and their exposures, and handing them to session."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets import session
from runtime.pallets.staking.params import StakingParams
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


def elect_validators(
    state: StateOverlay, p: StakingParams
) -> tuple[tuple[bytes, Exposure], ...] | None:
    """The next era's validators and their exposures, sorted by stash; None to keep the set."""
    own: dict[bytes, int] = {}
    for stash in Candidates.get(state):
        ledger = Ledgers.get(state, stash)
        key = SessionKeys.get(state, stash)
        if ledger is not None and key is not None and ledger.active >= p.min_validator_bond:
            own[stash] = ledger.active
    if len(own) < p.min_validators:
        return None
    approval = dict(own)
    votes: list[tuple[bytes, int, tuple[bytes, ...]]] = []
    for nominator in Nominators.get(state):
        ledger = Ledgers.get(state, nominator)
        if ledger is None or ledger.active == 0 or ledger.active < p.min_nominator_bond:
            continue
        targets = tuple(t for t in Nominations.get(state, nominator) or () if t in own)
        if targets:
            votes.append((nominator, ledger.active, targets))
            for target in targets:
                approval[target] += ledger.active
    ranked = sorted(own, key=lambda s: (-approval[s], s))[: p.validator_count]
    others: dict[bytes, list[tuple[bytes, int]]] = {s: [] for s in ranked}
    for nominator, bond, targets in votes:
        elected = [t for t in targets if t in others]  # targets are sorted
        if not elected:
            continue
        share, remainder = divmod(bond, len(elected))
        for i, target in enumerate(elected):
            amount = share + (remainder if i == 0 else 0)
            if amount:
                others[target].append((nominator, amount))
    out = []
    for stash in sorted(ranked):
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
