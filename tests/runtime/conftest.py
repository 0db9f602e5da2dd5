"""Shared builders for the runtime tests: a dev chain kept in a dict, driven by the executive.

`DevChain` builds its genesis with `build_genesis_state`, signs with `sign_transaction`, authors
blocks with `BlockBuilder`, seals headers with the author's key and applies each block's changes to
its dict, as the node does with its trie. Tests reach it through the `chain` fixture, or build one
with the `make_chain` factory when they need another genesis.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace

import pytest

from runtime.block import Block, Digest, Header, extrinsics_root
from runtime.executive import BlockBuilder, BlockResult, execute_block
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.invariants import check_invariants
from runtime.pallets import balances, randomness, system
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.pallets.system import AccountInfo
from runtime.primitives import vrf
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.trie import EMPTY_ROOT, MemoryNodeStore, commit
from runtime.state import StateOverlay
from runtime.transaction import IMMORTAL, Call, Mortality, SignedTransaction, sign_transaction

UNIT = 10**12
"""1 XPL in the smallest unit."""
ENDOWMENT = 1_000 * UNIT
SLOT_MS = 6_000

# Alice validates and authors; Bob, Charlie and Dave are funded; Eve and Ferdie do not exist.
ENDOWED = ("Alice", "Bob", "Charlie", "Dave")
VALIDATOR_BOND = 100 * balances.EXISTENTIAL_DEPOSIT
"""What the dev validator bonds of its endowment (1 XPL): small, so that tests with small
endowments can still validate."""
TEST_STAKING = replace(DEFAULT_STAKING_PARAMS, min_validator_bond=balances.EXISTENTIAL_DEPOSIT)


def apply_changes(state: dict[bytes, bytes], changes: dict[bytes, bytes | None]) -> None:
    """Apply a block's changes to a dict state: bytes are written, None deletes."""
    for key, value in changes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value


class StateRoots:
    """The state roots of dict states, each computed by committing what differs from the state
    whose root was computed last, as a node commits a block's changes to its trie, instead of
    building the whole trie again for every block (a root depends only on the key-value set, so
    it is the same root). No node is ever dropped, so any state may come next: the next block's,
    a fork's, or a state a test wrote into."""

    def __init__(self) -> None:
        self._nodes = MemoryNodeStore()
        self._state: dict[bytes, bytes] = {}
        self._root = EMPTY_ROOT

    def root_of(self, state: Mapping[bytes, bytes]) -> bytes:
        """The root of the trie holding exactly `state`."""
        last = self._state
        changes: dict[bytes, bytes | None] = {
            key: value for key, value in state.items() if last.get(key) != value
        }
        changes.update((key, None) for key in last.keys() - state.keys())
        done = commit(self._nodes.get, self._root, changes)
        self._nodes.nodes.update(done.inserted)
        self._state, self._root = dict(state), done.root
        return done.root


def prefix_iterator(state: dict[bytes, bytes]) -> Callable[[bytes], Iterator[tuple[bytes, bytes]]]:
    """`iterate(prefix)` over a dict state, in key order, as `check_invariants` wants it.

    For one check of a state that does not change while it runs: the keys are sorted at the
    first call (again if their number changed), and each prefix's run of keys is found by
    bisection, so a check of every pallet costs one sort, not a pass over the state a prefix.
    """
    keys: list[bytes] = []

    def iterate(prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        if len(keys) != len(state):
            keys[:] = sorted(state)
        run = []
        for i in range(bisect_left(keys, prefix), len(keys)):
            key = keys[i]
            if not key.startswith(prefix):
                break
            run.append((key, state[key]))
        return iter(run)

    return iterate


def dev_genesis_config(
    endowed: Sequence[tuple[bytes, int]] | None = None, validator: Keypair | None = None
) -> GenesisConfig:
    if endowed is None:
        endowed = [(dev_keypair(name).public, ENDOWMENT) for name in ENDOWED]
    return GenesisConfig(
        validators=(GenesisValidator((validator or dev_keypair("Alice")).public, VALIDATOR_BOND),),
        slot_duration_ms=SLOT_MS,
        balances=tuple(endowed),
        staking=TEST_STAKING,
    )


class DevChain:
    """A chain whose state is a dict: genesis, signing, authoring, importing."""

    def __init__(self, config: GenesisConfig, author: Keypair) -> None:
        self.state: dict[bytes, bytes] = build_genesis_state(config)
        self.roots = StateRoots()
        self.head = genesis_header(self.roots.root_of(self.state))
        self.genesis_hash = self.head.hash
        self.headers: list[Header] = [self.head]
        self.author = author
        self.randomness: dict[bytes, bytes] = {self.genesis_hash: self.genesis_hash}
        """The chain randomness in each block's state, by block hash."""

    # Reading

    def read(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return iter(sorted((k, v) for k, v in self.state.items() if k.startswith(prefix)))

    def account(self, who: bytes) -> AccountInfo | None:
        return system.Account.get(StateOverlay(self.read), who)

    def free(self, who: bytes) -> int:
        info = self.account(who)
        return 0 if info is None else info.free

    def nonce(self, who: bytes) -> int:
        info = self.account(who)
        return 0 if info is None else info.nonce

    def issuance(self) -> int:
        return balances.TotalIssuance.get(StateOverlay(self.read))

    def problems(self) -> list[str]:
        """Every pallet's broken invariants in the head state."""
        return check_invariants(self.read, prefix_iterator(self.state))

    # Transactions

    def sign(
        self,
        keypair: Keypair,
        call: Call,
        *,
        nonce: int | None = None,
        tip: int = 0,
        mortality: Mortality = IMMORTAL,
    ) -> SignedTransaction:
        """Sign for this chain; the nonce defaults to the account's next one."""
        birth = None if mortality.immortal else self.headers[mortality.birth].hash
        return sign_transaction(
            keypair,
            call,
            nonce=self.nonce(keypair.public) if nonce is None else nonce,
            genesis_hash=self.genesis_hash,
            tip=tip,
            mortality=mortality,
            birth_hash=birth,
        )

    # Blocks

    def builder(self) -> BlockBuilder:
        timestamp = self.head.timestamp + SLOT_MS
        return BlockBuilder(
            self.read,
            self.head,
            timestamp=timestamp,
            slot=timestamp // SLOT_MS,
            author=self.author,
            genesis_hash=self.genesis_hash,
        )

    def vrf_for(self, parent: Header, slot: int) -> tuple[bytes, bytes]:
        """The author's VRF output and proof for a block at `slot` on `parent`."""
        alpha = randomness.vrf_input(self.randomness[parent.hash], slot)
        return vrf.prove(self.author, alpha)

    def header_for(
        self,
        extrinsics: Sequence[bytes],
        *,
        state_root: bytes = ZERO_HASH,
        parent: Header | None = None,
        vrf_claim: tuple[bytes, bytes] | None = None,
    ) -> Header:
        """A sealed header on `parent` (default: the head) for these extrinsics, with the author's
        VRF output and proof (`vrf_claim`, or proven here)."""
        parent = parent or self.head
        timestamp = parent.timestamp + SLOT_MS
        slot = timestamp // SLOT_MS
        output, proof = vrf_claim or self.vrf_for(parent, slot)
        header = Header(
            parent_hash=parent.hash,
            number=parent.number + 1,
            state_root=state_root,
            extrinsics_root=extrinsics_root(extrinsics),
            timestamp=timestamp,
            digest=Digest(
                slot=slot, author=self.author.public, seal=b"", vrf_output=output, vrf_proof=proof
            ),
        )
        return header.sealed_by(self.author)

    def seal(self, builder: BlockBuilder) -> tuple[Block, BlockResult]:
        """Close the builder's block, seal it and make it the head."""
        result = builder.finish()
        post = dict(self.state)
        apply_changes(post, result.changes)
        ctx = result.context
        header = self.header_for(
            builder.extrinsics,
            state_root=self.roots.root_of(post),
            vrf_claim=(ctx.vrf_output, ctx.vrf_proof),
        )
        self.extend(Block(header, tuple(builder.extrinsics)), post)
        return Block(header, tuple(builder.extrinsics)), result

    def extend(self, block: Block, post: dict[bytes, bytes]) -> None:
        """Make `block`, whose state is `post`, the head."""
        self.state = post
        self.head = block.header
        self.headers.append(block.header)
        self.randomness[block.hash] = randomness.randomness_at(
            StateOverlay(post.get), self.genesis_hash
        )

    def produce(self, txs: Sequence[SignedTransaction] = ()) -> tuple[Block, BlockResult]:
        """Author the next block with these transactions (each must be includable)."""
        builder = self.builder()
        for tx in txs:
            builder.push(tx)
        return self.seal(builder)

    def execute(self, block: Block) -> BlockResult:
        """Execute a block on the head's state (nothing is applied)."""
        return execute_block(self.read, self.head, block, genesis_hash=self.genesis_hash)


ChainFactory = Callable[..., DevChain]


@pytest.fixture(scope="session")
def make_chain() -> ChainFactory:
    """Build a DevChain; `endowed` replaces the default balances, `author` Alice as author."""

    def make(
        endowed: Sequence[tuple[bytes, int]] | None = None, author: Keypair | None = None
    ) -> DevChain:
        author = author or dev_keypair("Alice")
        return DevChain(dev_genesis_config(endowed, validator=author), author)

    return make


@pytest.fixture
def chain(make_chain: ChainFactory) -> DevChain:
    """Alice (author), Bob, Charlie and Dave hold 1000 XPL each; the treasury holds the deposit."""
    return make_chain()
