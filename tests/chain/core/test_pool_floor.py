"""A full pool refuses a newcomer below its floor cheaply (a look at a heap, no walk over the
pool, no signature check), and a peer whose batches a full pool refuses is charged for them
beyond a small allowance, so flooding a busy node costs the flooder.

Costs are counted in the Python lines executed (`tests.cost`), the same on a busy machine as on a
quiet one; the times printed beside them are for the reader.
"""

from __future__ import annotations

import time

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
from tests.cost import executed_lines


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

    def refusing() -> None:
        for tx, valid in probes:
            try:
                pool.add(tx, valid, 0, check=lambda t=tx: checked.append(t.hash))
            except PoolFull:
                continue
            raise AssertionError("a full pool took a transaction below its floor")

    def admitting() -> None:
        roomy = TransactionPool()
        for tx, valid in probes:
            roomy.add(tx, valid, 0)

    refused = executed_lines(refusing)[1] / len(probes)
    admitted = executed_lines(admitting)[1] / len(probes)
    print(f"refused by a full pool: {refused:.0f} lines; admitted: {admitted:.0f} lines")
    assert checked == [] and len(pool) == DEFAULT_MAX_READY + DEFAULT_MAX_FUTURE
    assert refused <= 2 * admitted
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

    roomy = flood(honest, [], TransactionPool())
    good = [roomy.sign(k, n, 0).raw for k in honest for n in range(100)]

    def admitting() -> None:
        taken = take_batch(roomy.core._upkeep, "relay", good, 400)
        assert taken.admitted == len(good)

    refused_s = min(refusing() for _ in range(2))
    refused_lines = executed_lines(refusing)[1]
    admitted_lines = executed_lines(admitting)[1]
    print(
        f"1,000 refused by a full pool: {refused_lines} lines, {refused_s:.3f} s; "
        f"1,000 admitted: {admitted_lines} lines (and 1,000 signature checks)"
    )
    assert refused_lines < admitted_lines
    per_batch = (len(batch) - FULL_POOL_ALLOWANCE) // REFUSED_PER_POINT + COST_USELESS_BATCH
    assert charged == [per_batch] * 3
    network = scores()
    batches = 1
    while not network.penalize("flooder", per_batch, float(batches)):
        batches += 1
    # One batch a second: banned by the tenth.
    assert batches <= 10
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
