"""Staking's and session's state stays bounded however many eras pass: the kept eras, the
authority sets, the punishments of each era and the credited windows of noted precommits are
pruned as they expire, and nothing is kept of stashes that stop validating.

Alice, Bob and Charlie validate from genesis; eras are 10 blocks (staking_helpers). Dave stands
each era with a fresh session key and chills now and then, his precommits noted with the others',
and equivocates every third era.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.framework import storage_prefix
from runtime.pallets import session, staking
from runtime.primitives.keys import dev_keypair
from tests.runtime.pallets.market_helpers import UNIT
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    OUTSIDER,
    PARAMS,
    PPM,
    REPORTER,
    A,
    B,
    C,
    StakingChain,
    staking_chain,
    vote_equivocation,
)

PERIOD: int = 30
"""Eras after which Dave's steps repeat (raises every 2nd, reports every 3rd, chills every 5th)."""


def _entries(chain: StakingChain) -> dict[str, int]:
    """How many stored entries each storage item of staking and session has."""
    counts: dict[str, int] = {}
    for pallet in (staking.NAME, session.NAME):
        pallet_prefix = storage_prefix(pallet, "")[:16]
        for key in chain.state:
            if key.startswith(pallet_prefix):
                counts[key[16:32].hex()] = counts.get(key[16:32].hex(), 0) + 1
    counts.pop(storage_prefix("staking", "RetiredKeys")[16:].hex(), None)
    return counts


def _era_with_a_fresh_key(chain: StakingChain, era: int) -> None:
    """Dave stands with a new key (a commission raise on every other era, a chill on every
    fifth), the set's voters' precommits are noted each window, and the era ends."""
    key = dev_keypair(f"Rotating{era}")
    if era % 5 == 4:
        assert chain.call(DAVE, "staking", "chill").error in (None, "NotStaking")  # or reported
    else:
        assert chain.validate(DAVE, PPM if era % 2 else 0, key.public).error is None
    chain.offline = {dev_keypair(f"Rotating{e}").public for e in range(era + 1)}
    voters = {k.public: k for k in (ALICE, BOB, CHARLIE, key)}
    voters.update(
        (dev_keypair(f"Rotating{e}").public, dev_keypair(f"Rotating{e}")) for e in range(era)
    )
    set_id = chain.authorities().set_id
    for round_ in range(2):
        chain.advance(3)
        number = chain.head.number - 1
        signed = [
            chain.precommit(voters[k], number, set_id=set_id, round_=1_000 * era + round_)
            for k in chain.authorities().keys
        ]
        chain.note_votes(OUTSIDER, set_id, 1_000 * era + round_, signed)
    daves = [k for k in chain.authorities().keys if k not in (A, B, C)]
    if era % 3 == 1 and daves:  # Dave's key of this set equivocates, and is slashed for it once
        proof = vote_equivocation(voters[daves[0]], set_id=set_id)
        assert chain.report(REPORTER, proof).error is None
        assert chain.report(REPORTER, proof).error == "AlreadyPunished"
    chain.to_era_end()


def test_the_state_stays_bounded_over_many_eras() -> None:
    chain = staking_chain(replace(PARAMS, validator_count=4))
    assert chain.bond(DAVE, 2_000 * UNIT).error is None
    sizes = []
    for era in range(2 * PERIOD):
        _era_with_a_fresh_key(chain, era)
        sizes.append(sum(_entries(chain).values()))
    assert chain.problems() == []
    # The same steps a period later leave the state no larger: nothing accumulates.
    assert max(sizes[PERIOD:]) <= max(sizes[:PERIOD]) and sizes[-1] == sizes[PERIOD - 1], sizes
    noted = [k for k in chain.state if k.startswith(staking.NotedWindows.prefix)]
    assert len(noted) <= 2 * 4  # the voters of the current and the previous set
    sets = [n for n in range(4 * PERIOD) if session.HistoricalSets.get(chain.overlay(), n)]
    assert len(sets) <= PARAMS.slash_window_eras + 3
