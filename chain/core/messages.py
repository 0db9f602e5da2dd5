"""What nodes say to each other: gossip topics, request protocols and their messages.

Gossip topics (each message is validated before it is relayed):

    block          [header, body | None]      a new block; a body too large for gossip is left
                                              out and fetched with a sync request by hash
    transactions   [extrinsic, ...]           a batch of signed transactions
    finality       ["votes", [vote, ...]]     a batch of GRANDPA votes (a third item, a nonce,
                                              makes votes sent again a new message)
                   ["commit", justification]  a round's result, for nodes that missed its votes
                   ["primary", proposal]      a round's primary proposal
                                              (`chain.core.voter_messages.PrimaryProposal`)

Request protocols (request -> response):

    status         (empty)                    -> [genesis, best number, best hash,
                                                  finalized number, finalized hash, is authority]
    sync           [start, descending, max, bodies]  -> [[header, body | None, justification
                                                  | None], ...]; start is a block number or hash
    catchup        [set id, round]            -> a completed round's votes
                                                  (`chain.core.voter_messages.CatchUp`)
    neighbour      [set id, round, finalized] -> the same, of the answering node's voter
                                                  (`chain.core.voter_messages.Neighbour`)
    blob           [root, index]              -> [leaf, proof, leaf count, size] (job data:
                                              `chain.service.blob_protocol`, served by the node
                                              process in `chain.service.network`, not the core)

All of them but the empty status request are canonical msgpack, decoded strictly with size
limits (DecodeError otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime.block import MAX_BLOCK_EXTRINSICS, MAX_BLOCK_SIZE, Block, Header
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value

TOPIC_BLOCKS: Final = "block"
TOPIC_TRANSACTIONS: Final = "transactions"
TOPIC_FINALITY: Final = "finality"
TOPICS: Final = (TOPIC_BLOCKS, TOPIC_TRANSACTIONS, TOPIC_FINALITY)

PROTOCOL_STATUS: Final = "status"
PROTOCOL_SYNC: Final = "sync"
PROTOCOL_CATCH_UP: Final = "catchup"
PROTOCOL_NEIGHBOUR: Final = "neighbour"
PROTOCOL_BLOB: Final = "blob"

MAX_GOSSIP_BYTES: Final = 900 * 1024
"""No gossip message is larger (libraries drop messages of 1 MiB and more without a word)."""
GOSSIP_BODY_LIMIT: Final = 800 * 1024
"""A block whose body is larger is announced without it."""
TX_BATCH_BYTES: Final = 256 * 1024
MAX_TX_BATCH: Final = 4_096
MAX_SYNC_BLOCKS: Final = 128
"""Blocks in one sync response, at most."""
SYNC_RESPONSE_BYTES: Final = 8 * 1024 * 1024
"""A sync response stops adding blocks past this size (it always holds at least one)."""
MAX_JUSTIFICATION_BYTES: Final = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Status:
    """What a node tells a peer of its chain: the status protocol's answer."""

    genesis_hash: bytes
    best_number: int
    best_hash: bytes
    finalized_number: int
    finalized_hash: bytes
    authority: bool

    def encode(self) -> bytes:
        """`[genesis, best number, best hash, finalized number, finalized hash, is authority]`."""
        return codec.encode(
            [
                self.genesis_hash,
                self.best_number,
                self.best_hash,
                self.finalized_number,
                self.finalized_hash,
                self.authority,
            ]
        )

    @classmethod
    def decode(cls, raw: bytes) -> Status:
        """A peer's status; DecodeError if malformed or over 1 KiB."""
        f = codec.expect_list(codec.decode_raw(raw, max_size=1024), 6, "status")
        return cls(
            genesis_hash=codec.expect_bytes(f[0], "status.genesis", length=32),
            best_number=codec.expect_u32(f[1], "status.best_number"),
            best_hash=codec.expect_bytes(f[2], "status.best_hash", length=32),
            finalized_number=codec.expect_u32(f[3], "status.finalized_number"),
            finalized_hash=codec.expect_bytes(f[4], "status.finalized_hash", length=32),
            authority=codec.expect_bool(f[5], "status.authority"),
        )


def _body_value(extrinsics: tuple[bytes, ...]) -> Value:
    return list(extrinsics)


def _body_from(value: Value, what: str) -> tuple[bytes, ...]:
    items = codec.expect_array(value, MAX_BLOCK_EXTRINSICS, what)
    for i, item in enumerate(items):
        if type(item) is not bytes:
            raise DecodeError(f"{what}[{i}]: expected bytes")
    return tuple(items)


@dataclass(frozen=True, slots=True)
class BlockAnnounce:
    """A new block as gossiped: its header, and its body unless that is too large for gossip."""

    header: Header
    body: tuple[bytes, ...] | None

    def encode(self) -> bytes:
        """The block topic's message: `[header, body | None]`."""
        body = None if self.body is None else _body_value(self.body)
        return codec.encode([self.header.to_value(), body])

    @classmethod
    def of(cls, block: Block) -> BlockAnnounce:
        """The announcement of `block`: with its body if it fits GOSSIP_BODY_LIMIT, else without."""
        size = sum(len(x) + 5 for x in block.extrinsics)
        return cls(block.header, block.extrinsics if size <= GOSSIP_BODY_LIMIT else None)

    @classmethod
    def decode(cls, raw: bytes) -> BlockAnnounce:
        """A gossiped block announcement; DecodeError if malformed or over MAX_GOSSIP_BYTES."""
        f = codec.expect_list(codec.decode_raw(raw, max_size=MAX_GOSSIP_BYTES), 2, "announce")
        body = None if f[1] is None else _body_from(f[1], "announce.body")
        return cls(Header.from_value(f[0]), body)


def encode_transactions(extrinsics: list[bytes]) -> bytes:
    """The transactions topic's message: `[extrinsic, ...]`."""
    return codec.encode(list(extrinsics))


def decode_transactions(raw: bytes) -> tuple[bytes, ...]:
    """A gossiped batch of extrinsics (not yet decoded); DecodeError if the message is malformed."""
    value = codec.decode_raw(raw, max_size=MAX_GOSSIP_BYTES)
    return _body_from(value, "transactions")


FINALITY_KINDS: Final = ("votes", "commit", "primary")


def encode_finality(kind: str, payload: Value, nonce: int | None = None) -> bytes:
    """The finality topic's message: `["votes", [vote, ...]]`, `["commit", justification]` or
    `["primary", proposal]`; a `nonce` (a third item) makes a message sent again new to the
    network's duplicate filters."""
    return codec.encode([kind, payload] if nonce is None else [kind, payload, nonce])


def decode_finality(raw: bytes) -> tuple[str, Value]:
    """The kind (one of FINALITY_KINDS) and payload of a finality message; DecodeError
    otherwise."""
    value = codec.decode_raw(raw, max_size=MAX_GOSSIP_BYTES)
    items = 3 if isinstance(value, list) and len(value) == 3 else 2
    f = codec.expect_list(value, items, "finality")
    if len(f) == 3:
        codec.expect_u64(f[2], "finality.nonce")
    kind = codec.expect_str(f[0], "finality.kind", max_len=16)
    if kind not in FINALITY_KINDS:
        raise DecodeError(f"finality.kind: unknown kind {kind!r}")
    return kind, f[1]


@dataclass(frozen=True, slots=True)
class BlockRequest:
    """A sync request: up to `max_blocks` blocks from `start`, up or down the chain, with or without
    bodies."""

    start: int | bytes
    """A block number on the serving node's best chain, or a block hash."""
    descending: bool
    max_blocks: int
    bodies: bool = True

    def encode(self) -> bytes:
        """The sync protocol's request: `[start, descending, max, bodies]`."""
        return codec.encode([self.start, self.descending, self.max_blocks, self.bodies])

    @classmethod
    def decode(cls, raw: bytes) -> BlockRequest:
        """A peer's sync request; DecodeError if malformed or asking for over MAX_SYNC_BLOCKS."""
        f = codec.expect_list(codec.decode_raw(raw, max_size=256), 4, "block request")
        start: int | bytes
        if type(f[0]) is bytes:
            start = codec.expect_bytes(f[0], "request.start", length=32)
        else:
            start = codec.expect_u32(f[0], "request.start")
        return cls(
            start=start,
            descending=codec.expect_bool(f[1], "request.descending"),
            max_blocks=codec.expect_int(f[2], 1, MAX_SYNC_BLOCKS, "request.max_blocks"),
            bodies=codec.expect_bool(f[3], "request.bodies"),
        )


@dataclass(frozen=True, slots=True)
class SyncedBlock:
    """One block of a sync answer: header, body if asked for, justification if it has one."""

    header: Header
    body: tuple[bytes, ...] | None
    justification: bytes | None


def encode_blocks(blocks: list[SyncedBlock]) -> bytes:
    """The sync protocol's answer: `[[header, body | None, justification | None], ...]`."""
    return codec.encode(
        [
            [b.header.to_value(), None if b.body is None else _body_value(b.body), b.justification]
            for b in blocks
        ]
    )


def decode_blocks(raw: bytes) -> list[SyncedBlock]:
    """A peer's sync answer of at most MAX_SYNC_BLOCKS blocks; DecodeError if malformed."""
    limit = SYNC_RESPONSE_BYTES + MAX_BLOCK_SIZE + MAX_JUSTIFICATION_BYTES
    items = codec.expect_array(codec.decode_raw(raw, max_size=limit), MAX_SYNC_BLOCKS, "blocks")
    out = []
    for i, item in enumerate(items):
        f = codec.expect_list(item, 3, f"blocks[{i}]")
        body = None if f[1] is None else _body_from(f[1], f"blocks[{i}].body")
        justification = None
        if f[2] is not None:
            justification = codec.expect_bytes(
                f[2], f"blocks[{i}].justification", max_len=MAX_JUSTIFICATION_BYTES
            )
        out.append(SyncedBlock(Header.from_value(f[0]), body, justification))
    return out


def encode_catch_up_request(set_id: int, round_: int) -> bytes:
    """The catch-up protocol's request `[set id, round]`: the round the asking voter is at."""
    return codec.encode([set_id, round_])


def decode_catch_up_request(raw: bytes) -> tuple[int, int]:
    """The (set id, round) of a peer's catch-up request; DecodeError if malformed."""
    f = codec.expect_list(codec.decode_raw(raw, max_size=64), 2, "catch-up request")
    return codec.expect_u64(f[0], "request.set_id"), codec.expect_u64(f[1], "request.round")
