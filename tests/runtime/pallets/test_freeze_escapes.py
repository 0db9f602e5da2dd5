"""A voter cannot move its locked balance away through any door of the runtime.

Each test locks an account's balance as conviction voting does (a freeze, id "vote", set in a
block of its own) and then tries a way out as signed transactions in authored blocks: a transfer,
a fee or a tip, a job's escrow, a worker's stake, a dispute's bond, or emptying the account to be
reaped. Each is refused (`Frozen`, or the transaction is invalid) and the lock is whole after;
the same calls work once the lock is lowered. Bonding locked funds and unbonding them is allowed
(a lock overlaps the stake) and the unbonded funds come back locked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.client.chain import make_call, transfer_call
from runtime.executive import CannotPayFee, validate_transaction
from runtime.framework import BlockContext, Origin
from runtime.invariants import check_invariants
from runtime.pallets import balances
from runtime.pallets.balances import STAKING_HOLD
from runtime.pallets.market import DEFAULT_MARKET_PARAMS
from runtime.pallets.staking import Staking
from runtime.pallets.staking.bonding import unlock_block
from runtime.pallets.staking.slashing import slash_stash
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay
from runtime.transaction import SignedTransaction
from tests.runtime.conftest import TEST_STAKING
from tests.runtime.pallets.market_helpers import (
    CHALLENGER,
    OUTSIDER,
    REQUESTER,
    STAKE,
    UNIT,
    WORKER,
    WORKER2,
    MarketChain,
    escrow_for,
    market_chain,
    outcome_of,
)
from tests.runtime.pallets.test_balances import BOB, CHARLIE, ED, committed, genesis, iterate_over
from tests.runtime.pallets.test_compute import BOND
from tests.runtime.pallets.test_compute_disputes import passed_audit
from tests.runtime.pallets.test_market_liveness import CHEAP, DEADLINE, WAIT

VOTE = "vote"


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    made.register(WORKER, capacity=16)
    yield made
    assert made.problems() == []


def lock(chain: MarketChain, who: Keypair, amount: int) -> None:
    """Freeze `amount` of `who`'s balance in a block of its own, as a vote with conviction does."""
    builder = chain.builder()
    balances.set_freeze(builder.context, who.public, VOTE, amount)
    chain.seal(builder)


def lock_all_but(chain: MarketChain, who: Keypair, usable: int) -> int:
    """Lock all of `who`'s free balance but `usable`; the lock."""
    amount = chain.balance(who) - usable
    lock(chain, who, amount)
    return amount


def lockable(chain: MarketChain, who: Keypair) -> int:
    return chain.balance(who) + chain.held(who, STAKING_HOLD)


# Transfers, fees and tips


def test_a_locked_balance_cannot_be_transferred(chain: MarketChain) -> None:
    locked = lock_all_but(chain, OUTSIDER, UNIT)
    for name in ("transfer", "transfer_keep_alive"):
        out = chain.call(OUTSIDER, "balances", name, CHALLENGER.public, 2 * UNIT)
        assert out.error == "Frozen"
    assert lockable(chain, OUTSIDER) >= locked
    # What the lock leaves moves as ever.
    left = chain.balance(OUTSIDER) - locked
    fee = chain.call(OUTSIDER, "balances", "transfer", CHALLENGER.public, left // 2).fee
    assert chain.balance(OUTSIDER) == locked + left - left // 2 - fee


def test_fees_and_tips_cannot_reach_into_a_lock(chain: MarketChain) -> None:
    """A transaction whose fee and tip are more than the lock leaves is invalid: no block can
    hold it, so not even the author can be paid out of the lock."""
    locked = lock_all_but(chain, OUTSIDER, UNIT)
    tipping = chain.sign(OUTSIDER, transfer_call(CHALLENGER.public, 1), tip=UNIT)
    with pytest.raises(CannotPayFee, match=r"cannot pay the fee: .* is not frozen"):
        validate_transaction(chain.read, chain.head, tipping, genesis_hash=chain.genesis_hash)
    with pytest.raises(CannotPayFee):
        chain.produce([tipping])
    modest = chain.sign(OUTSIDER, transfer_call(CHALLENGER.public, 1), tip=UNIT // 2)
    chain.produce([modest])
    assert chain.balance(OUTSIDER) >= locked


def test_a_duty_calls_fee_cannot_come_out_of_a_lock(chain: MarketChain) -> None:
    """A duty call (a worker's response) is refunded only when it succeeds; one that fails keeps
    its fee, which goes to the block's author, so its fee up front must be payable without the
    lock too, or a locked validator could pay its own blocks out of its lock."""
    lock_all_but(chain, OUTSIDER, 0)
    response = chain.sign(OUTSIDER, make_call("compute", "respond", 1, 0, [], []))
    with pytest.raises(CannotPayFee, match="frozen"):
        validate_transaction(chain.read, chain.head, response, genesis_hash=chain.genesis_hash)


# Holds: a job's escrow, a worker's stake, a dispute's bond


def test_a_locked_balance_cannot_fund_a_jobs_escrow(chain: MarketChain) -> None:
    assert escrow_for(2 * UNIT) > UNIT
    locked = lock_all_but(chain, REQUESTER, UNIT)
    out = chain.submit(REQUESTER, max_price=2 * UNIT)
    assert out.error == "Frozen"
    assert chain.held(REQUESTER, "escrow") == 0 and chain.jobs() == {}
    assert lockable(chain, REQUESTER) >= locked
    lock(chain, REQUESTER, locked - 10 * UNIT)
    assert chain.submit(REQUESTER, max_price=2 * UNIT).error is None
    assert chain.held(REQUESTER, "escrow") >= escrow_for(2 * UNIT)
    assert lockable(chain, REQUESTER) >= locked - 10 * UNIT


def test_a_locked_balance_cannot_become_a_workers_stake(chain: MarketChain) -> None:
    locked = lock_all_but(chain, WORKER2, STAKE - 1)
    out = chain.register(WORKER2, stake=STAKE)
    assert out.error == "Frozen"
    assert chain.worker(WORKER2) is None and chain.held(WORKER2, "stake") == 0
    # Nor added to a stake: Wendy (registered) locks hers and tries to raise her stake.
    lock_all_but(chain, WORKER, UNIT)
    out = chain.call(WORKER, "market", "update_worker", ["gemm_i8"], [UNIT], 16, UNIT + 1)
    assert out.error == "Frozen"
    assert chain.held(WORKER, "stake") == STAKE
    assert lockable(chain, WORKER2) >= locked


def test_a_locked_balance_cannot_bond_a_dispute(chain: MarketChain) -> None:
    job_id = passed_audit(chain)
    locked = lock_all_but(chain, CHALLENGER, BOND // 2)
    out = chain.dispute(CHALLENGER, job_id, 9)
    assert out.error == "Frozen"
    assert chain.held(CHALLENGER, "bond") == 0 and len(chain.checks(job_id)) == 1
    assert lockable(chain, CHALLENGER) >= locked
    lock(chain, CHALLENGER, locked - 2 * BOND)
    assert chain.dispute(CHALLENGER, job_id, 9).error is None
    assert chain.held(CHALLENGER, "bond") == BOND


def test_a_job_given_back_expires_when_its_requesters_rent_is_locked() -> None:
    """A job given back by its worker waits again only if its requester can hold the rent of
    another wait: a requester whose balance is now locked cannot, and the job expires, refunded,
    in the hook, which must not fail (it counted the free balance, locked or not)."""
    chain = market_chain()
    chain.register(WORKER, prices=[UNIT], capacity=1)
    busy = chain.submit(REQUESTER, deadline=200, wait=5, max_price=UNIT)
    assert busy.error is None
    chain.register(WORKER2, prices=[CHEAP])
    assert chain.submit(REQUESTER, deadline=DEADLINE, wait=WAIT, max_price=2 * UNIT).error is None
    job = chain.job(2)
    assert job.worker == WORKER2.public
    locked = lock_all_but(chain, REQUESTER, 0)
    chain.advance_to(job.commit_by + 1)  # Walter misses it; nobody is free to take it
    assert chain.job(2).state == "expired"
    assert chain.held(REQUESTER, "escrow") == chain.job(1).escrow
    assert lockable(chain, REQUESTER) >= locked
    assert DEFAULT_MARKET_PARAMS.wait_rent > 0
    assert chain.problems() == []


# Reaping


def test_a_locked_account_cannot_empty_itself_to_be_reaped(chain: MarketChain) -> None:
    """A lock below the existential deposit does not let the rest go and the account be reaped,
    its lock with it: a transfer of all the lock leaves (which would leave less than the
    deposit) is refused."""
    small = balances.EXISTENTIAL_DEPOSIT // 2
    lock(chain, OUTSIDER, small)

    def transfer(amount: int) -> SignedTransaction:
        return chain.sign(OUTSIDER, transfer_call(CHALLENGER.public, amount, keep_alive=False))

    probe = transfer(1)
    fee = validate_transaction(chain.read, chain.head, probe, genesis_hash=chain.genesis_hash).fee
    everything = chain.balance(OUTSIDER) - fee - small
    _, result = chain.produce([transfer(everything)])
    assert outcome_of(result, 0).fee == fee
    assert outcome_of(result, 0).error == "KeepAlive"
    assert chain.account(OUTSIDER.public) is not None
    assert balances.freezes(chain.overlay(), OUTSIDER.public) == ((VOTE, small),)


# Staking: locked funds can be bonded and unbonded, and come back locked


def at_block(state: dict[bytes, bytes], number: int) -> BlockContext:
    return BlockContext(
        state=StateOverlay(state.get),
        number=number,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=CHARLIE,
        genesis_hash=ZERO_HASH,
    )


def test_locked_funds_can_be_bonded_and_unbonded_and_stay_locked() -> None:
    state = genesis({BOB: 10 * ED, CHARLIE: ED})
    ctx = at_block(state, 1)
    balances.set_freeze(ctx, BOB, VOTE, 9 * ED)
    Staking().bond(ctx, Origin(signer=BOB), 9 * ED)  # every locked unit, bonded
    assert balances.frozen(ctx, BOB) == 9 * ED and balances.usable_free(ctx, BOB) == ED
    Staking().unbond(ctx, Origin(signer=BOB), 9 * ED)
    state = committed(ctx, state)
    later = at_block(state, unlock_block(1, TEST_STAKING))
    Staking().withdraw_unbonded(later, Origin(signer=BOB))
    assert balances.held(later, BOB, STAKING_HOLD) == 0
    # Back in the free balance, and still locked.
    assert balances.usable_free(later, BOB) == ED
    with pytest.raises(balances.Frozen):
        balances.transfer(later, BOB, CHARLIE, ED + 1, keep_alive=True)


def test_a_slashed_stash_keeps_no_lock_above_what_it_has_left() -> None:
    """Slashes ignore locks: a locked stash's bond is slashed in full, its lock cut to what is
    left, and a stash reaped by a slash takes its lock with it; every invariant holds."""
    state = genesis({BOB: 10 * ED, CHARLIE: 2 * ED})
    ctx = at_block(state, 1)
    Staking().bond(ctx, Origin(signer=BOB), 8 * ED)
    balances.set_freeze(ctx, BOB, VOTE, 9 * ED)
    assert slash_stash(ctx, BOB, 5 * ED) == 5 * ED
    assert balances.freeze_of(ctx, BOB, VOTE) == 5 * ED  # 2 free + 3 bonded
    Staking().bond(ctx, Origin(signer=CHARLIE), 2 * ED)
    balances.set_freeze(ctx, CHARLIE, VOTE, 2 * ED)
    assert slash_stash(ctx, CHARLIE, 2 * ED) == 2 * ED
    assert not balances.exists(ctx, CHARLIE) and balances.freezes(ctx.state, CHARLIE) == ()
    state = committed(ctx, state)
    assert check_invariants(state.get, iterate_over(state)) == []
