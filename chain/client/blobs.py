"""The client side of blobs: cut a file into chunks, upload leaves, and fetch them checked.

A node's blob store is not trusted: every leaf fetched is checked against the root the caller
trusts (a job's input root, a committed result root) with its Merkle proof, and an upload checks
that the node stored the root computed here.

    info = upload_file(rpc, data, signer=keypair)    # info.root goes into the job
    data = download_blob(rpc, info.root)             # every leaf verified, runs a request
    leaf = fetch_leaf(rpc, result_root, 17)          # one leaf, verified

An upload is signed: `blob_begin` carries a grant (`chain.client.blob_info.UploadGrant`) by the
`signer`, a funded account, dated by the node's best block and made unique by a random nonce.
The node counts the upload against that account's quotas; a node whose upload slots are taken
by uploads still sending answers "busy", and the upload begins again until `busy_wait_s` runs
out (stalled uploads give way within seconds).

Leaves larger than `part_bytes` (or `batch_bytes`) travel in several requests (blob_putPart, and
blob_get with a byte range), so any leaf up to 8 MiB fits under the RPC size limit.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from chain.client.blob_info import (
    UPLOAD_NODE_BYTES,
    UPLOAD_NONCE_BYTES,
    BlobInfo,
    UploadGrant,
    upload_message,
)
from chain.client.rpc import RpcClientError, RpcConnectionError
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.keys import Keypair
from runtime.primitives.merkle import (
    MerkleProofError,
    leaf_hash,
    merkle_root,
    verify_merkle_proof,
)
from runtime.primitives.merkle_range import verify_range_proof
from runtime.workloads import CHUNK_BYTES, MAX_LEAF_BYTES

DEFAULT_BATCH_BYTES: Final = 4 * 1024 * 1024
"""Leaf bytes per request: hex doubles them, which stays well under the 15 MiB request limit."""
_LEAF_OVERHEAD: Final = 8
"""What a leaf costs in a request besides its bytes ("0x", quotes, comma), rounded up."""
DEFAULT_BUSY_WAIT_S: Final = 60.0
"""How long an upload keeps asking a busy node to begin it before giving up."""
_BUSY_RETRY_S: Final = (0.25, 0.5, 1.0)
"""The pauses between tries on a busy node (the last one repeats)."""

_METHOD_NOT_FOUND: Final = -32601
"""JSON-RPC's code for a method the node lacks (a node from before blob_getLeaves)."""
_MAX_RUN: Final = 2**31
"""The leaves a first blob_getLeaves asks for when the count is not known yet (the node clips)."""

Progress = Callable[[int, int], None]


class BlobVerificationError(Exception):
    """The node's answer does not match the root: a wrong leaf or proof, or a different root."""


class RpcCaller(Protocol):
    """What the helpers need of a client: `chain.client.rpc.RpcClient` is one."""

    def call(self, method: str, *params: object) -> Any:
        """The result of JSON-RPC `method` with `params`; raises on an error answer."""


def chunk_file(data: bytes) -> list[bytes]:
    """A file's leaves: 64 KiB chunks, the last one shorter; an empty file is one empty chunk."""
    if not data:
        return [b""]
    return [data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)]


def upload_file(
    rpc: RpcCaller,
    data: bytes,
    *,
    signer: Keypair,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress | None = None,
) -> BlobInfo:
    """Upload a file as a blob of its 64 KiB chunks, signed by `signer`; its root, leaf count
    and size."""
    return upload_blob(
        rpc, chunk_file(data), signer=signer, batch_bytes=batch_bytes, progress=progress
    )


def sign_grant(rpc: RpcCaller, signer: Keypair, info: BlobInfo) -> dict[str, str]:
    """A fresh grant by `signer` to upload the blob `info`, as blob_begin takes it: for this
    node (`blob_grantNode`), dated by its best block, with a random nonce."""
    genesis = from_hex(rpc.call("chain_getBlockHash", 0), length=32, what="genesis hash")
    node = from_hex(rpc.call("blob_grantNode"), length=UPLOAD_NODE_BYTES, what="node")
    best = from_hex(rpc.call("chain_getBlockHash"), length=32, what="block hash")
    nonce = secrets.token_bytes(UPLOAD_NONCE_BYTES)
    signature = signer.sign(upload_message(genesis, best, signer.public, nonce, info, node=node))
    return grant_json(UploadGrant(signer.public, best, nonce, signature))


def grant_json(grant: UploadGrant) -> dict[str, str]:
    """A grant as blob_begin's `grant` parameter."""
    return {
        "account": encode_address(grant.account),
        "at": to_hex(grant.block_hash),
        "nonce": to_hex(grant.nonce),
        "signature": to_hex(grant.signature),
    }


def begin_upload(
    rpc: RpcCaller, signer: Keypair, info: BlobInfo, *, busy_wait_s: float = DEFAULT_BUSY_WAIT_S
) -> str:
    """Begin the upload of the blob `info` under a fresh grant by `signer`; its upload id.

    While the node answers "busy" (its slots or buffer taken by uploads still sending), try
    again, each time with a new grant, for up to `busy_wait_s` seconds.
    """
    deadline = time.monotonic() + busy_wait_s
    for attempt in itertools.count():
        grant = sign_grant(rpc, signer, info)
        try:
            upload_id = rpc.call("blob_begin", info.leaf_count, info.size, to_hex(info.root), grant)
        except RpcClientError as exc:
            busy = isinstance(exc.data, dict) and exc.data.get("kind") == "busy"
            pause = _BUSY_RETRY_S[min(attempt, len(_BUSY_RETRY_S) - 1)]
            if not busy or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            continue
        if not isinstance(upload_id, str):
            raise BlobVerificationError(f"the node answered blob_begin with {upload_id!r}")
        return upload_id
    raise AssertionError("unreachable")


def upload_blob(
    rpc: RpcCaller,
    leaves: Sequence[bytes],
    *,
    signer: Keypair,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress | None = None,
    busy_wait_s: float = DEFAULT_BUSY_WAIT_S,
) -> BlobInfo:
    """Upload a blob's leaves in batches of about `batch_bytes`, signed by `signer`; its root,
    leaf count and size.

    `progress(bytes_sent, total_bytes)` is called after each request. Raises
    BlobVerificationError if the node stored another root than the one computed here, and
    RpcClientError if the node refuses (a quota or limit, an unfunded signer, a node still busy
    after `busy_wait_s`); a failed upload is aborted.
    """
    if batch_bytes < 1:
        raise ValueError(f"batch_bytes must be at least 1, not {batch_bytes}")
    expected = merkle_root(leaves)
    total = sum(len(leaf) for leaf in leaves)
    upload_id = begin_upload(
        rpc, signer, BlobInfo(expected, len(leaves), total), busy_wait_s=busy_wait_s
    )
    sent = 0
    try:
        for start, group in _batches(leaves, batch_bytes):
            if len(group) == 1 and len(group[0]) > batch_bytes:
                leaf = group[0]
                for offset in range(0, len(leaf), batch_bytes):
                    part = leaf[offset : offset + batch_bytes]
                    rpc.call("blob_putPart", upload_id, start, offset, to_hex(part))
                    sent += len(part)
                    if progress is not None:
                        progress(sent, total)
                continue
            rpc.call("blob_put", upload_id, start, [to_hex(leaf) for leaf in group])
            sent += sum(len(leaf) for leaf in group)
            if progress is not None:
                progress(sent, total)
        answer = rpc.call("blob_finish", upload_id)
    except BaseException:
        with contextlib.suppress(RpcClientError, RpcConnectionError):
            rpc.call("blob_abort", upload_id)
        raise
    info = _parse_info(answer)
    if info.root != expected:
        raise BlobVerificationError(
            f"the node stored root {to_hex(info.root)}, but the leaves sent have root "
            f"{to_hex(expected)}"
        )
    if (info.leaf_count, info.size) != (len(leaves), total):
        raise BlobVerificationError(
            f"the node stored {info.leaf_count} leaves of {info.size} bytes under root "
            f"{to_hex(expected)}, but {len(leaves)} leaves of {total} bytes were sent"
        )
    return info


def fetch_leaf(
    rpc: RpcCaller, root: bytes, index: int, *, part_bytes: int = DEFAULT_BATCH_BYTES
) -> bytes:
    """Leaf `index` of the blob `root`, its Merkle proof checked against `root`.

    Raises BlobVerificationError, naming the leaf, if the node's answer does not match the root.
    """
    return _fetch_verified(rpc, root, index, part_bytes)[0]


def download_blob(
    rpc: RpcCaller,
    root: bytes,
    *,
    part_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress | None = None,
) -> bytes:
    """The blob's leaves, concatenated, every one checked against `root`.

    `progress(leaves_fetched, leaf_count)` is called after each request.
    """
    return b"".join(fetch_leaves(rpc, root, part_bytes=part_bytes, progress=progress))


def fetch_leaves(
    rpc: RpcCaller,
    root: bytes,
    leaf_count: int | None = None,
    *,
    part_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress | None = None,
) -> list[bytes]:
    """Every leaf of the blob `root`, each checked against `root`: runs of leaves a request
    (blob_getLeaves, one range proof a run), or one leaf a request (blob_get) from a node without
    blob_getLeaves, for a blob it reads from its peers, or for a leaf too large for a batch.

    `leaf_count`, when the caller knows it (a job's result), is checked against the root's;
    without it the first answer's count is used (the root binds it, so a wrong one fails the
    proof). `progress(leaves_fetched, leaf_count)` is called after each request.
    """
    leaves: list[bytes] = []
    total = leaf_count
    batched = True
    while total is None or len(leaves) < total:
        index = len(leaves)
        run: list[bytes] = []
        if batched:
            run, batch_count = _fetch_run(rpc, root, index, total)
            batched = batch_count is not None
            total = total if batch_count is None else batch_count
        if not run:  # one leaf by blob_get (in byte ranges if large)
            leaf, count = _fetch_verified(rpc, root, index, part_bytes)
            run = [leaf]
            if total is not None and count != total:
                raise BlobVerificationError(
                    f"blob {to_hex(root)} has {count} leaves, not the {total} expected"
                )
            total = count
        leaves += run
        if progress is not None and total is not None:
            progress(len(leaves), total)
    return leaves


def _fetch_run(
    rpc: RpcCaller, root: bytes, start: int, expected: int | None
) -> tuple[list[bytes], int | None]:
    """Leaves from `start` by blob_getLeaves, checked, and the blob's leaf count; None for the
    count where the node does not batch this blob (no such method, a blob only at its peers)."""
    what = f"leaves from {start} of blob {to_hex(root)}"
    remaining = _MAX_RUN if expected is None else expected - start
    try:
        answer = rpc.call("blob_getLeaves", to_hex(root), start, remaining)
    except RpcClientError as exc:
        unknown = isinstance(exc.data, dict) and exc.data.get("kind") == "unknown_blob"
        if exc.code == _METHOD_NOT_FOUND or unknown:
            return [], None
        raise
    try:
        leaves = [from_hex(leaf, what="leaf") for leaf in answer["leaves"]]
        proof = [from_hex(node, length=32, what="proof hash") for node in answer["proof"]]
        leaf_count, first, count = answer["leafCount"], answer["start"], answer["count"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BlobVerificationError(f"{what}: the node's answer is malformed: {exc}") from exc
    if type(leaf_count) is not int or not 1 <= leaf_count < 2**32:
        raise BlobVerificationError(f"{what}: the node's answer has a bad leaf count")
    if expected is not None and leaf_count != expected:
        raise BlobVerificationError(
            f"blob {to_hex(root)} has {expected} leaves, but the node answered {leaf_count}"
        )
    if first != start or count != len(leaves) or len(leaves) > leaf_count - start:
        raise BlobVerificationError(f"{what}: the node answered another run than asked")
    if any(len(leaf) > MAX_LEAF_BYTES for leaf in leaves):
        raise BlobVerificationError(f"{what}: the node sent a leaf over the leaf size limit")
    if leaves:
        try:
            verify_range_proof(root, [leaf_hash(leaf) for leaf in leaves], start, leaf_count, proof)
        except MerkleProofError as exc:
            raise BlobVerificationError(
                f"{what}: the node's answer does not match the root: {exc}"
            ) from exc
    return leaves, leaf_count


def _batches(leaves: Sequence[bytes], batch_bytes: int) -> list[tuple[int, list[bytes]]]:
    """Consecutive runs of leaves of about `batch_bytes` each, by start index.

    A leaf larger than `batch_bytes` is a run of its own (sent in parts).
    """
    runs: list[tuple[int, list[bytes]]] = []
    group: list[bytes] = []
    start, size = 0, 0
    for index, leaf in enumerate(leaves):
        cost = len(leaf) + _LEAF_OVERHEAD
        if group and size + cost > batch_bytes:
            runs.append((start, group))
            start, group, size = index, [], 0
        group.append(leaf)
        size += cost
    if group:
        runs.append((start, group))
    return runs


def _parse_info(answer: Any) -> BlobInfo:
    try:
        root = from_hex(answer["root"], length=32, what="root")
        leaf_count, size = answer["leafCount"], answer["size"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BlobVerificationError(f"the node answered blob_finish with {answer!r}") from exc
    if type(leaf_count) is not int or type(size) is not int:
        raise BlobVerificationError(f"the node answered blob_finish with {answer!r}")
    return BlobInfo(root, leaf_count, size)


def _fetch_verified(rpc: RpcCaller, root: bytes, index: int, part_bytes: int) -> tuple[bytes, int]:
    """Leaf `index` and the blob's leaf count, checked against `root`."""
    if part_bytes < 1:
        raise ValueError(f"part_bytes must be at least 1, not {part_bytes}")
    what = f"leaf {index} of blob {to_hex(root)}"
    piece, proof, leaf_count, leaf_size = _parse_get(
        rpc.call("blob_get", to_hex(root), index, 0, part_bytes), what
    )
    data = bytearray(piece)
    while len(data) < leaf_size:
        answer = rpc.call("blob_get", to_hex(root), index, len(data), part_bytes)
        piece, _, count, size = _parse_get(answer, what)
        if not piece or (count, size) != (leaf_count, leaf_size):
            raise BlobVerificationError(f"{what}: the node's answers for its parts disagree")
        data += piece
    if len(data) != leaf_size:
        raise BlobVerificationError(
            f"{what}: the node sent {len(data)} bytes for a {leaf_size}-byte leaf"
        )
    leaf = bytes(data)
    try:
        verify_merkle_proof(root, leaf, index, leaf_count, proof)
    except MerkleProofError as exc:
        raise BlobVerificationError(
            f"{what}: the node's answer does not match the root: {exc}"
        ) from exc
    return leaf, leaf_count


def _parse_get(answer: Any, what: str) -> tuple[bytes, list[bytes], int, int]:
    """A blob_get answer's (bytes, proof, leaf count, leaf size); BlobVerificationError if bad."""
    try:
        piece = from_hex(answer["leaf"], what="leaf")
        proof = [from_hex(node, length=32, what="proof hash") for node in answer["proof"]]
        leaf_count, leaf_size = answer["leafCount"], answer["leafSize"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BlobVerificationError(f"{what}: the node's answer is malformed: {exc}") from exc
    if type(leaf_count) is not int or not 1 <= leaf_count < 2**32:
        raise BlobVerificationError(f"{what}: the node's answer has a bad leaf count")
    if type(leaf_size) is not int or not 0 <= leaf_size <= MAX_LEAF_BYTES:
        raise BlobVerificationError(f"{what}: the node's answer has a bad leaf size")
    return piece, proof, leaf_count, leaf_size
