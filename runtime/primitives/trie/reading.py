"""Reading the trie: one key's value, and every key under a prefix in key order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import msgpack

from runtime.primitives.hashing import HASH_LEN
from runtime.primitives.trie.cache import NodeCache
from runtime.primitives.trie.nodes import (
    BRANCH,
    EMPTY_ROOT,
    LEAF,
    NIBBLE,
    ODD_FLAG,
    Node,
    NodeGetter,
    TrieError,
    child_at,
    decode_cached,
    decode_stored,
    expand_path,
    key_of,
    missing_node,
    nibbles,
    read_node,
)

# Stands for the cache when a read has none: looked in, never written to.
_NO_ENTRIES: Final[dict[bytes, bytes]] = {}
_unpackb: Final = msgpack.unpackb


def _load(get_node: NodeGetter, position: bytes, node_hash: bytes, cache: NodeCache | None) -> Node:
    """The node at `position` with `node_hash`: from `cache` if it holds it, else from the store
    (without adding it to the cache)."""
    nk = position + node_hash
    if cache is not None:
        data = cache._nodes.get(nk)
        if data is not None:
            return decode_cached(data)
    return decode_stored(read_node(get_node, nk), nk)


def get(
    get_node: NodeGetter, root: bytes, key: bytes, cache: NodeCache | None = None
) -> bytes | None:
    """The value of `key` in the trie at `root`, or None if absent.

    With a `cache`, nodes are read through it, and it gains the nodes read.
    """
    k = nibbles(key)
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
                    raise missing_node(nk)
                kind, path, payload, bitmap, children = decode_stored(data, nk)
                if cache is not None:
                    cached[nk] = data
            else:
                fields = _unpackb(data)
                if len(fields) == 4:
                    kind, bitmap, children, payload = fields
                else:
                    kind, children, payload = fields
                    path = b""
            if kind == BRANCH:
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
            elif kind == LEAF:
                if path:
                    return payload if k[pos:] == path else None
                if pos & 1:
                    compact = ODD_FLAG[k[pos]] + key[(pos + 1) >> 1 :]
                else:
                    compact = b"\x00" + key[pos >> 1 :]
                return payload if children == compact else None
            else:
                path = path or expand_path(children)
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
    p = nibbles(prefix)
    if root == EMPTY_ROOT:
        return
    position = b""
    node_hash = root
    # Descend along the prefix to the node whose subtree holds exactly the matching keys.
    while len(position) < len(p):
        kind, path, payload, bitmap, children = _load(get_node, position, node_hash, cache)
        full = position + path
        if kind == BRANCH:
            node_hash = child_at(bitmap, children, p[len(position)])
            if not node_hash:
                return
            position += p[len(position) : len(position) + 1]
            continue
        assert payload is not None
        if kind == LEAF:
            if full.startswith(p):
                yield key_of(full), payload
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
        if kind == BRANCH:
            if payload is not None:
                yield key_of(position), payload
            for nibble in range(15, -1, -1):
                child_hash = child_at(bitmap, children, nibble)
                if child_hash:
                    stack.append((position + NIBBLE[nibble], child_hash))
            continue
        assert payload is not None
        if kind == LEAF:
            yield key_of(position + path), payload
        else:
            stack.append((position + path, payload))
