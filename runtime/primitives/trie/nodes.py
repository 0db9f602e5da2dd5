"""Nibble paths, node keys and the node kinds: encoding paths and decoding stored nodes.

Nibble paths are `bytes` with one nibble per byte, so that splitting, comparing and slicing paths,
and forming node keys, run in C rather than as per-nibble Python objects. The encoding is set out
in the package's docstring.
"""

from __future__ import annotations

from binascii import hexlify, unhexlify
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import msgpack

from runtime.primitives.codec import encode
from runtime.primitives.hashing import HASH_LEN, blake2b_256

EMPTY_ROOT: Final = blake2b_256(encode(None))

NodeGetter: TypeAlias = Callable[[bytes], bytes | None]
"""Reads an encoded node by its node key; None when the store does not hold it."""

LEAF: Final = 0
EXT: Final = 1
BRANCH: Final = 2

ASCII_TO_NIBBLE: Final = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_NIBBLE_TO_ASCII: Final = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")
NIBBLE: Final = [bytes((i,)) for i in range(16)]
# The first byte of the compact form of an odd-length path starting with nibble i.
ODD_FLAG: Final = [bytes((0x10 | i,)) for i in range(16)]

Node: TypeAlias = tuple[int, bytes, bytes | None, int, bytes]
"""A decoded node, or a step result of the commit walk: (kind, path, payload, bitmap, children).

leaf (0, path, value, 0, compact), extension (1, path, child hash, 0, compact), branch (2, b"",
value or None, bitmap, child hashes), where `compact` is the path's compact form (in a step
result it may be b"": not known yet); results only: unchanged (3, ...), stored branch (4, b"",
hash, 0, b""). Paths are nibbles relative to the node's position.
"""

_unpackb: Final = msgpack.unpackb


class TrieError(Exception):
    """The trie cannot be read: a node is missing from the store or does not decode."""


# --- Paths and node keys ---------------------------------------------------------------------


def node_key(path: bytes, node_hash: bytes) -> bytes:
    """The storage key of the node with `node_hash` at nibble `path` (one nibble per byte)."""
    if path and max(path) > 15:
        raise ValueError("node path must hold one nibble (0..15) per byte")
    if len(node_hash) != HASH_LEN:
        raise ValueError(f"node hash must be {HASH_LEN} bytes, got {len(node_hash)}")
    return path + node_hash


def nibbles(key: bytes) -> bytes:
    """The nibble path of a trie key."""
    if type(key) is not bytes:
        raise TypeError(f"trie keys are bytes, got {type(key).__name__}")
    return hexlify(key).translate(ASCII_TO_NIBBLE)


def key_of(path: bytes) -> bytes:
    """The trie key whose nibble path is `path`."""
    # Values sit only at whole bytes; a value at an odd nibble count means a corrupt trie.
    if len(path) % 2:
        raise TrieError(f"value at an odd nibble path 0x{path.hex()}: corrupt trie")
    return unhexlify(path.translate(_NIBBLE_TO_ASCII))


def compact_path(path: bytes) -> bytes:
    """The compact form of a nibble path, as nodes store it."""
    ascii_path = path.translate(_NIBBLE_TO_ASCII)
    return unhexlify(b"1" + ascii_path if len(path) % 2 else b"00" + ascii_path)


class MalformedNode(Exception):
    """Why some decoded value is not a trie node; the caller names the node and re-raises."""


def expand_path(data: bytes) -> bytes:
    """The nibble path of a compact path (inverse of `compact_path`); only flags 0x00 and 0x1n."""
    if not data:
        raise MalformedNode("empty compact path")
    flag = data[0]
    if flag == 0:
        return hexlify(data)[2:].translate(ASCII_TO_NIBBLE)
    if flag >> 4 == 1:
        return hexlify(data)[1:].translate(ASCII_TO_NIBBLE)
    raise MalformedNode(f"compact path starts with flag byte 0x{flag:02x}")


def child_at(bitmap: int, children: bytes, nibble: int) -> bytes:
    """The hash of a branch's child at `nibble`, or b"" if there is none."""
    bit = 1 << nibble
    if not bitmap & bit:
        return b""
    offset = (bitmap & (bit - 1)).bit_count() * HASH_LEN
    return children[offset : offset + HASH_LEN]


# --- Decoding ----------------------------------------------------------------------------------


def shape_of(value: Any) -> Node:
    """Check a decoded node's fields and canonical-form rules; return it as a `Node`."""
    if type(value) is not list:
        raise MalformedNode("not a trie node")
    if len(value) == 4:
        kind, bitmap, children, branch_value = value
        if type(kind) is int and kind == BRANCH:
            if type(bitmap) is not int or not 0 < bitmap < 1 << 16:
                raise MalformedNode("branch bitmap is not a non-zero 16-bit integer")
            if type(children) is not bytes or len(children) != bitmap.bit_count() * HASH_LEN:
                raise MalformedNode("branch child hashes do not match its bitmap")
            if branch_value is None:
                if bitmap & (bitmap - 1) == 0:
                    raise MalformedNode("branch with one child and no value")
            elif type(branch_value) is not bytes:
                raise MalformedNode("branch value is neither bytes nor nil")
            return (BRANCH, b"", branch_value, bitmap, children)
    elif len(value) == 3:
        kind, compact, payload = value
        if type(kind) is int and kind in (LEAF, EXT):
            if type(compact) is not bytes or type(payload) is not bytes:
                raise MalformedNode("leaf or extension fields must be bytes")
            path = expand_path(compact)
            if kind == EXT and (not path or len(payload) != HASH_LEN):
                raise MalformedNode(f"extension needs a path and a {HASH_LEN}-byte child hash")
            return (kind, path, payload, 0, compact)
    raise MalformedNode("not a trie node")


def decode_stored(data: bytes, nk: bytes) -> Node:
    """Decode a node read from the store under node key `nk`."""
    # Store nodes were written by this module, so the canonical re-encoding check of
    # `codec.decode_raw`, which doubles the cost, is kept for proof nodes; shapes are checked.
    try:
        value = _unpackb(data)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise TrieError(f"trie node {nk.hex()} does not decode: {exc}") from exc
    # The checks of `shape_of`, inlined for the well-formed nodes of the hot path; anything they do
    # not accept goes to `shape_of`, which accepts nothing more and names what is wrong.
    if type(value) is list:
        if len(value) == 4:
            kind, bitmap, children, branch_value = value
            if (
                type(kind) is int
                and kind == BRANCH
                and type(bitmap) is int
                and 0 < bitmap < 0x10000
                and type(children) is bytes
                and len(children) == bitmap.bit_count() * HASH_LEN
                and (
                    type(branch_value) is bytes
                    or (branch_value is None and bitmap & (bitmap - 1) != 0)
                )
            ):
                return (BRANCH, b"", branch_value, bitmap, children)
        elif len(value) == 3:
            kind, compact, payload = value
            if type(kind) is int and type(compact) is bytes and compact and type(payload) is bytes:
                flag = compact[0]
                if flag == 0:
                    path = hexlify(compact)[2:].translate(ASCII_TO_NIBBLE)
                    if kind == LEAF:
                        return (LEAF, path, payload, 0, compact)
                    if kind == EXT and path and len(payload) == HASH_LEN:
                        return (EXT, path, payload, 0, compact)
                elif flag >> 4 == 1:
                    path = hexlify(compact)[1:].translate(ASCII_TO_NIBBLE)
                    if kind == LEAF:
                        return (LEAF, path, payload, 0, compact)
                    if kind == EXT and len(payload) == HASH_LEN:
                        return (EXT, path, payload, 0, compact)
    try:
        return shape_of(value)
    except MalformedNode as exc:
        raise TrieError(f"trie node {nk.hex()} is malformed: {exc}") from None


def decode_cached(data: bytes) -> Node:
    """Decode a node from a `NodeCache`, whose entries were checked (or built) on the way in."""
    value = _unpackb(data)
    if len(value) == 4:
        return (BRANCH, b"", value[3], value[1], value[2])
    kind, compact, payload = value
    # The compact flag byte is 0x00 (even path: skip two hex digits) or 0x1n (odd: skip one).
    path = hexlify(compact)[2 - (compact[0] >> 4) :].translate(ASCII_TO_NIBBLE)
    return (kind, path, payload, 0, compact)


def missing_node(nk: bytes) -> TrieError:
    """The error for a node key the store does not hold."""
    return TrieError(f"trie node {nk.hex()} is missing from the store (state pruned or corrupt)")


def read_node(get_node: NodeGetter, nk: bytes) -> bytes:
    """The encoded node under `nk`; TrieError if the store does not hold it."""
    data = get_node(nk)
    if data is None:
        raise missing_node(nk)
    return data
