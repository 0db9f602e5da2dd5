"""A full pool refuses a newcomer below its floor cheaply (a look at a heap, no walk over the
pool, no signature check), and a peer whose batches a full pool refuses is charged for them
beyond a small allowance, so flooding a busy node costs the flooder.

Timings compare like with like in one process, best of a few rounds, so that a busy machine
slows both sides alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chain.client.chain import transfer_call
from chain.core.actions import ReportPeer
from chain.core.pool import (
    DEFAULT_MAX_FUTURE,
    DEFAULT_MAX_PER_ACCOUNT,
    DEFAULT_MAX_READY,
    PoolFull,
    TransactionPool,
)
from chain.core.tx_gossip import (
    COST_USELESS_BATCH,
    FULL_POOL_ALLOWANCE,
    REFUSED_PER_POINT,
    take_batch,
)
from runtime.executive import ValidTransaction
from runtime.primitives.keys import Keypair
from runtime.transaction import SignedTransaction, sign_transaction
from tests.chain.core.test_pool_flood import SINK, flood, keys
from tests.chain.core.test_tx_gossip import scores

ROUNDS = 3
"""Timed rounds; the fastest counts (the others met a busier machine)."""


def best_of(rounds: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(rounds))


def pooled(who: Keypair, nonce: int, priority: int) -> tuple[SignedTransaction, ValidTransaction]:
    tx = sign_transaction(
        who, transfer_call(SINK, 1), nonce=nonce, genesis_hash=bytes(32), tip=priority
    )
    return tx, ValidTransaction(
        signer=who.public,
        nonce=nonce,
        account_nonce=0,
        priority=priority,
        fee=1,
        weight=1,
        longevity_until=None,
        fee_budget=10**30,
    )


def full_pool() -> TransactionPool:
    """A pool at the default limits, every ready and future place taken at priority 100."""
    pool = TransactionPool()
    for a in keys(b"ready", DEFAULT_MAX_READY // DEFAULT_MAX_PER_ACCOUNT):
        for n in range(DEFAULT_MAX_PER_ACCOUNT):
            pool.add(*pooled(a, n, 100), 0)
    for a in keys(b"future", DEFAULT_MAX_FUTURE // DEFAULT_MAX_PER_ACCOUNT):
        for n in range(1, DEFAULT_MAX_PER_ACCOUNT + 1):
            pool.add(*pooled(a, n, 100), 0)
    assert pool.ready_count == DEFAULT_MAX_READY and pool.future_count == DEFAULT_MAX_FUTURE
    return pool


def test_a_full_pool_refuses_a_newcomer_below_its_floor_at_the_cost_of_an_admission():
    """With the default limits filled (16,384 ready, 4,096 future), refusing a low-priority
    transaction of a fresh account costs no more than twice what admitting it to a pool with
    room costs, and never reaches its signature check. (Each refusal walked the whole pool
    before: about 500 µs, over 50 times an admission.) An outbidding newcomer still gets in."""
    pool = full_pool()
    probes = [pooled(k, nonce, 1) for k in keys(b"probe", 200) for nonce in (0, 5)]
    checked: list[bytes] = []

    def refusing() -> float:
        start = time.perf_counter()
        for tx, valid in probes:
            try:
                pool.add(tx, valid, 0, check=lambda t=tx: checked.append(t.hash))
            except PoolFull:
                continue
            raise AssertionError("a full pool took a transaction below its floor")
        return (time.perf_counter() - start) / len(probes)

    def admitting() -> float:
        roomy = TransactionPool()
        start = time.perf_counter()
        for tx, valid in probes:
            roomy.add(tx, valid, 0)
        return (time.perf_counter() - start) / len(probes)

    refused_s, admitted_s = best_of(ROUNDS, refusing), best_of(ROUNDS, admitting)
    print(f"refused by a full pool: {refused_s * 1e6:.1f} µs; admitted: {admitted_s * 1e6:.1f} µs")
    assert checked == [] and len(pool) == DEFAULT_MAX_READY + DEFAULT_MAX_FUTURE
    assert refused_s <= 2 * admitted_s
    newcomer = pooled(keys(b"bidder", 1)[0], 0, 111)
    assert [r.status for r in pool.add(*newcomer, 0)] == ["dropped"]


def test_a_peer_flooding_a_full_pool_is_charged_and_banned_within_bounded_work():
    """End to end through `tx_gossip.take_batch`: with the pool full at the default limits, a
    peer's batch of 1,000 tip-0 transfers with zeroed signatures from barely funded accounts is
    refused as below the pool's floor, without a signature check, at less than what admitting
    1,000 honest signed transfers costs; the peer is charged for all but the allowance, and at
    the network's default scores it is banned within a few such batches, so the work it makes
    the node do is bounded. (It was uncharged before, and each batch cost several times an
    admission.)"""
    fillers = keys(b"fill", DEFAULT_MAX_READY // DEFAULT_MAX_PER_ACCOUNT + 5)
    probes, honest = keys(b"probe", 10), keys(b"honest", 10)
    f = flood(fillers + honest, probes, TransactionPool())
    for k in fillers[:16]:
        for n in range(DEFAULT_MAX_PER_ACCOUNT):
            assert f.submit(f.sign(k, n, 100))
    future_left = DEFAULT_MAX_FUTURE
    for k in fillers[16:]:
        ahead = min(DEFAULT_MAX_PER_ACCOUNT - 1, future_left)
        for n in range(1, ahead + 1):
            assert f.submit(f.sign(k, n, 100))
        future_left -= ahead
    pool = f.core.pool
    assert pool.ready_count == DEFAULT_MAX_READY and pool.future_count == DEFAULT_MAX_FUTURE

    def unsigned(tx: SignedTransaction) -> bytes:
        return tx.raw.replace(tx.signature, bytes(len(tx.signature)))

    batch = [unsigned(f.sign(k, n, 0)) for k in probes for n in range(1, 101)]
    upkeep = f.core._upkeep
    charged: list[int] = []

    def refusing() -> float:
        start = time.perf_counter()
        taken = take_batch(upkeep, "flooder", batch, 400)
        elapsed = time.perf_counter() - start
        assert taken.admitted == 0 and not taken.bad
        charged.extend(a.cost for a in taken.actions if isinstance(a, ReportPeer))
        return elapsed

    def admitting() -> float:
        roomy = flood(honest, [], TransactionPool())
        good = [roomy.sign(k, n, 0).raw for k in honest for n in range(100)]
        start = time.perf_counter()
        taken = take_batch(roomy.core._upkeep, "relay", good, 400)
        elapsed = time.perf_counter() - start
        assert taken.admitted == len(good)
        return elapsed

    refused_s, admitted_s = best_of(ROUNDS, refusing), best_of(ROUNDS, admitting)
    print(f"1,000 refused by a full pool: {refused_s:.3f} s; admitted: {admitted_s:.3f} s")
    assert refused_s < admitted_s
    per_batch = (len(batch) - FULL_POOL_ALLOWANCE) // REFUSED_PER_POINT + COST_USELESS_BATCH
    assert charged == [per_batch] * ROUNDS
    network = scores()
    batches = 1
    while not network.penalize("flooder", per_batch, float(batches)):
        batches += 1
    # One batch a second: banned by the tenth, having cost the node under a CPU second.
    assert batches <= 10 and batches * refused_s < 1.0
    print(f"banned after {batches} batches, {batches * refused_s:.2f} s of work")


def test_an_honest_relay_sending_a_few_below_the_floor_is_not_charged():
    """A relay whose own pool had room sends a batch of which up to FULL_POOL_ALLOWANCE fall
    below this node's full pool's floor: that costs it nothing; one more is charged a point."""
    fillers = keys(b"fill", 4)
    probes = keys(b"probe", FULL_POOL_ALLOWANCE + REFUSED_PER_POINT + 1)
    f = flood(fillers + probes, [], TransactionPool(max_ready=64, max_per_account=16))
    for k in fillers:
        for n in range(16):
            assert f.submit(f.sign(k, n, 100))
    batch = [f.sign(k, 0, 0).raw for k in probes]
    upkeep = f.core._upkeep
    taken = take_batch(upkeep, "relay", batch[:FULL_POOL_ALLOWANCE], 400)
    assert taken.admitted == 0 and not [a for a in taken.actions if isinstance(a, ReportPeer)]
    taken = take_batch(upkeep, "relay", batch, 400)
    assert [a.cost for a in taken.actions if isinstance(a, ReportPeer)] == [1 + COST_USELESS_BATCH]
