"""A vote's or a delegation's lock counts against the voter's budget in the pool.

Without it (a vote declared to move nothing out of the free balance), an account could pool a
vote locking all it has and a line of transactions behind it, every one ready and outbidding
honest ones, of which only the vote could pay its fee once included: the flood the pool's
outflows exist to stop (`test_pool_outflow`).
"""

from __future__ import annotations

from chain.client.chain import make_call
from runtime.executive import validate_transaction
from runtime.transaction import sign_transaction
from tests.chain.core.test_pool_flood import XPL, transfer_fee
from tests.chain.core.test_pool_freezes import BOB, frozen_chain, transfer


def test_a_vote_holds_no_ready_places_for_what_its_lock_takes() -> None:
    """A vote's outflow is its amount, a delegation's its amount; Bob's vote locking all but 3.5
    transfers' fees leaves three transfers ready behind it and refuses the fourth."""
    fee = transfer_fee()
    f = frozen_chain({})
    vote = sign_transaction(
        BOB,
        make_call("conviction_voting", "vote", 0, 990 * XPL, 0, 0, 1),
        nonce=0,
        genesis_hash=f.genesis_hash,
    )
    best = f.core.store.best_header
    valid = validate_transaction(f.core.reader(), best, vote, genesis_hash=f.genesis_hash)
    assert valid.outflow == 990 * XPL
    delegate = make_call("conviction_voting", "delegate", 0, BOB.public, 1, 7 * XPL)
    tx = sign_transaction(BOB, delegate, nonce=0, genesis_hash=f.genesis_hash)
    assert (
        validate_transaction(f.core.reader(), best, tx, genesis_hash=f.genesis_hash).outflow
        == 7 * XPL
    )
    # Bob locks all his budget but the fees of 3.5 transfers: three transfers after it are ready.
    budget = valid.fee_budget
    amount = budget - valid.fee - 3 * fee - fee // 2
    vote = sign_transaction(
        BOB,
        make_call("conviction_voting", "vote", 0, amount, 0, 0, 1),
        nonce=0,
        genesis_hash=f.genesis_hash,
    )
    assert f.submit(vote)
    line = [transfer(f, n) for n in range(1, 5)]
    assert [f.submit(tx) for tx in line] == [True, True, True, False]
