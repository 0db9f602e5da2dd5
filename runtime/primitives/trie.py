"""The state trie: a hexary Merkle Patricia trie whose root every block header carries.

Keys and values are byte strings; a key may be a prefix of another key. A key is walked as its
nibbles, high nibble of each byte first. The module is pure: it reads nodes through a `NodeGetter`
and returns what a change set inserts and deletes, leaving storage to the caller.

Encoding (enough to reproduce roots in another implementation):

- Compact path. A nibble sequence n1..nk is packed into bytes: when k is even, 0x00 followed by
  (n1 << 4 | n2), (n3 << 4 | n4), ...; when k is odd, (0x10 | n1) followed by (n2 << 4 | n3), ....
  The empty path is the single byte 0x00.
- A node is a canonical msgpack array (`runtime.primitives.codec`: bin for bytes, nil for none,
  minimal integer and header widths):

      leaf       [0, compact(path), value]
      extension  [1, compact(path), child_hash]         path not empty; the child is a branch
      branch     [2, bitmap, child_hashes, value or nil]

  A leaf's path is the rest of its key's nibbles after the leaf's position (possibly empty). In a
  branch, bit i of `bitmap` (an unsigned integer, 1 << i for nibble i) is set when the branch has
  a child at nibble i, and `child_hashes` is the concatenation of those children's 32-byte hashes
  in nibble order. A branch has at least two children, or one child and a value.
- A node's hash is BLAKE2b-256 of its encoding; children are always referenced by hash, never
  inlined. The root is the hash of the root node. The empty trie has no node; its root is
  `EMPTY_ROOT`, BLAKE2b-256 of the encoding of nil (the single byte 0xc0).
- The trie is always in canonical form, so the root depends only on the key-value set: a key that
  ends where a branch sits is that branch's value; a key alone below a position is a leaf; an
  extension stands where every key below shares at least one more nibble, and leads to a branch;
  no branch has a single child and no value.
- A node is stored under its node key (`node_key`): its position (the nibbles from the root to the
  node, one per byte, values 0..15) followed by its 32-byte hash. The key is thus unique to where
  the node sits, so a commit's inserted and deleted lists can prune old states without reference
  counting.

Inside this module nibble paths are `bytes` with one nibble per byte, so that splitting, comparing
and slicing paths, and forming node keys, run in C rather than as per-nibble Python objects.

A `NodeCache` may be passed to `commit` and the reads: it keeps nodes by node key across calls,
so that successive commits (which touch mostly the same upper nodes, and the nodes the previous
commit wrote) skip the store and the checks of a node read from it. Since a node key names its
node's encoding, an entry is right for every state, fork and store that reads that key; the cache
changes no result, only the time taken.
"""

from __future__ import annotations

from binascii import hexlify, unhexlify
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from itertools import accumulate, islice, repeat
from operator import is_, methodcaller
from typing import Any, Final, TypeAlias

import msgpack

from runtime.primitives.codec import CodecError, decode_raw, encode
from runtime.primitives.hashing import HASH_LEN, blake2b_256

EMPTY_ROOT: Final = blake2b_256(encode(None))

NodeGetter: TypeAlias = Callable[[bytes], bytes | None]
"""Reads an encoded node by its node key; None when the store does not hold it."""

_LEAF: Final = 0
_EXT: Final = 1
_BRANCH: Final = 2
# Kinds that only the commit walk returns: "the node handed to this step is unchanged", and a
# branch this commit has already stored (payload = hash).
_KEEP_KIND: Final = 3
_STORED: Final = 4

_ASCII_TO_NIBBLE: Final = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_NIBBLE_TO_ASCII: Final = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")
_NIBBLE: Final = [bytes((i,)) for i in range(16)]
# The first byte of the compact form of an odd-length path starting with nibble i.
_ODD_FLAG: Final = [bytes((0x10 | i,)) for i in range(16)]
# Above every nibble: the sorted keys starting with `p` all lie below `p + _PAST`.
_PAST: Final = b"\x10"
# Below this many keys a linear scan finds a nibble group faster than bisecting.
_SCAN_LIMIT: Final = 12

_Node: TypeAlias = tuple[int, bytes, bytes | None, int, bytes]
"""A decoded node, or a step result of the commit walk: (kind, path, payload, bitmap, children).

leaf (0, path, value, 0, compact), extension (1, path, child hash, 0, compact), branch (2, b"",
value or None, bitmap, child hashes), where `compact` is the path's compact form (in a step
result it may be b"": not known yet); results only: unchanged (3, ...), stored branch (4, b"",
hash, 0, b""). Paths are nibbles relative to the node's position.
"""
_KEEP: Final[_Node] = (_KEEP_KIND, b"", None, 0, b"")
# Stands for the cache when a read has none: looked in, never written to.
_NO_ENTRIES: Final[dict[bytes, bytes]] = {}
_KEY_TYPES: Final = frozenset({bytes})
_VALUE_TYPES: Final = frozenset({bytes, type(None)})
_to_nibbles: Final = methodcaller("translate", _ASCII_TO_NIBBLE)
_unpackb: Final = msgpack.unpackb


class TrieError(Exception):
    """The trie cannot be read: a node is missing from the store or does not decode."""


class InvalidProof(TrieError):
    """A proof that does not establish the requested keys under the given root."""


@dataclass(frozen=True, slots=True)
class TrieCommit:
    """The outcome of a batch of changes: the new root and the node keys it adds and drops.

    `inserted` and `deleted` are disjoint; a change that leaves a key as it was adds no entries.
    """

    root: bytes
    inserted: dict[bytes, bytes]
    deleted: list[bytes]


class NodeCache:
    """Trie nodes by node key, kept across commits and reads; bounded, roughly LRU.

    Pass one to `commit`, `get` and `read_proof`, which read nodes through it and add what they
    read and write (a commit drops the nodes it deletes), and to `iter_prefix`, which only looks.
    A node key is the node's position and the hash of its encoding, so an entry is never stale:
    it is the node under that key in any state, on any fork, in any store.

    An entry is the node's encoding, which the cache took in only once checked (read from the
    store and decoded with its shape checked) or built (a node a commit wrote): a hit skips the
    store and those checks, leaving a C-level unpack. Bytes rather than decoded tuples, because
    the garbage collector never has to look at bytes: tens of thousands of new tuples per commit
    made its collections cost more than the decoding saved. Entries are immutable, and a node
    written by a commit shares its bytes with `TrieCommit.inserted`.

    Entries are kept in the order they were last stored: a commit takes out each node it reads
    and puts back those it leaves as they were. When a call leaves more than `max_entries`, the
    oldest are dropped down to three quarters of it. An entry costs about 0.2 KB besides its
    encoding (about 0.1 KB for a leaf with a 60-byte value, up to 0.55 KB for a full branch).

    Not thread-safe: serialize the calls that share one cache.
    """

    __slots__ = ("_nodes", "max_entries")

    def __init__(self, max_entries: int = 500_000) -> None:
        if type(max_entries) is not int or max_entries < 0:
            raise ValueError(f"max_entries must be a non-negative int, got {max_entries!r}")
        self.max_entries: Final = max_entries
        self._nodes: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_key: object) -> bool:
        return node_key in self._nodes

    def clear(self) -> None:
        """Drop every entry."""
        self._nodes = {}

    def _settle(self) -> None:
        """Drop the oldest entries once the cache is over its bound."""
        nodes = self._nodes
        if len(nodes) > self.max_entries:
            keep = self.max_entries - self.max_entries // 4
            self._nodes = dict(islice(nodes.items(), len(nodes) - keep, None)) if keep else {}


# --- Paths and node keys ---------------------------------------------------------------------


def node_key(path: bytes, node_hash: bytes) -> bytes:
    """The storage key of the node with `node_hash` at nibble `path` (one nibble per byte)."""
    if path and max(path) > 15:
        raise ValueError("node path must hold one nibble (0..15) per byte")
    if len(node_hash) != HASH_LEN:
        raise ValueError(f"node hash must be {HASH_LEN} bytes, got {len(node_hash)}")
    return path + node_hash


def _nibbles(key: bytes) -> bytes:
    if type(key) is not bytes:
        raise TypeError(f"trie keys are bytes, got {type(key).__name__}")
    return hexlify(key).translate(_ASCII_TO_NIBBLE)


def _key_of(path: bytes) -> bytes:
    # Values sit only at whole bytes; a value at an odd nibble count means a corrupt trie.
    if len(path) % 2:
        raise TrieError(f"value at an odd nibble path 0x{path.hex()}: corrupt trie")
    return unhexlify(path.translate(_NIBBLE_TO_ASCII))


def _compact(path: bytes) -> bytes:
    ascii_path = path.translate(_NIBBLE_TO_ASCII)
    return unhexlify(b"1" + ascii_path if len(path) % 2 else b"00" + ascii_path)


class _Malformed(Exception):
    """Why some decoded value is not a trie node; the caller names the node and re-raises."""


def _expand(data: bytes) -> bytes:
    # The inverse of `_compact`, refusing flag bytes other than 0x00 and 0x1n.
    if not data:
        raise _Malformed("empty compact path")
    flag = data[0]
    if flag == 0:
        return hexlify(data)[2:].translate(_ASCII_TO_NIBBLE)
    if flag >> 4 == 1:
        return hexlify(data)[1:].translate(_ASCII_TO_NIBBLE)
    raise _Malformed(f"compact path starts with flag byte 0x{flag:02x}")


def _child_hash(bitmap: int, children: bytes, nibble: int) -> bytes:
    """The hash of a branch's child at `nibble`, or b"" if there is none."""
    bit = 1 << nibble
    if not bitmap & bit:
        return b""
    offset = (bitmap & (bit - 1)).bit_count() * HASH_LEN
    return children[offset : offset + HASH_LEN]


# --- Decoding ----------------------------------------------------------------------------------


def _shape(value: Any) -> _Node:
    """Check a decoded node's fields and canonical-form rules; return it as a `_Node`."""
    if type(value) is not list:
        raise _Malformed("not a trie node")
    if len(value) == 4:
        kind, bitmap, children, branch_value = value
        if type(kind) is int and kind == _BRANCH:
            if type(bitmap) is not int or not 0 < bitmap < 1 << 16:
                raise _Malformed("branch bitmap is not a non-zero 16-bit integer")
            if type(children) is not bytes or len(children) != bitmap.bit_count() * HASH_LEN:
                raise _Malformed("branch child hashes do not match its bitmap")
            if branch_value is None:
                if bitmap & (bitmap - 1) == 0:
                    raise _Malformed("branch with one child and no value")
            elif type(branch_value) is not bytes:
                raise _Malformed("branch value is neither bytes nor nil")
            return (_BRANCH, b"", branch_value, bitmap, children)
    elif len(value) == 3:
        kind, compact, payload = value
        if type(kind) is int and kind in (_LEAF, _EXT):
            if type(compact) is not bytes or type(payload) is not bytes:
                raise _Malformed("leaf or extension fields must be bytes")
            path = _expand(compact)
            if kind == _EXT and (not path or len(payload) != HASH_LEN):
                raise _Malformed(f"extension needs a path and a {HASH_LEN}-byte child hash")
            return (kind, path, payload, 0, compact)
    raise _Malformed("not a trie node")


def _decode_stored(data: bytes, nk: bytes) -> _Node:
    """Decode a node read from the store under node key `nk`."""
    # Store nodes were written by this module, so the canonical re-encoding check of
    # `codec.decode_raw`, which doubles the cost, is kept for proof nodes; shapes are checked.
    try:
        value = _unpackb(data)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise TrieError(f"trie node {nk.hex()} does not decode: {exc}") from exc
    # The checks of `_shape`, inlined for the well-formed nodes of the hot path; anything they do
    # not accept goes to `_shape`, which accepts nothing more and names what is wrong.
    if type(value) is list:
        if len(value) == 4:
            kind, bitmap, children, branch_value = value
            if (
                type(kind) is int
                and kind == _BRANCH
                and type(bitmap) is int
                and 0 < bitmap < 0x10000
                and type(children) is bytes
                and len(children) == bitmap.bit_count() * HASH_LEN
                and (
                    type(branch_value) is bytes
                    or (branch_value is None and bitmap & (bitmap - 1) != 0)
                )
            ):
                return (_BRANCH, b"", branch_value, bitmap, children)
        elif len(value) == 3:
            kind, compact, payload = value
            if type(kind) is int and type(compact) is bytes and compact and type(payload) is bytes:
                flag = compact[0]
                if flag == 0:
                    path = hexlify(compact)[2:].translate(_ASCII_TO_NIBBLE)
                    if kind == _LEAF:
                        return (_LEAF, path, payload, 0, compact)
                    if kind == _EXT and path and len(payload) == HASH_LEN:
                        return (_EXT, path, payload, 0, compact)
                elif flag >> 4 == 1:
                    path = hexlify(compact)[1:].translate(_ASCII_TO_NIBBLE)
                    if kind == _LEAF:
                        return (_LEAF, path, payload, 0, compact)
                    if kind == _EXT and len(payload) == HASH_LEN:
                        return (_EXT, path, payload, 0, compact)
    try:
        return _shape(value)
    except _Malformed as exc:
        raise TrieError(f"trie node {nk.hex()} is malformed: {exc}") from None


def _decode_cached(data: bytes) -> _Node:
    """Decode a node from a `NodeCache`, whose entries were checked (or built) on the way in."""
    value = _unpackb(data)
    if len(value) == 4:
        return (_BRANCH, b"", value[3], value[1], value[2])
    kind, compact, payload = value
    # The compact flag byte is 0x00 (even path: skip two hex digits) or 0x1n (odd: skip one).
    path = hexlify(compact)[2 - (compact[0] >> 4) :].translate(_ASCII_TO_NIBBLE)
    return (kind, path, payload, 0, compact)


def _decode_proof(data: bytes, node_hash: bytes) -> _Node:
    try:
        return _shape(decode_raw(data))
    except _Malformed as exc:
        raise InvalidProof(f"proof node {node_hash.hex()} is malformed: {exc}") from None
    except CodecError as exc:
        raise InvalidProof(f"proof node {node_hash.hex()} does not decode: {exc}") from exc


def _missing(nk: bytes) -> TrieError:
    return TrieError(f"trie node {nk.hex()} is missing from the store (state pruned or corrupt)")


def _read(get_node: NodeGetter, nk: bytes) -> bytes:
    data = get_node(nk)
    if data is None:
        raise _missing(nk)
    return data


def _load(
    get_node: NodeGetter, position: bytes, node_hash: bytes, cache: NodeCache | None
) -> _Node:
    """The node at `position` with `node_hash`: from `cache` if it holds it, else from the store
    (without adding it to the cache)."""
    nk = position + node_hash
    if cache is not None:
        data = cache._nodes.get(nk)
        if data is not None:
            return _decode_cached(data)
    return _decode_stored(_read(get_node, nk), nk)


def _lookup(
    fetch: Callable[[bytes, bytes], _Node], root: bytes, key: bytes, error: type[TrieError]
) -> bytes | None:
    """Follow the nibble `key` down from `root`: its value, or None where the trie shows none.

    `fetch(position, hash)` supplies each node on the way.
    """
    pos = 0
    node_hash = root
    after_ext = False
    while True:
        kind, path, payload, bitmap, children = fetch(key[:pos], node_hash)
        if kind == _BRANCH:
            if pos == len(key):
                return payload
            node_hash = _child_hash(bitmap, children, key[pos])
            if not node_hash:
                return None
            pos += 1
            after_ext = False
        elif after_ext:
            raise error(f"node {node_hash.hex()} follows an extension but is not a branch")
        elif kind == _LEAF:
            return payload if key[pos:] == path else None
        else:
            if not key.startswith(path, pos):
                return None
            assert payload is not None
            node_hash = payload
            pos += len(path)
            after_ext = True


# --- Commit ------------------------------------------------------------------------------------


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


def _prepend(path: bytes, res: _Node | None) -> _Node | None:
    """The result `path` above the result `res`: an extension to it, or it with a longer path."""
    if res is None:
        return None
    kind = res[0]
    if kind == _STORED:
        return (_EXT, path, res[2], 0, b"")
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

    def take(self, nk: bytes) -> tuple[_Node, bytes]:
        """The node under `nk` and its encoding, taken out of the cache (see `keep`) or read
        from the store."""
        data = self.cached.pop(nk, None)
        if data is not None:
            return _decode_cached(data), data
        data = self.get_node(nk)
        if data is None:
            raise _missing(nk)
        return _decode_stored(data, nk), data

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
        node_hash = blake2b(data, digest_size=HASH_LEN).digest()
        nk = position + node_hash
        # A node rebuilt exactly as it was is no change: cancel its deletion instead.
        if nk in self.deleted:
            self.deleted.discard(nk)
        else:
            self.inserted[nk] = data
        if self.fill:
            self.cached[nk] = data
        return node_hash

    def finish(self, position: bytes, res: _Node) -> bytes:
        """Store a leaf or extension result at `position`; return the hash of any result."""
        kind, path, payload, _, compact = res
        if kind == _STORED:
            assert payload is not None
            return payload
        return self.put(position, self.pack([kind, compact or _compact(path), payload]))

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
                raise _missing(nk)
            node = _decode_stored(stored, nk)
        else:
            node = _decode_cached(stored)
        kind, path, payload, bitmap, children = node
        if kind == _BRANCH:
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
            data = self.pack([_BRANCH, new_bitmap, children, value])
        elif under_ext:
            raise TrieError(f"trie node {nk.hex()} follows an extension but is not a branch")
        elif kind == _LEAF:
            if hi - lo == 1 and len(key) - pos == len(path) and key.endswith(path):
                value = self.vals[lo]
                if value == payload:
                    self.keep(nk, stored)
                    return node_hash
                data = self.pack([_LEAF, children, value])
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
            data = self.pack([_EXT, children, new_hash])
        else:
            res = self.update_ext(key[:pos], node, nk, lo, hi)
            if res is _KEEP:
                self.keep(nk, stored)
                return node_hash
            assert res is not None
            return self.finish(key[:pos], res)
        # Every node stored here is new: its subtree's keys or values changed.
        self.deleted.add(nk)
        new_hash = blake2b(data, digest_size=HASH_LEN).digest()
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
                data = pack([_LEAF, _compact(key[pos:]), value])
                break
            nk = key[:pos] + node_hash
            stored = cached.pop(nk, None)
            if stored is None:
                stored = self.get_node(nk)
                if stored is None:
                    raise _missing(nk)
                kind, path, payload, bitmap, children = _decode_stored(stored, nk)
            else:
                # A cached node was checked on its way in: unpack it, and leave paths compact.
                fields = _unpackb(stored)
                if len(fields) == 4:
                    kind, bitmap, children, payload = fields
                else:
                    kind, children, payload = fields
                    path = b""
            if kind == _BRANCH:
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
                data = pack([_BRANCH, bitmap, children, value])
                break
            if after_ext:
                raise TrieError(f"trie node {nk.hex()} follows an extension but is not a branch")
            # `children` is the leaf's or extension's compact path, and `path` its nibbles, or
            # b"" (not expanded) for a cached node.
            if kind == _LEAF:
                if not path:
                    # Compare compact forms, the key's being a flag byte and its bytes from there.
                    if pos & 1:
                        compact = _ODD_FLAG[key[pos]] + self.raws[idx][(pos + 1) >> 1 :]
                    else:
                        compact = b"\x00" + self.raws[idx][pos >> 1 :]
                    same = children == compact
                else:
                    same = key[pos:] == path
                if same:
                    if payload == value:
                        return self.unchanged(old_hash, nk, stored, walked)
                    self.deleted.add(nk)
                    data = pack([_LEAF, children, value])
                    break
                res = self.update_leaf(key[:pos], _decode_cached(stored), nk, idx, idx + 1)
            else:
                path = path or _expand(children)
                if key.startswith(path, pos):
                    walked.append((nk, stored, -1, payload, 0, children))
                    pos += len(path)
                    assert payload is not None
                    node_hash = payload
                    after_ext = True
                    continue
                res = self.update_ext(key[:pos], _decode_cached(stored), nk, idx, idx + 1)
            # A set of a key the leaf or extension does not hold always changes it.
            assert res is not None and res is not _KEEP
            data = b""
            new_hash = self.finish(key[:pos], res)
            break
        fill = self.fill
        inserted = self.inserted
        if data:
            new_hash = blake2b(data, digest_size=HASH_LEN).digest()
            nk = key[:pos] + new_hash
            inserted[nk] = data
            if fill:
                cached[nk] = data
        deleted = self.deleted
        for nk, _, offset, branch_value, bitmap, children in reversed(walked):
            deleted.add(nk)
            if offset == -1:
                data = pack([_EXT, children, new_hash])
            else:
                if offset >= 0:
                    children = children[:offset] + new_hash + children[offset + HASH_LEN :]
                else:
                    offset = -2 - offset
                    children = children[:offset] + new_hash + children[offset:]
                    bitmap |= 1 << key[len(nk) - HASH_LEN]
                data = pack([_BRANCH, bitmap, children, branch_value])
            new_hash = blake2b(data, digest_size=HASH_LEN).digest()
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
        self, position: bytes, node: _Node, nk: bytes | None, lo: int, hi: int
    ) -> _Node | None:
        """Apply changes [lo, hi) to `node` at `position` (nk None: the node is not stored)."""
        kind = node[0]
        if kind == _BRANCH:
            return self.update_branch(position, node, nk, lo, hi, -1, None)
        if kind == _LEAF:
            return self.update_leaf(position, node, nk, lo, hi)
        return self.update_ext(position, node, nk, lo, hi)

    def update_branch(
        self,
        position: bytes,
        node: _Node,
        nk: bytes | None,
        lo: int,
        hi: int,
        virtual_at: int,
        virtual: _Node | None,
    ) -> _Node | None:
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
        touched: dict[int, bytes | _Node | None] = {}
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
            child_position = position + _NIBBLE[nibble]
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
            return None if new_value is None else (_LEAF, b"", new_value, 0, b"\x00")
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
                done = self.finish(position + _NIBBLE[nibble], done)
            if bitmap & bit:
                children = children[:offset] + done + children[offset + HASH_LEN :]
            else:
                children = children[:offset] + done + children[offset:]
                bitmap |= bit
        data = self.pack([_BRANCH, bitmap, children, new_value])
        return (_STORED, b"", self.put(position, data), 0, b"")

    def collapse(
        self, position: bytes, nibble: int, old: _Node, touched: dict[int, bytes | _Node | None]
    ) -> _Node:
        """Fold a branch left with one child and no value into that child, one nibble up."""
        res = touched.get(nibble)
        if res is None or type(res) is bytes:
            # The surviving child is stored (before or by this commit): read it back.
            child_position = position + _NIBBLE[nibble]
            child_hash = _child_hash(old[3], old[4], nibble) if res is None else res
            child_nk = child_position + child_hash
            data = self.inserted.get(child_nk)
            if data is None:
                child, stored = self.take(child_nk)
            else:
                child, stored = _decode_cached(data), data
            if child[0] == _BRANCH:
                self.keep(child_nk, stored)
                return (_EXT, _NIBBLE[nibble], child_hash, 0, b"")
            # A leaf or extension moves up to this position: its node at the old one goes.
            if data is None:
                self.deleted.add(child_nk)
            else:
                del self.inserted[child_nk]
                self.cached.pop(child_nk, None)
            merged = _prepend(_NIBBLE[nibble], child)
        else:
            assert isinstance(res, tuple)
            merged = _prepend(_NIBBLE[nibble], res)
        assert merged is not None
        return merged

    def update_leaf(
        self, position: bytes, node: _Node, nk: bytes | None, lo: int, hi: int
    ) -> _Node | None:
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
            return None if new is None else (_LEAF, path, new, 0, node[4])
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
        self, position: bytes, node: _Node, nk: bytes | None, lo: int, hi: int
    ) -> _Node | None:
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
        if child[0] != _BRANCH:
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
    ) -> _Node | None:
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
            branch: _Node = (_BRANCH, b"", None, 1 << nibble, child_hash)
            res = self.update_branch(at, branch, None, lo, hi, -1, None)
        else:
            rest: _Node = (_EXT, full[split + 1 :], child_hash, 0, b"")
            branch = (_BRANCH, b"", None, 0, b"")
            res = self.update_branch(at, branch, None, lo, hi, nibble, rest)
        return _prepend(path[: split - pos], res) if split > pos else res

    def build_changes(self, position: bytes, lo: int, hi: int) -> _Node | None:
        """Build a subtree where there was none; deletions in [lo, hi) are of absent keys."""
        if self.sets_only(lo, hi):
            return self.build(position, lo, hi)
        vals = self.vals
        ks = [self.keys[i] for i in range(lo, hi) if vals[i] is not None]
        if not ks:
            return _KEEP
        vs: list[bytes | None] = [v for v in vals[lo:hi] if v is not None]
        return self.build_from(position, ks, vs, 0, len(ks))

    def build(self, position: bytes, lo: int, hi: int) -> _Node:
        """The canonical subtree at `position` of changes [lo, hi), all sets."""
        return self.build_from(position, self.keys, self.vals, lo, hi)

    def build_from(
        self, position: bytes, ks: list[bytes], vs: list[bytes | None], lo: int, hi: int
    ) -> _Node:
        """The canonical subtree at `position` of sorted keys ks[lo:hi], none of them deleted."""
        pos = len(position)
        first = ks[lo]
        if hi - lo == 1:
            return (_LEAF, first[pos:], vs[lo], 0, b"")
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
            child_position = position + _NIBBLE[nibble]
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
        data = self.pack([_BRANCH, bitmap, children, value])
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


# --- Reading -----------------------------------------------------------------------------------


def get(
    get_node: NodeGetter, root: bytes, key: bytes, cache: NodeCache | None = None
) -> bytes | None:
    """The value of `key` in the trie at `root`, or None if absent.

    With a `cache`, nodes are read through it, and it gains the nodes read.
    """
    k = _nibbles(key)
    if root == EMPTY_ROOT:
        return None
    cached: dict[bytes, bytes] = _NO_ENTRIES if cache is None else cache._nodes
    # `_lookup`, with the node reads inlined; as in `_Batch.set_one`, a cached node is only
    # unpacked, and a leaf's path compared in compact form.
    pos = 0
    node_hash = root
    after_ext = False
    try:
        while True:
            nk = k[:pos] + node_hash
            data = cached.get(nk)
            if data is None:
                data = get_node(nk)
                if data is None:
                    raise _missing(nk)
                kind, path, payload, bitmap, children = _decode_stored(data, nk)
                if cache is not None:
                    cached[nk] = data
            else:
                fields = _unpackb(data)
                if len(fields) == 4:
                    kind, bitmap, children, payload = fields
                else:
                    kind, children, payload = fields
                    path = b""
            if kind == _BRANCH:
                if pos == len(k):
                    return payload
                bit = 1 << k[pos]
                if not bitmap & bit:
                    return None
                offset = (bitmap & (bit - 1)).bit_count() * HASH_LEN
                node_hash = children[offset : offset + HASH_LEN]
                pos += 1
                after_ext = False
            elif after_ext:
                raise TrieError(f"node {node_hash.hex()} follows an extension but is not a branch")
            elif kind == _LEAF:
                if path:
                    return payload if k[pos:] == path else None
                if pos & 1:
                    compact = _ODD_FLAG[k[pos]] + key[(pos + 1) >> 1 :]
                else:
                    compact = b"\x00" + key[pos >> 1 :]
                return payload if children == compact else None
            else:
                path = path or _expand(children)
                if not k.startswith(path, pos):
                    return None
                assert payload is not None
                node_hash = payload
                pos += len(path)
                after_ext = True
    finally:
        if cache is not None:
            cache._settle()


def iter_prefix(
    get_node: NodeGetter, root: bytes, prefix: bytes, cache: NodeCache | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) whose key starts with `prefix`, in key order.

    With a `cache`, nodes it holds are taken from it; a scan adds nothing to it.
    """
    p = _nibbles(prefix)
    if root == EMPTY_ROOT:
        return
    position = b""
    node_hash = root
    # Descend along the prefix to the node whose subtree holds exactly the matching keys.
    while len(position) < len(p):
        kind, path, payload, bitmap, children = _load(get_node, position, node_hash, cache)
        full = position + path
        if kind == _BRANCH:
            node_hash = _child_hash(bitmap, children, p[len(position)])
            if not node_hash:
                return
            position += p[len(position) : len(position) + 1]
            continue
        assert payload is not None
        if kind == _LEAF:
            if full.startswith(p):
                yield _key_of(full), payload
            return
        if not (full.startswith(p) or p.startswith(full)):
            return
        position, node_hash = full, payload
    yield from _iter_subtree(get_node, position, node_hash, cache)


def _iter_subtree(
    get_node: NodeGetter, position: bytes, node_hash: bytes, cache: NodeCache | None
) -> Iterator[tuple[bytes, bytes]]:
    # Depth first, a branch's own value before its children: that is key order.
    stack = [(position, node_hash)]
    while stack:
        position, node_hash = stack.pop()
        kind, path, payload, bitmap, children = _load(get_node, position, node_hash, cache)
        if kind == _BRANCH:
            if payload is not None:
                yield _key_of(position), payload
            for nibble in range(15, -1, -1):
                child_hash = _child_hash(bitmap, children, nibble)
                if child_hash:
                    stack.append((position + _NIBBLE[nibble], child_hash))
            continue
        assert payload is not None
        if kind == _LEAF:
            yield _key_of(position + path), payload
        else:
            stack.append((position + path, payload))


# --- Proofs ------------------------------------------------------------------------------------


def read_proof(
    get_node: NodeGetter, root: bytes, keys: Iterable[bytes], cache: NodeCache | None = None
) -> list[bytes]:
    """Encoded nodes proving the value or absence of each key, deduplicated.

    The order is deterministic: that of first visit, walking the keys in sorted order from the root.
    With a `cache`, nodes are read through it (an entry is the very bytes the store holds under
    its key), and it gains the nodes read.
    """
    nibble_keys = sorted({_nibbles(key) for key in keys})
    if root == EMPTY_ROOT:
        return []
    proof: dict[bytes, bytes] = {}
    decoded: dict[bytes, _Node] = {}

    def fetch(position: bytes, node_hash: bytes) -> _Node:
        nk = position + node_hash
        node = decoded.get(nk)
        if node is None:
            data = None if cache is None else cache._nodes.get(nk)
            if data is None:
                data = _read(get_node, nk)
                node = _decode_stored(data, nk)
                if cache is not None:
                    cache._nodes[nk] = data
            else:
                node = _decode_cached(data)
            decoded[nk] = node
            proof.setdefault(node_hash, data)
        return node

    try:
        for k in nibble_keys:
            _lookup(fetch, root, k, TrieError)
    finally:
        if cache is not None:
            cache._settle()
    return list(proof.values())


def verify_proof(
    root: bytes, proof: Sequence[bytes], keys: Iterable[bytes]
) -> dict[bytes, bytes | None]:
    """The value (None: proven absent) of each key under `root`, established by `proof` alone.

    Raises InvalidProof when a needed node is missing, a node does not decode or breaks the
    canonical form, a node appears twice, or a node is not used to answer any key.
    """
    by_hash: dict[bytes, bytes] = {}
    for data in proof:
        if type(data) is not bytes:
            raise InvalidProof(f"proof node is {type(data).__name__}, not bytes")
        node_hash = blake2b_256(data)
        if node_hash in by_hash:
            raise InvalidProof(f"proof node {node_hash.hex()} appears twice")
        by_hash[node_hash] = data
    decoded: dict[bytes, _Node] = {}

    def fetch(position: bytes, node_hash: bytes) -> _Node:
        node = decoded.get(node_hash)
        if node is None:
            data = by_hash.get(node_hash)
            if data is None:
                raise InvalidProof(f"proof lacks node {node_hash.hex()}")
            node = decoded[node_hash] = _decode_proof(data, node_hash)
        return node

    result: dict[bytes, bytes | None] = {}
    for key in keys:
        k = _nibbles(key)
        result[key] = None if root == EMPTY_ROOT else _lookup(fetch, root, k, InvalidProof)
    unused = by_hash.keys() - decoded.keys()
    if unused:
        raise InvalidProof(f"{len(unused)} proof node(s) not needed, e.g. {min(unused).hex()}")
    return result


# --- In-memory store ---------------------------------------------------------------------------


@dataclass(slots=True)
class MemoryNodeStore:
    """A dict of node key to encoded node: for tests and for building genesis state."""

    nodes: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        """The encoded node under `key`, or None."""
        return self.nodes.get(key)

    def apply(self, c: TrieCommit) -> None:
        """Add the commit's inserted nodes and remove its deleted ones."""
        self.nodes.update(c.inserted)
        for nk in c.deleted:
            self.nodes.pop(nk, None)
