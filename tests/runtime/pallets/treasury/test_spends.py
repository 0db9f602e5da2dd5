"""Spends: approved by Root or a spending track up to its limit, claimed once within their
period, closed when they lapse, voided by Root; and the adversary's attempts at each."""

from __future__ import annotations

from runtime import dispatch
from runtime.accounts import TREASURY
from runtime.framework import ROOT, Origin
from runtime.pallets import treasury
from runtime.pallets.governance import spending
from runtime.pallets.treasury import MAX_PENDING_SPENDS
from runtime.pallets.treasury.params import MAX_PERIOD
from tests.runtime.pallets.treasury_helpers import (
    BEN,
    BOB,
    ED,
    NOBODY,
    SMALL,
    SMALL_LIMIT,
    TREASURER,
    TREASURY_FUNDS,
    UNIT,
    TreasuryChain,
)

AVAILABLE = TREASURY_FUNDS - ED
SMALL_TRACK = 2


def test_a_spend_is_promised_at_once_and_paid_to_its_beneficiary_once() -> None:
    chain = TreasuryChain()
    assert chain.available() == AVAILABLE
    assert chain.spend(500 * UNIT) is None
    assert chain.named("treasury", "SpendApproved") == [
        (0, 500 * UNIT, BEN, 1, 21, "small_spender")
    ]
    assert chain.available() == AVAILABLE - 500 * UNIT
    assert chain.balance(TREASURY) == TREASURY_FUNDS  # promised, not yet paid
    assert chain.payout(0) is None  # anyone may claim it for the beneficiary
    assert chain.balance(BEN) == 500 * UNIT
    assert chain.balance(TREASURY) == TREASURY_FUNDS - 500 * UNIT
    assert chain.available() == AVAILABLE - 500 * UNIT
    assert chain.named("treasury", "SpendPaid") == [(0, BEN, 500 * UNIT)]
    assert chain.named("treasury", "PaidOut") == [("spends", BEN, 500 * UNIT)]
    assert chain.ledger().spends == 500 * UNIT
    record = chain.spend_record(0)
    assert record is not None and (record.status, record.ended_at) == ("paid", 1)
    assert treasury.History.get(chain.overlay()) == (0,)
    assert chain.problems() == []


def test_a_payout_cannot_be_claimed_twice_nor_an_unknown_spend_at_all() -> None:
    chain = TreasuryChain()
    chain.spend(500 * UNIT)
    assert chain.payout(0) is None
    chain.advance_to(5)
    assert chain.payout(0) == "AlreadyPaid"
    assert chain.payout(0, who=BEN) == "AlreadyPaid"  # the beneficiary itself, neither
    assert chain.payout(1) == "UnknownSpend"  # an index no spend has had
    assert chain.balance(BEN) == 500 * UNIT
    assert chain.ledger().spends == 500 * UNIT
    assert chain.problems() == []


def test_a_payout_is_refused_before_valid_from_and_after_expiry() -> None:
    chain = TreasuryChain()
    assert chain.spend(100 * UNIT, valid_from=5) is None
    assert chain.payout(0) == "EarlyPayout"
    assert "from block 5" in chain.last_reason
    chain.advance_to(5)
    assert chain.spend(100 * UNIT) is None  # spend 1: valid now, expires at 25
    assert chain.payout(0) is None
    chain.advance_to(25)
    assert chain.payout(1) == "SpendExpired"
    assert chain.balance(BEN) == 100 * UNIT


def test_a_lapsed_spend_is_closed_by_anyone_and_its_amount_is_available_again() -> None:
    chain = TreasuryChain()
    chain.spend(300 * UNIT)
    assert chain.call(Origin(signer=BOB), "treasury", "check_status", 0) == "SpendNotExpired"
    chain.advance_to(21)
    assert treasury.Promised.get(chain.overlay()) == 300 * UNIT  # promised until closed
    before = chain.available()
    assert chain.call(Origin(signer=BOB), "treasury", "check_status", 0) is None
    assert chain.named("treasury", "SpendLapsed") == [(0, 300 * UNIT)]
    assert chain.available() == before + 300 * UNIT
    assert chain.payout(0) == "SpendEnded"
    assert chain.call(Origin(signer=BOB), "treasury", "check_status", 0) == "SpendEnded"
    assert chain.balance(BEN) == 0
    assert chain.problems() == []


def test_only_root_voids_a_pending_spend() -> None:
    chain = TreasuryChain()
    chain.spend(300 * UNIT)
    for origin in (Origin(signer=BOB), SMALL, TREASURER):
        assert chain.call(origin, "treasury", "void_spend", 0) == "BadOrigin"
    assert chain.call(ROOT, "treasury", "void_spend", 0) is None
    assert chain.available() == AVAILABLE
    assert chain.payout(0) == "SpendEnded"
    assert chain.call(ROOT, "treasury", "void_spend", 0) == "SpendEnded"
    assert chain.problems() == []


def test_a_track_cannot_spend_above_its_limit_in_one_spend() -> None:
    chain = TreasuryChain()
    assert chain.spend(SMALL_LIMIT + 1) == "SpendAboveLimit"
    assert "at most 10000" in chain.last_reason
    assert chain.spend(SMALL_LIMIT) is None
    assert chain.spend(SMALL_LIMIT + 1, origin=TREASURER) is None  # the larger track may
    assert chain.spend(50_000 * UNIT, origin=ROOT) is None  # Root has no limit but the funds
    # Nothing else spends: an account, the root track's origin named as a track, an unknown track.
    assert chain.spend(1 * UNIT, origin=Origin(signer=BOB)) == "BadOrigin"
    assert chain.spend(1 * UNIT, origin=Origin(track="root")) == "SpendAboveLimit"
    assert chain.spend(1 * UNIT, origin=Origin(track="nobody")) == "SpendAboveLimit"
    assert chain.problems() == []


def test_splitting_needs_one_approval_per_spend_each_under_the_limit() -> None:
    """A track's limit bounds each spend: one call pays one amount to one beneficiary, so more
    than the limit takes several spends, each its own referendum (deposits and a vote each);
    the registry referenda reads refuses an oversized proposal at submission."""
    chain = TreasuryChain()
    args = (SMALL_LIMIT + 1, BEN, 0)
    assert spending.spend_amount(chain.overlay(), "treasury", "spend", args) == SMALL_LIMIT + 1
    assert chain.spend(SMALL_LIMIT) is None
    assert chain.spend(1) is None  # a second approval: a second referendum
    assert chain.available() == AVAILABLE - SMALL_LIMIT - 1


def test_a_spend_beyond_the_unpromised_funds_is_refused_naming_the_shortfall() -> None:
    chain = TreasuryChain()
    assert chain.spend(AVAILABLE - 10 * UNIT, origin=ROOT) is None
    assert chain.spend(11 * UNIT, origin=ROOT) == "InsufficientFunds"
    assert chain.last_reason.endswith("1XPL short of 11XPL")
    assert chain.spend(10 * UNIT, origin=ROOT) is None
    assert chain.available() == 0
    assert chain.problems() == []


def test_bad_spends_are_refused() -> None:
    chain = TreasuryChain()
    assert chain.spend(0) == "ZeroSpend"
    assert chain.spend(1 * UNIT, beneficiary=TREASURY) == "BadBeneficiary"
    assert chain.spend(1 * UNIT, valid_from=1 + MAX_PERIOD + 1) == "StartTooLate"
    assert chain.spend(1 * UNIT, valid_from=1 + MAX_PERIOD) is None  # a promise of 3 years at most
    for _ in range(MAX_PENDING_SPENDS - 1):
        assert chain.spend(1 * UNIT, beneficiary=BOB) is None
    assert chain.spend(1 * UNIT, beneficiary=BOB) == "TooManySpends"
    assert chain.payout(1) is None  # one paid: room for another
    assert chain.spend(1 * UNIT, beneficiary=BOB) is None
    assert chain.problems() == []


def test_a_payout_too_small_to_create_its_beneficiary_fails_and_stays_claimable() -> None:
    chain = TreasuryChain()
    chain.spend(ED - 1, beneficiary=NOBODY)
    assert chain.payout(0) == "ExistentialDeposit"
    record = chain.spend_record(0)
    assert record is not None and record.pending
    assert chain.problems() == []


def test_a_proposal_to_spend_above_the_track_limit_is_refused_at_submission() -> None:
    chain = TreasuryChain()
    bob = Origin(signer=BOB)
    over = dispatch.encode_call("treasury", "spend", (SMALL_LIMIT + 1, BEN, 0))
    assert chain.call(bob, "referenda", "submit", SMALL_TRACK, over, 0) == "SpendAboveLimit"
    within = dispatch.encode_call("treasury", "spend", (SMALL_LIMIT, BEN, 0))
    assert chain.call(bob, "referenda", "submit", SMALL_TRACK, within, 0) is None


def test_a_killed_referendums_deposit_is_recorded_as_a_slash() -> None:
    chain = TreasuryChain()
    proposal = dispatch.encode_call("treasury", "spend", (UNIT, BEN, 0))
    assert chain.call(Origin(signer=BOB), "referenda", "submit", SMALL_TRACK, proposal, 0) is None
    before = chain.balance(TREASURY)
    assert chain.call(ROOT, "referenda", "kill", 0) is None
    deposit = chain.balance(TREASURY) - before
    assert deposit > 0 and chain.ledger().slashes == deposit
    assert chain.problems() == []
