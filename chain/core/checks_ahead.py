"""The next block's signature checks, handed to the verification workers while this block imports.

A node importing a run of blocks (a sync range) with verification workers hands each block's
signatures to them and waits for the answers before it stores the block. While it checks the
extrinsics root, decodes the next block and stores this one, the workers would have nothing to
do; with `next_block`, the import submits the next block's checks right behind this block's, so
that they run then. The next block's import uses them only if its body and the triples it
computes are exactly those (`runtime.executive.CheckedAhead`): a guess here (a birth hash read
from the best chain, an authority set one block old) can only cost the checks, never decide
anything.

What the workers may spend on a block before it is imported, and why a stranger cannot make them
spend it: only on a block whose body matches its header's extrinsics root and whose header an
authority of the set in force sealed; each import drops what the one before submitted if it is
not for it.
"""

from __future__ import annotations

from typing import Final

from chain.core.importer import consensus_params
from chain.storage.chain_store import ChainStore, ChainStoreError
from runtime.block import Block, extrinsics_root
from runtime.executive import CheckedAhead, SignatureVerifier
from runtime.primitives.codec import DecodeError
from runtime.transaction import DecodedTransactions, signing_messages

MIN_AHEAD: Final = 64
"""Fewer transactions than this are not checked ahead: the verifier would check them in-process
anyway (`chain.service.signature_pool.MIN_PARALLEL`)."""


def check_ahead(
    store: ChainStore,
    block: Block,
    parent: Block,
    verifier: SignatureVerifier,
    decoded: DecodedTransactions,
) -> CheckedAhead | None:
    """Decode `block` and submit its signature checks, while `parent` (its parent, being imported
    now) is imported; None where that is not worth it or not safe to do (see the module)."""
    header = block.header
    if header.parent_hash != parent.hash or header.number != parent.header.number + 1:
        return None
    extrinsics = tuple(block.extrinsics)
    if len(extrinsics) < MIN_AHEAD or any(type(raw) is not bytes for raw in extrinsics):
        return None
    root = extrinsics_root(extrinsics)
    if root != header.extrinsics_root:
        return None
    try:  # the authorities `parent` was checked against: a session changes them rarely
        authorities = consensus_params(store, parent.header.parent_hash).authorities.keys
    except ChainStoreError:
        return None
    if header.digest.author not in authorities or not header.seal_is_valid():
        return None
    try:
        txs = decoded.decode_all(extrinsics)
    except DecodeError:
        return None
    births = []
    for tx in txs:
        mortality = tx.body.mortality
        if mortality.immortal:
            births.append(store.genesis_hash)
        elif mortality.birth == header.number - 1:
            births.append(header.parent_hash)
        else:
            born = store.hash_at(mortality.birth)  # the best chain's: a guess the import checks
            if born is None:
                return None
            births.append(born)
    bodies = [tx.body_bytes for tx in txs]
    messages = signing_messages(store.genesis_hash, zip(births, bodies, strict=True))
    items = [(tx.signer, m, tx.signature) for tx, m in zip(txs, messages, strict=True)]
    return CheckedAhead(
        extrinsics,
        root,
        txs,
        items,
        verifier.submit(items),
        births=births,
        genesis_hash=store.genesis_hash,
    )
