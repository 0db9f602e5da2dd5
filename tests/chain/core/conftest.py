"""Fixtures for the node core: chains from the dev and local specs, node cores over them (each
with its own store), justifications, blocks built by the runtime, and readers of actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from chain.client.chain import transfer_call
from chain.core.actions import Action, BlockImported, Finalized, SetTimer, TxDropped
from chain.core.finality import sign_justification
from chain.core.importer import seal_block
from chain.core.node import NodeCore
from chain.spec import ChainSpec, dev_spec, local_spec
from chain.storage.chain_store import ChainStore
from chain.storage.kv import KeyValueStore, MemoryStore
from runtime.api import account_info
from runtime.block import Block, Header
from runtime.executive import BlockBuilder
from runtime.primitives.keys import Keypair
from runtime.transaction import IMMORTAL, Mortality, SignedTransaction, sign_transaction


class Chain:
    """One chain spec's genesis, and nodes over it that each own their store."""

    def __init__(self, spec: ChainSpec) -> None:
        self.spec = spec
        self.genesis_state = spec.genesis_state()
        self.genesis_header = spec.genesis_header()
        self.slot_ms = spec.genesis.slot_duration_ms
        self.validators = spec.genesis.validator_keys

    def store(
        self, kv: KeyValueStore | None = None, *, keep_states: int | None = 256
    ) -> ChainStore:
        store = ChainStore(MemoryStore() if kv is None else kv, keep_states=keep_states)
        store.initialize(self.genesis_header, self.genesis_state)
        return store

    def node(self, authority: Keypair | None = None, *, keep_states: int | None = 256) -> NodeCore:
        return NodeCore(self.store(keep_states=keep_states), authority=authority)

    def at(self, slot: int) -> int:
        """A time inside `slot` (not its first millisecond)."""
        return slot * self.slot_ms + self.slot_ms // 3

    def author_of(self, slot: int) -> bytes:
        return self.validators[slot % len(self.validators)]

    def justification(self, block: Header, signers: Sequence[Keypair], *, round_: int = 1) -> bytes:
        return sign_justification(signers, set_id=0, round_=round_, target=block).encode()

    def build_on(
        self,
        store: ChainStore,
        parent: Header,
        *,
        slot: int,
        author: Keypair,
        txs: Sequence[SignedTransaction] = (),
        timestamp: int | None = None,
    ) -> Block:
        """A block sealed by `author` on `parent`, built by the runtime; nothing is stored."""
        builder = BlockBuilder(
            store.reader(parent.hash),
            parent,
            timestamp=slot * self.slot_ms if timestamp is None else timestamp,
            slot=slot,
            author=author,
            genesis_hash=store.genesis_hash,
        )
        for tx in txs:
            builder.push(tx)
        executed = seal_block(
            store, parent, builder.finish(), builder.extrinsics, slot=slot, author=author
        )
        return executed.block


@pytest.fixture(scope="session")
def dev() -> Chain:
    """The single-validator dev chain: //Alice authors every slot and finalizes each block."""
    return Chain(dev_spec())


@pytest.fixture(scope="session")
def local() -> Callable[[int], Chain]:
    """Local chains with n validators (//Alice, //Bob, ...)."""
    chains: dict[int, Chain] = {}

    def make(n: int) -> Chain:
        if n not in chains:
            chains[n] = Chain(local_spec(validators=n))
        return chains[n]

    return make


def transfer(
    signer: Keypair,
    dest: bytes,
    amount: int,
    *,
    nonce: int,
    genesis_hash: bytes,
    tip: int = 0,
    mortality: Mortality = IMMORTAL,
    birth_hash: bytes | None = None,
    keep_alive: bool = False,
) -> SignedTransaction:
    return sign_transaction(
        signer,
        transfer_call(dest, amount, keep_alive=keep_alive),
        nonce=nonce,
        genesis_hash=genesis_hash,
        tip=tip,
        mortality=mortality,
        birth_hash=birth_hash,
    )


class Helpers:
    """Small readers of a core's actions and state, handed to tests as one fixture."""

    transfer = staticmethod(transfer)

    @staticmethod
    def authored(actions: Sequence[Action]) -> Header | None:
        """The header of the block these actions say was authored, if any."""
        found = [a.header for a in actions if isinstance(a, BlockImported) and a.authored]
        assert len(found) <= 1
        return found[0] if found else None

    @staticmethod
    def finalized(actions: Sequence[Action]) -> list[bytes]:
        return [h.hash for a in actions if isinstance(a, Finalized) for h in a.headers]

    @staticmethod
    def dropped(actions: Sequence[Action]) -> list[TxDropped]:
        return [a for a in actions if isinstance(a, TxDropped)]

    @staticmethod
    def timers(actions: Sequence[Action], name: str = "slot") -> list[SetTimer]:
        return [a for a in actions if isinstance(a, SetTimer) and a.name == name]

    @staticmethod
    def free(core: NodeCore, who: bytes, block_hash: bytes | None = None) -> int:
        return account_info(core.reader(block_hash), who).free


@pytest.fixture(scope="session")
def h() -> Helpers:
    return Helpers()
