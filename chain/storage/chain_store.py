"""Everything the node keeps: blocks, the canonical index, justifications, and the states.

Layout of the key-value store (one-byte prefixes):

    h ‖ hash           header                  b ‖ hash          body (extrinsic list)
    n ‖ number (4 BE)  hash on the best chain  j ‖ hash          justification of a final block
    m ‖ name           metadata: genesis, best, finalized, schema
    t ‖ node key       trie node of a finalized state (node key = position ‖ hash, see trie.py)
    s ‖ storage key    value in the finalized state (a flat copy, for fast reads)
    u ‖ hash           journal of an unfinalized block: its trie nodes and state changes
    d ‖ number (4 BE)  death row: trie nodes to delete when the state before `number` is pruned

States are kept the way Substrate's state-db keeps them. An imported block's new trie nodes live
in memory and in its journal until the block is finalized; then they move to `t`, its changes
are applied to `s`, and the trie nodes it replaced go on its death row. Blocks on forks that
finality abandons are dropped with their journals. When a finalized state falls out of the
pruning window, its death row is deleted; a node re-inserted later is taken off its row first.
Because node keys include the node's position, a node is never shared by two positions, so this
needs no reference counting. Every change is one atomic write batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from chain.storage.kv import KeyValueStore, WriteBatch
from runtime.block import Block, Header, decode_body, encode_body
from runtime.primitives import codec, trie
from runtime.primitives.trie import TrieCommit
from runtime.state import StateReader

SCHEMA_VERSION: Final = 1
DEFAULT_KEEP_STATES: Final = 256

_HEADER, _BODY, _NUMBER, _JUSTIFICATION, _META = b"h", b"b", b"n", b"j", b"m"
_NODE, _FLAT, _JOURNAL, _DEATH = b"t", b"s", b"u", b"d"
_META_GENESIS, _META_BEST, _META_FINALIZED, _META_SCHEMA = (
    b"mgenesis",
    b"mbest",
    b"mfinalized",
    b"mschema",
)
_FLAT_CACHE_SIZE: Final = 500_000


class ChainStoreError(Exception):
    """The database does not hold what the node expects (another chain, a newer schema, damage)."""


class UnknownBlock(ChainStoreError):
    """No block with that hash or number is known."""


class StatePruned(ChainStoreError):
    """The state of that block was pruned (only the last N finalized states are kept)."""


def _num(number: int) -> bytes:
    return number.to_bytes(4, "big")


@dataclass(slots=True)
class _Journal:
    """An unfinalized block's delta to its parent's state."""

    parent: bytes
    number: int
    inserted: dict[bytes, bytes]
    deleted: list[bytes]
    changes: dict[bytes, bytes | None]

    def encode(self) -> bytes:
        return codec.encode_trusted(
            [
                self.parent,
                self.number,
                [[k, v] for k, v in self.inserted.items()],
                self.deleted,
                [[k, v] for k, v in self.changes.items()],
            ]
        )

    @classmethod
    def decode(cls, raw: bytes) -> _Journal:
        f = codec.expect_list(codec.decode_raw(raw), 5, "journal")
        return cls(
            parent=f[0],
            number=f[1],
            inserted={k: v for k, v in f[2]},
            deleted=list(f[3]),
            changes={k: v for k, v in f[4]},
        )


class ChainStore:
    """Blocks and states on top of a key-value store; see the module docstring for the layout."""

    def __init__(self, kv: KeyValueStore, *, keep_states: int | None = DEFAULT_KEEP_STATES) -> None:
        if keep_states is not None and keep_states < 1:
            raise ValueError("keep at least one state (or None for an archive node)")
        self.kv = kv
        self.keep_states = keep_states
        self._headers: dict[bytes, Header] = {}
        self._journals: dict[bytes, _Journal] = {}
        self._overlay: dict[bytes, tuple[int, bytes]] = {}
        self._death_rows: dict[int, set[bytes]] = {}
        self._death_index: dict[bytes, int] = {}
        self._flat_cache: dict[bytes, bytes | None] = {}
        self._pending_prune: list[int] = []
        self.genesis_hash = b""
        self.best_hash = b""
        self.finalized_hash = b""

    # Opening

    def is_initialized(self) -> bool:
        return self.kv.get(_META_GENESIS) is not None

    def initialize(self, genesis: Header, state: dict[bytes, bytes]) -> None:
        """Write the genesis block and state into an empty database."""
        if self.is_initialized():
            raise ChainStoreError("the database already holds a chain")
        commit = trie.commit(self._get_node, trie.EMPTY_ROOT, dict(state))
        if commit.root != genesis.state_root:
            raise ChainStoreError("the genesis header does not commit to the genesis state")
        batch = WriteBatch()
        h = genesis.hash
        batch.put(_HEADER + h, genesis.encode())
        batch.put(_BODY + h, encode_body(()))
        batch.put(_NUMBER + _num(0), h)
        for node_key, node in commit.inserted.items():
            batch.put(_NODE + node_key, node)
        for key, value in state.items():
            batch.put(_FLAT + key, value)
        batch.put(_META_SCHEMA, _num(SCHEMA_VERSION))
        batch.put(_META_GENESIS, h)
        batch.put(_META_BEST, h)
        batch.put(_META_FINALIZED, h)
        self.kv.write(batch)
        self.open()

    def open(self) -> None:
        """Load the heads, the unfinalized journals and the death rows."""
        schema = self.kv.get(_META_SCHEMA)
        genesis = self.kv.get(_META_GENESIS)
        best = self.kv.get(_META_BEST)
        finalized = self.kv.get(_META_FINALIZED)
        if schema is None or genesis is None or best is None or finalized is None:
            raise ChainStoreError("the database holds no chain (or its metadata is damaged)")
        if int.from_bytes(schema, "big") != SCHEMA_VERSION:
            raise ChainStoreError(
                f"the database has schema {int.from_bytes(schema, 'big')}, this node reads "
                f"{SCHEMA_VERSION}"
            )
        self.genesis_hash, self.best_hash, self.finalized_hash = genesis, best, finalized
        self._journals.clear()
        self._overlay.clear()
        for key, raw in self.kv.iterate(_JOURNAL):
            journal = _Journal.decode(raw)
            self._journals[key[1:]] = journal
            self._add_to_overlay(journal)
        self._death_rows.clear()
        self._death_index.clear()
        for key, raw in self.kv.iterate(_DEATH):
            number = int.from_bytes(key[1:], "big")
            row = set(codec.decode_raw(raw))
            self._death_rows[number] = row
            for node_key in row:
                self._death_index[node_key] = number
        for h in (self.best_hash, self.finalized_hash):
            if self.header(h) is None:
                raise ChainStoreError("the database's head block is missing")

    # Blocks

    def header(self, block_hash: bytes) -> Header | None:
        cached = self._headers.get(block_hash)
        if cached is not None:
            return cached
        raw = self.kv.get(_HEADER + block_hash)
        if raw is None:
            return None
        header = Header.decode(raw)
        if len(self._headers) > 4096:
            self._headers.clear()
        self._headers[block_hash] = header
        return header

    def require_header(self, block_hash: bytes) -> Header:
        header = self.header(block_hash)
        if header is None:
            raise UnknownBlock(f"unknown block 0x{block_hash.hex()}")
        return header

    def body(self, block_hash: bytes) -> tuple[bytes, ...] | None:
        raw = self.kv.get(_BODY + block_hash)
        return None if raw is None else decode_body(raw)

    def block(self, block_hash: bytes) -> Block | None:
        header, body = self.header(block_hash), self.body(block_hash)
        if header is None or body is None:
            return None
        return Block(header, body)

    def hash_at(self, number: int) -> bytes | None:
        """The hash of the block at `number` on the best chain."""
        return self.kv.get(_NUMBER + _num(number))

    def justification(self, block_hash: bytes) -> bytes | None:
        return self.kv.get(_JUSTIFICATION + block_hash)

    @property
    def best_header(self) -> Header:
        return self.require_header(self.best_hash)

    @property
    def finalized_header(self) -> Header:
        return self.require_header(self.finalized_hash)

    def is_unfinalized(self, block_hash: bytes) -> bool:
        return block_hash in self._journals

    # States

    def _get_node(self, node_key: bytes) -> bytes | None:
        entry = self._overlay.get(node_key)
        if entry is not None:
            return entry[1]
        return self.kv.get(_NODE + node_key)

    @property
    def node_getter(self) -> Callable[[bytes], bytes | None]:
        """Trie nodes of every retained state, finalized or not."""
        return self._get_node

    def _read_flat(self, key: bytes) -> bytes | None:
        cache = self._flat_cache
        if key in cache:
            return cache[key]
        value = self.kv.get(_FLAT + key)
        if len(cache) >= _FLAT_CACHE_SIZE:
            cache.clear()
        cache[key] = value
        return value

    def reader(self, block_hash: bytes) -> StateReader:
        """Read the state after block `block_hash`; StatePruned or UnknownBlock if unavailable.

        A reader is valid until the store next changes (an import or a finalization).
        """
        if block_hash == self.finalized_hash:
            return self._read_flat
        if block_hash in self._journals:
            diffs: list[dict[bytes, bytes | None]] = []
            h = block_hash
            while h != self.finalized_hash:
                journal = self._journals[h]
                diffs.append(journal.changes)
                h = journal.parent
            read_flat = self._read_flat

            def read(key: bytes) -> bytes | None:
                for diff in diffs:
                    if key in diff:
                        return diff[key]
                return read_flat(key)

            return read
        header = self.require_header(block_hash)
        self._require_state(header)
        get_node, root = self._get_node, header.state_root
        return lambda key: trie.get(get_node, root, key)

    def _require_state(self, header: Header) -> None:
        finalized = self.finalized_header
        canonical = self.hash_at(header.number) == header.hash
        if not canonical or header.number > finalized.number:
            raise StatePruned(f"the state of block 0x{header.hash.hex()} is not kept")
        if self.keep_states is not None and header.number <= finalized.number - self.keep_states:
            raise StatePruned(
                f"the state of block #{header.number} was pruned (this node keeps the last "
                f"{self.keep_states} finalized states; run with --pruning archive to keep all)"
            )

    def iterate_state(self, block_hash: bytes, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Key-value pairs under `prefix` in the state after `block_hash`, in key order."""
        header = self.require_header(block_hash)
        if block_hash not in self._journals and block_hash != self.finalized_hash:
            self._require_state(header)
        return trie.iter_prefix(self._get_node, header.state_root, prefix)

    def read_proof(self, block_hash: bytes, keys: Sequence[bytes]) -> list[bytes]:
        header = self.require_header(block_hash)
        if block_hash not in self._journals and block_hash != self.finalized_hash:
            self._require_state(header)
        return trie.read_proof(self._get_node, header.state_root, keys)

    # Import and finality

    def import_block(
        self,
        block: Block,
        changes: dict[bytes, bytes | None],
        commit: TrieCommit,
        *,
        make_best: bool,
        justification: bytes | None = None,
    ) -> list[bytes]:
        """Store an executed block in one atomic batch; with a justification it is also final.

        Returns the hashes that became final, oldest first.
        """
        header = block.header
        h = header.hash
        if header.parent_hash not in self._journals and header.parent_hash != self.finalized_hash:
            raise ChainStoreError("the parent's state is not a retained head")
        journal = _Journal(
            header.parent_hash, header.number, commit.inserted, commit.deleted, changes
        )
        batch = WriteBatch()
        batch.put(_HEADER + h, header.encode())
        batch.put(_BODY + h, encode_body(block.extrinsics))
        finalize_now = justification is not None and header.parent_hash == self.finalized_hash
        discarded: list[bytes] = []
        if finalize_now:
            assert justification is not None
            self._canonicalize(batch, h, journal)
            discarded = self._discard_forks(batch, keep=h, number=header.number)
            batch.put(_JUSTIFICATION + h, justification)
            batch.put(_META_FINALIZED, h)
            # A best block on a fork that finality just abandoned cannot stay best.
            make_best = make_best or self.best_hash in discarded
        else:
            batch.put(_JOURNAL + h, journal.encode())
        if make_best:
            self._route_best(batch, header)
        self._prune(batch, header.number if finalize_now else None)
        self.kv.write(batch)
        # The batch is durable: now bring memory in line with it.
        self._headers[h] = header
        if make_best:
            self.best_hash = h
        if finalize_now:
            self._after_canonicalize(journal)
            self._after_discard(discarded)
            self.finalized_hash = h
        else:
            self._journals[h] = journal
            self._add_to_overlay(journal)
        self._after_prune()
        if finalize_now:
            return [h]
        if justification is not None:
            return self.finalize(h, justification)
        return []

    def finalize(self, block_hash: bytes, justification: bytes) -> list[bytes]:
        """Make `block_hash` and its ancestors final in one batch; returns the new final hashes."""
        target = self.require_header(block_hash)
        route: list[bytes] = []
        h = block_hash
        while h != self.finalized_hash:
            journal = self._journals.get(h)
            if journal is None:
                raise ChainStoreError(
                    f"block 0x{block_hash.hex()} does not descend from the finalized block"
                )
            route.append(h)
            h = journal.parent
        route.reverse()
        if not route:
            return []
        batch = WriteBatch()
        for h in route:
            self._canonicalize(batch, h, self._journals[h])
            batch.delete(_JOURNAL + h)
        discarded = self._discard_forks(batch, keep=block_hash, number=target.number, route=route)
        batch.put(_JUSTIFICATION + block_hash, justification)
        batch.put(_META_FINALIZED, block_hash)
        if self.best_hash in discarded:
            batch.put(_META_BEST, block_hash)
            self._route_best(batch, target)
        self._prune(batch, target.number)
        self.kv.write(batch)
        for h in route:
            journal = self._journals.pop(h)
            self._remove_from_overlay(journal)
            self._after_canonicalize(journal)
        self._after_discard(discarded)
        self.finalized_hash = block_hash
        if self.best_hash in discarded:
            self.best_hash = block_hash
        self._after_prune()
        return route

    # Internals of import and finality

    def _route_best(self, batch: WriteBatch, header: Header) -> None:
        """Point the number index and the best pointer at `header`'s chain."""
        batch.put(_META_BEST, header.hash)
        old_best = self.best_header
        for number in range(header.number + 1, old_best.number + 1):
            batch.delete(_NUMBER + _num(number))
        current = header
        while True:
            batch.put(_NUMBER + _num(current.number), current.hash)
            if current.number == 0 or self.hash_at(current.number - 1) == current.parent_hash:
                break
            current = self.require_header(current.parent_hash)

    def _canonicalize(self, batch: WriteBatch, block_hash: bytes, journal: _Journal) -> None:
        for node_key, node in journal.inserted.items():
            batch.put(_NODE + node_key, node)
        for key, value in journal.changes.items():
            if value is None:
                batch.delete(_FLAT + key)
            else:
                batch.put(_FLAT + key, value)
        if self.keep_states is None:
            for node_key in journal.deleted:
                batch.delete(_NODE + node_key)
            return
        touched: set[int] = set()
        for node_key in journal.inserted:
            number = self._death_index.pop(node_key, None)
            if number is not None:
                self._death_rows[number].discard(node_key)
                touched.add(number)
        row = self._death_rows.setdefault(journal.number, set())
        for node_key in journal.deleted:
            self._death_index[node_key] = journal.number
            row.add(node_key)
        touched.add(journal.number)
        for number in touched:
            keys = self._death_rows.get(number, set())
            batch.put(_DEATH + _num(number), codec.encode_trusted(sorted(keys)))

    def _after_canonicalize(self, journal: _Journal) -> None:
        cache = self._flat_cache
        for key, value in journal.changes.items():
            if key in cache:
                cache[key] = value

    def _discard_forks(
        self, batch: WriteBatch, *, keep: bytes, number: int, route: Sequence[bytes] = ()
    ) -> list[bytes]:
        """Unfinalized blocks that do not descend from the new final block `keep`."""
        on_route = set(route)
        survivors: dict[bytes, bool] = {keep: True}

        def descends(h: bytes) -> bool:
            path = []
            while h not in survivors:
                journal = self._journals.get(h)
                if journal is None or h in on_route:
                    survivors[h] = False
                    break
                path.append(h)
                h = journal.parent
            result = survivors[h]
            for p in path:
                survivors[p] = result
            return result

        discarded = [h for h in self._journals if h not in on_route and not descends(h)]
        for h in discarded:
            batch.delete(_JOURNAL + h)
            batch.delete(_HEADER + h)
            batch.delete(_BODY + h)
        return discarded

    def _after_discard(self, discarded: Sequence[bytes]) -> None:
        for h in discarded:
            journal = self._journals.pop(h)
            self._remove_from_overlay(journal)
            self._headers.pop(h, None)

    def _prune(self, batch: WriteBatch, finalized_number: int | None) -> None:
        self._pending_prune = []
        if self.keep_states is None or finalized_number is None:
            return
        limit = finalized_number - self.keep_states + 1
        for number in sorted(n for n in self._death_rows if n <= limit):
            for node_key in self._death_rows[number]:
                batch.delete(_NODE + node_key)
            batch.delete(_DEATH + _num(number))
            self._pending_prune.append(number)

    def _after_prune(self) -> None:
        for number in self._pending_prune:
            for node_key in self._death_rows.pop(number):
                self._death_index.pop(node_key, None)
        self._pending_prune = []

    def _add_to_overlay(self, journal: _Journal) -> None:
        overlay = self._overlay
        for node_key, node in journal.inserted.items():
            entry = overlay.get(node_key)
            overlay[node_key] = (1 if entry is None else entry[0] + 1, node)

    def _remove_from_overlay(self, journal: _Journal) -> None:
        overlay = self._overlay
        for node_key in journal.inserted:
            count, node = overlay[node_key]
            if count == 1:
                del overlay[node_key]
            else:
                overlay[node_key] = (count - 1, node)

    def close(self) -> None:
        self.kv.close()
