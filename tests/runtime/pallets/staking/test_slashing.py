"""Equivocation reports: the offender and its nominators slashed, disabled and chilled, each offence
punished once, invalid proofs refused by name.

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
from tests.runtime.pallets.market_helpers import UNIT, treasury_fee_share
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    BONDS,
    CHARLIE,
    DAVE,
    NINA,
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
    reward = (own + theirs) * PARAMS.reporter_reward_ppm // PPM
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
    out = chain.report(REPORTER, slot_equivocation(CHARLIE))
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
    # Another round is another offence.
    assert chain.report(REPORTER, vote_equivocation(BOB, round_=6)).error is None


def test_the_last_enabled_authority_is_not_disabled() -> None:
    chain = staking_chain(replace(PARAMS, min_validators=3))  # the set is kept
    assert chain.report(REPORTER, vote_equivocation(ALICE)).error is None
    assert chain.report(REPORTER, vote_equivocation(BOB)).error is None
    assert chain.report(REPORTER, vote_equivocation(CHARLIE)).error is None
    assert chain.disabled() == tuple(sorted((A, B)))
    chain.advance(3)  # Charlie authors alone
    assert chain.problems() == []
