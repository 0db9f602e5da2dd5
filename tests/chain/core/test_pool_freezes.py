"""The pool counts only what a signer's freezes leave usable: a voter whose balance is locked by
its votes holds no ready places for transactions its unlocked balance cannot pay.

Runs through a real node core (the runtime's checks, the pool, an authored block) on a genesis
state in which accounts' balances are frozen as conviction voting freezes them.
"""

from __future__ import annotations

from chain.client.chain import transfer_call
from chain.core.node import NodeCore
from chain.core.pool import TransactionPool
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.api import account_info
from runtime.executive import validate_transaction
from runtime.framework import BlockContext
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets import balances
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.primitives import trie
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from runtime.transaction import SignedTransaction, sign_transaction
from tests.chain.core.test_pool_flood import AUTHOR, SINK, XPL, Flood, transfer_fee

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
