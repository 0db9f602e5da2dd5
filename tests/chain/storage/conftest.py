"""Fixtures for the chain store: the dev chain's genesis, and blocks built by the runtime on any
retained parent and sealed as the author seals them, with the full state after each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from chain.client.chain import transfer_call
from chain.core.importer import ExecutedBlock, seal_block
from chain.spec import dev_spec
from chain.storage.chain_store import ChainStore
from chain.storage.kv import KeyValueStore, MemoryStore
from runtime.block import Block, Header
from runtime.executive import BlockBuilder
from runtime.pallets import system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import sign_transaction

ALICE = dev_keypair("Alice")
ED = EXISTENTIAL_DEPOSIT
RECIPIENTS = tuple(Keypair.from_seed(blake2b_256(b"xpl-test-recipient:%d" % i)) for i in range(3))
"""Accounts that do not exist at genesis: paying them creates state keys, draining them deletes."""

Move = tuple[str, int, int]
"""("pay", recipient, units): Alice sends units × ED (2 or more lets the recipient pay fees);
("drain", recipient, _): the recipient sends back all but half an ED, so that its account is
reaped (its state key deleted); skipped when there is not that much to send."""


def apply_changes(
    state: Mapping[bytes, bytes], changes: Mapping[bytes, bytes | None]
) -> dict[bytes, bytes]:
    out = dict(state)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Genesis:
    """Block 0 as a parent: its header and its state."""

    header: Header
    state: dict[bytes, bytes]

    @property
    def hash(self) -> bytes:
        return self.header.hash


@dataclass(frozen=True)
class Built:
    """A block executed and sealed on its parent, and the full state after it."""

    executed: ExecutedBlock
    state: dict[bytes, bytes]

    @property
    def block(self) -> Block:
        return self.executed.block

    @property
    def header(self) -> Header:
        return self.executed.block.header

    @property
    def hash(self) -> bytes:
        return self.executed.block.header.hash


@dataclass
class DevChain:
    """The dev chain's genesis, and blocks built on any parent whose state the store retains."""

    genesis: Genesis = field(init=False)
    slot_ms: int = field(init=False)

    def __post_init__(self) -> None:
        spec = dev_spec()
        self.genesis = Genesis(spec.genesis_header(), spec.genesis_state())
        self.slot_ms = spec.genesis.slot_duration_ms

    def store(
        self, kv: KeyValueStore | None = None, *, keep_states: int | None = 256
    ) -> ChainStore:
        store = ChainStore(MemoryStore() if kv is None else kv, keep_states=keep_states)
        store.initialize(self.genesis.header, self.genesis.state)
        return store

    def build(
        self,
        store: ChainStore,
        on: Genesis | Built,
        moves: Sequence[Move] = (),
        *,
        slot: int | None = None,
    ) -> Built:
        """Alice's block on `on` (slot: the parent's + 1 unless given) doing `moves`."""
        parent = on.header
        slot = parent.digest.slot + 1 if slot is None else slot
        builder = BlockBuilder(
            store.reader(parent.hash),
            parent,
            timestamp=slot * self.slot_ms,
            slot=slot,
            author=ALICE,
            genesis_hash=store.genesis_hash,
        )
        for kind, index, units in moves:
            recipient = RECIPIENTS[index]
            if kind == "pay":
                signer, dest, amount = ALICE, recipient.public, units * ED
            else:
                signer, dest = recipient, ALICE.public
                amount = self._free(builder, recipient.public) - ED // 2
                if amount < ED:
                    continue  # nothing to drain
            nonce = self._nonce(builder, signer.public)
            tx = sign_transaction(
                signer, transfer_call(dest, amount), nonce=nonce, genesis_hash=store.genesis_hash
            )
            builder.push(tx)
        result = builder.finish()
        executed = seal_block(store, parent, result, builder.extrinsics, slot=slot, author=ALICE)
        return Built(executed, apply_changes(on.state, result.changes))

    @staticmethod
    def account_key(recipient: int) -> bytes:
        """The state key of a recipient's account."""
        return system.Account.key(RECIPIENTS[recipient].public)

    @staticmethod
    def _free(builder: BlockBuilder, who: bytes) -> int:
        info = system.Account.get(builder.context.state, who)
        return 0 if info is None else info.free

    @staticmethod
    def _nonce(builder: BlockBuilder, who: bytes) -> int:
        return system.nonce_of_state(builder.context.state, who)

    @staticmethod
    def put(
        store: ChainStore,
        built: Built,
        *,
        make_best: bool | None = None,
        justification: bytes | None = None,
    ) -> list[bytes]:
        """Store a built block; best by length unless told. Returns the hashes made final."""
        if make_best is None:
            make_best = built.header.number > store.best_header.number
        return store.import_block(
            built.block,
            built.executed.result.changes,
            built.executed.commit,
            make_best=make_best,
            justification=justification,
        )

    def chain(
        self, store: ChainStore, on: Genesis | Built, moves_per_block: Iterable[Sequence[Move]]
    ) -> list[Built]:
        """Build and store blocks one on another, starting on `on`; best by length."""
        out: list[Built] = []
        for moves in moves_per_block:
            built = self.build(store, on, moves)
            self.put(store, built)
            out.append(built)
            on = built
        return out


@pytest.fixture(scope="session")
def dev() -> DevChain:
    return DevChain()
