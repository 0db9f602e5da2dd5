"""A model is uploaded once: the sweep keeps the weights of every live version however long no
job names them, and lets a retired version's weights go one retention period later."""

from __future__ import annotations

from dataclasses import dataclass

from chain.service.blob_retention import BlobRetention, referenced_roots
from chain.storage.blobs import BlobStore
from chain.storage.kv import MemoryStore
from runtime.pallets import models
from tests.runtime.pallets.market_helpers import market_chain
from tests.runtime.pallets.models.conftest import OWNER, WEIGHTS, publish

RETENTION = 60_000


@dataclass
class Header:
    hash: bytes


def test_live_weights_are_kept_and_retired_ones_go() -> None:
    blobs = BlobStore(MemoryStore(), retention_ms=RETENTION)
    live = blobs.store_leaves([WEIGHTS]).root
    old = blobs.store_leaves([WEIGHTS[::-1]]).root
    chain = market_chain()
    assert chain.call(OWNER, "models", "create_model", "digits").error is None
    assert publish(chain, version=1, root=old).error is None
    assert publish(chain, version=2, root=live).error is None
    assert chain.call(OWNER, "models", "retire_version", 1, 1).error is None

    class Store:
        def reader(self, _block_hash: bytes) -> object:
            return chain.read

    assert referenced_roots(Store(), b"", ()) == {live}  # type: ignore[arg-type]
    assert models.live_weights(chain.overlay()) == {live}
    now = [1_000]
    retention = BlobRetention(blobs, Store(), lambda: (), lambda: now[0])  # type: ignore[arg-type]
    retention.on_best_block(Header(b"1"))
    now[0] += 10 * RETENTION
    retention.on_best_block(Header(b"2"))
    assert blobs.info(live) is not None  # no job names it: the live version keeps it
    assert blobs.info(old) is None
