"""The pool against accounts that flood it: fees charged together against what an account can
pay, priority by fee per share of the block, and eviction only for a clearly higher bid.

The floods run through a real node core (the runtime's checks, the pool, an authored block) on a
genesis where the flooding accounts hold the existential deposit and 1.4 fees each; the property
test drives the pool alone with fee budgets that change from block to block.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.client.chain import transfer_call
from chain.core.node import NodeCore
from chain.core.pool import (
    DEFAULT_MAX_PER_ACCOUNT,
    DEFAULT_MAX_READY,
    EVICTION_BUMP_PPM,
    PoolError,
    TransactionPool,
)
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.api import account_info
from runtime.executive import InvalidTransaction, lookup_call
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.pallets.system import EXTRINSIC_BASE_WEIGHT
from runtime.pallets.transaction_payment import FIXED_ONE, compute_fee
from runtime.primitives import trie
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import SignedTransaction, sign_transaction

XPL = 10**12
SLOT_MS = 1000
AUTHOR = dev_keypair("Alice")
SINK = dev_keypair("Ferdie").public


def keys(prefix: bytes, count: int) -> list[Keypair]:
    return [Keypair.from_seed(prefix + i.to_bytes(32 - len(prefix), "big")) for i in range(count)]


def transfer_fee() -> int:
    """The fee (no tip) of one of the floods' transfers at genesis (multiplier 1): all are the
    same size."""
    sample = sign_transaction(
        AUTHOR, transfer_call(SINK, 1), nonce=0, genesis_hash=bytes(32), tip=1
    )
    call_def, args = lookup_call(sample)
    weight = EXTRINSIC_BASE_WEIGHT + call_def.weight(args)
    return compute_fee(FIXED_ONE, len(sample.raw), weight, 0)


@dataclass
class Flood:
    """A node core whose genesis funds `honest` accounts richly and `sybils` barely."""

    core: NodeCore
    genesis_hash: bytes
    fee: int

    def sign(self, who: Keypair, nonce: int, tip: int) -> SignedTransaction:
        return sign_transaction(
            who, transfer_call(SINK, 1), nonce=nonce, genesis_hash=self.genesis_hash, tip=tip
        )

    def submit(self, tx: SignedTransaction) -> bool:
        """Whether the pool took `tx` (a refusal is the runtime's or the pool's)."""
        try:
            self.core.submit_transaction(tx.raw, SLOT_MS // 3)
        except (InvalidTransaction, PoolError):
            return False
        return True

    def author_next(self) -> set[bytes]:
        """Author the block in slot 1; the hashes of its transactions."""
        self.core.on_timer("slot", SLOT_MS + SLOT_MS // 3)
        header = self.core.store.best_header
        assert header.number == 1
        block = self.core.store.block(header.hash)
        assert block is not None
        return {SignedTransaction.decode(raw).hash for raw in block.extrinsics}

    def balance(self, who: Keypair) -> int:
        return account_info(self.core.reader(), who.public).free


def flood(honest: list[Keypair], sybils: list[Keypair], pool: TransactionPool) -> Flood:
    fee = transfer_fee()
    barely = EXISTENTIAL_DEPOSIT + fee * 14 // 10
    config = GenesisConfig(
        validators=(GenesisValidator(AUTHOR.public, DEFAULT_STAKING_PARAMS.min_validator_bond),),
        slot_duration_ms=SLOT_MS,
        balances=(
            (AUTHOR.public, 1_000 * XPL),
            *((k.public, 1_000 * XPL) for k in honest),
            *((k.public, barely) for k in sybils),
        ),
    )
    state = build_genesis_state(config)
    store = ChainStore(MemoryStore(), keep_states=8)
    store.initialize(genesis_header(trie.root_of(state)), state)
    return Flood(NodeCore(store, authority=AUTHOR, pool=pool), store.genesis_hash, fee)


def test_barely_funded_accounts_no_longer_push_honest_transactions_out():
    """Four accounts with the existential deposit and 1.4 fees each send 16 transfers tipping one
    unit into a pool of 64 ready / 16 per account that 64 honest tip-0 transfers fill. Each of
    them can pay one fee, and one unit on a fee is no 10% higher bid: nothing honest goes, and
    the next block holds all 64 honest transfers."""
    honest, sybils = keys(b"honest", 4), keys(b"sybil", 4)
    f = flood(honest, sybils, TransactionPool(max_ready=64, max_per_account=16))
    honest_txs = [f.sign(k, n, 0) for k in honest for n in range(16)]
    assert all(f.submit(tx) for tx in honest_txs)
    assert f.core.pool.ready_count == 64
    balances_before = [f.balance(k) for k in sybils]
    for k in sybils:
        for n in range(16):
            f.submit(f.sign(k, n, 1))
    # At most one ready transaction per flooding account (all it can pay for), none evicting.
    ready = [item.tx.hash for item in f.core.pool.ready()]
    honest_hashes = {tx.hash for tx in honest_txs}
    assert honest_hashes <= set(ready)
    included = f.author_next()
    assert honest_hashes <= included
    # What the flood achieved against what it paid: no honest transfer delayed, for no fee (the
    # old pool evicted all 64 and a block then held 4 of the flood's, at 4 fees).
    delayed = len(honest_hashes - included)
    paid = sum(b - f.balance(k) for b, k in zip(balances_before, sybils, strict=True))
    assert delayed == 0 and paid == 0


def test_outbidding_honest_transactions_costs_a_full_fee_and_more_for_each():
    """The same flood tipping 15% of a fee, enough to outbid honest tip-0 transfers by the
    eviction bump: each flooding account can pay for one transaction only, so it displaces at
    most one honest transfer, and pays for that in full when its own is included. The price of
    delaying one honest transfer by a block is then above 1.1 fees (the old pool let each
    account displace 16 for the one fee it could pay: 64 delayed for 4.6 fees)."""
    honest, sybils = keys(b"honest", 4), keys(b"sybil", 4)
    f = flood(honest, sybils, TransactionPool(max_ready=64, max_per_account=16))
    honest_txs = [f.sign(k, n, 0) for k in honest for n in range(16)]
    assert all(f.submit(tx) for tx in honest_txs)
    balances_before = [f.balance(k) for k in sybils]
    tip = f.fee * 15 // 100
    for k in sybils:
        for n in range(16):
            f.submit(f.sign(k, n, tip))
    displaced = len({tx.hash for tx in honest_txs} - {i.tx.hash for i in f.core.pool.ready()})
    f.author_next()
    paid = sum(b - f.balance(k) for b, k in zip(balances_before, sybils, strict=True))
    assert 0 < displaced <= len(sybils)
    assert paid * 1_000_000 >= displaced * f.fee * (1_000_000 + EVICTION_BUMP_PPM)


def test_sixteen_flooding_accounts_leave_room_at_the_default_limits():
    """Sixteen barely funded accounts each send as many tip-1 transfers as one account may pool
    at the default limits (enough, when each counted as ready, to fill all 16,384 ready places);
    an honest tip-0 transfer sent afterwards is in the next block."""
    sybils = keys(b"sybil", 16)
    honest = dev_keypair("Bob")
    f = flood([honest], sybils, TransactionPool())
    per_account = DEFAULT_MAX_PER_ACCOUNT
    assert len(sybils) * per_account == DEFAULT_MAX_READY
    for k in sybils:
        for n in range(per_account):
            f.submit(f.sign(k, n, 1))
    flood_ready = f.core.pool.ready_count
    transfer = f.sign(honest, 0, 0)
    assert f.submit(transfer)
    assert transfer.hash in f.author_next()
    # Each flooding account had exactly what it can pay for ready: one transfer.
    assert flood_ready == len(sybils)
