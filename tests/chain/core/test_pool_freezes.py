"""The pool counts only what a signer's freezes leave usable: a voter whose balance is locked by
its votes holds no ready places for transactions its unlocked balance cannot pay.

Runs through a real node core (the runtime's checks, the pool, an authored block) on a genesis
state in which accounts' balances are frozen as conviction voting freezes them.
"""

from __future__ import annotations

from chain.client.chain import make_call, transfer_call
from chain.core.importer import seal_block
from chain.core.node import NodeCore
from chain.core.pool import TransactionPool
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.api import account_info
from runtime.block import Block
from runtime.executive import BlockBuilder, validate_transaction
from runtime.framework import BlockContext
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets import balances, system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.primitives import trie
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from runtime.transaction import SignedTransaction, sign_transaction
from tests.chain.core.test_pool_flood import AUTHOR, SINK, SLOT_MS, XPL, Flood, transfer_fee

BOB = dev_keypair("Bob")
BOND = DEFAULT_STAKING_PARAMS.min_validator_bond


def frozen_chain(freezes: dict[bytes, int]) -> Flood:
    """A node core whose genesis endows the author (a validator bonding BOND) and Bob with
    1,000 XPL each, then freezes `freezes` of their balances (as votes would)."""
    config = GenesisConfig(
        validators=(GenesisValidator(AUTHOR.public, BOND),),
        slot_duration_ms=1000,
        balances=((AUTHOR.public, 1_000 * XPL), (BOB.public, 1_000 * XPL)),
    )
    state = build_genesis_state(config)
    ctx = BlockContext(
        state=StateOverlay(state.get),
        number=0,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=AUTHOR.public,
        genesis_hash=ZERO_HASH,
    )
    for who, amount in freezes.items():
        balances.set_freeze(ctx, who, "vote", amount)
    for key, value in ctx.state.changes().items():
        assert value is not None
        state[key] = value
    store = ChainStore(MemoryStore(), keep_states=8)
    store.initialize(genesis_header(trie.root_of(state)), state)
    return Flood(NodeCore(store, authority=AUTHOR, pool=TransactionPool()), store.genesis_hash, 0)


def transfer(f: Flood, nonce: int, tip: int = 0) -> SignedTransaction:
    return sign_transaction(
        BOB, transfer_call(SINK, 1), nonce=nonce, genesis_hash=f.genesis_hash, tip=tip
    )


def budget_of(f: Flood, tx: SignedTransaction) -> int:
    best = f.core.store.best_header
    return validate_transaction(f.core.reader(), best, tx, genesis_hash=f.genesis_hash).fee_budget


def test_a_locked_account_has_ready_only_what_its_unlocked_balance_pays() -> None:
    """Bob's 1,000 XPL are frozen but for 3.5 transfers' fees: three transfers are ready and in
    the next block, a fourth (payable on his free balance alone) is refused, and so is a
    transfer whose tip reaches into the lock; the lock is whole after the block."""
    fee = transfer_fee()
    lock = 1_000 * XPL - 3 * fee - fee // 2
    f = frozen_chain({BOB.public: lock})
    line = [transfer(f, n) for n in range(4)]
    assert budget_of(f, line[0]) == 3 * fee + fee // 2
    assert [f.submit(tx) for tx in line] == [True, True, True, False]
    assert not f.submit(transfer(f, 0, tip=4 * fee))  # a replacement tipping into the lock
    assert {tx.hash for tx in line[:3]} <= f.author_next()
    assert account_info(f.core.reader(), BOB.public).free >= lock


def test_a_lock_the_stake_covers_leaves_the_free_balance_to_spend() -> None:
    """The author's lock of its bond overlaps the bond: its whole free balance stays usable."""
    f = frozen_chain({AUTHOR.public: BOND, BOB.public: 1_000 * XPL})
    tx = sign_transaction(AUTHOR, transfer_call(SINK, 1), nonce=0, genesis_hash=f.genesis_hash)
    info = account_info(f.core.reader(), AUTHOR.public)
    assert budget_of(f, tx) == min(info.free, info.total - EXISTENTIAL_DEPOSIT) == info.free
    assert f.submit(tx)
    assert not f.submit(transfer(f, 0))  # Bob's whole balance is locked: not even a fee


def block_unlocking(f: Flood, who: bytes) -> Block:
    """A block from elsewhere in which the author's account sends `conviction_voting.unlock` of
    `who` (who has no votes: its lock goes), and nothing else: `who`'s account record is
    unchanged, only its freezes."""
    parent = f.core.store.best_header
    builder = BlockBuilder(
        f.core.store.reader(parent.hash),
        parent,
        timestamp=SLOT_MS,
        slot=1,
        author=AUTHOR,
        genesis_hash=f.genesis_hash,
    )
    unlock = make_call("conviction_voting", "unlock", 0, who)
    tx = sign_transaction(AUTHOR, unlock, nonce=0, genesis_hash=f.genesis_hash)
    assert builder.push(tx)
    sealed = seal_block(f.core.store, parent, builder.finish(), (tx.raw,), slot=1, author=AUTHOR)
    assert system.Account.key(who) not in sealed.result.changes
    assert balances.Freezes.key(who) in sealed.result.changes
    return sealed.block


def test_a_lock_lowered_by_a_block_refreshes_the_signers_budget() -> None:
    """Bob's lock leaves 1.5 fees: his transfer 1 waits (future) behind transfer 0. A block that
    lowers his lock without touching his account record (another account unlocked him) must
    refresh his budget in the pool, so that transfer 1 is ready at once."""
    fee = transfer_fee()
    f = frozen_chain({BOB.public: 1_000 * XPL - fee - fee // 2})
    later, first = transfer(f, 1), transfer(f, 0)
    assert f.submit(later) and f.submit(first)
    assert f.core.pool.is_ready(first.hash) and not f.core.pool.is_ready(later.hash)
    f.core.import_block(block_unlocking(f, BOB.public), SLOT_MS + SLOT_MS // 3)
    assert f.core.store.best_header.number == 1
    assert f.core.pool.is_ready(first.hash) and f.core.pool.is_ready(later.hash)
