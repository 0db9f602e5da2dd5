"""Writing the trie: the commit walk, a batch of sets and deletions applied in one pass.

This is the hot path of block import. The constants and node helpers the walk uses are imported
by name, so each is a global of this module (never an attribute looked up on another module in a
loop), and the innermost loops bind some of them as locals.
"""

from __future__ import annotations

from binascii import hexlify
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import blake2b
from itertools import accumulate, repeat
from operator import is_, methodcaller
from typing import Any, Final

import msgpack

from runtime.primitives.hashing import HASH_LEN
from runtime.primitives.trie.cache import NodeCache
from runtime.primitives.trie.nodes import (
    ASCII_TO_NIBBLE,
    BRANCH,
    EMPTY_ROOT,
    EXT,
    LEAF,
    NIBBLE,
    ODD_FLAG,
    Node,
    NodeGetter,
    TrieError,
    child_at,
    compact_path,
    decode_cached,
    decode_stored,
    expand_path,
    missing_node,
)

# Kinds that only the commit walk returns: "the node handed to this step is unchanged", and a
# branch this commit has already stored (payload = hash).
_KEEP_KIND: Final = 3
_STORED: Final = 4
# Above every nibble: the sorted keys starting with `p` all lie below `p + _PAST`.
_PAST: Final = b"\x10"
# Below this many keys a linear scan finds a nibble group faster than bisecting.
_SCAN_LIMIT: Final = 12
_KEEP: Final[Node] = (_KEEP_KIND, b"", None, 0, b"")
_KEY_TYPES: Final = frozenset({bytes})
_VALUE_TYPES: Final = frozenset({bytes, type(None)})
_to_nibbles: Final = methodcaller("translate", ASCII_TO_NIBBLE)
# A fresh BLAKE2b-256 state, copied for each node hashed: about 0.25 us less a node than
# `blake2b(data, digest_size=HASH_LEN)`, whose keyword parsing and set-up the copy skips.
_fresh_hash: Final = blake2b(digest_size=HASH_LEN).copy
_unpackb: Final = msgpack.unpackb


@dataclass(frozen=True, slots=True)
class TrieCommit:
    """The outcome of a batch of changes: the new root and the node keys it adds and drops.

    `inserted` and `deleted` are disjoint; a change that leaves a key as it was adds no entries.
    """

    root: bytes
    inserted: dict[bytes, bytes]
    deleted: list[bytes]


def _common_len(a: bytes, b: bytes, start: int) -> int:
    """Length of the common prefix of `a` and `b`, which agree on their first `start` nibbles."""
    n = min(len(a), len(b))
    if start >= n or a[start] != b[start]:
        return start
    if a[start:n] == b[start:n]:
        return n
    # Bisect with slice comparisons, which run in C. Invariant: a[:lo] == b[:lo], a[:hi] != b[:hi].
    lo, hi = start + 1, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _prepend(path: bytes, res: Node | None) -> Node | None:
    """The result `path` above the result `res`: an extension to it, or it with a longer path."""
    if res is None:
        return None
    kind = res[0]
    if kind == _STORED:
        return (EXT, path, res[2], 0, b"")
    return (kind, path + res[1], res[2], 0, b"")


class _Batch:
    """One commit's walk: the sorted changes, the store, and the node keys added and dropped.

    Changes are parallel lists of keys (sorted; as bytes in `raws` and as nibbles in `keys`) and
    values (None = delete). A subtree whose changes are all sets goes through `set_sub` (and
    `set_one` for a single key), which return its new hash directly: the hot path of block
    import. Elsewhere each step takes the node at a position (or builds where there is none) and
    the slice [lo, hi) of the changes below that position, and returns None (empty), `_KEEP`, a
    stored node, or a leaf or an extension not yet stored: the parent stores it, or takes it over
    when a branch collapses.

    With a cache (`fill`), `cached` is its dict of encoded nodes: a node read is taken out of it,
    and put back if the commit leaves it as it was; every node stored goes in. Without one,
    `cached` stays empty.
    """

    __slots__ = (
        "cached",
        "deleted",
        "dels",
        "fill",
        "get_node",
        "inserted",
        "keys",
        "pack",
        "raws",
        "vals",
    )

    def __init__(
        self,
        get_node: NodeGetter,
        raws: list[bytes],
        keys: list[bytes],
        vals: list[bytes | None],
        cached: dict[bytes, bytes],
        fill: bool,
    ) -> None:
        self.get_node = get_node
        self.raws = raws  # the keys as bytes
        self.keys = keys
        self.vals = vals
        # dels[i]: how many of the first i changes are deletions (None when there are none).
        self.dels: list[int] | None = None
        if None in vals:
            self.dels = [0, *accumulate(map(is_, vals, repeat(None)))]
        self.cached = cached
        self.fill = fill
        self.inserted: dict[bytes, bytes] = {}
        self.deleted: set[bytes] = set()
        # The codec's `encode_trusted` settings, but one packer per commit: `packb` builds a new
        # packer per call, which costs as much as packing a node. Not shared between threads.
        self.pack: Callable[[Any], bytes] = msgpack.Packer(use_bin_type=True).pack

    def take(self, nk: bytes) -> tuple[Node, bytes]:
        """The node under `nk` and its encoding, taken out of the cache (see `keep`) or read
        from the store."""
        data = self.cached.pop(nk, None)
        if data is not None:
            return decode_cached(data), data
        data = self.get_node(nk)
        if data is None:
            raise missing_node(nk)
        return decode_stored(data, nk), data

    def keep(self, nk: bytes, data: bytes) -> None:
        """Put back a node that `take` took and the commit leaves in place."""
        if self.fill:
            self.cached[nk] = data

    def sets_only(self, lo: int, hi: int) -> bool:
        """Whether changes [lo, hi) are all sets."""
        dels = self.dels
        return dels is None or dels[lo] == dels[hi]

    def put(self, position: bytes, data: bytes) -> bytes:
        """Record the new node encoded as `data` at `position`; return its hash."""
        hasher = _fresh_hash()
        hasher.update(data)
        node_hash = hasher.digest()
        nk = position + node_hash
        # A node rebuilt exactly as it was is no change: cancel its deletion instead.
        if nk in self.deleted:
            self.deleted.discard(nk)
        else:
            self.inserted[nk] = data
        if self.fill:
            self.cached[nk] = data
        return node_hash

    def finish(self, position: bytes, res: Node) -> bytes:
        """Store a leaf or extension result at `position`; return the hash of any result."""
        kind, path, payload, _, compact = res
        if kind == _STORED:
            assert payload is not None
            return payload
        return self.put(position, self.pack([kind, compact or compact_path(path), payload]))

    def set_sub(self, pos: int, node_hash: bytes, lo: int, hi: int, under_ext: bool) -> bytes:
        """Apply changes [lo, hi), all sets, below the node stored with `node_hash` at their
        first `pos` nibbles; return the subtree's new hash (`node_hash` if nothing changed).

        Sets never empty a subtree or collapse a branch, so each node's new hash comes straight
        back up. Leaves replaced by one value and branches and extensions the changes pass
        through are handled here; leaves that gain keys and extensions they leave go to the
        general steps. `under_ext`: the node must be a branch, as it follows an extension.
        """
        keys = self.keys
        key = keys[lo]
        nk = key[:pos] + node_hash
        stored = self.cached.pop(nk, None)
        if stored is None:
            stored = self.get_node(nk)
            if stored is None:
                raise missing_node(nk)
            node = decode_stored(stored, nk)
        else:
            node = decode_cached(stored)
        kind, path, payload, bitmap, children = node
        if kind == BRANCH:
            vals = self.vals
            value = payload
            i = lo
            if len(key) == pos:
                value = vals[lo]
                i += 1
            changed = value != payload
            new_bitmap = bitmap
            parts: list[bytes] = []
            prev = 0
            below = pos + 1
            while i < hi:
                key = keys[i]
                nibble = key[pos]
                j = i + 1
                if j < hi and keys[j][pos] == nibble:
                    if hi - j > _SCAN_LIMIT:
                        j = bisect_left(keys, key[:below] + _PAST, j + 1, hi)
                    else:
                        j += 1
                        while j < hi and keys[j][pos] == nibble:
                            j += 1
                bit = 1 << nibble
                offset = (bitmap & (bit - 1)).bit_count() * HASH_LEN
                if bitmap & bit:
                    child_hash = children[offset : offset + HASH_LEN]
                    if j == i + 1:
                        new_hash = self.set_one(below, child_hash, i)
                    else:
                        new_hash = self.set_sub(below, child_hash, i, j, False)
                    if new_hash != child_hash:
                        parts.append(children[prev:offset])
                        parts.append(new_hash)
                        prev = offset + HASH_LEN
                        changed = True
                else:
                    # No child there yet: offsets stay those of the old hash list.
                    if j == i + 1:
                        new_hash = self.set_one(below, b"", i)
                    else:
                        new_hash = self.finish(key[:below], self.build(key[:below], i, j))
                    parts.append(children[prev:offset])
                    parts.append(new_hash)
                    prev = offset
                    new_bitmap |= bit
                    changed = True
                i = j
            if not changed:
                self.keep(nk, stored)
                return node_hash
            if parts:
                parts.append(children[prev:])
                children = b"".join(parts)
            data = self.pack([BRANCH, new_bitmap, children, value])
        elif under_ext:
            raise TrieError(f"trie node {nk.hex()} follows an extension but is not a branch")
        elif kind == LEAF:
            if hi - lo == 1 and len(key) - pos == len(path) and key.endswith(path):
                value = self.vals[lo]
                if value == payload:
                    self.keep(nk, stored)
                    return node_hash
                data = self.pack([LEAF, children, value])
            else:
                res = self.update_leaf(key[:pos], node, nk, lo, hi)
                if res is _KEEP:
                    self.keep(nk, stored)
                    return node_hash
                assert res is not None
                return self.finish(key[:pos], res)
        elif key.startswith(path, pos) and keys[hi - 1].startswith(path, pos):
            assert payload is not None
            new_hash = self.set_sub(pos + len(path), payload, lo, hi, True)
            if new_hash == payload:
                self.keep(nk, stored)
                return node_hash
            data = self.pack([EXT, children, new_hash])
        else:
            res = self.update_ext(key[:pos], node, nk, lo, hi)
            if res is _KEEP:
                self.keep(nk, stored)
                return node_hash
            assert res is not None
            return self.finish(key[:pos], res)
        # Every node stored here is new: its subtree's keys or values changed.
        self.deleted.add(nk)
        hasher = _fresh_hash()
        hasher.update(data)
        new_hash = hasher.digest()
        nk = nk[:pos] + new_hash
        self.inserted[nk] = data
        if self.fill:
            self.cached[nk] = data
        return new_hash

    def set_one(self, pos: int, node_hash: bytes, idx: int) -> bytes:
        """`set_sub` for the one change `idx`, below `node_hash` (b"": no node there yet).

        The common case near the leaves: walk down once, then rebuild the nodes walked upwards.
        """
        key = self.keys[idx]
        value = self.vals[idx]
        cached = self.cached
        pack = self.pack
        old_hash = node_hash
        # (node key, encoding, where the child walked to sits in the node's hash list, and the
        # node's value, bitmap and hash list): the offset; -1 for an extension (whose compact
        # path then stands for the hash list); -2 - offset for a new child to go in there.
        walked: list[tuple[bytes, bytes, int, bytes | None, int, bytes]] = []
        after_ext = False
        while True:
            if not node_hash:
                data = pack([LEAF, compact_path(key[pos:]), value])
                break
            nk = key[:pos] + node_hash
            stored = cached.pop(nk, None)
            if stored is None:
                stored = self.get_node(nk)
                if stored is None:
                    raise missing_node(nk)
                kind, path, payload, bitmap, children = decode_stored(stored, nk)
            else:
                # A cached node was checked on its way in: unpack it, and leave paths compact.
                fields = _unpackb(stored)
                if len(fields) == 4:
                    kind, bitmap, children, payload = fields
                else:
                    kind, children, payload = fields
                    path = b""
            if kind == BRANCH:
                if pos < len(key):
                    bit = 1 << key[pos]
                    offset = (bitmap & (bit - 1)).bit_count() * HASH_LEN
                    if bitmap & bit:
                        walked.append((nk, stored, offset, payload, bitmap, children))
                        node_hash = children[offset : offset + HASH_LEN]
                    else:
                        walked.append((nk, stored, -2 - offset, payload, bitmap, children))
                        node_hash = b""
                    pos += 1
                    after_ext = False
                    continue
                if payload == value:
                    return self.unchanged(old_hash, nk, stored, walked)
                self.deleted.add(nk)
                data = pack([BRANCH, bitmap, children, value])
                break
            if after_ext:
                raise TrieError(f"trie node {nk.hex()} follows an extension but is not a branch")
            # `children` is the leaf's or extension's compact path, and `path` its nibbles, or
            # b"" (not expanded) for a cached node.
            if kind == LEAF:
                if not path:
                    # Compare compact forms, the key's being a flag byte and its bytes from there.
                    if pos & 1:
                        compact = ODD_FLAG[key[pos]] + self.raws[idx][(pos + 1) >> 1 :]
                    else:
                        compact = b"\x00" + self.raws[idx][pos >> 1 :]
                    same = children == compact
                else:
                    same = key[pos:] == path
                if same:
                    if payload == value:
                        return self.unchanged(old_hash, nk, stored, walked)
                    self.deleted.add(nk)
                    data = pack([LEAF, children, value])
                    break
                res = self.update_leaf(key[:pos], decode_cached(stored), nk, idx, idx + 1)
            else:
                path = path or expand_path(children)
                if key.startswith(path, pos):
                    walked.append((nk, stored, -1, payload, 0, children))
                    pos += len(path)
                    assert payload is not None
                    node_hash = payload
                    after_ext = True
                    continue
                res = self.update_ext(key[:pos], decode_cached(stored), nk, idx, idx + 1)
            # A set of a key the leaf or extension does not hold always changes it.
            assert res is not None and res is not _KEEP
            data = b""
            new_hash = self.finish(key[:pos], res)
            break
        fill = self.fill
        inserted = self.inserted
        if data:
            hasher = _fresh_hash()
            hasher.update(data)
            new_hash = hasher.digest()
            nk = key[:pos] + new_hash
            inserted[nk] = data
            if fill:
                cached[nk] = data
        deleted = self.deleted
        for nk, _, offset, branch_value, bitmap, children in reversed(walked):
            deleted.add(nk)
            if offset == -1:
                data = pack([EXT, children, new_hash])
            else:
                if offset >= 0:
                    children = children[:offset] + new_hash + children[offset + HASH_LEN :]
                else:
                    offset = -2 - offset
                    children = children[:offset] + new_hash + children[offset:]
                    bitmap |= 1 << key[len(nk) - HASH_LEN]
                data = pack([BRANCH, bitmap, children, branch_value])
            hasher = _fresh_hash()
            hasher.update(data)
            new_hash = hasher.digest()
            nk = nk[:-HASH_LEN] + new_hash
            inserted[nk] = data
            if fill:
                cached[nk] = data
        return new_hash

    def unchanged(
        self,
        node_hash: bytes,
        nk: bytes,
        data: bytes,
        walked: list[tuple[bytes, bytes, int, bytes | None, int, bytes]],
    ) -> bytes:
        """`set_one` found the key with its value already: put back the nodes read."""
        if self.fill:
            cached = self.cached
            cached[nk] = data
            for walked_nk, walked_data, *_ in walked:
                cached[walked_nk] = walked_data
        return node_hash

    def update(
        self, position: bytes, node: Node, nk: bytes | None, lo: int, hi: int
    ) -> Node | None:
        """Apply changes [lo, hi) to `node` at `position` (nk None: the node is not stored)."""
        kind = node[0]
        if kind == BRANCH:
            return self.update_branch(position, node, nk, lo, hi, -1, None)
        if kind == LEAF:
            return self.update_leaf(position, node, nk, lo, hi)
        return self.update_ext(position, node, nk, lo, hi)

    def update_branch(
        self,
        position: bytes,
        node: Node,
        nk: bytes | None,
        lo: int,
        hi: int,
        virtual_at: int,
        virtual: Node | None,
    ) -> Node | None:
        """Apply changes to a branch; `virtual` is an unstored child at nibble `virtual_at`."""
        keys, vals = self.keys, self.vals
        pos = len(position)
        _, _, value, bitmap, children = node
        new_value = value
        i = lo
        if len(keys[i]) == pos:
            new_value = vals[i]
            i += 1
        changed = nk is None or new_value != value
        # nibble -> the child's new hash (bytes), or its step result (a tuple, or None: gone).
        touched: dict[int, bytes | Node | None] = {}
        if virtual is not None:
            touched[virtual_at] = virtual
        while i < hi:
            nibble = keys[i][pos]
            j = i + 1
            if hi - i > _SCAN_LIMIT:
                j = bisect_left(keys, keys[i][: pos + 1] + _PAST, j, hi)
            else:
                while j < hi and keys[j][pos] == nibble:
                    j += 1
            bit = 1 << nibble
            child_position = position + NIBBLE[nibble]
            if virtual is not None and nibble == virtual_at:
                res = self.update(child_position, virtual, None, i, j)
            elif bitmap & bit:
                offset = (bitmap & (bit - 1)).bit_count() * HASH_LEN
                child_hash = children[offset : offset + HASH_LEN]
                if self.sets_only(i, j):
                    if j == i + 1:
                        new_hash = self.set_one(pos + 1, child_hash, i)
                    else:
                        new_hash = self.set_sub(pos + 1, child_hash, i, j, False)
                    if new_hash != child_hash:
                        touched[nibble] = new_hash
                        changed = True
                    i = j
                    continue
                child_nk = child_position + child_hash
                child, stored = self.take(child_nk)
                res = self.update(child_position, child, child_nk, i, j)
                if res is _KEEP:
                    self.keep(child_nk, stored)
            else:
                res = self.build_changes(child_position, i, j)
            if res is not _KEEP:
                touched[nibble] = res
                changed = True
            i = j
        if not changed:
            return _KEEP
        if nk is not None:
            self.deleted.add(nk)

        new_bitmap = bitmap
        for nibble, done in touched.items():
            if done is None:
                new_bitmap &= ~(1 << nibble)
            else:
                new_bitmap |= 1 << nibble
        if not new_bitmap:
            return None if new_value is None else (LEAF, b"", new_value, 0, b"\x00")
        if new_value is None and new_bitmap & (new_bitmap - 1) == 0:
            return self.collapse(position, new_bitmap.bit_length() - 1, node, touched)
        # Splice the touched children into the hash list; offsets follow the bitmap as it changes.
        for nibble, done in touched.items():
            bit = 1 << nibble
            offset = (bitmap & (bit - 1)).bit_count() * HASH_LEN
            if done is None:
                if bitmap & bit:
                    children = children[:offset] + children[offset + HASH_LEN :]
                    bitmap ^= bit
                continue
            if isinstance(done, tuple):
                done = self.finish(position + NIBBLE[nibble], done)
            if bitmap & bit:
                children = children[:offset] + done + children[offset + HASH_LEN :]
            else:
                children = children[:offset] + done + children[offset:]
                bitmap |= bit
        data = self.pack([BRANCH, bitmap, children, new_value])
        return (_STORED, b"", self.put(position, data), 0, b"")

    def collapse(
        self, position: bytes, nibble: int, old: Node, touched: dict[int, bytes | Node | None]
    ) -> Node:
        """Fold a branch left with one child and no value into that child, one nibble up."""
        res = touched.get(nibble)
        if res is None or type(res) is bytes:
            # The surviving child is stored (before or by this commit): read it back.
            child_position = position + NIBBLE[nibble]
            child_hash = child_at(old[3], old[4], nibble) if res is None else res
            child_nk = child_position + child_hash
            data = self.inserted.get(child_nk)
            if data is None:
                child, stored = self.take(child_nk)
            else:
                child, stored = decode_cached(data), data
            if child[0] == BRANCH:
                self.keep(child_nk, stored)
                return (EXT, NIBBLE[nibble], child_hash, 0, b"")
            # A leaf or extension moves up to this position: its node at the old one goes.
            if data is None:
                self.deleted.add(child_nk)
            else:
                del self.inserted[child_nk]
                self.cached.pop(child_nk, None)
            merged = _prepend(NIBBLE[nibble], child)
        else:
            assert isinstance(res, tuple)
            merged = _prepend(NIBBLE[nibble], res)
        assert merged is not None
        return merged

    def update_leaf(
        self, position: bytes, node: Node, nk: bytes | None, lo: int, hi: int
    ) -> Node | None:
        """Apply changes to a leaf: replace or drop its value, or rebuild with the new keys."""
        keys, vals = self.keys, self.vals
        _, path, value, _, _ = node
        leaf_key = position + path
        if hi - lo == 1 and keys[lo] == leaf_key:
            new = vals[lo]
            if new == value:
                return _KEEP
            if nk is not None:
                self.deleted.add(nk)
            return None if new is None else (LEAF, path, new, 0, node[4])
        items: dict[bytes, bytes | None] = {}
        effective = False
        for i in range(lo, hi):
            k, v = keys[i], vals[i]
            items[k] = v
            # A change matters if it alters the leaf's value or adds another key.
            if (v != value) if k == leaf_key else (v is not None):
                effective = True
        if not effective:
            return _KEEP
        if nk is not None:
            self.deleted.add(nk)
        items.setdefault(leaf_key, value)
        ks = sorted(k for k, v in items.items() if v is not None)
        if not ks:
            return None
        return self.build_from(position, ks, [items[k] for k in ks], 0, len(ks))

    def update_ext(
        self, position: bytes, node: Node, nk: bytes | None, lo: int, hi: int
    ) -> Node | None:
        """Apply changes to an extension: pass them to its branch, or split it where they leave."""
        keys, vals = self.keys, self.vals
        _, path, child_hash, _, _ = node
        assert child_hash is not None
        full = position + path
        if not (keys[lo].startswith(full) and keys[hi - 1].startswith(full)):
            inner_lo = bisect_left(keys, full, lo, hi)
            inner_hi = bisect_left(keys, full + _PAST, inner_lo, hi)
            outside = [i for i in range(lo, inner_lo) if vals[i] is not None]
            outside += [i for i in range(inner_hi, hi) if vals[i] is not None]
            if outside:
                res = self.split_ext(position, path, child_hash, lo, hi, outside)
                if nk is not None:
                    self.deleted.add(nk)
                return res
            # Only deletions of absent keys leave the extension's path: they change nothing.
            if inner_lo == inner_hi:
                return _KEEP
            lo, hi = inner_lo, inner_hi
        child_nk = full + child_hash
        child, stored = self.take(child_nk)
        if child[0] != BRANCH:
            raise TrieError(f"trie node {child_nk.hex()} follows an extension but is not a branch")
        res = self.update_branch(full, child, child_nk, lo, hi, -1, None)
        if res is _KEEP:
            self.keep(child_nk, stored)
            return _KEEP
        if nk is not None:
            self.deleted.add(nk)
        return _prepend(path, res)

    def split_ext(
        self, position: bytes, path: bytes, child_hash: bytes, lo: int, hi: int, outside: list[int]
    ) -> Node | None:
        """Apply changes that leave an extension's path: a branch appears where they diverge."""
        keys = self.keys
        pos = len(position)
        full = position + path
        split = min(_common_len(keys[i], full, pos) for i in outside)
        at = full[:split]
        lo = bisect_left(keys, at, lo, hi)
        hi = bisect_left(keys, at + _PAST, lo, hi)
        nibble = full[split]
        # The old extension becomes a branch at `at` whose one child leads on to the old branch:
        # directly, or through a shorter extension that is not stored yet.
        if split + 1 == len(full):
            branch: Node = (BRANCH, b"", None, 1 << nibble, child_hash)
            res = self.update_branch(at, branch, None, lo, hi, -1, None)
        else:
            rest: Node = (EXT, full[split + 1 :], child_hash, 0, b"")
            branch = (BRANCH, b"", None, 0, b"")
            res = self.update_branch(at, branch, None, lo, hi, nibble, rest)
        return _prepend(path[: split - pos], res) if split > pos else res

    def build_changes(self, position: bytes, lo: int, hi: int) -> Node | None:
        """Build a subtree where there was none; deletions in [lo, hi) are of absent keys."""
        if self.sets_only(lo, hi):
            return self.build(position, lo, hi)
        vals = self.vals
        ks = [self.keys[i] for i in range(lo, hi) if vals[i] is not None]
        if not ks:
            return _KEEP
        vs: list[bytes | None] = [v for v in vals[lo:hi] if v is not None]
        return self.build_from(position, ks, vs, 0, len(ks))

    def build(self, position: bytes, lo: int, hi: int) -> Node:
        """The canonical subtree at `position` of changes [lo, hi), all sets."""
        return self.build_from(position, self.keys, self.vals, lo, hi)

    def build_from(
        self, position: bytes, ks: list[bytes], vs: list[bytes | None], lo: int, hi: int
    ) -> Node:
        """The canonical subtree at `position` of sorted keys ks[lo:hi], none of them deleted."""
        pos = len(position)
        first = ks[lo]
        if hi - lo == 1:
            return (LEAF, first[pos:], vs[lo], 0, b"")
        split = _common_len(first, ks[hi - 1], pos)
        if split > pos:
            merged = _prepend(first[pos:split], self.build_from(first[:split], ks, vs, lo, hi))
            assert merged is not None
            return merged
        value = None
        i = lo
        if len(first) == pos:
            value = vs[lo]
            i += 1
        bitmap = 0
        hashes: list[bytes] = []
        while i < hi:
            nibble = ks[i][pos]
            child_position = position + NIBBLE[nibble]
            j = i + 1
            if hi - i > _SCAN_LIMIT:
                j = bisect_left(ks, child_position + _PAST, j, hi)
            else:
                while j < hi and ks[j][pos] == nibble:
                    j += 1
            hashes.append(
                self.finish(child_position, self.build_from(child_position, ks, vs, i, j))
            )
            bitmap |= 1 << nibble
            i = j
        children = b"".join(hashes)
        data = self.pack([BRANCH, bitmap, children, value])
        return (_STORED, b"", self.put(position, data), 0, b"")

    def run(self, root: bytes) -> bytes:
        """Apply all the changes to the trie at `root`; the new root."""
        n = len(self.keys)
        if root == EMPTY_ROOT:
            res = self.build_changes(b"", 0, n)
        elif self.dels is None:
            # The root node sits at the empty position, so its node key is the root hash itself.
            return self.set_one(0, root, 0) if n == 1 else self.set_sub(0, root, 0, n, False)
        else:
            node, stored = self.take(root)
            res = self.update(b"", node, root, 0, n)
            if res is _KEEP:
                self.keep(root, stored)
        if res is _KEEP:
            return root
        if res is None:
            return EMPTY_ROOT
        return self.finish(b"", res)


def commit(
    get_node: NodeGetter,
    root: bytes,
    changes: Mapping[bytes, bytes | None],
    cache: NodeCache | None = None,
) -> TrieCommit:
    """Apply many sets (bytes value) and deletions (None) at once to the trie at `root`.

    The changed keys are sorted and the trie is walked once, each touched node rebuilt and hashed
    once. Deleting an absent key changes nothing. The result is in canonical form. With a
    `cache`, nodes are read through it, and it gains the nodes stored and loses those deleted;
    the result is the same as without it.
    """
    if not changes:
        return TrieCommit(root, {}, [])
    # Checked and converted with C-level loops: a block's change set has thousands of keys.
    if not set(map(type, changes.values())) <= _VALUE_TYPES:
        bad = next(v for v in changes.values() if v is not None and type(v) is not bytes)
        raise TypeError(f"value of a trie key is {type(bad).__name__}, not bytes or None")
    if not set(map(type, changes)) <= _KEY_TYPES:
        bad = next(k for k in changes if type(k) is not bytes)
        raise TypeError(f"trie keys are bytes, got {type(bad).__name__}")
    # Byte order and nibble order agree, so the keys sort as bytes, and `raws[i]` is `keys[i]`.
    raws = sorted(changes)
    keys = list(map(_to_nibbles, map(hexlify, raws)))
    vals = list(map(changes.__getitem__, raws))
    if cache is None:
        batch = _Batch(get_node, raws, keys, vals, {}, False)
        new_root = batch.run(root)
    else:
        batch = _Batch(get_node, raws, keys, vals, cache._nodes, True)
        try:
            new_root = batch.run(root)
        finally:
            cache._settle()
    inserted, deleted = batch.inserted, batch.deleted
    # Defensive: a node key both added and dropped is no change at all.
    both = deleted.intersection(inserted)
    for nk in both:
        del inserted[nk]
    return TrieCommit(new_root, inserted, sorted(deleted - both if both else deleted))


def root_of(items: Mapping[bytes, bytes]) -> bytes:
    """The root of the trie holding exactly `items`, built from scratch."""
    return commit(_no_nodes, EMPTY_ROOT, items).root


def _no_nodes(nk: bytes) -> bytes | None:
    return None
