"""What the node keeps on disk.

    kv            KeyValueStore: atomic write batches and prefix iteration; LevelDBStore (plyvel)
                  on disk, MemoryStore in tests and the simulator; StoreWriteFailed for a
                  failed write, and `LevelDBStore.reopen` to clear LevelDB's error after one
    chain_store   ChainStore on a key-value store: blocks, the canonical index, justifications,
                  the states (kept and pruned the way Substrate's state-db does) and the voter's
                  state; every change one atomic write

    blobs         BlobStore: job inputs and results by Merkle root, in 64 KiB chunks, sharing the
                  same key-value store under its own prefixes

This package imports `runtime`, the client SDK's blob types, plyvel and the standard library.
"""
