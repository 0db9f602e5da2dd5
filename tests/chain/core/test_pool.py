"""The transaction pool: ready and future lines per account, priority order, replacement,
refusals, limits, and bringing the pool in line with each new best block.

Transactions are real signed transfers; their `ValidTransaction` is what the runtime's
`validate_transaction` would return (priority = tip), written out so that each test controls the
account nonce and mortality the pool sees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chain.client.chain import transfer_call
from chain.core.pool import (
    EVICTION_BUMP_PPM,
    AccountLimitReached,
    DuplicateTransaction,
    FeesExceedBalance,
    PoolError,
    PoolFull,
    Removed,
    ReplacementUnderpriced,
    TransactionBanned,
    TransactionPool,
)
from runtime.executive import ValidTransaction
from runtime.primitives.keys import dev_keypair
from runtime.transaction import IMMORTAL, Mortality, SignedTransaction, sign_transaction

Pooled = tuple[SignedTransaction, ValidTransaction]


@cache
def _signed(signer: str, nonce: int, tip: int, longevity_until: int | None) -> SignedTransaction:
    # A mortal transaction's mortality is part of what it signs, so it is another transaction.
    mortality = IMMORTAL if longevity_until is None else Mortality(longevity_until, 0)
    return sign_transaction(
        dev_keypair(signer),
        transfer_call(dev_keypair("Ferdie").public, 10**12),
        nonce=nonce,
        genesis_hash=bytes(32),
        tip=tip,
        mortality=mortality,
        birth_hash=bytes(32),
    )


def pool_tx(
    signer: str,
    nonce: int,
    tip: int = 0,
    *,
    account_nonce: int = 0,
    longevity_until: int | None = None,
    fee: int = 1,
    fee_budget: int = 10**30,
) -> Pooled:
    """A transfer from the named dev account and what validation would say about it."""
    tx = _signed(signer, nonce, tip, longevity_until)
    valid = ValidTransaction(
        signer=tx.signer,
        nonce=nonce,
        account_nonce=account_nonce,
        priority=tip,
        fee=fee,
        weight=1,
        longevity_until=longevity_until,
        fee_budget=fee_budget,
    )
    return tx, valid


def pk(name: str) -> bytes:
    return dev_keypair(name).public


def add(pool: TransactionPool, item: Pooled, now_ms: int = 0) -> list[Removed]:
    return pool.add(item[0], item[1], now_ms)


def ready_order(pool: TransactionPool) -> list[bytes]:
    return [i.tx.hash for i in pool.ready()]


def hashes(*items: Pooled) -> list[bytes]:
    return [tx.hash for tx, _ in items]


def check_counts(pool: TransactionPool) -> None:
    """ready_count and future_count equal a recount of the pooled transactions."""
    pooled = [tx.hash for tx in pool.pending()]
    ready = sum(pool.is_ready(x) for x in pooled)
    assert len(pooled) == len(pool)
    assert (pool.ready_count, pool.future_count) == (ready, len(pooled) - ready)


def never_revalidated(tx: SignedTransaction) -> ValidTransaction | str:
    raise AssertionError("no account was touched")


def update(
    pool: TransactionPool,
    nonces: dict[str, int],
    *,
    included: Iterable[Pooled] = (),
    next_number: int = 2,
    touched: Iterable[str] = (),
    revalidate: Callable[[SignedTransaction], ValidTransaction | str] = never_revalidated,
    now_ms: int = 0,
) -> list[Removed]:
    by_key = {pk(name): n for name, n in nonces.items()}
    return pool.update_for_block(
        included={tx.hash for tx, _ in included},
        nonce_of=lambda who: by_key.get(who, 0),
        next_number=next_number,
        touched={pk(name) for name in touched},
        revalidate=revalidate,
        now_ms=now_ms,
    )


# ---------------------------------------------------------------------------------------------
# Ready and future


def test_a_gapless_run_from_the_account_nonce_is_ready_the_rest_waits():
    pool = TransactionPool()
    a0, a2, a3 = pool_tx("Alice", 0), pool_tx("Alice", 2), pool_tx("Alice", 3)
    add(pool, a0)
    add(pool, a2)
    add(pool, a3)
    assert [pool.is_ready(x) for x in hashes(a0, a2, a3)] == [True, False, False]
    assert (pool.ready_count, pool.future_count) == (1, 2)
    assert ready_order(pool) == hashes(a0)

    a1 = pool_tx("Alice", 1)
    assert add(pool, a1) == []
    assert (pool.ready_count, pool.future_count) == (4, 0)
    assert ready_order(pool) == hashes(a0, a1, a2, a3)


def test_the_account_nonce_the_runtime_reports_starts_the_run():
    pool = TransactionPool()
    add(pool, pool_tx("Alice", 3, account_nonce=3))
    add(pool, pool_tx("Alice", 5, account_nonce=3))
    add(pool, pool_tx("Alice", 4, account_nonce=3))
    add(pool, pool_tx("Alice", 7, account_nonce=3))
    assert (pool.ready_count, pool.future_count) == (3, 1)
    assert [tx.nonce for tx in pool.pending()] == [3, 5, 4, 7]  # ready first, then by arrival


def test_next_nonce_counts_the_gapless_pooled_run():
    pool = TransactionPool()
    assert pool.next_nonce(pk("Alice"), 4) == 4
    for nonce in (4, 5, 7):
        add(pool, pool_tx("Alice", nonce, account_nonce=4))
    assert pool.next_nonce(pk("Alice"), 4) == 6
    assert pool.next_nonce(pk("Bob"), 0) == 0


# ---------------------------------------------------------------------------------------------
# Order


def test_ready_goes_by_tip_across_accounts_and_by_nonce_within_one():
    pool = TransactionPool()
    alice0, alice1 = pool_tx("Alice", 0, tip=1), pool_tx("Alice", 1, tip=9)
    bob0, charlie0 = pool_tx("Bob", 0, tip=5), pool_tx("Charlie", 0, tip=5)
    for item in (alice0, alice1, bob0, charlie0):
        add(pool, item)
    # Alice's tip-9 transaction waits behind her tip-1 one; equal tips go in arrival order.
    assert ready_order(pool) == hashes(bob0, charlie0, alice0, alice1)


def test_skip_account_hides_the_rest_of_that_account():
    pool = TransactionPool()
    alice = [pool_tx("Alice", n, tip=9) for n in range(3)]
    bob = [pool_tx("Bob", n, tip=1) for n in range(2)]
    for item in [*alice, *bob]:
        add(pool, item)
    it = pool.ready()
    first = next(it)
    assert first.tx.hash == alice[0][0].hash
    it.skip_account(first.valid.signer)
    assert [i.tx.hash for i in it] == hashes(*bob)
    # Skipping is a property of one pass, not of the pool.
    assert len(ready_order(pool)) == 5


# ---------------------------------------------------------------------------------------------
# Replacement and refusals


def test_each_refusal_is_its_own_exception_with_the_kind_rpc_reports():
    assert {cls: cls.kind for cls in PoolError.__subclasses__()} == {
        DuplicateTransaction: "duplicate",
        TransactionBanned: "banned",
        ReplacementUnderpriced: "replacement",
        PoolFull: "full",
        AccountLimitReached: "account_limit",
        FeesExceedBalance: "balance",
    }


def test_a_strictly_higher_tip_replaces_and_the_old_one_is_usurped():
    pool = TransactionPool()
    add(pool, pool_tx("Alice", 0))
    old = pool_tx("Alice", 1, tip=2)
    add(pool, old)
    for tip in (2, 1):  # (mortal, so not the same transaction as `old`)
        with pytest.raises(ReplacementUnderpriced) as refused:
            add(pool, pool_tx("Alice", 1, tip=tip, longevity_until=9))
        assert refused.value.kind == "replacement"
    new = pool_tx("Alice", 1, tip=3)
    removed = add(pool, new)
    assert [(r.tx.hash, r.status) for r in removed] == [(old[0].hash, "usurped")]
    assert old[0].hash not in pool and new[0].hash in pool
    assert ready_order(pool)[1] == new[0].hash
    check_counts(pool)


def test_replacing_an_accounts_only_transaction_keeps_it_offered():
    pool = TransactionPool()
    add(pool, pool_tx("Alice", 0, tip=1))
    new = pool_tx("Alice", 0, tip=5)
    add(pool, new)
    assert pool.is_ready(new[0].hash) and pool.ready_count == 1
    assert pool.signers() == [pk("Alice")]
    assert ready_order(pool) == hashes(new)


def test_duplicates_are_refused():
    pool = TransactionPool()
    item = pool_tx("Alice", 0)
    add(pool, item)
    with pytest.raises(DuplicateTransaction) as refused:
        add(pool, item)
    assert refused.value.kind == "duplicate"
    with pytest.raises(DuplicateTransaction):
        pool.check_admissible(item[0].hash, 0)
    assert len(pool) == 1


def test_a_ban_refuses_until_it_expires():
    pool = TransactionPool(ban_ms=500)
    item = pool_tx("Alice", 0)
    pool.ban(item[0].hash, 1_000)
    for now in (1_000, 1_499):
        with pytest.raises(TransactionBanned) as refused:
            add(pool, item, now)
        assert refused.value.kind == "banned"
    assert pool.is_banned(item[0].hash, 1_499)
    assert not pool.is_banned(item[0].hash, 1_500)
    add(pool, item, 1_500)
    assert item[0].hash in pool


def test_bans_are_bounded_and_the_oldest_is_forgotten_first():
    pool = TransactionPool(ban_ms=1_000, max_banned=3)
    first = [bytes([i]) * 32 for i in range(5)]
    for i, tx_hash in enumerate(first):
        pool.ban(tx_hash, 100 + i)
    assert pool.banned_count == 3
    assert [pool.is_banned(x, 200) for x in first] == [False, False, True, True, True]
    # Banned again, a hash goes to the back of the line (its ban now ends last).
    pool.ban(first[2], 300)
    pool.ban(bytes(32), 301)
    assert [pool.is_banned(x, 302) for x in first[2:]] == [True, False, True]
    # Expired bans are forgotten as new ones are made, without a sweep.
    pool.ban(bytes([9]) * 32, 5_000)
    assert pool.banned_count == 1


class SignatureRefused(Exception):
    pass


def refuse() -> None:
    raise SignatureRefused


def snapshot(pool: TransactionPool) -> tuple[list[tuple[bytes, bool]], int, int]:
    pooled = [(tx.hash, pool.is_ready(tx.hash)) for tx in pool.pending()]
    return pooled, pool.ready_count, pool.future_count


def test_a_failing_last_check_leaves_the_pool_as_it_was():
    pool = TransactionPool(max_ready=2, max_future=1)
    for item in (pool_tx("Alice", 0, 1), pool_tx("Bob", 0, 1), pool_tx("Charlie", 5, 1)):
        add(pool, item)
    before = snapshot(pool)
    # One that would evict Bob's, one that would replace Alice's, one that would evict Charlie's.
    for item in (pool_tx("Dave", 0, 9), pool_tx("Alice", 0, 9), pool_tx("Dave", 7, 9)):
        with pytest.raises(SignatureRefused):
            pool.add(*item, 0, check=refuse)
        assert snapshot(pool) == before
        check_counts(pool)
    # What the pool refuses by itself is never checked.
    made: list[int] = []
    for item, refusal in (
        (pool_tx("Alice", 0, 0), ReplacementUnderpriced),
        (pool_tx("Eve", 0, 0), PoolFull),
    ):
        with pytest.raises(refusal):
            pool.add(*item, 0, check=lambda: made.append(1))
    assert made == [] and snapshot(pool) == before


def test_the_per_account_limit_refuses_more_but_allows_replacement():
    pool = TransactionPool(max_per_account=2)
    add(pool, pool_tx("Alice", 0))
    add(pool, pool_tx("Alice", 1))
    with pytest.raises(AccountLimitReached) as refused:
        add(pool, pool_tx("Alice", 2))
    assert refused.value.kind == "account_limit"
    add(pool, pool_tx("Alice", 1, tip=4))
    add(pool, pool_tx("Bob", 0))
    assert len(pool) == 3
    check_counts(pool)


# ---------------------------------------------------------------------------------------------
# Total limits


def test_a_full_pool_evicts_the_lowest_priority_transaction_with_its_later_ones():
    pool = TransactionPool(max_ready=3)
    alice0, alice1 = pool_tx("Alice", 0, tip=0), pool_tx("Alice", 1, tip=9)
    bob0 = pool_tx("Bob", 0, tip=2)
    for item in (alice0, alice1, bob0):
        add(pool, item)
    charlie0 = pool_tx("Charlie", 0, tip=5)
    removed = add(pool, charlie0)
    # Alice's tip-0 transaction is the cheapest: it goes, and her tip-9 one that depends on it
    # with it (a high tip at the end of a line shields nothing before it).
    assert [(r.tx.hash, r.status) for r in removed] == [
        (alice0[0].hash, "dropped"),
        (alice1[0].hash, "dropped"),
    ]
    assert sorted(ready_order(pool)) == sorted(hashes(bob0, charlie0))
    check_counts(pool)


def test_a_new_transaction_that_would_be_the_victim_is_refused_as_full():
    pool = TransactionPool(max_ready=2)
    kept = [pool_tx("Alice", 0, tip=3), pool_tx("Bob", 0, tip=1)]
    for item in kept:
        add(pool, item)
    for worst in (pool_tx("Charlie", 0, tip=0), pool_tx("Charlie", 0, tip=1)):  # ties: newest
        with pytest.raises(PoolFull) as refused:
            add(pool, worst)
        assert refused.value.kind == "full"
        assert worst[0].hash not in pool
    assert sorted(ready_order(pool)) == sorted(hashes(*kept))
    assert pool.signers() == [pk("Alice"), pk("Bob")]
    check_counts(pool)


def test_the_future_limit_evicts_future_tails():
    pool = TransactionPool(max_future=1)
    low = pool_tx("Alice", 5, tip=1)
    add(pool, low)
    high = pool_tx("Bob", 5, tip=2)
    assert [(r.tx.hash, r.status) for r in add(pool, high)] == [(low[0].hash, "dropped")]
    assert (pool.ready_count, pool.future_count) == (0, 1)


def test_a_refused_transaction_leaves_the_pool_as_it_was():
    pool = TransactionPool(max_ready=2)
    add(pool, pool_tx("Bob", 0, tip=9))
    add(pool, pool_tx("Bob", 1, tip=9))
    waiting = [pool_tx("Alice", 1, tip=1), pool_tx("Alice", 2, tip=1)]
    for item in waiting:
        add(pool, item)
    before = {tx.hash for tx in pool.pending()}
    counts = (pool.ready_count, pool.future_count)
    # Alice's nonce 0 would make her whole line ready: 5 ready for 2 places. Evicting her line
    # tail first reaches the new transaction itself, so it is refused, and what was evicted on
    # the way comes back: nothing is lost unreported.
    with pytest.raises(PoolFull) as refused:
        add(pool, pool_tx("Alice", 0, tip=1))
    assert refused.value.kind == "full"
    assert {tx.hash for tx in pool.pending()} == before
    assert (pool.ready_count, pool.future_count) == counts
    check_counts(pool)


def test_the_ready_limit_holds_when_tails_are_future():
    pool = TransactionPool(max_ready=1)
    for name in ("Alice", "Bob"):
        add(pool, pool_tx(name, 5))
    add(pool, pool_tx("Alice", 0))
    with contextlib.suppress(PoolError):  # refusing Bob's would keep the limit too
        add(pool, pool_tx("Bob", 0))
    assert pool.ready_count <= 1


def test_a_full_pool_evicts_another_accounts_transaction_only_for_a_clearly_higher_bid():
    pool = TransactionPool(max_ready=1)
    add(pool, pool_tx("Alice", 0, tip=100))
    for tip in (100, 101, 109):  # not 10% more
        with pytest.raises(PoolFull):
            add(pool, pool_tx("Bob", 0, tip=tip))
    assert ready_order(pool) == hashes(pool_tx("Alice", 0, tip=100))
    winner = pool_tx("Bob", 0, tip=100 + 100 * EVICTION_BUMP_PPM // 1_000_000)
    assert [r.status for r in add(pool, winner)] == ["dropped"]
    assert ready_order(pool) == hashes(winner)


def test_an_accounts_pooled_fees_are_charged_together_against_its_budget():
    pool = TransactionPool()
    line = [pool_tx("Alice", n, fee=2, fee_budget=5) for n in range(2)]
    for item in line:
        add(pool, item)
    before = snapshot(pool)
    with pytest.raises(FeesExceedBalance) as refused:
        add(pool, pool_tx("Alice", 2, fee=2, fee_budget=5))
    assert refused.value.kind == "balance"
    # A replacement that the budget cannot carry is refused too, and changes nothing.
    with pytest.raises(FeesExceedBalance):
        add(pool, pool_tx("Alice", 1, tip=1, fee=4, fee_budget=5))
    assert snapshot(pool) == before
    # Past a gap, it waits as future; once the balance falls, what it cannot pay waits too.
    later = pool_tx("Alice", 3, fee=2, fee_budget=5)
    add(pool, later)
    assert not pool.is_ready(later[0].hash)
    poorer = {tx.hash: dataclasses.replace(v, fee_budget=3) for tx, v in [*line, later]}
    update(pool, {"Alice": 0}, touched=["Alice"], revalidate=lambda tx: poorer[tx.hash])
    assert ready_order(pool) == hashes(line[0])
    assert (pool.ready_count, pool.future_count) == (1, 2)
    check_counts(pool)


# ---------------------------------------------------------------------------------------------
# After a block


def test_update_drops_included_quietly_and_stale_or_expired_loudly():
    pool = TransactionPool()
    alice = [pool_tx("Alice", n) for n in range(3)]
    bob0, bob1 = pool_tx("Bob", 0, longevity_until=3), pool_tx("Bob", 1)
    charlie0 = pool_tx("Charlie", 0, longevity_until=4)
    for item in [*alice, bob0, bob1, charlie0]:
        add(pool, item)

    # The block took Alice's nonce 0 and (through another transaction) her nonce 1; block #4 is
    # next, past Bob's nonce-0 mortality (last block 3) but not Charlie's (last block 4).
    removed = update(pool, {"Alice": 2}, included=[alice[0]], next_number=4)
    assert {(r.tx.hash, r.status) for r in removed} == {
        (alice[1][0].hash, "dropped"),
        (bob0[0].hash, "dropped"),
    }
    assert [tx.hash for tx in pool.pending()] == hashes(alice[2], charlie0, bob1)
    assert pool.is_ready(alice[2][0].hash) and not pool.is_ready(bob1[0].hash)
    check_counts(pool)

    removed = update(pool, {"Alice": 2}, next_number=5)
    assert [r.tx.hash for r in removed] == hashes(charlie0)


def test_included_transactions_are_remembered_for_the_ban_time():
    pool = TransactionPool(ban_ms=1_000)
    included, stale = pool_tx("Alice", 0), pool_tx("Alice", 0, tip=1)
    add(pool, included)
    update(pool, {"Alice": 1}, included=[included], now_ms=5_000)
    assert pool.was_included(included[0].hash, 5_999)
    assert not pool.was_included(stale[0].hash, 5_000)  # same nonce, but not the one included
    assert not pool.was_included(included[0].hash, 6_000)


def test_update_promotes_future_transactions_whose_gap_filled():
    pool = TransactionPool()
    later = [pool_tx("Alice", 2), pool_tx("Alice", 3)]
    for item in later:
        add(pool, item)
    assert pool.ready_count == 0
    assert update(pool, {"Alice": 2}) == []
    assert ready_order(pool) == hashes(*later)
    check_counts(pool)


def test_update_revalidates_touched_accounts_and_bans_what_turned_invalid():
    pool = TransactionPool(ban_ms=1_000)
    alice0, bob0, bob1 = pool_tx("Alice", 0, tip=1), pool_tx("Bob", 0, tip=2), pool_tx("Bob", 1)
    charlie0 = pool_tx("Charlie", 0, tip=3)
    for item in (alice0, bob0, bob1, charlie0):
        add(pool, item)
    asked: list[bytes] = []

    def revalidate(tx: SignedTransaction) -> ValidTransaction | str:
        asked.append(tx.hash)
        if tx.hash == bob0[0].hash:
            return "cannot pay the fee"
        assert tx.hash == alice0[0].hash
        return dataclasses.replace(alice0[1], priority=7)

    removed = update(pool, {}, touched=["Alice", "Bob"], revalidate=revalidate, now_ms=100)
    assert [(r.tx.hash, r.status, r.reason) for r in removed] == [
        (bob0[0].hash, "invalid", "cannot pay the fee")
    ]
    assert charlie0[0].hash not in asked  # not touched
    with pytest.raises(TransactionBanned) as refused:
        pool.check_admissible(bob0[0].hash, 1_099)
    assert refused.value.kind == "banned"
    pool.check_admissible(bob0[0].hash, 1_100)
    # Alice's revalidated priority counts; Bob's nonce 1 now waits for a nonce 0.
    assert ready_order(pool) == hashes(alice0, charlie0)
    assert bob1[0].hash in pool and not pool.is_ready(bob1[0].hash)
    check_counts(pool)


def test_update_revalidates_what_follows_an_included_transaction():
    pool = TransactionPool()
    first, second = pool_tx("Alice", 0), pool_tx("Alice", 1)
    add(pool, first)
    add(pool, second)
    removed = update(
        pool,
        {"Alice": 1},
        included=[first],
        touched=["Alice"],
        revalidate=lambda tx: "the balance was spent by the included transaction",
    )
    assert [(r.tx.hash, r.status) for r in removed] == [(second[0].hash, "invalid")]
    assert second[0].hash not in pool


# ---------------------------------------------------------------------------------------------
# Random operation sequences against a model


NAMES = ("Alice", "Bob", "Charlie")
LIMITS = {"max_ready": 5, "max_future": 3, "max_per_account": 4, "ban_ms": 300}


@dataclass
class ModelTx:
    name: str
    nonce: int
    tip: int
    longevity: int | None
    seq: int
    hash: bytes


class PoolMachine(RuleBasedStateMachine):
    """The pool under random adds (some failing their last check), removals, bans and blocks,
    against a plain model of it.

    The model follows the pool's documented rules, eviction included.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pool = TransactionPool(**LIMITS)
        self.chain_nonce = dict.fromkeys(NAMES, 0)
        self.txs: dict[bytes, ModelTx] = {}
        self.banned: dict[bytes, int] = {}
        self.valid: dict[bytes, ValidTransaction] = {}
        self.seq = 0
        self.now = 0
        self.number = 0

    # The model

    def line(self, name: str) -> list[ModelTx]:
        return sorted((t for t in self.txs.values() if t.name == name), key=lambda t: t.nonce)

    def ready_set(self) -> set[bytes]:
        ready = set()
        for name in NAMES:
            expected = self.chain_nonce[name]
            for t in self.line(name):
                if t.nonce != expected:
                    break
                ready.add(t.hash)
                expected += 1
        return ready

    def expected_order(self) -> list[bytes]:
        ready = self.ready_set()
        by_key = {(t.name, t.nonce): t for t in self.txs.values()}
        heap = []
        for name in NAMES:
            head = by_key.get((name, self.chain_nonce[name]))
            if head is not None:
                heap.append((-head.tip, head.seq, name, head.nonce))
        heapq.heapify(heap)
        order = []
        while heap:
            _, _, name, nonce = heapq.heappop(heap)
            order.append(by_key[(name, nonce)].hash)
            following = by_key.get((name, nonce + 1))
            if following is not None and following.hash in ready:
                heapq.heappush(heap, (-following.tip, following.seq, name, nonce + 1))
        return order

    def evict(self, newest: ModelTx) -> tuple[list[bytes], bool]:
        """What the limits push out: the account whose lowest-tip ready (or future) transaction
        is lowest (then the newest of those) loses it, the latest of its lowest first, and every
        later one of its line with it; True if the newest goes, which undoes it all."""
        evicted: list[ModelTx] = []
        while True:
            ready = self.ready_set()
            n_ready = len(ready)
            n_future = len(self.txs) - n_ready
            if n_ready <= LIMITS["max_ready"] and n_future <= LIMITS["max_future"]:
                return [t.hash for t in evicted], False
            want_ready = n_ready > LIMITS["max_ready"]
            candidates = []
            for name in NAMES:
                same = [t for t in self.line(name) if (t.hash in ready) == want_ready]
                if same:
                    candidates.append(min(same, key=lambda t: (t.tip, -t.nonce)))
            if not candidates:
                return [t.hash for t in evicted], False
            victim = min(candidates, key=lambda t: (t.tip, -t.seq))
            outbid = newest.tip > victim.tip and newest.tip * 1_000_000 >= victim.tip * (
                1_000_000 + EVICTION_BUMP_PPM
            )
            if (victim.name == newest.name and victim.nonce <= newest.nonce) or (
                victim.name != newest.name and not outbid
            ):
                # Refused: the newcomer goes instead, and whatever it pushed out comes back.
                del self.txs[newest.hash]
                for t in evicted:
                    self.txs[t.hash] = t
                return [], True
            for t in self.line(victim.name):
                if t.nonce >= victim.nonce:
                    del self.txs[t.hash]
                    evicted.append(t)

    # Rules

    @rule(
        name=st.sampled_from(NAMES),
        offset=st.integers(0, 4),
        tip=st.integers(0, 3),
        longevity=st.none() | st.integers(1, 6),
        signed=st.sampled_from([True, True, False]),
    )
    def add(self, name: str, offset: int, tip: int, longevity: int | None, signed: bool) -> None:
        nonce = self.chain_nonce[name] + offset
        tx, valid = pool_tx(
            name, nonce, tip, account_nonce=self.chain_nonce[name], longevity_until=longevity
        )
        self.valid[tx.hash] = valid
        same_slot = [t for t in self.txs.values() if (t.name, t.nonce) == (name, nonce)]
        expected_kind = None
        if tx.hash in self.txs:
            expected_kind = "duplicate"
        elif self.banned.get(tx.hash, -1) > self.now:
            expected_kind = "banned"
        elif same_slot and tip <= same_slot[0].tip:
            expected_kind = "replacement"
        elif not same_slot and len(self.line(name)) >= LIMITS["max_per_account"]:
            expected_kind = "account_limit"
        if expected_kind is not None:
            with pytest.raises(PoolError) as refused:
                self.pool.add(tx, valid, self.now)
            assert refused.value.kind == expected_kind
            return

        expected: set[tuple[bytes, str]] = set()
        before = dict(self.txs)
        if same_slot:
            del self.txs[same_slot[0].hash]
            expected.add((same_slot[0].hash, "usurped"))
        self.seq += 1
        newest = ModelTx(name, nonce, tip, longevity, self.seq, tx.hash)
        self.txs[tx.hash] = newest
        evicted, refused_full = self.evict(newest)
        expected |= {(x, "dropped") for x in evicted}
        if refused_full:
            with pytest.raises(PoolFull) as refused:
                self.pool.add(tx, valid, self.now)
            assert refused.value.kind == "full"
            if same_slot:  # the replaced transaction stays when its replacement is refused
                self.txs[same_slot[0].hash] = same_slot[0]
            return
        if not signed:  # the last check fails: nothing changes
            with pytest.raises(SignatureRefused):
                self.pool.add(tx, valid, self.now, check=refuse)
            self.txs = before
            return
        removed = self.pool.add(tx, valid, self.now)
        assert {(r.tx.hash, r.status) for r in removed} == expected

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        if not self.txs:
            assert self.pool.remove(b"\x00" * 32) is None
            return
        victim = data.draw(st.sampled_from(sorted(self.txs)))
        assert self.pool.remove(victim) is not None
        del self.txs[victim]

    @rule(data=st.data(), ms=st.integers(0, 100))
    def ban(self, data: st.DataObject, ms: int) -> None:
        """Ban a transaction seen before (pooled or not) and let time pass."""
        self.now += ms
        if self.valid:
            target = data.draw(st.sampled_from(sorted(self.valid)))
            self.pool.ban(target, self.now)
            self.banned[target] = self.now + LIMITS["ban_ms"]

    @rule(
        advance=st.fixed_dictionaries({n: st.integers(0, 3) for n in NAMES}),
        touched=st.sets(st.sampled_from(NAMES)),
        data=st.data(),
    )
    def block(self, advance: dict[str, int], touched: set[str], data: st.DataObject) -> None:
        self.number += 1
        next_number = self.number + 1
        # The block uses up `advance` nonces of each account, through pooled transactions or
        # others (then the pooled ones with those nonces are stale).
        used = sorted(
            t.hash
            for t in self.txs.values()
            if self.chain_nonce[t.name] <= t.nonce < self.chain_nonce[t.name] + advance[t.name]
        )
        included = {x for x in used if data.draw(st.booleans())}
        for name in NAMES:
            self.chain_nonce[name] += advance[name]
        for x in included:
            del self.txs[x]
        expected = set()
        for t in list(self.txs.values()):
            if t.nonce < self.chain_nonce[t.name] or (
                t.longevity is not None and t.longevity < next_number
            ):
                del self.txs[t.hash]
                expected.add((t.hash, "dropped"))
        by_key = {pk(n): self.chain_nonce[n] for n in NAMES}
        removed = self.pool.update_for_block(
            included=included,
            nonce_of=lambda who: by_key[who],
            next_number=next_number,
            touched={pk(n) for n in touched},
            revalidate=lambda tx: self.valid[tx.hash],
            now_ms=self.now,
        )
        assert {(r.tx.hash, r.status) for r in removed} == expected

    # Invariants

    @invariant()
    def counts_equal_a_recount(self) -> None:
        check_counts(self.pool)

    @invariant()
    def agrees_with_model(self) -> None:
        pool = self.pool
        assert {tx.hash for tx in pool.pending()} == set(self.txs)
        ready = self.ready_set()
        assert {x for x in self.txs if pool.is_ready(x)} == ready
        assert ready_order(pool) == self.expected_order()
        assert sorted(pool.signers()) == sorted({pk(t.name) for t in self.txs.values()})
        for name in NAMES:
            nonce = self.chain_nonce[name]
            pooled = {t.nonce for t in self.line(name)}
            while nonce in pooled:
                nonce += 1
            assert pool.next_nonce(pk(name), self.chain_nonce[name]) == nonce


PoolMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, derandomize=True
)
test_pool_against_model = PoolMachine.TestCase
