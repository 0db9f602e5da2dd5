"""Equivocation reports: the offender and its nominators slashed, disabled and chilled, each offence
punished once, invalid proofs refused by name; an offence slashed against the exposure of the era
it happened in, however late it is reported within its window, and refused after it.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime.accounts import TREASURY
from runtime.consensus import SignedVote, SlotEquivocation, VoteEquivocation
from runtime.consensus import encode_equivocation as encode_proof
from runtime.pallets import staking
from runtime.pallets.staking import GenesisNominator, Ledger
from runtime.pallets.staking.history import Eras, OldestEra
from tests.runtime.pallets.market_helpers import UNIT, treasury_fee_share
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    BONDS,
    CHARLIE,
    DAVE,
    NINA,
    NOEL,
    OUTSIDER,
    PARAMS,
    PPM,
    REPORTER,
    SESSION_KEYS,
    A,
    B,
    C,
    D,
    StakingChain,
    header,
    param_args,
    slot_equivocation,
    staking_chain,
    vote,
    vote_equivocation,
)


def test_a_vote_equivocation_slashes_the_offender_and_its_nominators() -> None:
    nina = GenesisNominator(NINA.public, 600 * UNIT, (B,))
    chain = staking_chain(nominators=[nina])
    reporter, treasury = chain.balance(REPORTER), chain.total(TREASURY)
    out = chain.report(REPORTER, vote_equivocation(BOB))
    assert out.error is None
    own, theirs = 200 * UNIT, 60 * UNIT
    reward = own * PARAMS.reporter_reward_ppm // PPM  # out of the offender's own loss only
    staking_events = [
        e for e in out.events if e[0] == "Equivocation" or (e[0] == "Slashed" and len(e[1]) == 2)
    ]
    assert staking_events[-3:] == [
        ("Slashed", (B, own)),
        ("Slashed", (NINA.public, theirs)),
        ("Equivocation", (B, "vote")),
    ]
    assert ("AuthorityDisabled", (B,)) in out.events and ("Chilled", (B,)) in out.events
    assert chain.ledger(BOB) == Ledger(1_800 * UNIT)
    assert chain.ledger(NINA) == Ledger(540 * UNIT)
    assert chain.balance(REPORTER) == reporter + reward - out.fee
    assert chain.total(TREASURY) == treasury + own + theirs - reward + treasury_fee_share(out.block)
    assert chain.disabled() == (B,) and B not in chain.candidates()
    assert staking.ForceEra.get(chain.overlay())
    # The next block ends the era: the set changes without Bob.
    chain.advance()
    assert chain.era() == 1 and chain.active() == tuple(sorted((A, C)))
    assert chain.authorities().set_id == 1 and B not in chain.authorities().keys
    assert chain.disabled() == ()
    assert chain.problems() == []


def test_a_slot_equivocation_slashes_and_disables_its_author(chain: StakingChain) -> None:
    out = chain.report(REPORTER, slot_equivocation(CHARLIE, slot=8))  # set 0's slot 8 is his
    assert out.error is None
    assert ("Slashed", (C, 100 * UNIT)) in out.events
    assert ("Equivocation", (C, "slot")) in out.events
    assert chain.disabled() == (C,) and C not in chain.candidates()
    chain.advance()
    assert C not in chain.authorities().keys


def test_an_offence_by_a_session_key_punishes_the_stash_behind_it(chain: StakingChain) -> None:
    key = SESSION_KEYS[0]
    chain.bond(DAVE, 4_000 * UNIT)
    chain.validate(DAVE, 0, key.public)
    chain.to_era_end()
    set_id = chain.authorities().set_id
    out = chain.report(REPORTER, vote_equivocation(key, set_id=set_id))
    assert ("Slashed", (D, 400 * UNIT)) in out.events
    assert ("Equivocation", (D, "vote")) in out.events
    assert chain.disabled() == (key.public,)


def _proofs() -> list[object]:
    one = vote(BOB, target=b"\x01" * 32)
    other_round = vote(BOB, round_=6, target=b"\x02" * 32)
    other_voter = vote(ALICE, target=b"\x02" * 32)
    forged = SignedVote(**{**_fields(vote(BOB, target=b"\x02" * 32)), "signature": one.signature})
    same_header = header(CHARLIE)
    return [
        pytest.param(encode_proof(VoteEquivocation(one, one)), "SameMessage", id="same-vote"),
        pytest.param(
            encode_proof(VoteEquivocation(one, other_round)), "NotOneOffence", id="two-rounds"
        ),
        pytest.param(
            encode_proof(VoteEquivocation(one, other_voter)), "NotOneOffence", id="two-voters"
        ),
        pytest.param(
            encode_proof(VoteEquivocation(one, forged)), "BadProofSignature", id="bad-signature"
        ),
        pytest.param(vote_equivocation(DAVE), "NotAnAuthority", id="not-an-authority"),
        pytest.param(vote_equivocation(BOB, set_id=9), "UnknownSet", id="unknown-set"),
        pytest.param(
            encode_proof(SlotEquivocation(same_header, same_header)),
            "SameMessage",
            id="same-header",
        ),
        pytest.param(
            encode_proof(SlotEquivocation(header(CHARLIE, slot=7), header(CHARLIE, slot=8))),
            "NotOneOffence",
            id="two-slots",
        ),
        pytest.param(
            encode_proof(
                SlotEquivocation(
                    same_header,
                    replace(
                        header(CHARLIE, state_root=b"\x02" * 32),
                        digest=same_header.digest,
                    ),
                )
            ),
            "BadProofSignature",
            id="bad-seal",
        ),
        pytest.param(slot_equivocation(OUTSIDER), "NotAnAuthority", id="unknown-author"),
        pytest.param(slot_equivocation(CHARLIE, slot=7), "NotAnAuthority", id="not-his-slot"),
        pytest.param(b"\x93\x01\x02", "MalformedProof", id="malformed"),
    ]


def _fields(v: SignedVote) -> dict[str, object]:
    return {f: getattr(v, f) for f in SignedVote.__dataclass_fields__}


@pytest.mark.parametrize(("proof", "error"), _proofs())
def test_an_invalid_proof_is_refused_by_name(chain: StakingChain, proof: bytes, error: str) -> None:
    out = chain.report(REPORTER, proof)
    assert out.error == error and out.fee > 0
    assert chain.disabled() == () and chain.candidates() == tuple(sorted((A, B, C)))
    assert all(chain.ledger(v) == Ledger(bond) for v, bond in BONDS.items())


def test_an_offence_is_punished_once(chain: StakingChain) -> None:
    assert chain.report(REPORTER, vote_equivocation(BOB)).error is None
    other_pair = encode_proof(
        VoteEquivocation(vote(BOB, target=b"\x05" * 32), vote(BOB, target=b"\x06" * 32))
    )
    assert chain.report(OUTSIDER, other_pair).error == "AlreadyPunished"
    chain.advance()
    assert chain.report(REPORTER, vote_equivocation(BOB)).error == "AlreadyPunished"
    assert chain.ledger(BOB) == Ledger(1_800 * UNIT)
    # Another round of the same era is punished already: a validator is slashed at most once an
    # era, so made-up round numbers cannot slash its nominators again and again.
    assert chain.report(REPORTER, vote_equivocation(BOB, round_=6)).error == "AlreadyPunished"
    assert chain.ledger(BOB) == Ledger(1_800 * UNIT)


def test_the_last_enabled_authority_is_not_disabled() -> None:
    chain = staking_chain(replace(PARAMS, min_validators=3))  # the set is kept
    assert chain.report(REPORTER, vote_equivocation(ALICE)).error is None
    assert chain.report(REPORTER, vote_equivocation(BOB)).error is None
    assert chain.report(REPORTER, vote_equivocation(CHARLIE)).error is None
    assert chain.disabled() == tuple(sorted((A, B)))
    chain.advance(3)  # Charlie authors alone
    assert chain.problems() == []


# Offences reported after their era

CHARLIE_SLOT = 2
"""A slot of era 0 that set 0 (Alice, Bob, Charlie in Aura order) gives to Charlie."""
NINA_BEHIND_CHARLIE = GenesisNominator(NINA.public, 500 * UNIT, (C,))


def _offence(kind: str, keypair: object = CHARLIE, *, slot: int = CHARLIE_SLOT) -> bytes:
    """Charlie's (or `keypair`'s) offence in era 0: two votes in set 0, or two headers for a
    slot of era 0."""
    assert keypair in (CHARLIE, DAVE)
    offender = CHARLIE if keypair is CHARLIE else DAVE
    return (
        vote_equivocation(offender, set_id=0)
        if kind == "vote"
        else slot_equivocation(offender, slot=slot)
    )


@pytest.mark.parametrize("kind", ["vote", "slot"])
def test_chilling_unbonding_and_waiting_out_the_era_does_not_escape_the_slash(kind: str) -> None:
    """Charlie equivocates in era 0; he and his nominator chill and unbond everything, the era
    ends without them, and only then is the offence reported: they lose 10% of their era-0
    exposure (100 and 50 XPL) from their unbonding chunks, as if reported at once."""
    chain = staking_chain(nominators=[NINA_BEHIND_CHARLIE])
    exposure = chain.exposure(C)
    assert exposure is not None and exposure.others == ((NINA.public, 500 * UNIT),)
    due = {
        C: exposure.own * PARAMS.equivocation_slash_ppm // PPM,
        NINA.public: 500 * UNIT * PARAMS.equivocation_slash_ppm // PPM,
    }
    dodge = chain.calls(
        (CHARLIE, "staking", "chill", ()),
        (CHARLIE, "staking", "unbond", (BONDS[C],)),
        (NINA, "staking", "chill", ()),
        (NINA, "staking", "unbond", (500 * UNIT,)),
    )
    assert [o.error for o in dodge] == [None] * 4
    fees = {C: dodge[0].fee + dodge[1].fee, NINA.public: dodge[2].fee + dodge[3].fee}
    chain.to_era_end()
    assert chain.era() == 1 and C not in chain.active() and chain.exposure(C) is None
    before = {who: chain.total(who) for who in (C, NINA.public)}
    out = chain.report(REPORTER, _offence(kind))
    assert out.error is None
    assert ("Equivocation", (C, kind)) in out.events
    # Dodging saved nothing: each lost, when the report came, what an immediate report would
    # have taken, and paid the dodge's fees on top.
    for who in (C, NINA.public):
        taken = before[who] - chain.total(who)
        profit = due[who] - taken - fees[who]  # what the dodge saved, less what it cost
        assert profit < 0
        assert taken == due[who]
    # Taken from the unbonding chunks.
    unlocks = PARAMS.bonding_eras * PARAMS.era_blocks  # unbonded in era 0: era 2's start
    assert chain.ledger(CHARLIE) == Ledger(0, ((unlocks, BONDS[C] - due[C]),))
    assert chain.ledger(NINA) == Ledger(0, ((unlocks, 500 * UNIT - due[NINA.public]),))
    assert chain.problems() == []


def test_a_reelected_offenders_new_nominator_is_not_slashed_for_an_older_offence() -> None:
    """Noel starts backing Charlie after Charlie's era-0 offence; reported in era 1, it slashes
    Charlie and Nina by their era-0 exposure and leaves Noel's bond alone."""
    chain = staking_chain(nominators=[NINA_BEHIND_CHARLIE])
    assert chain.bond(NOEL, 800 * UNIT).error is None
    assert chain.nominate(NOEL, CHARLIE).error is None
    chain.to_era_end()
    now = chain.exposure(C)
    assert now is not None and (NOEL.public, 800 * UNIT) in now.others
    assert chain.authorities().set_id == 1
    out = chain.report(REPORTER, _offence("vote"))
    assert out.error is None
    slashes = [args for name, args in out.events if name == "Slashed" and len(args) == 2]
    assert slashes == [(C, 100 * UNIT), (NINA.public, 50 * UNIT)]
    assert chain.ledger(NOEL) == Ledger(800 * UNIT)
    # Still in the set: disabled, and the era ends at the next block.
    assert chain.disabled() == (C,) and staking.ForceEra.get(chain.overlay())


@pytest.mark.parametrize("kind", ["vote", "slot"])
def test_an_offence_expires_when_its_stake_can_be_withdrawn(kind: str) -> None:
    """With slash_window_eras 1 and bonding_eras 2, an era-0 offence is reportable in era 1, when
    the stake unbonded in era 0 is still held, and refused from era 2 on, when it unlocks."""
    chain = staking_chain(nominators=[NINA_BEHIND_CHARLIE])
    chain.calls((CHARLIE, "staking", "chill", ()), (CHARLIE, "staking", "unbond", (BONDS[C],)))
    chain.to_era_end()
    assert chain.call(CHARLIE, "staking", "withdraw_unbonded").error == "NothingToWithdraw"
    chain.to_era_end()
    assert chain.era() == PARAMS.slash_window_eras + 1 == PARAMS.bonding_eras
    out = chain.report(REPORTER, _offence(kind))
    assert out.error == "OffenceExpired" and out.fee > 0
    assert chain.ledger(CHARLIE) == Ledger(0, ((2 * PARAMS.era_blocks, BONDS[C]),))
    assert chain.ledger(NINA) == Ledger(500 * UNIT)
    assert chain.call(CHARLIE, "staking", "withdraw_unbonded").error is None


def test_a_slot_offence_is_checked_against_the_set_of_its_era() -> None:
    """Dave validates from era 1 on (in Charlie's place): two headers he sealed for an era-0 slot
    are no offence of an authority (set 0 gave that slot to Alice), nor two votes in set 0, while
    two headers for one of his era-1 slots are."""
    chain = staking_chain()
    chain.bond(DAVE, 1_000 * UNIT)
    chain.validate(DAVE)
    chain.to_era_end()
    keys = chain.authorities().keys
    assert D in keys and chain.authorities().set_id == 1
    old = chain.report(REPORTER, _offence("slot", DAVE, slot=3))
    assert old.error == "NotAnAuthority"
    assert chain.report(REPORTER, _offence("vote", DAVE)).error == "NotAnAuthority"
    assert chain.ledger(DAVE) == Ledger(1_000 * UNIT)
    slot = 100 * len(keys) + keys.index(D)  # a slot of era 1 (after its start), Dave's in set 1
    out = chain.report(REPORTER, _offence("slot", DAVE, slot=slot))
    assert out.error is None and ("Slashed", (D, 100 * UNIT)) in out.events


def test_eras_are_kept_for_the_window_and_pruned_after() -> None:
    chain = staking_chain()
    for _ in range(3):
        chain.to_era_end()
    overlay = chain.overlay()
    assert OldestEra.get(overlay) == 3 - PARAMS.slash_window_eras
    assert [Eras.get(overlay, e) is not None for e in range(4)] == [False, False, True, True]
    assert chain.problems() == []


def test_the_reporting_window_must_end_before_unbonding_does(chain: StakingChain) -> None:
    too_long = replace(PARAMS, slash_window_eras=PARAMS.bonding_eras)
    assert chain.root_call("staking", "set_params", *param_args(too_long)) == "BadParams"
    chain.to_era_end()
    shorter = replace(PARAMS, slash_window_eras=0)
    assert chain.root_call("staking", "set_params", *param_args(shorter)) is None
    # Era 0 is still kept until this era's end, but its offences expired with the window.
    assert OldestEra.get(chain.overlay()) == 0
    assert chain.report(REPORTER, _offence("slot")).error == "OffenceExpired"
    chain.to_era_end()
    assert OldestEra.get(chain.overlay()) == 2
