"""How fast a node imports blocks of transfers, next to how fast this machine checks signatures.

1. A genesis with `accounts` funded accounts; an author builds and seals blocks holding `txs`
   signed transfers among them (random receivers), as full as the block limits allow.
2. A node with a fresh LevelDB database imports those blocks through its import path
   (decode, signature check, execution, trie commit, one write batch, finality), timed.
3. In the same run, the same signatures are checked in a plain loop: the raw Ed25519 rate.

Signature checking is the floor of the cost of importing a transfer, so the ratio of the two
rates says how much the rest of the import path costs on top of it.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from chain.client.chain import transfer_call
from chain.core.finality import sign_justification
from chain.core.importer import seal_block
from chain.core.node import NodeCore
from chain.service.signature_pool import ProcessVerifier
from chain.storage.chain_store import ChainStore
from chain.storage.kv import LevelDBStore, MemoryStore
from runtime.block import Block
from runtime.executive import BlockBuilder, ExhaustsResources
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.primitives import trie
from runtime.primitives.keys import Keypair, dev_keypair, verify
from runtime.transaction import SignedTransaction, sign_transaction

SLOT_MS = 1000
START_MS = 1_700_000_000_000
ENDOWMENT = 10**6 * 10**12
VALIDATOR_BOND = DEFAULT_STAKING_PARAMS.min_validator_bond


@dataclass(frozen=True)
class ImportFigures:
    """What one import run measured; `ratio` is the import rate over the raw signature rate."""

    txs: int
    accounts: int
    blocks: int
    verify_workers: int
    import_seconds: float
    transfers_per_s: float
    verify_per_s: float
    ratio: float

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


def _accounts(count: int) -> list[Keypair]:
    return [Keypair.from_seed(b"xpl-bench-account" + i.to_bytes(15, "big")) for i in range(count)]


def _build_blocks(
    spec_state: dict[bytes, bytes],
    accounts: list[Keypair],
    txs: int,
    author: Keypair,
    progress: Callable[[str], None],
) -> tuple[bytes, list[tuple[Block, bytes]]]:
    """Sign `txs` transfers and pack them into sealed blocks; returns the genesis hash too."""
    store = ChainStore(MemoryStore(), keep_states=4)
    store.initialize(genesis_header(trie.root_of(spec_state)), spec_state)
    genesis = store.genesis_hash
    rng = random.Random(7)
    nonces = [0] * len(accounts)
    pending: list[SignedTransaction] = []
    for i in range(txs):
        sender = i % len(accounts)
        dest = accounts[rng.randrange(len(accounts))].public
        call = transfer_call(dest, 10**9 + rng.randrange(10**9))
        pending.append(
            sign_transaction(accounts[sender], call, nonce=nonces[sender], genesis_hash=genesis)
        )
        nonces[sender] += 1
    progress(f"signed {txs} transfers")
    blocks: list[tuple[Block, bytes]] = []
    parent = store.best_header
    slot = START_MS // SLOT_MS
    cursor = 0
    while cursor < len(pending):
        slot += 1
        builder = BlockBuilder(
            store.reader(parent.hash),
            parent,
            timestamp=slot * SLOT_MS,
            slot=slot,
            author=author,
            genesis_hash=genesis,
        )
        while cursor < len(pending):
            try:
                builder.push(pending[cursor])
            except ExhaustsResources:
                break
            cursor += 1
        executed = seal_block(
            store, parent, builder.finish(), builder.extrinsics, slot=slot, author=author
        )
        header = executed.block.header
        justification = sign_justification(
            (author,), set_id=0, round_=header.number, target=header
        ).encode()
        store.import_block(
            executed.block,
            executed.result.changes,
            executed.commit,
            make_best=True,
            justification=justification,
        )
        blocks.append((executed.block, justification))
        parent = header
    progress(f"built {len(blocks)} blocks")
    return genesis, blocks


def _verify_rate(blocks: list[tuple[Block, bytes]], genesis: bytes) -> float:
    """Raw Ed25519 checks per second over the blocks' own signatures."""
    items = []
    for block, _ in blocks:
        for raw in block.extrinsics:
            tx = SignedTransaction.decode(raw)
            items.append((tx.signer, tx.message(genesis, genesis), tx.signature))
    started = time.perf_counter()
    for public, message, signature in items:
        if not verify(public, message, signature):
            raise AssertionError("a benchmark signature does not verify")
    return len(items) / (time.perf_counter() - started)


def run_import_benchmark(
    *,
    txs: int,
    accounts: int,
    verify_workers: int = 0,
    progress: Callable[[str], None] = lambda _msg: None,
) -> ImportFigures:
    """Build the blocks, import them into a fresh database, and measure both rates."""
    if txs < 1 or accounts < 2:
        raise ValueError("the benchmark needs at least 1 transfer and 2 accounts")
    author = dev_keypair("Alice")
    keys = _accounts(accounts)
    config = GenesisConfig(
        validators=(GenesisValidator(author.public, VALIDATOR_BOND),),
        slot_duration_ms=SLOT_MS,
        balances=(*tuple((k.public, ENDOWMENT) for k in keys), (author.public, ENDOWMENT)),
    )
    state = build_genesis_state(config)
    genesis_hash, blocks = _build_blocks(state, keys, txs, author, progress)
    verify_before = _verify_rate(blocks, genesis_hash)
    workdir = Path(tempfile.mkdtemp(prefix="xpl-bench-"))
    verifier = ProcessVerifier(verify_workers) if verify_workers > 0 else None
    try:
        store = ChainStore(LevelDBStore(workdir / "db"))
        store.initialize(genesis_header(trie.root_of(state)), state)
        assert store.genesis_hash == genesis_hash
        core = NodeCore(store, verifier=verifier)
        progress(f"importing {len(blocks)} blocks")
        started = time.perf_counter()
        for block, justification in blocks:
            core.import_block(block, block.header.timestamp, justification=justification)
        elapsed = time.perf_counter() - started
        if store.finalized_header.number != len(blocks):
            raise AssertionError("not every block was imported and finalized")
        store.close()
    finally:
        if verifier is not None:
            verifier.close()
        shutil.rmtree(workdir, ignore_errors=True)
    # Measured before and after the import, so that drift in the machine's speed evens out.
    verify_per_s = (verify_before + _verify_rate(blocks, genesis_hash)) / 2
    transfers_per_s = txs / elapsed
    return ImportFigures(
        txs=txs,
        accounts=accounts,
        blocks=len(blocks),
        verify_workers=verify_workers,
        import_seconds=round(elapsed, 3),
        transfers_per_s=round(transfers_per_s, 1),
        verify_per_s=round(verify_per_s, 1),
        ratio=round(transfers_per_s / verify_per_s, 3),
    )
