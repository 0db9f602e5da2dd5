"""Attacks on conviction voting that a rational voter might try after a slash or a reap, each
refused or without effect."""

from __future__ import annotations

import pytest

from runtime.framework import Origin
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.governance.tracks import MAX_TRACKS
from runtime.pallets.staking import Staking
from runtime.pallets.staking.slashing import slash_stash
from tests.runtime.pallets.voting_helpers import ALICE, BOB, CHARLIE, UNIT, Bench, Refused


def bond(bench: Bench, who: bytes, value: int) -> None:
    function = Staking().calls()["bond"].function
    bench.run(lambda ctx: function(ctx, Origin(signer=who), value))


def test_a_vote_after_a_slash_locks_its_whole_amount_again(bench: Bench) -> None:
    """A slash cuts the freeze below the class lock; funds that arrive later and vote in that
    class again must be frozen, or they could vote here and then leave to vote from another
    account (the same funds counted twice)."""
    bench.open_poll(0)
    bench.open_poll(1)
    bond(bench, ALICE, 800 * UNIT)
    bench.vote(ALICE, 0, aye=1_000 * UNIT, c=6)
    bench.run(lambda ctx: slash_stash(ctx, ALICE, 500 * UNIT))
    assert bench.freeze(ALICE) == 500 * UNIT
    bench.transfer(BOB, ALICE, 900 * UNIT)
    bench.vote(ALICE, 1, aye=1_000 * UNIT, c=6)
    assert bench.freeze(ALICE) == 1_000 * UNIT
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 500 * UNIT)


def test_a_vote_after_a_reap_is_frozen(bench: Bench) -> None:
    """A stash slashed to nothing is reaped with its freeze, but its class lock record stays;
    refunded and voting again in that class, its vote must freeze its funds."""
    bench.open_poll(0)
    bench.open_poll(1)
    bond(bench, ALICE, 1_000 * UNIT - ED // 2)
    bench.vote(ALICE, 0, aye=900 * UNIT, c=6)
    bench.run(lambda ctx: slash_stash(ctx, ALICE, 1_000 * UNIT))
    assert bench.free(ALICE) == 0 and bench.freeze(ALICE) == 0
    assert bench.locks(ALICE) == {0: 900 * UNIT}
    bench.transfer(BOB, ALICE, 950 * UNIT)
    bench.vote(ALICE, 1, aye=900 * UNIT, c=6)
    assert bench.freeze(ALICE) == 900 * UNIT
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 100 * UNIT)


def test_locks_in_more_classes_than_tracks_stay_readable_and_unlock(bench: Bench) -> None:
    """Tracks renumbered by `set_tracks` (allowed once they have no ongoing referenda) leave
    voters locked in classes that no longer exist while they vote in the new ones: an account
    locked in more classes than there are tracks at once must still vote, unlock and keep its
    record readable, or its lock could never be released."""
    classes = 2 * MAX_TRACKS + 1
    for poll in range(classes):
        bench.open_poll(poll, track=poll)
        bench.vote(ALICE, poll, aye=(poll + 1) * UNIT, c=1)
    assert len(bench.locks(ALICE)) == classes
    assert bench.freeze(ALICE) == classes * UNIT
    for poll in range(classes):
        bench.end_poll(poll, approved=False)
        bench.call(ALICE, "remove_vote", poll, poll)
        bench.call(BOB, "unlock", poll, ALICE)
    assert bench.locks(ALICE) == {}
    assert bench.freeze(ALICE) == 0
