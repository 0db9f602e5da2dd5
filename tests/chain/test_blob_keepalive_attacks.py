"""Uploads kept alive by pings, against a real `xpl node` process: they used to hold every upload
slot (honest uploads refused as busy for as long as the pings went on) and pin a stored blob
past its retention. Now an empty upload is refused, a ping is not progress, an upload past its
deadline gives way, and an upload in progress pins nothing."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TYPE_CHECKING

import pytest

from chain.client.blob_info import BlobInfo
from chain.client.blobs import begin_upload, upload_blob, upload_file
from chain.client.rpc import RpcClientError
from chain.storage.blob_uploads import MAX_ACCOUNT_UPLOADS, MAX_UPLOADS, STALL_GRACE_MS
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import dev_keypair

if TYPE_CHECKING:
    from tests.chain.conftest import NodeFactory, NodeProcess

ATTACKERS = [dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave")]
PINNER = dev_keypair("Eve")
HONEST = dev_keypair("Ferdie")
RETENTION_S = 3
SWEEP_S = 10


@pytest.fixture(scope="module")
def node(module_node_factory: NodeFactory) -> NodeProcess:
    return module_node_factory.start(args=("--dev", "--blob-retention", str(RETENTION_S)))


def tiny_upload(client: object, signer: object, root: bytes) -> str:
    """An upload of one 1-byte leaf under any root, that the attacker keeps pinging."""
    return begin_upload(client.rpc, signer, BlobInfo(root, 1, 1), busy_wait_s=0)  # type: ignore[attr-defined]


class KeepAlive:
    """Sends one empty leaf to each upload every `period_s`, in a thread."""

    def __init__(self, node: NodeProcess, ids: list[str], period_s: float) -> None:
        self.node, self.ids, self.period_s = node, ids, period_s
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.node.client() as client:
            while not self._stop.wait(self.period_s):
                for upload_id in self.ids:
                    with contextlib.suppress(RpcClientError):  # dropped once it gave way
                        client.rpc.call("blob_put", upload_id, 0, ["0x"])
                    self.requests += 1

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_an_upload_in_progress_no_longer_pins_a_stored_blob(node: NodeProcess) -> None:
    """Eve uploads a blob and begins a 1-byte upload declaring its root, pinged every 5 s: the
    blob used to stay for good; now it goes after its retention like any other, and an empty
    upload is refused outright."""
    with node.client(timeout=30.0) as client:
        with pytest.raises(RpcClientError) as caught:
            begin_upload(client.rpc, PINNER, BlobInfo(bytes(32), 1, 0), busy_wait_s=0)
        assert caught.value.data == {"kind": "invalid"}
        pinned = upload_file(client.rpc, os.urandom(100_000), signer=PINNER)
        pin = tiny_upload(client, PINNER, pinned.root)
        deadline = time.monotonic() + RETENTION_S + 3 * SWEEP_S
        with KeepAlive(node, [pin], 5.0):
            while client.rpc.call("blob_info", to_hex(pinned.root)) is not None:
                assert time.monotonic() < deadline, "the pinned blob outlived its retention"
                time.sleep(0.5)
        client.rpc.call("blob_abort", pin)


def test_pinged_tiny_uploads_give_way_to_an_honest_upload(node: NodeProcess) -> None:
    """Sixteen 1-byte uploads from four dev accounts, pinged every 2 s with an empty leaf: the
    honest upload used to be refused as busy after 45 s of retries; now it gets in once they
    pass their deadline (the grace), at the client's first retries."""
    with node.client(timeout=30.0) as client:
        ids = [
            tiny_upload(client, attacker, bytes([k, i]) + bytes(30))
            for k, attacker in enumerate(ATTACKERS)
            for i in range(MAX_ACCOUNT_UPLOADS)
        ]
        assert len(ids) == MAX_UPLOADS
        started = time.monotonic()
        with KeepAlive(node, ids, 2.0):
            info = upload_blob(client.rpc, [b"honest job input"], signer=HONEST, busy_wait_s=45.0)
            waited = time.monotonic() - started
            health = client.rpc.call("system_health")
        assert client.rpc.call("blob_info", to_hex(info.root)) is not None
        assert waited < STALL_GRACE_MS / 1000 + 10  # the grace, a retry, slack (was: never)
        assert health["isSyncing"] is False
        for upload_id in ids:
            client.rpc.call("blob_abort", upload_id)
