"""Everything the node keeps: blocks, the canonical index, justifications, and the states.

Layout of the key-value store (one-byte prefixes):

    h ‖ hash           header                  b ‖ hash          body (extrinsic list)
    n ‖ number (4 BE)  hash on the best chain  j ‖ hash          justification of a final block
    m ‖ name           metadata: genesis, best, finalized, schema, pruned-below, the voter's state
    t ‖ node key       trie node of a finalized state (node key = position ‖ hash, see trie)
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

from collections import deque
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Final

from chain.storage.kv import KeyValueStore, WriteBatch
from runtime.block import Block, Header, decode_body, encode_body
from runtime.invariants import ensure_invariants
from runtime.primitives import codec, trie
from runtime.primitives.trie import TrieCommit
from runtime.state import StateReader

SCHEMA_VERSION: Final = 1
DEFAULT_KEEP_STATES: Final = 256

_HEADER, _BODY, _NUMBER, _JUSTIFICATION, _META = b"h", b"b", b"n", b"j", b"m"
_NODE, _FLAT, _JOURNAL, _DEATH = b"t", b"s", b"u", b"d"
_META_GENESIS, _META_BEST, _META_FINALIZED, _META_SCHEMA, _META_PRUNED, _META_VOTER = (
    b"mgenesis",
    b"mbest",
    b"mfinalized",
    b"mschema",
    b"mpruned",
    b"mvoter",
)
_FLAT_CACHE_SIZE: Final = 500_000
HEADER_CACHE_SIZE: Final = 512
"""The most decoded headers kept in memory (emptied when full): the blocks near the tip that
import, authoring and finality read over and over; older ones are read from the database. Bounds
what a long-running node spends on them (about 1 KB a header)."""
_NODE_CACHE_SIZE: Final = 400_000


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


class _DeathRowChanges:
    """Changes to the death rows, staged until the write that carries them succeeds.

    A block's thousands of node keys go through set and dict operations in C (a Python loop over
    them cost about 2 us a transfer); `tests/chain/storage/test_death_rows.py` checks that the
    result is what the key-by-key definition gives.
    """

    def __init__(self, rows: dict[int, set[bytes]], index: dict[bytes, int]) -> None:
        self._rows, self._index = rows, index
        self._added: dict[int, set[bytes]] = {}
        self._added_index: dict[bytes, int] = {}
        self._reprieved: dict[bytes, int] = {}
        self._pruned: list[int] = []

    def reinsert(self, node_keys: Collection[bytes]) -> None:
        """Nodes written again are no longer due to die."""
        added_index = self._added_index
        again = added_index.keys() & node_keys if added_index else set()
        for node_key in again:
            self._added[added_index.pop(node_key)].discard(node_key)
        index = self._index
        reprieved = index.keys() & node_keys
        if again:
            reprieved -= again
        for node_key in reprieved:
            self._reprieved[node_key] = index[node_key]

    def schedule(self, number: int, node_keys: Collection[bytes]) -> None:
        """Nodes that block `number` replaced die when the state before it is pruned."""
        self._added.setdefault(number, set()).update(node_keys)
        self._added_index.update(dict.fromkeys(node_keys, number))

    def row(self, number: int) -> set[bytes]:
        """A row as it will be once the changes apply."""
        old = self._rows.get(number, set())
        if self._reprieved:
            old = old - self._reprieved.keys()
        return old | self._added.get(number, set())

    def prune_upto(self, limit: int) -> list[int]:
        numbers = set(self._rows) | {n for n, keys in self._added.items() if keys}
        self._pruned = sorted(n for n in numbers if n <= limit)
        return self._pruned

    def touched_rows(self) -> dict[int, set[bytes]]:
        numbers = set(self._added) | set(self._reprieved.values()) | set(self._pruned)
        return {n: self.row(n) for n in numbers}

    def apply(self) -> None:
        index = self._index
        for node_key, number in self._reprieved.items():
            self._rows[number].discard(node_key)
            del index[node_key]
        for number, keys in self._added.items():
            self._rows.setdefault(number, set()).update(keys)
            index.update(dict.fromkeys(keys, number))
        for number in self._pruned:
            # `index.pop(key, None)` for every key of the row, looped in C.
            deque(map(index.pop, self._rows.pop(number, set()), repeat(None)), maxlen=0)
        for number in [n for n, keys in self._rows.items() if not keys]:
            del self._rows[number]


@dataclass(slots=True)
class _FinalityPlan:
    """Everything finalizing a block changes, computed before anything is written."""

    target: Header
    justification: bytes
    route: list[tuple[bytes, _Journal]]
    discarded: list[bytes]
    best: Header
    persisted: set[bytes]
    pruned: list[int] = field(default_factory=list)
    death_rows: _DeathRowChanges | None = None

    def pruned_nodes(self, changes: _DeathRowChanges) -> Iterator[bytes]:
        for number in self.pruned:
            yield from changes.row(number)


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
        # Encoded trie nodes recently read or written: successive blocks walk the same upper
        # nodes and the nodes the previous block wrote. Node keys are content-addressed, so an
        # entry can never be stale, on any fork.
        self.node_cache = trie.NodeCache(max_entries=_NODE_CACHE_SIZE)
        self.genesis_hash = b""
        self.best_hash = b""
        self.finalized_hash = b""
        self._pruned_below = 0
        """States of blocks numbered below this were pruned (by this run or an earlier one)."""

    # Opening

    def is_initialized(self) -> bool:
        """Whether the database already holds a chain (a genesis block)."""
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
        pruned = self.kv.get(_META_PRUNED)
        self._pruned_below = 0 if pruned is None else int.from_bytes(pruned, "big")
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

    def reload(self) -> None:
        """Read the heads, journals and death rows again, after the key-value store underneath
        was reopened (following a failed write); ChainStoreError if the head or finalized block
        does not read back or finality went back.

        Memory advances only after a write succeeds, so the disk holds at least what memory
        held; it may hold more (LevelDB can replay a write it reported failed), which the reload
        takes in.
        """
        finalized = self.finalized_header if self.finalized_hash else None
        self._flat_cache.clear()  # the finalized state may have moved on
        self.open()
        # Cached headers are never stale (a hash names one header), but they must be on disk.
        for h in (self.best_hash, self.finalized_hash):
            if self.kv.get(_HEADER + h) is None:
                raise ChainStoreError(f"the head block 0x{h.hex()} did not read back")
        if finalized is not None and self.hash_at(finalized.number) != finalized.hash:
            raise ChainStoreError(
                f"finalized block #{finalized.number} 0x{finalized.hash.hex()} did not read back "
                "from the database"
            )

    # Blocks

    def header(self, block_hash: bytes) -> Header | None:
        """The header of a stored block, or None (unknown, or on a fork that finality abandoned)."""
        cached = self._headers.get(block_hash)
        if cached is not None:
            return cached
        raw = self.kv.get(_HEADER + block_hash)
        if raw is None:
            return None
        header = Header.decode(raw)
        self._cache_header(block_hash, header)
        return header

    def _cache_header(self, block_hash: bytes, header: Header) -> None:
        if len(self._headers) >= HEADER_CACHE_SIZE:
            self._headers.clear()
        self._headers[block_hash] = header

    def require_header(self, block_hash: bytes) -> Header:
        """The header of a stored block; UnknownBlock if it is not stored."""
        header = self.header(block_hash)
        if header is None:
            raise UnknownBlock(f"unknown block 0x{block_hash.hex()}")
        return header

    def body(self, block_hash: bytes) -> tuple[bytes, ...] | None:
        """The extrinsics of a stored block, or None if it is not stored."""
        raw = self.kv.get(_BODY + block_hash)
        return None if raw is None else decode_body(raw)

    def block(self, block_hash: bytes) -> Block | None:
        """A stored block, header and body, or None if it is not stored."""
        header, body = self.header(block_hash), self.body(block_hash)
        if header is None or body is None:
            return None
        return Block(header, body)

    def hash_at(self, number: int) -> bytes | None:
        """The hash of the block at `number` on the best chain."""
        return self.kv.get(_NUMBER + _num(number))

    def justification(self, block_hash: bytes) -> bytes | None:
        """The justification that made `block_hash` final, or None: only the block each finality
        step targeted keeps one."""
        return self.kv.get(_JUSTIFICATION + block_hash)

    @property
    def best_header(self) -> Header:
        return self.require_header(self.best_hash)

    @property
    def finalized_header(self) -> Header:
        return self.require_header(self.finalized_hash)

    def is_unfinalized(self, block_hash: bytes) -> bool:
        """Whether `block_hash` is imported but not final yet (its changes are in a journal)."""
        return block_hash in self._journals

    def voter_state(self) -> bytes | None:
        """What the finality voter saved of its own votes (see chain.core.grandpa)."""
        return self.kv.get(_META_VOTER)

    def save_voter_state(self, raw: bytes) -> None:
        """Save the voter's state durably (synced: a power loss must not forget a vote already
        sent, or the node could vote again otherwise after a restart), before it sends it."""
        batch = WriteBatch(sync=True)
        batch.put(_META_VOTER, raw)
        self.kv.write(batch)

    # States

    def _get_node(self, node_key: bytes) -> bytes | None:
        entry = self._overlay.get(node_key)
        if entry is not None:
            return entry[1]
        return self.kv.get(_NODE + node_key)

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
        get_node, root, cache = self._get_node, header.state_root, self.node_cache
        return lambda key: trie.get(get_node, root, key, cache)

    def _require_state(self, header: Header) -> None:
        finalized = self.finalized_header
        canonical = self.hash_at(header.number) == header.hash
        if not canonical or header.number > finalized.number:
            raise StatePruned(f"the state of block 0x{header.hash.hex()} is not kept")
        pruned = header.number < self._pruned_below or (
            self.keep_states is not None and header.number <= finalized.number - self.keep_states
        )
        if pruned:
            kept = "all states" if self.keep_states is None else f"{self.keep_states} states"
            raise StatePruned(
                f"the state of block #{header.number} was pruned (this node keeps {kept}; "
                "a node keeps every state only if it always ran with --pruning archive)"
            )

    def iterate_state(self, block_hash: bytes, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Key-value pairs under `prefix` in the state after `block_hash`, in key order."""
        header = self.require_header(block_hash)
        if block_hash not in self._journals and block_hash != self.finalized_hash:
            self._require_state(header)
        return trie.iter_prefix(self._get_node, header.state_root, prefix, self.node_cache)

    def check_invariants(self, block_hash: bytes) -> None:
        """Raise runtime.invariants.InvariantsBroken if the state after `block_hash` breaks an
        invariant; StatePruned or UnknownBlock if that state is not kept."""
        header = self.require_header(block_hash)
        ensure_invariants(
            self.reader(block_hash),
            lambda prefix: self.iterate_state(block_hash, prefix),
            where=f"block #{header.number} 0x{block_hash.hex()}",
        )

    def read_proof(self, block_hash: bytes, keys: Sequence[bytes]) -> list[bytes]:
        """Encoded trie nodes that prove the value or absence of each of `keys` in the state after
        `block_hash`; StatePruned or UnknownBlock if that state is not kept."""
        header = self.require_header(block_hash)
        if block_hash not in self._journals and block_hash != self.finalized_hash:
            self._require_state(header)
        return trie.read_proof(self._get_node, header.state_root, keys, self.node_cache)

    def commit_state(self, parent_root: bytes, changes: dict[bytes, bytes | None]) -> TrieCommit:
        """The trie commit of a block's changes on its parent's state (nothing is written)."""
        return trie.commit(self._get_node, parent_root, changes, self.node_cache)

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
        """Store an executed block in one atomic write; with a justification it is also final.

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
        best = header if make_best else None
        plan = None
        if justification is None:
            batch.put(_JOURNAL + h, journal.encode())
        else:
            plan = self._plan_finality(h, justification, new=(h, header, journal))
            batch.sync = True  # a finality step: synced, as `finalize` is
            if (best or self.best_header).hash in plan.discarded:
                best = plan.best
            self._write_finality(batch, plan)
        if best is not None:
            self._route_best(batch, best)
        self.kv.write(batch)
        # The write is durable: now bring memory in line with it.
        self._cache_header(h, header)
        if plan is None:
            self._journals[h] = journal
            self._add_to_overlay(journal)
        else:
            self._apply_finality(plan)
        if best is not None:
            self.best_hash = best.hash
        return [] if plan is None else [rh for rh, _ in plan.route]

    def finalize(self, block_hash: bytes, justification: bytes) -> list[bytes]:
        """Make `block_hash` and its ancestors final in one write; returns the new final hashes."""
        if block_hash == self.finalized_hash:
            return []
        plan = self._plan_finality(block_hash, justification)
        batch = WriteBatch(sync=True)  # a finality step announced survives a power loss
        best = plan.best if self.best_hash in plan.discarded else None
        self._write_finality(batch, plan)
        if best is not None:
            self._route_best(batch, best)
        self.kv.write(batch)
        self._apply_finality(plan)
        if best is not None:
            self.best_hash = best.hash
        return [rh for rh, _ in plan.route]

    # Internals of import and finality

    def _plan_finality(
        self,
        target_hash: bytes,
        justification: bytes,
        new: tuple[bytes, Header, _Journal] | None = None,
    ) -> _FinalityPlan:
        """What finalizing `target_hash` changes; reads memory only, writes nothing."""
        journals = dict(self._journals)
        headers: dict[bytes, Header] = {}
        if new is not None:
            journals[new[0]] = new[2]
            headers[new[0]] = new[1]
        route: list[tuple[bytes, _Journal]] = []
        h = target_hash
        while h != self.finalized_hash:
            journal = journals.get(h)
            if journal is None:
                raise ChainStoreError(
                    f"block 0x{target_hash.hex()} does not descend from the finalized block"
                )
            route.append((h, journal))
            h = journal.parent
        route.reverse()
        on_route = {rh for rh, _ in route}
        verdict: dict[bytes, bool] = {target_hash: True}

        def descends(h: bytes) -> bool:
            path = []
            while h not in verdict:
                journal = journals.get(h)
                if journal is None or h in on_route:
                    verdict[h] = False
                    break
                path.append(h)
                h = journal.parent
            for p in path:
                verdict[p] = verdict[h]
            return verdict[h]

        discarded = [h for h in journals if h not in on_route and not descends(h)]
        # If the best block is abandoned, the longest surviving chain takes over (first seen
        # wins a tie: journals keep their import order).
        target = headers.get(target_hash) or self.require_header(target_hash)
        best = target
        for h, journal in journals.items():
            if h not in on_route and verdict.get(h) and journal.number > best.number:
                best = headers.get(h) or self.require_header(h)
        persisted = {h for h in self._journals}
        return _FinalityPlan(target, justification, route, discarded, best, persisted)

    def _write_finality(self, batch: WriteBatch, plan: _FinalityPlan) -> None:
        """Put a finality plan's writes into `batch`; memory is changed only after the write."""
        changes = _DeathRowChanges(self._death_rows, self._death_index)
        for h, journal in plan.route:
            batch.update(_NODE, journal.inserted)
            batch.update(_FLAT, journal.changes)
            if h in plan.persisted:
                batch.delete(_JOURNAL + h)
            if self.keep_states is not None:
                changes.reinsert(journal.inserted)
                changes.schedule(journal.number, journal.deleted)
        for h in plan.discarded:
            if h in plan.persisted:
                batch.delete(_JOURNAL + h)
            batch.delete(_HEADER + h)
            batch.delete(_BODY + h)
        batch.put(_JUSTIFICATION + plan.target.hash, plan.justification)
        batch.put(_META_FINALIZED, plan.target.hash)
        if self.keep_states is not None:
            limit = plan.target.number - self.keep_states + 1
            plan.pruned = changes.prune_upto(limit)
            batch.delete_all(_NODE, plan.pruned_nodes(changes))
            for number, keys in changes.touched_rows().items():
                if number in plan.pruned or not keys:
                    batch.delete(_DEATH + _num(number))
                else:
                    # In set order: a row is read back as a set (sorting a block's 9,000 node
                    # keys cost about 1 us a transfer).
                    batch.put(_DEATH + _num(number), codec.encode_trusted(list(keys)))
            if plan.pruned:
                batch.put(_META_PRUNED, _num(max(plan.pruned)))
        plan.death_rows = changes

    def _apply_finality(self, plan: _FinalityPlan) -> None:
        for h, journal in plan.route:
            if h in self._journals:
                del self._journals[h]
                self._remove_from_overlay(journal)
            cache, changes = self._flat_cache, journal.changes
            # The cached keys the block changed take their new values (paired in C, not a
            # comprehension over a block's thousands of keys).
            common = cache.keys() & changes.keys()
            cache.update(zip(common, map(changes.__getitem__, common), strict=True))
        for h in plan.discarded:
            abandoned = self._journals.pop(h, None)
            if abandoned is not None:
                self._remove_from_overlay(abandoned)
            self._headers.pop(h, None)
        if plan.death_rows is not None:
            # The pruned states' nodes are gone from the store: left in the cache they would pile
            # up there (one block's replaced nodes a block) until its bound of hundreds of MB.
            self.node_cache.discard(plan.pruned_nodes(plan.death_rows))
            plan.death_rows.apply()
        if plan.pruned:
            self._pruned_below = max(self._pruned_below, max(plan.pruned))
        self.finalized_hash = plan.target.hash

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
        """Close the key-value store underneath."""
        self.kv.close()
