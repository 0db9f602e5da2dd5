"""How fast a node admits payable transactions to its pool, and whether an honest transfer still
gets into the next block while barely funded accounts flood the pool.

1. Admission: a genesis with `accounts` funded accounts; `txs` signed transfers among them (a few
   nonces each) go through the node core's admission path (the runtime's checks, the pool, the
   signature), timed.
2. Flood: `sybils` accounts holding the existential deposit and 1.4 transfer fees each send as
   many tip-1 transfers as one account may pool at the default limits (`DEFAULT_MAX_PER_ACCOUNT`);
   then an honest tip-0 transfer is sent and the node authors the next block. Reported: how many
   of the flood's transactions were ready, and whether the honest transfer was admitted and
   included.
3. Emptying flood: `sybils` accounts each funded for the fees of that many transfers tipping 15%
   of a fee send a line whose first transfer moves all but the existential deposit away (each
   later one payable on the balance before it); then the same honest transfer and block.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from chain.client.chain import transfer_call
from chain.core.node import NodeCore
from chain.core.pool import DEFAULT_MAX_PER_ACCOUNT, PoolError, TransactionPool
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.executive import InvalidTransaction, lookup_call
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.pallets.system import EXTRINSIC_BASE_WEIGHT
from runtime.pallets.transaction_payment import FIXED_ONE, compute_fee
from runtime.primitives import trie
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import SignedTransaction, sign_transaction

SLOT_MS = 1000
ENDOWMENT = 10**6 * 10**12
NONCES_PER_ACCOUNT = 4
"""Transfers each account sends in the admission run (so accounts = txs / this, rounded up)."""


@dataclass(frozen=True)
class PoolFigures:
    """Admission rate, and the flood's outcome."""

    txs: int
    admitted_per_s: float
    sybils: int
    flood_sent: int
    flood_ready: int
    honest_admitted: bool
    honest_included: bool
    emptying_sent: int
    emptying_ready: int
    emptying_honest_admitted: bool
    emptying_honest_included: bool

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


def _keys(prefix: bytes, count: int) -> list[Keypair]:
    return [Keypair.from_seed(prefix + i.to_bytes(32 - len(prefix), "big")) for i in range(count)]


def _node(balances: list[tuple[bytes, int]]) -> NodeCore:
    author = dev_keypair("Alice")
    config = GenesisConfig(
        validators=(GenesisValidator(author.public, DEFAULT_STAKING_PARAMS.min_validator_bond),),
        slot_duration_ms=SLOT_MS,
        balances=((author.public, ENDOWMENT), *balances),
    )
    state = build_genesis_state(config)
    store = ChainStore(MemoryStore(), keep_states=8)
    store.initialize(genesis_header(trie.root_of(state)), state)
    return NodeCore(store, authority=author, pool=TransactionPool())


def _submit(core: NodeCore, tx: SignedTransaction) -> bool:
    try:
        core.submit_transaction(tx.raw, SLOT_MS // 3)
    except (InvalidTransaction, PoolError):
        return False
    return True


def _transfer_fee(sample: SignedTransaction) -> int:
    """A transfer's fee without tip at the genesis multiplier."""
    call_def, args = lookup_call(sample)
    return compute_fee(FIXED_ONE, len(sample.raw), EXTRINSIC_BASE_WEIGHT + call_def.weight(args), 0)


def _admission_rate(txs: int, progress: Callable[[str], None]) -> float:
    senders = _keys(b"xpl-pool-bench", -(-txs // NONCES_PER_ACCOUNT))
    core = _node([(k.public, ENDOWMENT) for k in senders])
    dest = dev_keypair("Ferdie").public
    signed = [
        sign_transaction(
            senders[i // NONCES_PER_ACCOUNT],
            transfer_call(dest, 10**9),
            nonce=i % NONCES_PER_ACCOUNT,
            genesis_hash=core.genesis_hash,
        )
        for i in range(txs)
    ]
    progress(f"signed {txs} transfers from {len(senders)} accounts")
    started = time.perf_counter()
    admitted = sum(_submit(core, tx) for tx in signed)
    elapsed = time.perf_counter() - started
    if admitted != txs:
        raise AssertionError(f"only {admitted} of {txs} payable transfers were admitted")
    return txs / elapsed


def _flood(
    sybils: int, progress: Callable[[str], None], *, emptying: bool
) -> tuple[int, int, bool, bool]:
    """(sent, ready after the flood, honest admitted, honest included) for `sybils` accounts,
    barely funded ones or (`emptying`) ones whose first transfer moves their balance away."""
    keys = _keys(b"xpl-pool-sybil", sybils)
    honest = dev_keypair("Bob")
    dest = dev_keypair("Ferdie").public
    sample = sign_transaction(honest, transfer_call(dest, 1), nonce=0, genesis_hash=bytes(32))
    fee = _transfer_fee(sample)
    tip = fee * 15 // 100 if emptying else 1
    if emptying:
        funded = EXISTENTIAL_DEPOSIT + DEFAULT_MAX_PER_ACCOUNT * (fee + tip) + fee
    else:
        funded = EXISTENTIAL_DEPOSIT + fee * 14 // 10
    core = _node([(honest.public, ENDOWMENT), *((k.public, funded) for k in keys)])
    sent = 0
    for k in keys:
        for nonce in range(DEFAULT_MAX_PER_ACCOUNT):
            value = 1
            if emptying and nonce == 0:
                # All but the deposit and this transfer's own fee (its value's length aside).
                first = sign_transaction(
                    k, transfer_call(dest, funded), nonce=0, genesis_hash=core.genesis_hash, tip=tip
                )
                value = funded - EXISTENTIAL_DEPOSIT - _transfer_fee(first) - tip
            tx = sign_transaction(
                k, transfer_call(dest, value), nonce=nonce, genesis_hash=core.genesis_hash, tip=tip
            )
            _submit(core, tx)
            sent += 1
    ready = core.pool.ready_count
    progress(f"{'emptying ' if emptying else ''}flood: {sent} sent, {ready} ready")
    transfer = sign_transaction(
        honest, transfer_call(dest, 10**12), nonce=0, genesis_hash=core.genesis_hash
    )
    admitted = _submit(core, transfer)
    core.on_timer("slot", SLOT_MS + SLOT_MS // 3)
    block = core.store.block(core.best_header.hash)
    included = block is not None and transfer.raw in block.extrinsics
    return sent, ready, admitted, included


def run_pool_benchmark(
    *, txs: int = 8_000, sybils: int = 16, progress: Callable[[str], None] = lambda _m: None
) -> PoolFigures:
    """Measure the admission rate, then run the flood."""
    if txs < 1 or sybils < 0:
        raise ValueError("the benchmark needs at least 1 transfer and no negative sybil count")
    rate = _admission_rate(txs, progress)
    progress(f"admission: {rate:.0f} transfers/s")
    sent, ready, admitted, included = _flood(sybils, progress, emptying=False)
    e_sent, e_ready, e_admitted, e_included = _flood(sybils, progress, emptying=True)
    return PoolFigures(
        txs=txs,
        admitted_per_s=round(rate, 1),
        sybils=sybils,
        flood_sent=sent,
        flood_ready=ready,
        honest_admitted=admitted,
        honest_included=included,
        emptying_sent=e_sent,
        emptying_ready=e_ready,
        emptying_honest_admitted=e_admitted,
        emptying_honest_included=e_included,
    )
