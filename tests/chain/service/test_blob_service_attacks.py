"""Attacks on the blob service, driven through the real code (the blob RPC methods over a dev
chain, the blob store, the peer fetch), each showing that the attacker no longer gets what it
did: empty or pinging uploads that held every slot, an upload in progress that pinned a stored
blob, `blob_info` filling the node from a stranger's peer, a peer's made-up leaf count or
oversized leaves, and an attacker's begin that dropped an honest slow upload.

Before these rules each attack paid: the slots stayed taken for hours (every honest try refused),
a pinned blob outlived ten retention periods off its owner's quota, one stranger filled the
node's whole limit, one `blob_info` sent 131,072 peer requests, 24 MiB were buffered for a blob
declared as 1 byte, and the attacker's 16th begin dropped the honest upload.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from chain.client.blob_info import BlobInfo, UploadGrant
from chain.client.blobs import grant_json
from chain.service.blob_grants import UploadGate
from chain.service.blob_protocol import BlobLeaf, decode_blob_request, encode_blob_leaf
from chain.service.blob_retention import SWEEP_INTERVAL_MS
from chain.service.network import BLOB_FETCH_CONCURRENCY, NodeNetwork
from chain.service.rpc.blob import add_blob_methods
from chain.service.rpc.errors import RpcError
from chain.service.rpc.registry import Method, RpcMethods
from chain.storage.blob_ledger import (
    BLOB_RETENTION_MS,
    MAX_SWEEP_EXAMINED,
    MIN_BLOB_CHARGE,
    BlobLedger,
    BlobRecord,
    charge_of,
)
from chain.storage.blob_uploads import MAX_UPLOADS, STALL_GRACE_MS
from chain.storage.blobs import (
    MAX_STORED_BLOBS,
    AccountLimit,
    BlobStore,
    QuotaExceeded,
    StorageFull,
    UploadsBusy,
)
from chain.storage.kv import MemoryStore, WriteBatch
from p2p.errors import FailureReason, RequestFailed
from runtime.primitives import merkle
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import merkle_root
from runtime.workloads import MAX_LEAVES
from tests.chain.service.test_blob_grants import Node

MIB = 1024 * 1024
ATTACKERS = [dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave")]
HONEST = dev_keypair("Ferdie")


class ClockedNode(Node):
    """The grant tests' dev node, with a clock the test moves."""

    def __init__(self, blocks: int, blobs: BlobStore | None = None) -> None:
        super().__init__(blocks)
        self.now_ms = 1_000
        if blobs is not None:
            self.blobs = blobs
        self.methods = RpcMethods()
        add_blob_methods(self.methods, self.blobs, lambda: self.now_ms, self.gate)
        self._nonce = 0

    def fresh(self, signer: Keypair, info: BlobInfo) -> UploadGrant:
        self._nonce += 1
        return self.grant(signer, nonce=self._nonce.to_bytes(16, "big"), info=info)


def _upload(blobs: BlobStore, account: bytes, leaves: list[bytes], now_ms: int) -> bytes:
    root = merkle_root(leaves)
    upload_id = blobs.begin(
        len(leaves), sum(map(len, leaves)), account=account, root=root, now_ms=now_ms
    )
    blobs.put(upload_id, 0, leaves, now_ms=now_ms)
    return blobs.finish(upload_id, now_ms=now_ms).root


# ---------------------------------------------------------------------------------------------
# Upload slots


def test_empty_uploads_are_refused_and_pinged_tiny_ones_give_way_at_their_deadline() -> None:
    """The lockout by sixteen uploads declared as 0 bytes, kept alive by an empty put every 29 s
    (every honest try refused for 3 hours): a size of 0 is now refused, and 1-byte uploads kept
    'alive' by empty puts are past their deadline after the grace, so the honest upload gets in
    at its first try after it. The attacker's gain (honest time locked out) is bounded by the
    grace, whatever it sends."""
    node = ClockedNode(blocks=2)
    empty = BlobInfo(b"\x01" * 32, 1, 0)
    with pytest.raises(RpcError) as caught:
        node.begin(node.fresh(ATTACKERS[0], empty), empty)
    assert caught.value.data == {"kind": "invalid"}
    ids: list[str] = []
    for k, attacker in enumerate(ATTACKERS):
        for i in range(4):
            info = BlobInfo(bytes([k * 4 + i + 1]) * 32, 1, 1)
            ids.append(node.begin(node.fresh(attacker, info), info))
    assert node.blobs.uploads_in_progress == MAX_UPLOADS
    honest = BlobInfo(merkle_root([b"honest input"]), 1, 12)
    locked_out_ms = 0
    while True:
        node.now_ms += 1_000
        for upload_id in ids:  # pings: refused or empty requests are no progress
            node.call("blob_put", upload_id, 0, ["0x"])
        try:
            node.begin(node.fresh(HONEST, honest), honest)
            break
        except RpcError as exc:
            assert exc.data == {"kind": "busy"}
            locked_out_ms += 1_000
        assert locked_out_ms < 3 * 3600 * 1000  # the old outcome: locked out for hours
    assert locked_out_ms <= STALL_GRACE_MS
    assert node.blobs.uploads.dropped_stalled == 1


def test_an_attacker_holding_slots_cannot_drop_an_honest_upload_at_half_a_mib_per_s() -> None:
    """An honest 64 MiB upload at 0.5 MiB/s while the attacker holds the other 15 slots with
    tiny uploads: the attacker's 16th begin used to drop the honest upload (the only one behind
    the 1 MiB/s rate). Now an account with uploads in progress evicts no one, and 0.5 MiB/s is
    far above the 64 KiB/s minimum: the honest upload finishes."""
    blobs = BlobStore(MemoryStore())
    honest = HONEST.public
    leaf = b"\x01" * MIB
    leaves = [leaf] * 64
    upload_id = blobs.begin(64, 64 * MIB, account=honest, root=merkle_root(leaves), now_ms=0)
    attackers = [a.public for a in ATTACKERS]
    taken = [
        blobs.begin(1, 1, account=attackers[k // 4], root=bytes([k + 1]) * 32, now_ms=0)
        for k in range(MAX_UPLOADS - 1)
    ]
    refused = 0
    for index in range(64):  # 0.5 MiB/s: one 1 MiB leaf every 2 s
        now = (index + 1) * 2_000
        blobs.put(upload_id, index, [leaf], now_ms=now)
        with pytest.raises((UploadsBusy, AccountLimit)):
            blobs.begin(1, 1, account=attackers[3], root=b"\xee" * 32, now_ms=now)
        refused += 1
    assert blobs.finish(upload_id, now_ms=130_000).size == 64 * MIB
    assert blobs.uploads.dropped_stalled == 0 and refused == 64
    assert len(taken) == MAX_UPLOADS - 1


def test_an_upload_in_progress_no_longer_pins_a_stored_blob() -> None:
    """A 1-byte upload declaring a stored blob's root, kept alive by puts, used to bind that blob
    (never deleted, off its owner's quota): one account stored 4x its quota for good. Now the
    blob stays on the quota and goes after one retention period like any other."""
    quota = 4 * MIB
    retention = 60_000
    blobs = BlobStore(
        MemoryStore(), account_quota_bytes=quota, max_stored_bytes=64 * MIB, retention_ms=retention
    )
    attacker = ATTACKERS[0].public
    now = 1_000
    root = _upload(blobs, attacker, [b"\x00" * (quota - 16384)], now)
    pin = blobs.begin(1, 1, account=attacker, root=root, now_ms=now)
    blobs.sweep(now, [])
    assert blobs.ledger.unbound_bytes_of(attacker) > quota - 16384  # still on its quota
    for _ in range(retention // 29_000 + 2):
        now += 29_000
        blobs.put(pin, 0, [b""], now_ms=now)
        blobs.sweep(now, [])
    assert root not in blobs.ledger  # gone after one retention period


# ---------------------------------------------------------------------------------------------
# Peer fetch


class FakePeers:
    """The `p2p.Network` a NodeNetwork asks: one peer that serves `serve(root, index)`."""

    def __init__(self, serve: Any) -> None:
        self.serve = serve
        self.requests = 0
        self.served_bytes = 0

    def peers(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(peer="attacker")]

    async def request(self, peer: str, protocol: str, data: bytes) -> bytes:
        self.requests += 1
        root, index = decode_blob_request(data)
        answer = self.serve(root, index)
        if answer is None:
            raise RequestFailed(peer, protocol, FailureReason.REFUSED, "not held")
        self.served_bytes += len(answer)
        return bytes(answer)

    def report(self, peer: str, cost: int, reason: str) -> None:
        pass


def fetcher(blobs: BlobStore, peers: FakePeers) -> NodeNetwork:
    network = object.__new__(NodeNetwork)
    network.service = SimpleNamespace(blobs=blobs)  # type: ignore[assignment]
    network.network = peers  # type: ignore[assignment]
    network._fetching = {}
    network._fetching_bytes = 0
    network.fetched_roots = set()
    return network


def rpc_over(blobs: BlobStore, network: NodeNetwork) -> RpcMethods:
    methods = RpcMethods()
    gate = UploadGate(None)  # type: ignore[arg-type]
    add_blob_methods(methods, blobs, lambda: 1_000, gate, network.fetch_blob_leaf)
    return methods


def call_async(methods: RpcMethods, name: str, *params: Any) -> Any:
    entry = methods.lookup(name)
    assert isinstance(entry, Method)
    return trio.run(entry.handler, list(params))


def real_blob_server(blobs_by_root: dict[bytes, list[bytes]]) -> Any:
    def serve(root: bytes, index: int) -> bytes | None:
        leaves = blobs_by_root.get(root)
        if leaves is None or index >= len(leaves):
            return None
        proof = tuple(merkle.merkle_proof(leaves, index))
        return encode_blob_leaf(BlobLeaf(leaves[index], proof, len(leaves), sum(map(len, leaves))))

    return serve


def test_blob_info_of_a_strangers_blobs_stores_nothing() -> None:
    """A stranger whose own node is a peer used to fill the node's whole `--blob-max-bytes`
    through `blob_info` (no account charged), and honest uploads were refused as storage_full.
    Now blobs read for RPC readers are served leaf by leaf from peers and never stored."""
    limit = 16 * MIB
    blobs = BlobStore(MemoryStore(), max_stored_bytes=limit, account_quota_bytes=4 * MIB)
    served = {}
    for k in range(40):
        leaves = [bytes([k, 0]) * (256 * 1024), bytes([k, 1]) * 10]
        served[merkle_root(leaves)] = leaves
    peers = FakePeers(real_blob_server(served))
    methods = rpc_over(blobs, fetcher(blobs, peers))
    for root, leaves in served.items():
        info = call_async(methods, "blob_info", to_hex(root))
        assert info == {"root": to_hex(root), "leafCount": 2, "size": sum(map(len, leaves))}
        got = call_async(methods, "blob_get", to_hex(root), 1)
        assert got["leaf"] == to_hex(leaves[1])
    assert blobs.stored_bytes == 0 and len(blobs.ledger) == 0  # the node's disk untouched
    _upload(blobs, HONEST.public, [b"\x05" * MIB], 1_000)  # honest uploads still fit


def _fake_first_leaf(leaf: bytes, leaf_count: int) -> tuple[bytes, tuple[bytes, ...]]:
    """A root and a proof that `leaf` is leaf 0 of `leaf_count` leaves: a peer makes these up
    with one hash per level, whatever the count."""
    acc, proof = merkle.leaf_hash(leaf), []
    pos, width = 0, leaf_count
    while width > 1:
        if pos ^ 1 < width:
            sibling = bytes(32)
            proof.append(sibling)
            acc = merkle.node_hash(acc, sibling)
        pos //= 2
        width = (width + 1) // 2
    return merkle.bind_count(acc, leaf_count), tuple(proof)


@pytest.mark.parametrize("count", [2**32 - 1, 2 * MAX_LEAVES])
def test_a_peers_made_up_leaf_count_is_refused_after_one_request(count: int) -> None:
    """A leaf count over MAX_LEAVES with a made-up proof used to be trusted: 2 x MAX_LEAVES
    cost the node 131,072 peer requests for one `blob_info` (2**32 - 1 a 32 GiB list). Now the
    shape is checked first: one request, nothing allocated, nothing answered."""
    root, proof = _fake_first_leaf(b"x", count)
    first = encode_blob_leaf(BlobLeaf(b"x", proof, count, 1))
    peers = FakePeers(lambda r, i: first if i == 0 else None)
    blobs = BlobStore(MemoryStore())
    network = fetcher(blobs, peers)
    assert call_async(rpc_over(blobs, network), "blob_info", to_hex(root)) is None
    assert trio.run(network.fetch_blob, root) is None  # the verification path's whole fetch
    assert peers.requests == 2  # one each


def test_a_peers_leaves_past_the_declared_size_stop_the_fetch_within_one_batch() -> None:
    """A peer that declares 1 byte and serves 1 MiB leaves used to have all 24 buffered (24 MiB,
    3x the blob limit) before anything refused them. Now the bytes are counted against the
    declared size as they arrive, and the fetch stops within one batch of leaves."""
    leaf = b"\x07" * MIB
    count = 24
    levels = merkle.tree_levels([merkle.leaf_hash(leaf)] * count)
    root = merkle.bind_count(levels[-1][0], count)

    def serve(r: bytes, index: int) -> bytes:
        proof = tuple(merkle.proof_from_levels(levels, index))
        return encode_blob_leaf(BlobLeaf(leaf, proof, count, MIB + 1))

    blobs = BlobStore(MemoryStore(), max_blob_bytes=8 * MIB)
    peers = FakePeers(serve)
    assert trio.run(fetcher(blobs, peers).fetch_blob, root) is None
    assert peers.requests <= 1 + BLOB_FETCH_CONCURRENCY
    assert peers.served_bytes <= (1 + BLOB_FETCH_CONCURRENCY) * (MIB + 4096)
    assert blobs.stored_bytes == 0


def test_a_blob_over_the_node_limit_is_not_fetched() -> None:
    """The node's limit is checked before the fetch, from the declared shape: one request."""
    leaves = [b"\x09" * MIB, b"\x0a" * MIB]
    root = merkle_root(leaves)
    peers = FakePeers(real_blob_server({root: leaves}))
    blobs = BlobStore(MemoryStore(), max_stored_bytes=MIB)
    assert trio.run(fetcher(blobs, peers).fetch_blob, root) is None
    assert peers.requests == 1
    roomy = BlobStore(MemoryStore())
    info = trio.run(fetcher(roomy, FakePeers(real_blob_server({root: leaves}))).fetch_blob, root)
    assert info == BlobInfo(root, 2, 2 * MIB) and roomy.read_all(root) == b"".join(leaves)


def test_rpc_reads_from_peers_are_bounded_in_flight() -> None:
    """More than MAX_PEER_READS reads from peers at once are refused as busy, not queued."""
    from chain.service.rpc.blob import MAX_PEER_READS

    leaves = [bytes([i]) * 10 for i in range(20)]
    root = merkle_root(leaves)
    serve = real_blob_server({root: leaves})
    release = trio.Event()

    async def slow(peer: str, protocol: str, data: bytes) -> bytes:
        await release.wait()
        answer = serve(*decode_blob_request(data))
        assert answer is not None
        return bytes(answer)

    peers = FakePeers(serve)
    peers.request = slow  # type: ignore[method-assign]
    blobs = BlobStore(MemoryStore())
    methods = rpc_over(blobs, fetcher(blobs, peers))
    entry = methods.lookup("blob_get")
    assert isinstance(entry, Method)
    outcomes: list[str] = []

    async def read(index: int) -> None:
        try:
            await entry.handler([to_hex(root), index])
            outcomes.append("ok")
        except RpcError as exc:
            assert isinstance(exc.data, dict)
            outcomes.append(str(exc.data["kind"]))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for index in range(MAX_PEER_READS + 3):
                nursery.start_soon(read, index)
            await trio.sleep(0.01)
            release.set()

    trio.run(main)
    assert sorted(outcomes) == ["busy"] * 3 + ["ok"] * MAX_PEER_READS


# ---------------------------------------------------------------------------------------------
# Proofs


def test_blob_get_cycling_over_five_widest_blobs_builds_no_tree() -> None:
    """A reader cycling blob_get over five blobs of MAX_LEAVES leaves used to miss the proof
    cache every call and rebuild a 65,536-leaf tree (2 MiB read, 65,535 hashes: ~75 ms of the
    node's thread per free request). Now each call reads the stored tree pages: no tree is
    built, and a call costs a bounded number of small reads."""
    from chain.storage import blobs as blobs_module

    kv = MemoryStore()
    store = BlobStore(kv)
    roots = [
        store.store_leaves(
            [bytes([k, i % 256, i // 256]) for i in range(MAX_LEAVES)], now_ms=1
        ).root
        for k in range(5)
    ]
    methods = RpcMethods()
    add_blob_methods(methods, store, lambda: 1_000, UploadGate(None))  # type: ignore[arg-type]
    builds = reads = 0
    original_levels, original_get = blobs_module.tree_levels, kv.get

    def counting_levels(hashes: Any) -> Any:
        nonlocal builds
        builds += 1
        return original_levels(hashes)

    def counting_get(key: bytes) -> bytes | None:
        nonlocal reads
        reads += 1
        return original_get(key)

    blobs_module.tree_levels = counting_levels  # type: ignore[assignment]
    kv.get = counting_get  # type: ignore[method-assign]
    calls = 20
    try:
        started = time.perf_counter()
        for j in range(calls):
            answer = call_async(methods, "blob_get", to_hex(roots[j % 5]), 40_000 + j)
            assert len(answer["proof"]) == 16
        cycling = (time.perf_counter() - started) / calls
    finally:
        blobs_module.tree_levels = original_levels  # type: ignore[assignment]
    assert builds == 0
    assert reads <= calls * (3 + 16)  # info, header, leaf and one page per level
    print(f"blob_get cycling five widest blobs: {cycling * 1e3:.2f} ms per call, {reads} reads")


# ---------------------------------------------------------------------------------------------
# Funding


def test_one_xpl_passed_along_funds_one_quota_not_one_per_hop() -> None:
    """An account uploads its quota, hands its XPL to the next account, which does the same:
    the balance used to be read only at begin, so one XPL kept five quotas stored. Now each
    sweep reads the owners' balances, and an account below the minimum for the grace loses its
    unreferenced blobs: what stays is what funded accounts hold, one quota per XPL held."""
    from chain.service.blob_retention import UNFUNDED_GRACE_MS, BlobRetention
    from tests.chain.core.conftest import Helpers

    quota = 2 * MIB
    node = ClockedNode(blocks=2, blobs=BlobStore(MemoryStore(), account_quota_bytes=quota))
    core, chain = node.core, node.chain
    xpl = 10**12
    hops = [Keypair.from_seed(bytes([0x70 + i]) * 32) for i in range(5)]
    slot = core.best_header.digest.slot
    nonces = {ATTACKERS[0].public: 0}

    def send(signer: Keypair, dest: bytes, amount: int) -> None:
        nonlocal slot
        nonce = nonces.get(signer.public, 0)
        nonces[signer.public] = nonce + 1
        tx = Helpers.transfer(signer, dest, amount, nonce=nonce, genesis_hash=core.genesis_hash)
        core.submit_transaction(tx.raw, chain.at(slot))
        slot += 1
        assert Helpers.authored(core.on_timer("slot", chain.at(slot))) is not None

    send(ATTACKERS[0], hops[0].public, 2 * xpl)  # the attacker's only money: 2 XPL
    for i, hop in enumerate(hops):
        data = bytes([i]) * (quota - 1024)
        info = BlobInfo(merkle_root([data]), 1, len(data))
        node.call("blob_finish", _put(node, node.begin(node.fresh(hop, info), info), data))
        if i + 1 < len(hops):  # pass the money on, leaving this account below 1 XPL
            free = Helpers.free(core, hop.public)
            send(hop, hops[i + 1].public, free - xpl // 10)
            assert Helpers.free(core, hop.public) < xpl
    funded = [hop for hop in hops if Helpers.free(core, hop.public) >= xpl]
    assert len(funded) == 1
    assert node.blobs.stored_bytes > 4.9 * quota  # five quotas, for now
    retention = BlobRetention(node.blobs, core.store, lambda: [], lambda: node.now_ms)
    retention.sweep(core.store.best_hash)  # the four emptied accounts are seen unfunded
    assert node.blobs.stored_bytes > 4.9 * quota  # within the grace: a top-up would keep them
    node.now_ms += UNFUNDED_GRACE_MS
    retention.sweep(core.store.best_hash)
    held = [node.blobs.ledger.unbound_bytes_of(hop.public) for hop in hops]
    assert held[:-1] == [0, 0, 0, 0] and held[-1] > quota - 2048
    quotas_per_xpl_held = node.blobs.stored_bytes / quota / len(funded)
    assert quotas_per_xpl_held <= 1.0  # was 5: the attacker's gain per hop is gone


def _put(node: ClockedNode, upload_id: str, data: bytes) -> str:
    node.call("blob_put", upload_id, 0, [to_hex(data)])
    return upload_id


# ---------------------------------------------------------------------------------------------
# The ledger's memory


def test_a_ledger_record_takes_a_small_fraction_of_what_its_blob_is_charged() -> None:
    """A 1-byte blob used to be charged 321 bytes while its record took ~188 bytes of RAM, so a
    node limit filled with tiny blobs needed more than half of it again in memory. Now a blob is
    charged at least MIN_BLOB_CHARGE: the records of a full node take a few percent of it."""
    import tracemalloc

    kv = MemoryStore()
    count = 20_000
    batch = WriteBatch()
    ledger = BlobLedger(kv)
    for i in range(count):
        ledger.record_stored(batch, i.to_bytes(32, "big"), BlobRecord(b"\x01" * 32, 1, 1, 1, False))
    kv.write(batch)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    loaded = BlobLedger(kv)
    loaded.sweep(2, [], retention_ms=10**12)  # builds the cursor
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_record = (after - before) / count
    print(f"ledger RAM per 1-byte blob: {per_record:.0f} bytes, charged {charge_of(1, 1)}")
    assert charge_of(1, 1) == MIN_BLOB_CHARGE
    assert per_record < 0.1 * charge_of(1, 1)


def test_record_counts_are_bounded_per_account_and_per_node_and_the_sweep_keeps_up() -> None:
    """An account holds at most `max_account_blobs` unreferenced blobs and uploads, a node at
    most `max_blobs`; at the sweep's pace every record is looked at well within one retention
    period (it used to take past a day beyond 35 million records)."""
    blobs = BlobStore(MemoryStore(), max_account_blobs=3, max_blobs=5)
    attacker = ATTACKERS[0].public
    for i in range(3):
        _upload(blobs, attacker, [bytes([i + 1])], 1_000)
    with pytest.raises(QuotaExceeded, match="as many as one account may"):
        blobs.begin(1, 1, account=attacker, root=b"\x09" * 32, now_ms=1_000)
    _upload(blobs, ATTACKERS[1].public, [b"\x10"], 1_000)
    blobs.store_leaves([b"\x11"])  # a fetched blob counts toward the node's records too
    with pytest.raises(StorageFull, match="as many as it keeps"):
        blobs.begin(1, 1, account=HONEST.public, root=b"\x0a" * 32, now_ms=1_000)
    with pytest.raises(StorageFull):
        blobs.store_leaves([b"\x12"])
    sweeps_per_pass = -(-MAX_STORED_BLOBS // MAX_SWEEP_EXAMINED)
    assert sweeps_per_pass * SWEEP_INTERVAL_MS < BLOB_RETENTION_MS / 30


# ---------------------------------------------------------------------------------------------
# Grants


def test_a_grant_seen_before_a_restart_or_on_another_node_is_refused() -> None:
    """Admitted nonces live in memory, and a grant used to name no node: whoever saw one began
    the upload again on the restarted node, or on any node of the chain, in the victim's name.
    Now a grant signs the node's id, drawn at each start: the replay fails its signature."""
    node = ClockedNode(blocks=2)
    info = BlobInfo(merkle_root([b"victim data"]), 1, 11)
    grant = node.fresh(HONEST, info)
    node.call("blob_finish", _put(node, node.begin(grant, info), b"victim data"))
    assert node.call("blob_grantNode") == to_hex(node.gate.node_id)
    for _ in range(2):  # the node restarts; then another node of the chain
        node.gate = UploadGate(node.core.store)
        node.methods = RpcMethods()
        add_blob_methods(node.methods, node.blobs, lambda: node.now_ms, node.gate)
        with pytest.raises(RpcError) as caught:
            node.begin(grant, info)
        assert caught.value.data == {"kind": "bad_signature"}
    assert node.blobs.uploads.count_of(HONEST.public) == 0
    node.begin(node.fresh(HONEST, info), info)  # a grant for this node works


def test_a_stranger_gets_no_signature_checks_and_a_refused_grant_is_not_checked_twice() -> None:
    """A grant naming an unfunded key used to reach the Ed25519 check, and a refused grant could
    be sent again and again. Now the balance is read first (an unfunded key costs one state
    read), and a grant refused for its signature is refused again without verifying."""
    from chain.service import blob_grants

    node = ClockedNode(blocks=2)
    info = BlobInfo(bytes(32), 1, 1)
    verified = 0
    original = blob_grants.verify

    def counting(public: bytes, message: bytes, signature: bytes) -> bool:
        nonlocal verified
        verified += 1
        return original(public, message, signature)

    blob_grants.verify = counting  # type: ignore[assignment]
    try:
        stranger = Keypair.from_seed(b"\x33" * 32)
        best = node.core.store.best_hash
        unfunded = UploadGrant(stranger.public, best, b"\x01" * 16, b"\x02" * 64)
        forged = UploadGrant(HONEST.public, best, b"\x01" * 16, b"\x02" * 64)
        for grant, kind in ((unfunded, "unfunded"), (forged, "bad_signature")):
            for _ in range(200):
                with pytest.raises(RpcError) as caught:
                    node.call("blob_begin", 1, 1, to_hex(info.root), grant_json(grant))
                assert caught.value.data == {"kind": kind}
    finally:
        blob_grants.verify = original  # type: ignore[assignment]
    assert verified == 1  # 400 refusals, one signature check
