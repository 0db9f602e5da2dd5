"""Answers to peers' sync requests, read from the chain store."""

from __future__ import annotations

from chain.core.boundary import ChainStoreReads
from chain.core.messages import SYNC_RESPONSE_BYTES, BlockRequest, SyncedBlock


def serve_blocks(store: ChainStoreReads, request: BlockRequest) -> list[SyncedBlock]:
    """The blocks a sync request asks for, as far as this node has them.

    By number: the best chain's blocks from `start`, up or down. By hash: that block, then its
    ancestors (descending) or the best chain's blocks after it (ascending, if it is on the best
    chain). Stops at `max_blocks`, at the end of what is known, or past SYNC_RESPONSE_BYTES.
    """
    out: list[SyncedBlock] = []
    size = 0

    def add(block_hash: bytes) -> bool:
        nonlocal size
        header = store.header(block_hash)
        if header is None:
            return False
        body = store.body(block_hash) if request.bodies else None
        justification = store.justification(block_hash)
        out.append(SyncedBlock(header, body, justification))
        size += 300 + sum(len(x) + 5 for x in body or ()) + len(justification or b"")
        return len(out) < request.max_blocks and size < SYNC_RESPONSE_BYTES

    if isinstance(request.start, bytes):
        header = store.header(request.start)
        if header is None:
            return out
        if request.descending:
            block_hash = header.hash
            while add(block_hash):
                current = store.require_header(block_hash)
                if current.number == 0:
                    break
                block_hash = current.parent_hash
            return out
        if store.hash_at(header.number) != header.hash:
            add(header.hash)
            return out
        number = header.number
    else:
        number = request.start
    step = -1 if request.descending else 1
    while number >= 0:
        canonical = store.hash_at(number)
        if canonical is None or not add(canonical):
            break
        number += step
    return out
