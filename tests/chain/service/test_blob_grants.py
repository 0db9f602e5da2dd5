"""Upload grants, in process against a dev chain: a funded account's fresh signed grant begins an
upload; an absent, malformed, forged, replayed, stale or unfunded one is refused by RPC with the
blob code and a kind that says why, and begins nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chain.client.blob_info import BlobInfo, UploadGrant, upload_message
from chain.client.blobs import grant_json
from chain.core.node import NodeCore
from chain.service.blob_grants import GRANT_BLOCKS, UPLOAD_MIN_BALANCE, UploadGate
from chain.service.rpc import errors
from chain.service.rpc.blob import add_blob_methods
from chain.service.rpc.errors import RpcError
from chain.service.rpc.registry import Method, RpcMethods
from chain.spec import dev_spec
from chain.storage.blobs import BlobStore
from chain.storage.kv import MemoryStore
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import merkle_root
from tests.chain.core.conftest import Chain, Helpers

ALICE = dev_keypair("Alice")
FERDIE = dev_keypair("Ferdie")
STRANGER = Keypair.from_seed(b"\x42" * 32)  # never funded
LEAVES = [b"job input"]
INFO = BlobInfo(merkle_root(LEAVES), 1, len(LEAVES[0]))


class Node:
    """A dev chain's core with a few blocks, and the blob methods over a store of its own."""

    def __init__(self, blocks: int) -> None:
        self.chain = Chain(dev_spec())
        self.core = NodeCore(self.chain.store(), authority=ALICE)
        for slot in range(1, blocks + 1):
            assert Helpers.authored(self.core.on_timer("slot", self.chain.at(slot))) is not None
        self.blobs = BlobStore(MemoryStore())
        self.gate = UploadGate(self.core.store)
        self.methods = RpcMethods()
        add_blob_methods(self.methods, self.blobs, lambda: 1_000, self.gate)

    def call(self, name: str, *params: Any) -> Any:
        entry = self.methods.lookup(name)
        assert isinstance(entry, Method)
        return entry.handler(list(params))

    def grant(
        self,
        signer: Keypair,
        *,
        at: bytes | None = None,
        nonce: bytes = b"\x01" * 16,
        info: BlobInfo = INFO,
    ) -> UploadGrant:
        store = self.core.store
        block = store.best_hash if at is None else at
        message = upload_message(
            store.genesis_hash, block, signer.public, nonce, info, node=self.gate.node_id
        )
        return UploadGrant(signer.public, block, nonce, signer.sign(message))

    def begin(self, grant: UploadGrant | dict[str, Any], info: BlobInfo = INFO) -> Any:
        body = grant_json(grant) if isinstance(grant, UploadGrant) else grant
        return self.call("blob_begin", info.leaf_count, info.size, to_hex(info.root), body)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    yield Node(blocks=GRANT_BLOCKS + 3)


def refused(node: Node, grant: UploadGrant | dict[str, Any], info: BlobInfo = INFO) -> RpcError:
    before = node.blobs.uploads_in_progress
    with pytest.raises(RpcError) as caught:
        node.begin(grant, info)
    assert node.blobs.uploads_in_progress == before  # nothing begun
    return caught.value


def test_a_funded_accounts_fresh_grant_begins_an_upload_that_finishes(node: Node) -> None:
    upload_id = node.begin(node.grant(FERDIE, nonce=b"\x10" * 16))
    node.call("blob_put", upload_id, 0, [to_hex(LEAVES[0])])
    assert node.call("blob_finish", upload_id)["root"] == to_hex(INFO.root)
    record = node.blobs.ledger.get(INFO.root)
    assert record is not None and record.owner == FERDIE.public


def test_a_replayed_grant_is_refused(node: Node) -> None:
    grant = node.grant(FERDIE, nonce=b"\x11" * 16)
    node.call("blob_abort", node.begin(grant))
    error = refused(node, grant)
    assert error.code == errors.BLOB_ERROR and error.data == {"kind": "replayed_grant"}
    assert "used already" in error.message


def test_a_forged_or_mismatched_signature_is_refused(node: Node) -> None:
    good = node.grant(FERDIE, nonce=b"\x12" * 16)
    forged = UploadGrant(FERDIE.public, good.block_hash, good.nonce, STRANGER.sign(b"x" * 32))
    assert refused(node, forged).data == {"kind": "bad_signature"}
    # A grant for one blob does not begin another (its size, count or root differ).
    other = BlobInfo(INFO.root, 1, INFO.size + 1)
    assert refused(node, good, other).data == {"kind": "bad_signature"}
    # Nor does it work in another account's name.
    stolen = UploadGrant(ALICE.public, good.block_hash, good.nonce, good.signature)
    assert refused(node, stolen).data == {"kind": "bad_signature"}


def test_an_unfunded_account_is_refused(node: Node) -> None:
    error = refused(node, node.grant(STRANGER, nonce=b"\x13" * 16))
    assert error.data == {"kind": "unfunded"}
    assert f"needs at least {UPLOAD_MIN_BALANCE}" in error.message


def test_a_stale_or_unknown_block_is_refused(node: Node) -> None:
    store = node.core.store
    old = store.hash_at(store.best_header.number - GRANT_BLOCKS - 1)
    assert old is not None
    error = refused(node, node.grant(FERDIE, at=old, nonce=b"\x14" * 16))
    assert error.data == {"kind": "stale_grant"} and "blocks below the best block" in error.message
    recent = store.hash_at(store.best_header.number - GRANT_BLOCKS)
    node.call("blob_abort", node.begin(node.grant(FERDIE, at=recent, nonce=b"\x15" * 16)))
    unknown = refused(node, node.grant(FERDIE, at=b"\x99" * 32, nonce=b"\x16" * 16))
    assert unknown.data == {"kind": "stale_grant"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([1, 9, to_hex(INFO.root)], "missing parameter 'grant'"),
        ([1, 9, to_hex(INFO.root), None], "grant: expected"),
        ([1, 9, to_hex(INFO.root), "0x00"], "grant: expected"),
        ([1, 9, to_hex(INFO.root), {"account": "x"}], "missing fields"),
        ([1, 9, "0x12", {}], "root"),
    ],
)
def test_an_absent_or_malformed_grant_is_invalid_params(
    node: Node, params: list[Any], message: str
) -> None:
    with pytest.raises(RpcError, match=message) as caught:
        node.call("blob_begin", *params)
    assert caught.value.code == errors.INVALID_PARAMS


def test_unknown_grant_fields_are_refused(node: Node) -> None:
    body = grant_json(node.grant(FERDIE, nonce=b"\x17" * 16)) | {"extra": 1}
    with pytest.raises(RpcError, match=r"unknown fields \['extra'\]") as caught:
        node.begin(body)
    assert caught.value.code == errors.INVALID_PARAMS


def test_one_account_begins_a_bounded_number_of_uploads_per_grant_window() -> None:
    small = Node(blocks=1)
    small.gate.max_recent_grants = 3
    for i in range(3):
        small.call("blob_abort", small.begin(small.grant(FERDIE, nonce=bytes([i]) * 16)))
    assert refused(small, small.grant(FERDIE, nonce=b"\x09" * 16)).data == {"kind": "account_limit"}
    small.call("blob_abort", small.begin(small.grant(ALICE, nonce=b"\x09" * 16)))
