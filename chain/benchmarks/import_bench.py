"""How fast a node imports blocks of transfers, next to how fast this machine checks signatures.

1. A genesis with `accounts` funded accounts; an author builds and seals blocks holding `txs`
   signed transfers among them (random receivers), as full as the block limits allow.
2. A node with a fresh LevelDB database imports those blocks through its import path
   (decode, signature check, execution, trie commit, one write batch, finality), timed; as sync
   imports a range, each import is told the next block, whose signature checks the
   `--verify-workers` processes may then start early (`chain.core.checks_ahead`).
3. In the same run, the same signatures are checked in a plain loop: the raw Ed25519 rate.

Signature checking is the floor of the cost of importing a transfer, so the ratio of the two
rates says how much the rest of the import path costs on top of it. Both are also measured in
CPU time (the importing process's, LevelDB's background compactions included; the verification
workers' not), which a machine shared with other work disturbs far less than the clock: the
`cpu_ratio` of the two is the figure to compare between runs there.

With `pooled`, the importing node first remembers every transaction's signature as its pool does
when it admits a gossiped transaction (`runtime.executive.CheckedSignatures`): the import then
checks none of them and decodes none of them again (`runtime.transaction.DecodedTransactions`),
which is what importing a block of transactions gossiped before it costs.

With governance (`run_governance_import_benchmark`, `xpl benchmark import --referenda N --votes
M`): the same kind of transfer blocks are built on a plain genesis and on one that also holds N
open referenda and M conviction votes (see `governance_state`), and imported into two fresh
databases block by block in turn, the order flipping each block, for a few rounds; each block
counts its best round. Both rates and their ratio are printed, with each block's on_initialize
work (every hook's mandatory weight; the alarms referenda serviced and the items it read).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from chain.benchmarks.governance_state import bench_tracks, populate_governance
from chain.client.chain import transfer_call
from chain.core.finality import sign_justification
from chain.core.importer import seal_block
from chain.core.node import NodeCore
from chain.service.signature_pool import ProcessVerifier
from chain.storage.chain_store import ChainStore
from chain.storage.kv import LevelDBStore, MemoryStore
from runtime.block import Block
from runtime.executive import BlockBuilder, ExhaustsResources
from runtime.framework import WEIGHT_PER_MICROS, BlockContext
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.referenda import REFERENDA
from runtime.pallets.referenda.constants import SERVICE_WEIGHT, SET_TALLY_WEIGHT
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.primitives import trie
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import Keypair, dev_keypair, verify
from runtime.state import StateOverlay, StateReader
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
    import_cpu_seconds: float
    """The importing process's CPU time (with workers, what is left to it: their checks are not
    counted)."""
    transfers_per_cpu_s: float
    verify_per_cpu_s: float
    cpu_ratio: float
    """transfers_per_cpu_s over verify_per_cpu_s."""
    pooled: bool = False
    """Whether the node had the signatures checked on admission (none checked at import)."""

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


def _accounts(count: int) -> list[Keypair]:
    return [Keypair.from_seed(b"xpl-bench-account" + i.to_bytes(15, "big")) for i in range(count)]


@dataclass(frozen=True)
class HookWork:
    """What one block's on_initialize did: every hook's mandatory weight, and referenda's part:
    the alarms it serviced and the storage items it read."""

    mandatory_weight: int
    alarms_serviced: int
    referenda_reads: int


def _referenda_hook_work(read: StateReader, number: int) -> tuple[int, int]:
    """Referenda's on_initialize at block `number` over the state `read` reads, on a throwaway
    overlay: the alarms it services (from the weight it declares) and the items it reads."""
    reads = 0

    def counting(key: bytes) -> bytes | None:
        nonlocal reads
        reads += 1
        return read(key)

    ctx = BlockContext(
        state=StateOverlay(counting),
        number=number,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=ZERO_HASH,
        genesis_hash=ZERO_HASH,
    )
    weight = REFERENDA.on_initialize(ctx)
    return (weight - SERVICE_WEIGHT) // SET_TALLY_WEIGHT, reads


def _build_blocks(
    spec_state: dict[bytes, bytes],
    accounts: list[Keypair],
    txs: int,
    author: Keypair,
    progress: Callable[[str], None],
) -> tuple[bytes, list[tuple[Block, bytes]], list[HookWork]]:
    """Sign `txs` transfers and pack them into sealed blocks; returns the genesis hash too, and
    each block's hook work."""
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
    work: list[HookWork] = []
    parent = store.best_header
    slot = START_MS // SLOT_MS
    cursor = 0
    while cursor < len(pending):
        slot += 1
        serviced, reads = _referenda_hook_work(store.reader(parent.hash), parent.number + 1)
        builder = BlockBuilder(
            store.reader(parent.hash),
            parent,
            timestamp=slot * SLOT_MS,
            slot=slot,
            author=author,
            genesis_hash=genesis,
        )
        work.append(HookWork(builder.context.mandatory_weight, serviced, reads))
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
    return genesis, blocks, work


def _signature_items(
    blocks: list[tuple[Block, bytes]], genesis: bytes
) -> list[tuple[bytes, bytes, bytes]]:
    """(public key, signed message, signature) of every transaction of the (immortal) blocks."""
    items = []
    for block, _ in blocks:
        for raw in block.extrinsics:
            tx = SignedTransaction.decode(raw)
            items.append((tx.signer, tx.message(genesis, genesis), tx.signature))
    return items


def _verify_rate(blocks: list[tuple[Block, bytes]], genesis: bytes) -> tuple[float, float]:
    """Raw Ed25519 checks per second over the blocks' own signatures, by the clock and by CPU
    time."""
    items = _signature_items(blocks, genesis)
    started, started_cpu = time.perf_counter(), time.process_time()
    for public, message, signature in items:
        if not verify(public, message, signature):
            raise AssertionError("a benchmark signature does not verify")
    cpu = time.process_time() - started_cpu
    return len(items) / (time.perf_counter() - started), len(items) / cpu


def run_import_benchmark(
    *,
    txs: int,
    accounts: int,
    verify_workers: int = 0,
    pooled: bool = False,
    progress: Callable[[str], None] = lambda _msg: None,
) -> ImportFigures:
    """Build the blocks, import them into a fresh database, and measure both rates (`pooled`:
    into a node that checked their signatures on admission)."""
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
    genesis_hash, blocks, _ = _build_blocks(state, keys, txs, author, progress)
    verify_before = _verify_rate(blocks, genesis_hash)
    workdir = Path(tempfile.mkdtemp(prefix="xpl-bench-"))
    verifier = ProcessVerifier(verify_workers) if verify_workers > 0 else None
    try:
        store = ChainStore(LevelDBStore(workdir / "db"))
        store.initialize(genesis_header(trie.root_of(state)), state)
        assert store.genesis_hash == genesis_hash
        core = NodeCore(store, verifier=verifier)
        if pooled:
            for item in _signature_items(blocks, genesis_hash):
                core.checked_signatures.add(*item)
            for block, _ in blocks:
                for raw in block.extrinsics:
                    core.decoded_transactions.add(SignedTransaction.decode(raw))
        progress(f"importing {len(blocks)} blocks")
        started, started_cpu = time.perf_counter(), time.process_time()
        for i, (block, justification) in enumerate(blocks):
            # As sync imports a range: the next block's checks may start behind this one's.
            after = blocks[i + 1][0] if i + 1 < len(blocks) else None
            core.import_block(
                block, block.header.timestamp, justification=justification, next_block=after
            )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - started_cpu
        if store.finalized_header.number != len(blocks):
            raise AssertionError("not every block was imported and finalized")
        store.close()
    finally:
        if verifier is not None:
            verifier.close()
        shutil.rmtree(workdir, ignore_errors=True)
    # Measured before and after the import, so that drift in the machine's speed evens out.
    verify_after = _verify_rate(blocks, genesis_hash)
    verify_per_s = (verify_before[0] + verify_after[0]) / 2
    verify_per_cpu_s = (verify_before[1] + verify_after[1]) / 2
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
        import_cpu_seconds=round(cpu, 3),
        transfers_per_cpu_s=round(txs / cpu, 1),
        verify_per_cpu_s=round(verify_per_cpu_s, 1),
        cpu_ratio=round(txs / cpu / verify_per_cpu_s, 3),
        pooled=pooled,
    )


# The same import with and without governance in the state


@dataclass(frozen=True)
class ChainFigures:
    """One chain's import in the side-by-side run, and its blocks' on_initialize work."""

    import_seconds: float
    """The sum of each block's best import time over the rounds."""
    cpu_seconds: float
    """The same in the importing thread's CPU time (other processes' load counts less)."""
    process_cpu_seconds: float
    """The same in the whole process's CPU time: with LevelDB's background compaction."""
    transfers_per_s: float
    blocks: int
    alarms_serviced: int
    """Over every imported block."""
    max_alarms_per_block: int
    max_referenda_reads: int
    """The most storage items referenda's on_initialize read in one block."""
    mean_mandatory_us: float
    max_mandatory_us: float
    """Every hook's mandatory weight per block, in microseconds of weight."""


@dataclass(frozen=True)
class GovernanceImportFigures:
    """The import rate of the same transfers on a plain genesis and on one holding `referenda`
    open referenda and `votes` votes; `ratio` is the second's rate over the first's (by the
    clock; `cpu_ratio` the same by the importing thread's CPU time)."""

    txs: int
    accounts: int
    referenda: int
    votes: int
    delegations: int
    referenda_states: dict[str, int]
    rounds: int
    verify_workers: int
    plain: ChainFigures
    governance: ChainFigures
    ratio: float
    cpu_ratio: float
    """The plain chain's CPU seconds over the governance chain's (above 1: governance faster)."""

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


def _genesis_config(keys: list[Keypair], author: Keypair) -> GenesisConfig:
    return GenesisConfig(
        validators=(GenesisValidator(author.public, VALIDATOR_BOND),),
        slot_duration_ms=SLOT_MS,
        balances=(*tuple((k.public, ENDOWMENT) for k in keys), (author.public, ENDOWMENT)),
        tracks=bench_tracks(),
    )


def _chain_figures(
    txs: int, seconds: float, cpu: float, process: float, work: list[HookWork]
) -> ChainFigures:
    us = [w.mandatory_weight / WEIGHT_PER_MICROS for w in work]
    return ChainFigures(
        import_seconds=round(seconds, 3),
        cpu_seconds=round(cpu, 3),
        process_cpu_seconds=round(process, 3),
        transfers_per_s=round(txs / seconds, 1),
        blocks=len(work),
        alarms_serviced=sum(w.alarms_serviced for w in work),
        max_alarms_per_block=max(w.alarms_serviced for w in work),
        max_referenda_reads=max(w.referenda_reads for w in work),
        mean_mandatory_us=round(sum(us) / len(us), 1),
        max_mandatory_us=round(max(us), 1),
    )


def run_governance_import_benchmark(
    *,
    txs: int,
    accounts: int,
    referenda: int,
    votes: int,
    rounds: int = 1,
    verify_workers: int = 0,
    progress: Callable[[str], None] = lambda _msg: None,
) -> GovernanceImportFigures:
    """Import the same kind of transfer blocks on a plain genesis and on one with `referenda`
    open referenda and `votes` votes (cast by the transfers' own accounts), block by block in
    turn (the order flipping each block, so that the machine's noise falls on both); `rounds`
    times over, each into fresh databases, each block's best round counting."""
    if txs < 1 or accounts < 2 or rounds < 1:
        raise ValueError("the benchmark needs at least 1 transfer, 2 accounts and 1 round")
    author = dev_keypair("Alice")
    keys = _accounts(accounts)
    plain_state = build_genesis_state(_genesis_config(keys, author))
    gov_state, setup = populate_governance(
        plain_state, [k.public for k in keys], referenda=referenda, votes=votes
    )
    progress(f"genesis with {setup.describe()}")
    chains = []
    for name, state in (("plain", plain_state), ("governance", gov_state)):
        genesis_hash, blocks, work = _build_blocks(state, keys, txs, author, progress)
        chains.append((name, state, genesis_hash, blocks, work))
    if len(chains[0][3]) != len(chains[1][3]):
        raise AssertionError("the two chains' transfers did not fit the same number of blocks")
    count = len(chains[0][3])
    # Each block's import time in each round; a block's figure is its best round (as timeit
    # keeps the best), so that a burst of other work on the machine does not count.
    wall = [[[0.0] * count for _ in range(rounds)] for _ in chains]
    cpu = [[[0.0] * count for _ in range(rounds)] for _ in chains]
    process = [[[0.0] * count for _ in range(rounds)] for _ in chains]
    verifier = ProcessVerifier(verify_workers) if verify_workers > 0 else None
    try:
        for round_ in range(rounds):
            workdir = Path(tempfile.mkdtemp(prefix="xpl-bench-"))
            try:
                cores = []
                for i, (_, state, genesis_hash, _, _) in enumerate(chains):
                    kv = LevelDBStore(workdir / f"db{i}")
                    store = ChainStore(kv)
                    store.initialize(genesis_header(trie.root_of(state)), state)
                    assert store.genesis_hash == genesis_hash
                    # Settled, as a running node's database is long after its genesis: else
                    # LevelDB compacts the larger genesis in the background while it is timed.
                    kv.compact()
                    cores.append((store, NodeCore(store, verifier=verifier)))
                progress(f"round {round_ + 1}: importing {count} blocks on each chain in turn")
                for k in range(count):
                    order = (0, 1) if (k + round_) % 2 == 0 else (1, 0)
                    for i in order:
                        block, justification = chains[i][3][k]
                        started, started_cpu = time.perf_counter(), time.thread_time()
                        started_process = time.process_time()
                        cores[i][1].import_block(
                            block, block.header.timestamp, justification=justification
                        )
                        wall[i][round_][k] = time.perf_counter() - started
                        cpu[i][round_][k] = time.thread_time() - started_cpu
                        process[i][round_][k] = time.process_time() - started_process
                for store, _ in cores:
                    if store.finalized_header.number != count:
                        raise AssertionError("not every block was imported and finalized")
                    store.close()
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if verifier is not None:
            verifier.close()
    plain, governance = (
        _chain_figures(txs, _best(wall[i]), _best(cpu[i]), _best(process[i]), chains[i][4])
        for i in (0, 1)
    )
    return GovernanceImportFigures(
        txs=txs,
        accounts=accounts,
        referenda=setup.referenda,
        votes=setup.votes,
        delegations=setup.delegations,
        referenda_states=setup.states,
        rounds=rounds,
        verify_workers=verify_workers,
        plain=plain,
        governance=governance,
        ratio=round(governance.transfers_per_s / plain.transfers_per_s, 3),
        cpu_ratio=round(plain.cpu_seconds / governance.cpu_seconds, 3),
    )


def _best(times: list[list[float]]) -> float:
    """The sum over blocks of each block's best time over the rounds."""
    return float(sum(min(per_round) for per_round in zip(*times, strict=True)))
