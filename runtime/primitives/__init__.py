"""What the runtime builds on: codec, hashing, keys, addresses, amounts, Merkle tree, state trie."""
