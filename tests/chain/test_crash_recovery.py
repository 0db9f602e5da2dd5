"""Crash recovery: a busy dev node is killed with SIGKILL at random moments; each time its database
must hold a consistent chain (heads present, the state matching the best block's state root, the
sum of balances equal to the total issuance, no finalized block lost), and the node must restart
on it, resume from that head, and keep authoring and finalizing.

The moments come from a seeded random generator; the seed is printed, and XPL_CRASH_SEED replays it.
"""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chain.client.chain import XplClient, transfer_call
from chain.client.rpc import RpcClientError, RpcConnectionError
from chain.spec import dev_spec
from chain.storage.chain_store import ChainStore
from chain.storage.kv import LevelDBStore
from runtime.block import Header
from runtime.invariants import check_invariants
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.primitives import trie
from runtime.primitives.hashing import blake2b_256, from_hex, to_hex
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import sign_transaction

if TYPE_CHECKING:
    from tests.chain.conftest import NodeFactory, Waiter

SENDERS = tuple(dev_keypair(n) for n in ("Bob", "Charlie", "Dave", "Eve", "Ferdie"))
KILLS = 4
PER_SENDER_BATCH = 25


def receivers(rng: random.Random, count: int) -> list[bytes]:
    """Fresh accounts (the transfers create them, so the state grows) and the dev accounts."""
    fresh = [Keypair.from_seed(blake2b_256(rng.randbytes(32))).public for _ in range(count)]
    return fresh + [k.public for k in SENDERS]


class Load(threading.Thread):
    """Submits batches of signed transfers from several accounts until stopped or the node dies.

    It also remembers the last finalized block the node reported, which must survive the crash.
    """

    def __init__(self, url: str, rng: random.Random, to: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.client = XplClient(url, timeout=5.0)
        self.rng = random.Random(rng.random())
        self.to = to
        self.stopping = threading.Event()
        self.accepted = 0
        self.finalized_seen: tuple[int, bytes] | None = None
        self.failure: BaseException | None = None

    def has_accepted(self) -> bool | None:
        """True once the node has taken a transaction (None before, for polling)."""
        return True if self.accepted > 0 else None

    def run(self) -> None:
        try:
            self._submit_until_stopped()
        except RpcConnectionError:
            pass  # the node was killed under us
        except BaseException as exc:
            self.failure = exc
        finally:
            self.client.close()

    def _submit_until_stopped(self) -> None:
        genesis = self.client.genesis_hash()
        nonces: dict[bytes, int] = {}
        while not self.stopping.is_set():
            calls = []
            for sender in SENDERS:
                if sender.public not in nonces:
                    nonces[sender.public] = self.client.next_nonce(sender.public)
                for _ in range(PER_SENDER_BATCH):
                    amount = self.rng.randrange(EXISTENTIAL_DEPOSIT, 100 * EXISTENTIAL_DEPOSIT)
                    tx = sign_transaction(
                        sender,
                        transfer_call(self.rng.choice(self.to), amount),
                        nonce=nonces[sender.public],
                        genesis_hash=genesis,
                    )
                    nonces[sender.public] += 1
                    calls.append((sender.public, ("author_submitExtrinsic", [to_hex(tx.raw)])))
            results = self.client.rpc.batch([call for _, call in calls])
            for (signer, _), result in zip(calls, results, strict=True):
                if isinstance(result, RpcClientError):
                    nonces.pop(signer, None)  # pool full or a gap: ask the node again
                else:
                    self.accepted += 1
            finalized = self.client.finalized_hash()
            number = int(self.client.header(finalized)["number"], 16)
            self.finalized_seen = (number, finalized)


@contextmanager
def open_database(base_path: Path) -> Iterator[ChainStore]:
    """The dead node's database, opened directly (its LevelDB lock is free)."""
    store = ChainStore(LevelDBStore(base_path / "chains" / "dev" / "db"))
    try:
        store.open()
        yield store
    finally:
        store.close()


def check_database(store: ChainStore, must_hold: list[tuple[int, bytes]]) -> tuple[Header, int]:
    """Every consistency rule a crash must not break; the best header and its largest block."""
    best, finalized = store.best_header, store.finalized_header
    assert store.header(store.best_hash) is not None
    assert store.header(store.finalized_hash) is not None
    assert finalized.number <= best.number
    # The best chain is whole: every number down to genesis, each block the parent of the next.
    largest = 0
    child: Header | None = None
    for number in range(best.number, -1, -1):
        block_hash = store.hash_at(number)
        assert block_hash is not None, f"block #{number} is missing"
        header = store.require_header(block_hash)
        if child is not None:
            assert child.parent_hash == block_hash
        body = store.body(block_hash)
        assert body is not None
        largest = max(largest, len(body))
        child = header
    assert store.hash_at(best.number) == store.best_hash
    assert store.hash_at(finalized.number) == store.finalized_hash
    for number, block_hash in must_hold:
        assert store.hash_at(number) == block_hash, f"finalized block #{number} was lost"
    # The state is the one the best header commits to, and every invariant holds in it.
    state = dict(store.iterate_state(store.best_hash, b""))
    assert trie.root_of(state) == best.state_root
    problems = check_invariants(
        store.reader(store.best_hash), lambda prefix: store.iterate_state(store.best_hash, prefix)
    )
    assert problems == []
    return best, largest


def check_resumed(client: XplClient, head: Header) -> None:
    """The restarted node serves the chain it had, from that head on."""
    assert client.block_hash(head.number) == head.hash
    assert client.finalized_number() >= head.number
    assert client.header(head.hash)["stateRoot"] == to_hex(head.state_root)


def best_past(client: XplClient, number: int) -> bool | None:
    """True once the node's best block is past `number` (None before, for polling)."""
    return True if client.best_number() > number else None


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("XPL_CRASH_SEED") or random.randrange(2**32))
    print(f"crash moments from seed {value} (XPL_CRASH_SEED={value} replays them)")
    return value


@pytest.mark.timeout(150)
def test_node_killed_while_busy_recovers_every_time(
    node_factory: NodeFactory, wait_until: Waiter, seed: int
) -> None:
    rng = random.Random(seed)
    node = node_factory.create()
    to = receivers(rng, 300)
    must_hold: list[tuple[int, bytes]] = []
    head: Header | None = None
    largest_block = 0
    started = time.monotonic()
    for kill in range(KILLS):
        node.start()
        client = node.client()
        if head is not None:
            check_resumed(client, head)
        load = Load(node.url, rng, to)
        load.start()
        wait_until(
            load.has_accepted,
            timeout=20,
            what="the load to get transactions into the pool",
        )
        # Killed busy: after it has authored on the chain it resumed, at a random moment.
        loaded_at = client.best_number()
        wait_until(
            functools.partial(best_past, client, loaded_at),
            timeout=20,
            what="a block authored under the load",
        )
        time.sleep(rng.uniform(0.0, 2.0))
        node.kill()
        load.stopping.set()
        load.join(timeout=20)
        assert not load.is_alive()
        assert load.failure is None, repr(load.failure)
        if load.finalized_seen is not None:
            must_hold.append(load.finalized_seen)
        with open_database(node.base_path) as store:
            head, largest = check_database(store, must_hold)
        assert head.number > loaded_at, "the block authored under the load was lost"
        largest_block = max(largest_block, largest)
        print(f"kill {kill + 1}: best #{head.number}, largest block {largest} transactions")
    assert time.monotonic() - started < 90
    assert largest_block >= 20, "the load never filled a block; the kills hit an idle node"

    assert head is not None
    node.start()
    client = node.client()
    check_resumed(client, head)
    node.wait_finalized(head.number + 2)
    following = client.header(client.block_hash(head.number + 1))
    assert following["parentHash"] == to_hex(head.hash)
    assert from_hex(following["hash"]) == client.block_hash(head.number + 1)
    assert node.stop() == 0


@pytest.mark.timeout(60)
def test_node_killed_while_creating_its_database_starts_afterwards(
    node_factory: NodeFactory,
) -> None:
    node = node_factory.create()
    db = node.base_path / "chains" / "dev" / "db"
    node.spawn()
    deadline = time.monotonic() + 20
    while not db.exists() and time.monotonic() < deadline and node.running:
        time.sleep(0.001)
    assert db.exists(), node.log_tail()
    node.kill()

    node.start()
    client = node.client()
    assert client.finalized_number() >= 1
    assert client.block_hash(0) == dev_spec().genesis_header().hash
    assert node.stop() == 0
