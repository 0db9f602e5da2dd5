"""The blob namespace: upload a blob in pieces, read its leaves with their Merkle proofs.

    blob_grantNode()                            -> the node id an upload grant signs
    blob_begin(leafCount, size, root, grant)    -> uploadId    grant: {"account", "at",
                                                               "nonce", "signature"}
    blob_put(uploadId, startIndex, [leafHex])   -> true        whole leaves
    blob_putPart(uploadId, index, offset, hex)  -> true        a leaf too large for one request
    blob_finish(uploadId)                       -> {"root", "leafCount", "size"}
    blob_abort(uploadId)                        -> true if there was such an upload
    blob_info(root)                             -> {"root", "leafCount", "size"} or null
    blob_get(root, index[, offset, length])     -> {"leaf", "proof", "leafCount", "size",
                                                    "leafSize", "offset"}
    blob_getLeaves(root, start, count)          -> {"start", "count", "leaves", "proof",
                                                    "leafCount", "size"}

Bytes are 0x hex, so a request or an answer carries about half the RPC size limit (15 MiB) in
data: a leaf larger than that (up to 8 MiB) goes up in parts with blob_putPart and comes down in
ranges with blob_get's offset and length; `chain.client.blobs` does both. The proof is always the
whole leaf's: a reader checks it once it has all the leaf's bytes.

An upload is authorized by its grant (`chain.service.blob_grants`): the account (an address),
`at` (the hash of a recent block), a 16-byte `nonce` and the account's Ed25519 `signature` over
`chain.client.blob_info.upload_message`, which names this node (`blob_grantNode`, new at each
start) and the blob's root, leaf count and size. The
account must hold `UPLOAD_MIN_BALANCE` free; its uploads and unreferenced blobs count against
its quotas (`chain.storage.blobs`). A refused grant is BLOB_ERROR with `data.kind` one of
stale_grant, replayed_grant, bad_signature, unfunded, account_limit.

A blob this node lacks is read from its peers one leaf at a time (each proven against its root
by `NodeNetwork.fetch_blob_leaf`) and never stored: a reader is charged to no account, so what
it reads must not fill the node's storage. The last leaves read so far are kept in a cache of
PEER_LEAF_CACHE_BYTES (a large leaf is read in ranges), and at most MAX_PEER_READS such reads
run at once on the node; past that a read is refused as busy. What a stranger can still do:
keep MAX_PEER_READS peer requests in flight and churn the cache, which costs the node one
leaf's transfer per request (the peers' own request limits bound it), and nothing on disk.

blob_getLeaves reads a run of consecutive leaves of a blob stored on this node in one request:
at most `count`, MAX_BATCH_LEAVES and MAX_BATCH_BYTES of leaf bytes (an over-large `count` is
clipped, not refused), and the answer's `count` says how many came, so a reader asks again from
`start + count`. A leaf alone over MAX_BATCH_BYTES gives `count` 0: read it with blob_get in
ranges. The `proof` is one range proof for the whole run (`runtime.primitives.merkle_range`): the
reader hashes the leaves itself and rebuilds the root from them and these at most two hashes a
level, so a changed leaf or node is caught. A blob only at this node's peers is refused as unknown
(kind unknown_blob): batches are served from the local store only, and a reader of a peer's blob
keeps to blob_get's one leaf a request, which the peer-read bounds above limit. A count of 0, a
start past the last leaf (kind out_of_range) and an unknown root are refused; each request counts
against the client's RPC limits like any other.

Malformed parameters are answered INVALID_PARAMS; refusals of the blob store (unknown upload or
blob, a limit, an incomplete upload) are BLOB_ERROR with the store's message and `data.kind`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final

from chain.client.blob_info import UPLOAD_NONCE_BYTES, BlobInfo, UploadGrant
from chain.service.blob_grants import GrantRefused, UploadGate
from chain.service.blob_protocol import BlobLeaf
from chain.service.rpc.errors import BLOB_ERROR, RpcError, invalid_params
from chain.service.rpc.params import check_arity as _check_arity
from chain.service.rpc.params import param as _param
from chain.service.rpc.protocol import Params
from chain.service.rpc.registry import RpcMethods
from chain.storage.blobs import BlobError, BlobStore, UnknownBlob, UploadsBusy
from runtime.primitives.address import InvalidAddress, parse_account
from runtime.primitives.hashing import from_hex, to_hex

MAX_UPLOAD_ID_CHARS = 64
PEER_LEAF_CACHE_BYTES: Final = 32 * 1024 * 1024
"""Bytes of leaves read from peers for RPC readers kept in memory (never on disk)."""
MAX_PEER_READS: Final = 4
"""Reads from peers that RPC readers may have in flight at once, all clients together."""
MAX_BATCH_LEAVES: Final = 1024
"""Leaves blob_getLeaves answers at most in one request."""
MAX_BATCH_BYTES: Final = 4 * 1024 * 1024
"""Leaf bytes blob_getLeaves answers at most in one request: hex doubles them, well under the
15 MiB answer limit."""

PeerLeafFetch = Callable[[bytes, int], Awaitable[BlobLeaf | None]]
"""Leaf `index` of blob `root` from a peer, its proof checked (`NodeNetwork.fetch_blob_leaf`)."""


class PeerReads:
    """Leaves of blobs this node lacks, read from peers for RPC readers: a bounded cache and a
    bound on the reads in flight; nothing is stored."""

    def __init__(
        self,
        fetch: PeerLeafFetch,
        *,
        cache_bytes: int = PEER_LEAF_CACHE_BYTES,
        max_reads: int = MAX_PEER_READS,
    ) -> None:
        self.fetch = fetch
        self.cache_bytes = cache_bytes
        self.max_reads = max_reads
        self.in_flight = 0
        self._cache: OrderedDict[tuple[bytes, int], BlobLeaf] = OrderedDict()
        self._cached_bytes = 0

    async def leaf(self, root: bytes, index: int) -> BlobLeaf | None:
        """Leaf `index` of `root` from the cache or a peer; None if no peer serves it."""
        key = (root, index)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if self.in_flight >= self.max_reads:
            raise UploadsBusy(
                f"{self.in_flight} reads from peers are in flight, as many as this node runs "
                "for its RPC readers: try again shortly"
            )
        self.in_flight += 1
        try:
            found = await self.fetch(root, index)
        finally:
            self.in_flight -= 1
        if found is not None and len(found.leaf) <= self.cache_bytes:
            self._cache[key] = found
            self._cached_bytes += len(found.leaf)
            while self._cached_bytes > self.cache_bytes:
                _, evicted = self._cache.popitem(last=False)
                self._cached_bytes -= len(evicted.leaf)
        return found


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _upload_id(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_UPLOAD_ID_CHARS:
        raise ValueError("expected the upload id that blob_begin answered")
    return value


def _root(value: Any) -> bytes:
    return from_hex(value, length=32, what="root")


def _data(value: Any) -> bytes:
    return from_hex(value, what="data")


def _leaves(value: Any) -> list[bytes]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of 0x hex leaves")
    return [from_hex(leaf, what=f"leaf {i}") for i, leaf in enumerate(value)]


_GRANT_FIELDS = frozenset({"account", "at", "nonce", "signature"})


def _grant(value: Any) -> UploadGrant:
    if not isinstance(value, dict):
        raise ValueError('expected {"account", "at", "nonce", "signature"}')
    unknown = sorted(set(value) - _GRANT_FIELDS)
    missing = sorted(_GRANT_FIELDS - set(value))
    if unknown or missing:
        raise ValueError(f"unknown fields {unknown}, missing fields {missing}")
    if not isinstance(value["account"], str):
        raise ValueError("account: expected an address")
    try:
        account = parse_account(value["account"])
    except InvalidAddress as exc:
        raise ValueError(f"account: {exc}") from exc
    return UploadGrant(
        account=account,
        block_hash=from_hex(value["at"], length=32, what="at"),
        nonce=from_hex(value["nonce"], length=UPLOAD_NONCE_BYTES, what="nonce"),
        signature=from_hex(value["signature"], length=64, what="signature"),
    )


def _blob_error(exc: BlobError) -> RpcError:
    return RpcError(BLOB_ERROR, f"Blob error: {exc}", {"kind": exc.kind})


def _grant_error(exc: GrantRefused) -> RpcError:
    return RpcError(BLOB_ERROR, f"Upload refused: {exc}", {"kind": exc.kind})


def blob_info_json(info: BlobInfo) -> dict[str, Any]:
    """A blob's info as the blob methods answer it."""
    return {"root": to_hex(info.root), "leafCount": info.leaf_count, "size": info.size}


def add_blob_methods(
    methods: RpcMethods,
    blobs: BlobStore,
    clock: Callable[[], int],
    gate: UploadGate,
    fetch: PeerLeafFetch | None = None,
) -> None:
    """Register the blob_* methods over `blobs`; `clock` gives the time in ms (upload expiry),
    `gate` checks each upload's grant.

    With `fetch`, blob_info and blob_get read a blob this node lacks from its peers, leaf by
    leaf, without storing it (`PeerReads`).
    """
    peers = None if fetch is None else PeerReads(fetch)

    async def peer_leaf(root: bytes, index: int) -> BlobLeaf | None:
        if peers is None:
            return None
        found = await peers.leaf(root, index)
        if found is None:
            return None
        try:  # the size is the peer's word (the proof binds only the leaf count)
            blobs.check_shape(found.leaf_count, found.size)
        except BlobError:
            return None
        return found

    def blob_begin(params: Params) -> Any:
        _check_arity(params, 4)
        leaf_count = _param(params, 0, "leafCount", _count)
        size = _param(params, 1, "size", _count)
        root = _param(params, 2, "root", _root)
        grant = _param(params, 3, "grant", _grant)
        try:
            blobs.check_shape(leaf_count, size)
            gate.check(grant, BlobInfo(root, leaf_count, size))
            upload_id = blobs.begin(
                leaf_count, size, account=grant.account, root=root, now_ms=clock()
            )
        except GrantRefused as exc:
            raise _grant_error(exc) from exc
        except BlobError as exc:
            raise _blob_error(exc) from exc
        gate.admit(grant)
        return upload_id

    def blob_put(params: Params) -> Any:
        _check_arity(params, 3)
        upload_id = _param(params, 0, "uploadId", _upload_id)
        start_index = _param(params, 1, "startIndex", _count)
        leaves = _param(params, 2, "leaves", _leaves)
        try:
            blobs.put(upload_id, start_index, leaves, now_ms=clock())
        except BlobError as exc:
            raise _blob_error(exc) from exc
        return True

    def blob_put_part(params: Params) -> Any:
        _check_arity(params, 4)
        upload_id = _param(params, 0, "uploadId", _upload_id)
        index = _param(params, 1, "index", _count)
        offset = _param(params, 2, "offset", _count)
        data = _param(params, 3, "data", _data)
        try:
            blobs.put_part(upload_id, index, offset, data, now_ms=clock())
        except BlobError as exc:
            raise _blob_error(exc) from exc
        return True

    def blob_finish(params: Params) -> Any:
        _check_arity(params, 1)
        upload_id = _param(params, 0, "uploadId", _upload_id)
        try:
            return blob_info_json(blobs.finish(upload_id, now_ms=clock()))
        except BlobError as exc:
            raise _blob_error(exc) from exc

    def blob_abort(params: Params) -> Any:
        _check_arity(params, 1)
        return blobs.abort(_param(params, 0, "uploadId", _upload_id))

    async def blob_info(params: Params) -> Any:
        _check_arity(params, 1)
        root = _param(params, 0, "root", _root)
        try:
            info = blobs.info(root)
            if info is None and (first := await peer_leaf(root, 0)) is not None:
                info = BlobInfo(root, first.leaf_count, first.size)
        except BlobError as exc:
            raise _blob_error(exc) from exc
        return None if info is None else blob_info_json(info)

    async def blob_get(params: Params) -> Any:
        _check_arity(params, 4)
        root = _param(params, 0, "root", _root)
        index = _param(params, 1, "index", _count)
        offset = _param(params, 2, "offset", _count, default=0)
        length = _param(params, 3, "length", _count, default=None)
        try:
            info = blobs.info(root)
            if info is not None:
                leaf, proof = blobs.leaf(root, index)
            elif index < 2**32 and (found := await peer_leaf(root, index)) is not None:
                info = BlobInfo(root, found.leaf_count, found.size)
                leaf, proof = found.leaf, list(found.proof)
            else:
                raise UnknownBlob(f"unknown blob 0x{root.hex()}, here or at this node's peers")
        except BlobError as exc:
            raise _blob_error(exc) from exc
        if offset > len(leaf):
            raise invalid_params(f"offset: {offset} is past the end of the {len(leaf)}-byte leaf")
        end = len(leaf) if length is None else min(len(leaf), offset + length)
        return {
            "leaf": to_hex(leaf[offset:end]),
            "proof": [to_hex(node) for node in proof],
            "leafCount": info.leaf_count,
            "size": info.size,
            "leafSize": len(leaf),
            "offset": offset,
        }

    def blob_get_leaves(params: Params) -> Any:
        _check_arity(params, 3)
        root = _param(params, 0, "root", _root)
        start = _param(params, 1, "start", _count)
        count = _param(params, 2, "count", _count)
        if count == 0:
            raise invalid_params("count: must be at least 1 leaf")
        try:
            if blobs.info(root) is None:
                raise UnknownBlob(
                    f"blob 0x{root.hex()} is not stored on this node: read a peer's blob one "
                    "leaf at a time with blob_get"
                )
            info, leaves, proof = blobs.leaf_run(
                root, start, min(count, MAX_BATCH_LEAVES), max_bytes=MAX_BATCH_BYTES
            )
        except BlobError as exc:
            raise _blob_error(exc) from exc
        return {
            "start": start,
            "count": len(leaves),
            "leaves": [to_hex(leaf) for leaf in leaves],
            "proof": [to_hex(node) for node in proof],
            "leafCount": info.leaf_count,
            "size": info.size,
        }

    def blob_grant_node(params: Params) -> Any:
        _check_arity(params, 0)
        return to_hex(gate.node_id)

    methods.add("blob_grantNode", blob_grant_node, ())
    methods.add("blob_begin", blob_begin, ("leafCount", "size", "root", "grant"))
    methods.add("blob_put", blob_put, ("uploadId", "startIndex", "leaves"))
    methods.add("blob_putPart", blob_put_part, ("uploadId", "index", "offset", "data"))
    methods.add("blob_finish", blob_finish, ("uploadId",))
    methods.add("blob_abort", blob_abort, ("uploadId",))
    methods.add("blob_info", blob_info, ("root",))
    methods.add("blob_get", blob_get, ("root", "index", "offset", "length"))
    methods.add("blob_getLeaves", blob_get_leaves, ("root", "start", "count"))


__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_LEAVES", "add_blob_methods", "blob_info_json"]
