"""A bounty's life: proposal, approval, curator, award, claim, close; every deposit refunded or
slashed in each end state, and the adversaries' moves refused."""

from __future__ import annotations

import pytest

from runtime.accounts import TREASURY
from runtime.framework import ROOT
from runtime.pallets import bounties
from runtime.pallets.bounties import DEFAULT_BOUNTIES_PARAMS as P
from runtime.pallets.bounties import bounty_account
from tests.runtime.pallets.bounty_helpers import (
    ALICE,
    BOB,
    DAVE,
    ENDOWMENT,
    EVE,
    SMALL,
    TREASURER,
    UNIT,
    Env,
)

VALUE = 1_000 * UNIT
FEE = 100 * UNIT
DESCRIPTION = b"port the gemm kernel to ROCm"
BOND = P.bond_base + P.bond_per_byte * len(DESCRIPTION)
DEPOSIT = P.curator_deposit(FEE)


def propose(env: Env, value: int = VALUE, who: bytes = ALICE) -> int:
    bounty_id = bounties.BountyCount.get(env.ctx.state)
    env.ok(who, "bounties", "propose_bounty", value, DESCRIPTION)
    return bounty_id


def funded(env: Env, value: int = VALUE) -> int:
    bounty_id = propose(env, value)
    env.ok(ROOT, "bounties", "approve_bounty", bounty_id)
    return bounty_id


def curated(env: Env, value: int = VALUE, fee: int = FEE) -> int:
    bounty_id = funded(env, value)
    env.ok(ROOT, "bounties", "propose_curator", bounty_id, BOB, fee)
    env.ok(BOB, "bounties", "accept_curator", bounty_id)
    return bounty_id


def status(env: Env, bounty_id: int) -> str | None:
    found = bounties.Bounties.get(env.ctx.state, bounty_id)
    return None if found is None else found.status


# Proposal


def test_a_proposal_holds_its_bond(env: Env) -> None:
    bounty_id = propose(env)
    assert env.held(ALICE) == BOND and env.free(ALICE) == ENDOWMENT - BOND
    assert env.last("bounties") == ("BountyProposed", (bounty_id, ALICE, VALUE, BOND))
    assert status(env, bounty_id) == "proposed"


@pytest.mark.parametrize(
    ("value", "description", "error"),
    [
        (P.value_minimum - 1, b"", "ValueTooLow"),
        (VALUE, bytes(bounties.MAX_DESCRIPTION + 1), "DescriptionTooLong"),
    ],
)
def test_bad_proposals_are_refused_and_hold_nothing(
    env: Env, value: int, description: bytes, error: str
) -> None:
    assert env.call(ALICE, "bounties", "propose_bounty", value, description) == error
    assert env.held(ALICE) == 0 and bounties.BountyCount.get(env.ctx.state) == 0


def test_a_proposer_that_cannot_pay_the_bond_is_refused(env: Env) -> None:
    assert env.call(EVE, "bounties", "propose_bounty", VALUE, DESCRIPTION) == "InsufficientBalance"
    assert bounties.BountyCount.get(env.ctx.state) == 0


# Approval


def test_approval_funds_the_bounty_from_the_treasury_and_refunds_the_bond(env: Env) -> None:
    bounty_id = propose(env)
    treasury = env.free(TREASURY)
    env.ok(TREASURER, "bounties", "approve_bounty", bounty_id)
    assert env.free(bounty_account(bounty_id)) == VALUE
    assert env.free(TREASURY) == treasury - VALUE
    assert env.held(ALICE) == 0 and env.free(ALICE) == ENDOWMENT
    assert status(env, bounty_id) == "funded"


@pytest.mark.parametrize(
    ("origin", "error"),
    [
        (ALICE, "BadOrigin"),  # a signer spends nothing
        (SMALL, "SpendTooLarge"),  # small_spender may spend 10,000 XPL
    ],
)
def test_approval_needs_an_origin_whose_limit_covers_the_value(
    env: Env, origin: object, error: str
) -> None:
    bounty_id = propose(env, 20_000 * UNIT)
    assert env.call(origin, "bounties", "approve_bounty", bounty_id) == error  # type: ignore[arg-type]
    assert status(env, bounty_id) == "proposed" and env.held(ALICE) == BOND


def test_a_small_bounty_is_approved_by_the_small_spender_track(env: Env) -> None:
    bounty_id = propose(env)
    env.ok(SMALL, "bounties", "approve_bounty", bounty_id)
    assert status(env, bounty_id) == "funded"


def test_a_bounty_is_funded_once(env: Env) -> None:
    bounty_id = funded(env)
    treasury = env.free(TREASURY)
    assert env.call(ROOT, "bounties", "approve_bounty", bounty_id) == "UnexpectedStatus"
    assert env.free(TREASURY) == treasury and env.free(bounty_account(bounty_id)) == VALUE


def test_a_rejected_proposal_slashes_its_bond_to_the_treasury(env: Env) -> None:
    bounty_id = propose(env)
    treasury, issuance = env.free(TREASURY), env.issuance()
    env.ok(ROOT, "bounties", "close_bounty", bounty_id)
    assert env.last("bounties") == ("BountyRejected", (bounty_id, BOND))
    assert env.free(ALICE) == ENDOWMENT - BOND and env.held(ALICE) == 0
    assert env.free(TREASURY) == treasury + BOND and env.issuance() == issuance
    assert status(env, bounty_id) is None


def test_an_undecided_proposal_may_be_withdrawn_after_the_proposal_period(env: Env) -> None:
    bounty_id = propose(env)
    env.advance(P.proposal_period - 1)
    assert env.call(DAVE, "bounties", "withdraw_proposal", bounty_id) == "Premature"
    env.advance(1)
    env.ok(DAVE, "bounties", "withdraw_proposal", bounty_id)
    assert env.last("bounties") == ("BountyWithdrawn", (bounty_id, BOND))
    assert env.free(ALICE) == ENDOWMENT and env.held(ALICE) == 0


def test_a_signer_cannot_close_or_withdraw_a_funded_bounty(env: Env) -> None:
    bounty_id = funded(env)
    env.advance(P.proposal_period)
    assert env.call(ALICE, "bounties", "close_bounty", bounty_id) == "BadOrigin"
    assert env.call(ALICE, "bounties", "withdraw_proposal", bounty_id) == "UnexpectedStatus"


# Curator


def test_the_curator_accepts_with_a_deposit(env: Env) -> None:
    bounty_id = funded(env)
    env.ok(ROOT, "bounties", "propose_curator", bounty_id, BOB, FEE)
    assert env.call(DAVE, "bounties", "accept_curator", bounty_id) == "NotProposedCurator"
    env.ok(BOB, "bounties", "accept_curator", bounty_id)
    assert env.held(BOB) == DEPOSIT == FEE // 2
    due = env.ctx.number + P.update_period
    assert env.last("bounties") == ("CuratorAccepted", (bounty_id, BOB, DEPOSIT, due))


def test_a_fee_must_be_below_the_value(env: Env) -> None:
    bounty_id = funded(env)
    assert env.call(ROOT, "bounties", "propose_curator", bounty_id, BOB, VALUE) == "InvalidFee"


def test_curators_are_proposed_by_spending_origins_only(env: Env) -> None:
    bounty_id = funded(env)
    assert env.call(BOB, "bounties", "propose_curator", bounty_id, BOB, FEE) == "BadOrigin"


def test_a_resigning_curator_gets_its_deposit_back(env: Env) -> None:
    bounty_id = curated(env)
    env.ok(BOB, "bounties", "unassign_curator", bounty_id)
    assert env.held(BOB) == 0 and env.free(BOB) == ENDOWMENT
    assert status(env, bounty_id) == "funded"


def test_governance_unassigning_a_curator_slashes_its_deposit(env: Env) -> None:
    bounty_id = curated(env)
    treasury = env.free(TREASURY)
    env.ok(TREASURER, "bounties", "unassign_curator", bounty_id)
    assert env.last("bounties") == ("CuratorUnassigned", (bounty_id, BOB, 0, DEPOSIT))
    assert env.total(BOB) == ENDOWMENT - DEPOSIT and env.free(TREASURY) == treasury + DEPOSIT


def test_a_stranger_unassigns_only_a_curator_silent_past_its_update_due(env: Env) -> None:
    bounty_id = curated(env)
    env.advance(P.update_period - 1)
    env.ok(BOB, "bounties", "extend_bounty_expiry", bounty_id)  # Bob shows it is active
    env.advance(P.update_period)
    assert env.call(DAVE, "bounties", "unassign_curator", bounty_id) == "Premature"
    env.advance(1)
    env.ok(DAVE, "bounties", "unassign_curator", bounty_id)
    assert env.total(BOB) == ENDOWMENT - DEPOSIT and status(env, bounty_id) == "funded"


def test_only_the_curator_extends_its_expiry(env: Env) -> None:
    bounty_id = curated(env)
    assert env.call(DAVE, "bounties", "extend_bounty_expiry", bounty_id) == "RequireCurator"


def test_a_proposed_curator_may_decline(env: Env) -> None:
    bounty_id = funded(env)
    env.ok(ROOT, "bounties", "propose_curator", bounty_id, BOB, FEE)
    assert env.call(DAVE, "bounties", "unassign_curator", bounty_id) == "BadOrigin"
    env.ok(BOB, "bounties", "unassign_curator", bounty_id)
    assert status(env, bounty_id) == "funded" and env.held(BOB) == 0


# Award and claim


def test_award_then_claim_after_the_delay_pays_the_fee_and_the_rest(env: Env) -> None:
    bounty_id = curated(env)
    assert env.call(DAVE, "bounties", "award_bounty", bounty_id, DAVE) == "RequireCurator"
    env.ok(BOB, "bounties", "award_bounty", bounty_id, EVE)
    unlock_at = env.ctx.number + P.payout_delay
    assert env.last("bounties") == ("BountyAwarded", (bounty_id, EVE, unlock_at))
    env.advance(P.payout_delay - 1)
    assert env.call(DAVE, "bounties", "claim_bounty", bounty_id) == "Premature"
    env.advance(1)
    env.ok(DAVE, "bounties", "claim_bounty", bounty_id)
    assert env.last("bounties") == ("BountyClaimed", (bounty_id, EVE, VALUE - FEE, FEE))
    assert env.free(EVE) == VALUE - FEE
    assert env.free(BOB) == ENDOWMENT + FEE and env.held(BOB) == 0
    assert env.total(bounty_account(bounty_id)) == 0 and status(env, bounty_id) is None
    assert env.call(DAVE, "bounties", "claim_bounty", bounty_id) == "UnknownBounty"


def test_a_curator_cannot_award_twice(env: Env) -> None:
    bounty_id = curated(env)
    env.ok(BOB, "bounties", "award_bounty", bounty_id, EVE)
    assert env.call(BOB, "bounties", "award_bounty", bounty_id, BOB) == "UnexpectedStatus"
    env.advance(P.payout_delay)
    env.ok(BOB, "bounties", "claim_bounty", bounty_id)
    assert env.free(EVE) == VALUE - FEE


def test_a_wrong_award_is_undone_in_the_delay_at_the_curators_cost(env: Env) -> None:
    bounty_id = curated(env)
    env.ok(BOB, "bounties", "award_bounty", bounty_id, BOB)  # the curator pays itself
    assert env.call(BOB, "bounties", "unassign_curator", bounty_id) == "BadOrigin"
    assert env.call(DAVE, "bounties", "unassign_curator", bounty_id) == "BadOrigin"
    assert env.call(ROOT, "bounties", "close_bounty", bounty_id) == "PendingPayout"
    env.ok(ROOT, "bounties", "unassign_curator", bounty_id)
    assert env.total(BOB) == ENDOWMENT - DEPOSIT and status(env, bounty_id) == "funded"
    env.advance(P.payout_delay)
    assert env.call(BOB, "bounties", "claim_bounty", bounty_id) == "UnexpectedStatus"
    env.ok(ROOT, "bounties", "close_bounty", bounty_id)


def test_a_fee_of_almost_the_whole_value_leaves_nothing_burned(env: Env) -> None:
    """The beneficiary's part is below the existential deposit and the beneficiary has no
    account: it goes to the treasury rather than being burned or failing the claim."""
    fee = VALUE - 1
    bounty_id = curated(env, fee=fee)
    env.ok(BOB, "bounties", "award_bounty", bounty_id, EVE)
    env.advance(P.payout_delay)
    issuance, treasury = env.issuance(), env.free(TREASURY)
    env.ok(DAVE, "bounties", "claim_bounty", bounty_id)
    assert env.free(EVE) == 0 and env.free(TREASURY) == treasury + 1
    assert env.free(BOB) == ENDOWMENT + fee and env.issuance() == issuance


# Close


def test_closing_an_active_bounty_returns_its_funds_and_the_curators_deposit(env: Env) -> None:
    bounty_id = curated(env)
    treasury = env.free(TREASURY)
    env.ok(ROOT, "bounties", "close_bounty", bounty_id)
    assert env.last("bounties") == ("BountyClosed", (bounty_id, VALUE))
    assert env.free(TREASURY) == treasury + VALUE
    assert env.held(BOB) == 0 and env.free(BOB) == ENDOWMENT
    assert env.total(bounty_account(bounty_id)) == 0


def test_only_root_closes_a_bounty(env: Env) -> None:
    bounty_id = funded(env)
    assert env.call(SMALL, "bounties", "close_bounty", bounty_id) == "BadOrigin"
    assert env.call(TREASURER, "bounties", "close_bounty", bounty_id) == "BadOrigin"
    env.ok(ROOT, "bounties", "close_bounty", bounty_id)


def test_donations_to_a_bounty_are_paid_out_with_it(env: Env) -> None:
    bounty_id = curated(env)
    env.ok(DAVE, "balances", "transfer", bounty_account(bounty_id), 5 * UNIT)
    env.ok(BOB, "bounties", "award_bounty", bounty_id, EVE)
    env.advance(P.payout_delay)
    env.ok(DAVE, "bounties", "claim_bounty", bounty_id)
    assert env.free(EVE) == VALUE + 5 * UNIT - FEE


# Parameters


def test_parameters_change_by_root_only_and_within_their_rules(env: Env) -> None:
    from dataclasses import astuple, replace

    changed = replace(P, payout_delay=10)
    assert env.call(SMALL, "bounties", "set_params", *astuple(changed)) == "BadOrigin"
    bad = replace(P, curator_deposit_min=P.curator_deposit_max + 1)
    assert env.call(ROOT, "bounties", "set_params", *astuple(bad)) == "BadParams"
    env.ok(ROOT, "bounties", "set_params", *astuple(changed))
    assert bounties.Params.get(env.ctx.state).payout_delay == 10


# Referenda


def test_the_spending_calls_say_what_a_referendum_would_spend(env: Env) -> None:
    """A spending track's referendum may make these calls, each answering for the bounty's
    value, so referenda refuses a proposal above the track's max_spend at submission."""
    from runtime.pallets.governance.spending import spend_amount

    bounty_id = funded(env, 20_000 * UNIT)
    state = env.ctx.state
    for name in ("approve_bounty", "propose_curator", "unassign_curator"):
        assert spend_amount(state, "bounties", name, (bounty_id,)) == 20_000 * UNIT
    assert spend_amount(state, "bounties", "unassign_child_curator", (bounty_id, 0)) == (
        20_000 * UNIT
    )
    for name in ("close_bounty", "close_child_bounty"):  # Root's alone
        assert spend_amount(state, "bounties", name, (bounty_id, 0)) is None
    assert spend_amount(state, "bounties", "approve_bounty", (99,)) == 0
    assert spend_amount(state, "bounties", "propose_bounty", (VALUE, b"")) is None
    assert spend_amount(state, "grants", "award", (BOB, 7 * UNIT, UNIT, 100)) == 7 * UNIT


# The invariants


def test_the_invariants_see_a_deposit_nobody_owes_and_funds_gone_missing(env: Env) -> None:
    from runtime.pallets import balances

    bounty_id = funded(env)
    balances.hold(env.ctx, DAVE, "bounties", UNIT)  # held, but no bounty owes it
    (problem,) = env.problems()
    assert "bounty deposits held" in problem
    balances.release(env.ctx, DAVE, "bounties", UNIT)
    balances.withdraw(env.ctx, bounty_account(bounty_id), VALUE, keep_alive=False)
    assert env.problems() == [f"bounties: bounty {bounty_id} is funded but has no account"]
    env.ok(ROOT, "bounties", "close_bounty", bounty_id)  # what is left of it ends cleanly


def test_the_treasurys_books_record_the_bounty_paid_the_bond_slashed_and_the_funds_returned(
    env: Env,
) -> None:
    from runtime.pallets import treasury

    def books() -> treasury.Ledger:
        return treasury.Ledgers.get(env.ctx.state)

    before = books()
    rejected = propose(env)
    env.ok(ROOT, "bounties", "close_bounty", rejected)
    bounty_id = funded(env)
    env.ok(ROOT, "bounties", "close_bounty", bounty_id)
    after = books()
    assert after.bounties - before.bounties == VALUE
    assert after.slashes - before.slashes == BOND
    assert after.returns - before.returns == VALUE


def test_a_bounty_the_treasury_cannot_cover_is_not_approved(env: Env) -> None:
    from runtime.pallets import treasury

    bounty_id = propose(env, treasury.available(env.ctx.state) + 1)
    assert env.call(ROOT, "bounties", "approve_bounty", bounty_id) == "InsufficientFunds"
    assert status(env, bounty_id) == "proposed" and env.held(ALICE) == BOND
