"""Merkle read proofs: the nodes that prove some keys' values, and checking them against a root."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from runtime.primitives.codec import CodecError, decode_raw
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.trie.cache import NodeCache
from runtime.primitives.trie.nodes import (
    BRANCH,
    EMPTY_ROOT,
    LEAF,
    MalformedNode,
    Node,
    NodeGetter,
    TrieError,
    child_at,
    decode_cached,
    decode_stored,
    nibbles,
    read_node,
    shape_of,
)


class InvalidProof(TrieError):
    """A proof that does not establish the requested keys under the given root."""


def _decode_proof(data: bytes, node_hash: bytes) -> Node:
    try:
        return shape_of(decode_raw(data))
    except MalformedNode as exc:
        raise InvalidProof(f"proof node {node_hash.hex()} is malformed: {exc}") from None
    except CodecError as exc:
        raise InvalidProof(f"proof node {node_hash.hex()} does not decode: {exc}") from exc


def _lookup(
    fetch: Callable[[bytes, bytes], Node], root: bytes, key: bytes, error: type[TrieError]
) -> bytes | None:
    """Follow the nibble `key` down from `root`: its value, or None where the trie shows none.

    `fetch(position, hash)` supplies each node on the way.
    """
    pos = 0
    node_hash = root
    after_ext = False
    while True:
        kind, path, payload, bitmap, children = fetch(key[:pos], node_hash)
        if kind == BRANCH:
            if pos == len(key):
                return payload
            node_hash = child_at(bitmap, children, key[pos])
            if not node_hash:
                return None
            pos += 1
            after_ext = False
        elif after_ext:
            raise error(f"node {node_hash.hex()} follows an extension but is not a branch")
        elif kind == LEAF:
            return payload if key[pos:] == path else None
        else:
            if not key.startswith(path, pos):
                return None
            assert payload is not None
            node_hash = payload
            pos += len(path)
            after_ext = True


def read_proof(
    get_node: NodeGetter, root: bytes, keys: Iterable[bytes], cache: NodeCache | None = None
) -> list[bytes]:
    """Encoded nodes proving the value or absence of each key, deduplicated.

    The order is deterministic: that of first visit, walking the keys in sorted order from the root.
    With a `cache`, nodes are read through it (an entry is the very bytes the store holds under
    its key), and it gains the nodes read.
    """
    nibble_keys = sorted({nibbles(key) for key in keys})
    if root == EMPTY_ROOT:
        return []
    proof: dict[bytes, bytes] = {}
    decoded: dict[bytes, Node] = {}

    def fetch(position: bytes, node_hash: bytes) -> Node:
        nk = position + node_hash
        node = decoded.get(nk)
        if node is None:
            data = None if cache is None else cache._nodes.get(nk)
            if data is None:
                data = read_node(get_node, nk)
                node = decode_stored(data, nk)
                if cache is not None:
                    cache._nodes[nk] = data
            else:
                node = decode_cached(data)
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
    decoded: dict[bytes, Node] = {}

    def fetch(position: bytes, node_hash: bytes) -> Node:
        node = decoded.get(node_hash)
        if node is None:
            data = by_hash.get(node_hash)
            if data is None:
                raise InvalidProof(f"proof lacks node {node_hash.hex()}")
            node = decoded[node_hash] = _decode_proof(data, node_hash)
        return node

    result: dict[bytes, bytes | None] = {}
    for key in keys:
        k = nibbles(key)
        result[key] = None if root == EMPTY_ROOT else _lookup(fetch, root, k, InvalidProof)
    unused = by_hash.keys() - decoded.keys()
    if unused:
        raise InvalidProof(f"{len(unused)} proof node(s) not needed, e.g. {min(unused).hex()}")
    return result
