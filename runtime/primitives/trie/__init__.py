"""The state trie: a hexary Merkle Patricia trie whose root every block header carries.

Keys and values are byte strings; a key may be a prefix of another key. A key is walked as its
nibbles, high nibble of each byte first. The package is pure: it reads nodes through a
`NodeGetter` and returns what a change set inserts and deletes, leaving storage to the caller.

    commit(get_node, root, changes, cache=) -> TrieCommit   sets (bytes) and deletions (None)
    root_of(items) -> bytes                                 the root of exactly `items`
    get(get_node, root, key, cache=) -> bytes | None
    iter_prefix(get_node, root, prefix, cache=)             (key, value) pairs in key order
    read_proof(get_node, root, keys, cache=) -> [bytes]     the encoded nodes that prove `keys`
    verify_proof(root, proof, keys) -> {key: value|None}    or InvalidProof
    NodeCache(max_entries=), MemoryNodeStore(), node_key(path, hash), EMPTY_ROOT, TrieError

Modules: `nodes` (nibble paths, node keys, the node kinds and their decoding), `cache` (the
`NodeCache`), `writing` (the commit walk: the hot path of block import), `reading`, `proofs`,
`memory` (a dict as a node store).

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

A `NodeCache` may be passed to `commit` and the reads: it keeps nodes by node key across calls,
so that successive commits (which touch mostly the same upper nodes, and the nodes the previous
commit wrote) skip the store and the checks of a node read from it. Since a node key names its
node's encoding, an entry is right for every state, fork and store that reads that key; the cache
changes no result, only the time taken.
"""

from runtime.primitives.trie.cache import NodeCache
from runtime.primitives.trie.memory import MemoryNodeStore
from runtime.primitives.trie.nodes import EMPTY_ROOT, NodeGetter, TrieError, node_key
from runtime.primitives.trie.proofs import InvalidProof, read_proof, verify_proof
from runtime.primitives.trie.reading import get, iter_prefix
from runtime.primitives.trie.writing import TrieCommit, commit, root_of

__all__ = [
    "EMPTY_ROOT",
    "InvalidProof",
    "MemoryNodeStore",
    "NodeCache",
    "NodeGetter",
    "TrieCommit",
    "TrieError",
    "commit",
    "get",
    "iter_prefix",
    "node_key",
    "read_proof",
    "root_of",
    "verify_proof",
]
