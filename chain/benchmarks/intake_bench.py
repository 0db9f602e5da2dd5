"""What a flood of gossiped transactions that cannot pay their fee costs a node.

A peer sends a batch of `txs` validly signed transfers from accounts that hold nothing, then the
same transactions again, reshuffled (so each batch is a new gossip message that the network's
duplicate filter lets through), `rounds` times in all. A node core takes every batch through its
gossip input, as it would from the network; the CPU time of each batch is measured, and what the
node charged the peer for it is summed.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from chain.client.chain import transfer_call
from chain.core.actions import ReportPeer
from chain.core.messages import TOPIC_TRANSACTIONS, encode_transactions
from chain.core.node import NodeCore
from chain.spec import dev_spec
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import sign_transaction

PEER = "flooding-peer"
START_MS = 1_000_000


@dataclass(frozen=True)
class IntakeFigures:
    """CPU milliseconds per batch: the first, and the median of the reshuffled repeats."""

    txs: int
    rounds: int
    first_batch_ms: float
    repeat_batch_ms: float
    charged: int
    """What the node charged the peer over all rounds (the network bans at 100)."""

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


def unpayable_transfers(count: int, genesis_hash: bytes) -> list[bytes]:
    """`count` validly signed transfers, each from its own account that holds nothing."""
    dest = dev_keypair("Alice").public
    return [
        sign_transaction(
            Keypair.from_seed(b"xpl-unfunded-account" + i.to_bytes(12, "big")),
            transfer_call(dest, 10**12),
            nonce=0,
            genesis_hash=genesis_hash,
        ).raw
        for i in range(count)
    ]


def run_intake_benchmark(
    *, txs: int = 4_000, rounds: int = 5, progress: Callable[[str], None] = lambda _: None
) -> IntakeFigures:
    """Send `rounds` reshuffled batches of `txs` unpayable transactions to one node core."""
    if txs < 1 or rounds < 2:
        raise ValueError("the benchmark needs at least 1 transaction and 2 rounds")
    spec = dev_spec()
    store = ChainStore(MemoryStore(), keep_states=4)
    store.initialize(spec.genesis_header(), spec.genesis_state())
    core = NodeCore(store)
    progress(f"signing {txs} transfers from empty accounts")
    batch = unpayable_transfers(txs, store.genesis_hash)
    rng = random.Random(7)
    times: list[float] = []
    charged = 0
    for n in range(rounds):
        rng.shuffle(batch)
        data = encode_transactions(batch)
        started = time.process_time()
        _verdict, actions = core.on_gossip(PEER, TOPIC_TRANSACTIONS, data, START_MS + n * 100)
        times.append((time.process_time() - started) * 1000)
        charged += sum(a.cost for a in actions if isinstance(a, ReportPeer) and a.peer == PEER)
        progress(f"batch {n + 1}: {times[-1]:.1f} ms of CPU")
    return IntakeFigures(
        txs=txs,
        rounds=rounds,
        first_batch_ms=round(times[0], 1),
        repeat_batch_ms=round(statistics.median(times[1:]), 1),
        charged=charged,
    )
