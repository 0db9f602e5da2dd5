"""The node serves its blob store over RPC: upload, proofs on download, refusals by code."""

from __future__ import annotations

import os

import pytest

from chain.client.blobs import download_blob, fetch_leaf, upload_file
from chain.client.rpc import RpcClientError
from chain.service.rpc import errors
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import dev_keypair
from runtime.workloads import CHUNK_BYTES
from tests.chain.conftest import NodeProcess


def test_a_file_uploaded_to_the_node_comes_back_whole_and_proven(dev_node: NodeProcess) -> None:
    data = os.urandom(3 * CHUNK_BYTES + 1234)
    with dev_node.client() as client:
        info = upload_file(client.rpc, data, signer=dev_keypair("Ferdie"))
        assert info.leaf_count == 4 and info.size == len(data)
        assert download_blob(client.rpc, info.root) == data
        assert fetch_leaf(client.rpc, info.root, 3) == data[3 * CHUNK_BYTES :]
        answer = client.rpc.call("blob_info", to_hex(info.root))
        assert answer["leafCount"] == 4 and answer["size"] == len(data)


def test_unknown_blobs_and_uploads_are_refused_with_the_blob_code(dev_node: NodeProcess) -> None:
    with dev_node.client() as client:
        with pytest.raises(RpcClientError) as caught:
            client.rpc.call("blob_get", "0x" + "ab" * 32, 0)
        assert caught.value.code == errors.BLOB_ERROR
        with pytest.raises(RpcClientError) as caught:
            client.rpc.call("blob_put", "no-such-upload", 0, ["0x00"])
        assert caught.value.code == errors.BLOB_ERROR and "no-such-upload" in caught.value.message
        assert client.rpc.call("system_health")["isSyncing"] is False
