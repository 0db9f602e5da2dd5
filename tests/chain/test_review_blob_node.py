"""Blob attacks that the upload rules do not yet stop, against a real `xpl node` process: empty
uploads kept alive by one tiny request every few seconds hold every upload slot, and pin a
stored blob past its retention. Each test asserts what the attacker achieves."""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

import pytest

from chain.client.blob_info import BlobInfo
from chain.client.blobs import begin_upload, upload_blob, upload_file
from chain.client.rpc import RpcClientError
from chain.storage.blob_uploads import MAX_ACCOUNT_UPLOADS, MAX_UPLOADS, STALL_IDLE_MS
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


def empty_upload(client: object, signer: object, root: bytes) -> str:
    """An upload of one empty leaf under any root: it is never behind the minimum rate."""
    return begin_upload(client.rpc, signer, BlobInfo(root, 1, 0), busy_wait_s=0)  # type: ignore[attr-defined]


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
                    client.rpc.call("blob_put", upload_id, 0, ["0x"])
                    self.requests += 1

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_an_empty_upload_pins_a_stored_blob_past_its_retention(node: NodeProcess) -> None:
    """Eve uploads two blobs and begins an empty upload that declares the first one's root; after
    several retention periods and sweeps the unpinned blob is gone, the pinned one stays."""
    with node.client(timeout=30.0) as client:
        pinned = upload_file(client.rpc, os.urandom(100_000), signer=PINNER)
        unpinned = upload_file(client.rpc, os.urandom(100_000), signer=PINNER)
        pin = empty_upload(client, PINNER, pinned.root)
        with KeepAlive(node, [pin], 5.0):
            time.sleep(RETENTION_S + 3 * SWEEP_S)
        assert client.rpc.call("blob_info", to_hex(unpinned.root)) is None  # swept
        assert client.rpc.call("blob_info", to_hex(pinned.root)) is not None  # kept
        assert client.rpc.call("blob_abort", pin) is True


def test_four_funded_accounts_hold_every_upload_slot_with_empty_uploads(node: NodeProcess) -> None:
    """Sixteen empty uploads from four dev accounts, one empty put each every 10 s: the honest
    upload is still refused as busy after 45 s of retries (past the 10 s grace and the 30 s idle
    stall), and none of the attacker's uploads was dropped."""
    with node.client(timeout=30.0) as client:
        ids = [
            empty_upload(client, attacker, bytes([k, i]) + bytes(30))
            for k, attacker in enumerate(ATTACKERS)
            for i in range(MAX_ACCOUNT_UPLOADS)
        ]
        assert len(ids) == MAX_UPLOADS
        started = time.monotonic()
        with KeepAlive(node, ids, 10.0) as keepalive:
            with pytest.raises(RpcClientError) as caught:
                upload_blob(client.rpc, [b"honest job input"], signer=HONEST, busy_wait_s=45.0)
            waited = time.monotonic() - started
            health = client.rpc.call("system_health")
        assert caught.value.data == {"kind": "busy"}
        assert waited > STALL_IDLE_MS / 1000 + 10
        assert health["isSyncing"] is False
        assert keepalive.requests <= 5 * MAX_UPLOADS  # ~1.6 requests per second, no data
        for upload_id in ids:  # every attacker upload still held
            assert client.rpc.call("blob_abort", upload_id) is True
