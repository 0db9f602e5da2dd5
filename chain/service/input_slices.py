"""An input blob read only where a check's leaves read it.

A job's input blob may be up to `MAX_BLOB_BYTES` (256 MiB), but recomputing one leaf reads only
the byte runs `gpu_worker.jobs.leaf_input_ranges` names (a gemm_i8 tile: its rows of A, and its
columns of B, a run in each row of B).
A committee member therefore reads, from its blob store or its peers, only the 64 KiB chunks
(`CHUNK_BYTES`, the leaves every input blob is committed over) that cover those ranges, checks
each against the input's root by its Merkle proof, and hands the verifying process only those
bytes:

    blob = BlobInput(source, root, size)                # nothing read yet
    slices = blob.slices([(0, 4096), (65_536, 70_000)])  # chunks 0 and 1, each proven
    slices[100:200]                                      # bytes, as `recompute_leaf` cuts them
    blob.slices([ByteRuns(64, 16, stride=4096, count=1024)])  # a tile's columns of B

`BlobInput` is the reader (on the node's side); `InputSlices` is what it read, picklable, the
input as the verifying process sees it: its length, and the ranges it holds. The memory a check
takes in the node and in the verifying process follows the slices its leaves read, not the
input's size.

What an attacker can still do within this: a requester who uploads an input chunked otherwise
than in `CHUNK_BYTES` leaves (a root over leaves of other sizes) gets every member's answer
"unavailable" for its job, the same from every honest member; a peer that serves a chunk that
does not prove is refused, as any unprovable data is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import trio

from chain.client.blob_info import BlobInfo
from chain.service.blob_protocol import BlobLeaf
from chain.storage.blobs import BlobError
from gpu_worker.inputs import ByteRuns
from runtime.primitives.merkle import MerkleProofError, verify_merkle_proof
from runtime.workloads import CHUNK_BYTES

log = logging.getLogger("xpl.verify")

CHUNK_FETCH_CONCURRENCY: Final = 16
"""Chunk requests to peers in flight at once while a check gathers its input slices."""
MAX_HELD_PIECES: Final = 4096
"""Separate ranges one `InputSlices` may hold: a check reads at most a few per leaf, and a
lookup scans them in order."""


class Unavailable(Exception):
    """Data a recomputation needs is missing or does not match its commitment (here: a chunk of
    an input blob)."""


class SliceNotHeld(IndexError):
    """A range asked of `InputSlices` that was not read: the reader was asked for other ranges."""


class LeafSource(Protocol):
    """Where verification reads blobs: the node's blob store, or it with leaves from peers."""

    def info(self, root: bytes) -> BlobInfo | None:
        """The blob with this root (leaf count and size), or None if it is not held."""
        ...

    def leaf(self, root: bytes, index: int) -> tuple[bytes, list[bytes]]:
        """Leaf `index` of blob `root` with its Merkle proof; BlobError if it is not held."""
        ...


def chunk_count(size: int) -> int:
    """How many `CHUNK_BYTES` leaves an input of `size` bytes is committed over."""
    return max(1, -(-size // CHUNK_BYTES))


Read = tuple[int, int] | ByteRuns
"""Bytes a check reads of an input: a range `(start, stop)`, or runs (`ByteRuns`)."""


def _run_chunks(runs: ByteRuns) -> set[int]:
    """The chunks holding the bytes of `runs`, without listing each run where a run every chunk
    or more often means every chunk of their span."""
    if runs.length == 0:
        return set()
    if runs.count == 1 or runs.stride <= CHUNK_BYTES:
        # Runs at least once a chunk: every chunk from the first run's to the last's.
        return set(range(runs.start // CHUNK_BYTES, (runs.stop - 1) // CHUNK_BYTES + 1))
    chunks: set[int] = set()
    for start, stop in runs.ranges():
        chunks.update(range(start // CHUNK_BYTES, (stop - 1) // CHUNK_BYTES + 1))
    return chunks


def covering_chunks(reads: Iterable[Read]) -> list[int]:
    """The chunk indices that hold the bytes of `reads` (each a `(start, stop)` range or
    `ByteRuns`), in order."""
    chunks: set[int] = set()
    for read in reads:
        runs = read if isinstance(read, ByteRuns) else ByteRuns(read[0], max(0, read[1] - read[0]))
        chunks.update(_run_chunks(runs))
    return sorted(chunks)


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted `indices`, each as `(first, last + 1)`."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


@dataclass(frozen=True, slots=True)
class InputSlices:
    """An input of `size` bytes of which only `pieces` are held: each `(start, bytes)`, sorted
    and disjoint. Slicing gives bytes, as slicing the whole input would, for a range inside one
    piece; SliceNotHeld for any other."""

    size: int
    pieces: tuple[tuple[int, bytes], ...]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice, /) -> memoryview:
        """The bytes of `key` as a view into the piece holding them (no copy: a tile's
        columns of B are read as the span of B they lie in)."""
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise SliceNotHeld(f"input slices are read with step 1, not {step}")
        if stop <= start:
            return memoryview(b"")
        for first, data in self.pieces:
            if first <= start and stop <= first + len(data):
                return memoryview(data)[start - first : stop - first]
        raise SliceNotHeld(f"bytes {start}..{stop} of the input were not read")

    @property
    def held_bytes(self) -> int:
        """The bytes these slices hold."""
        return sum(len(data) for _, data in self.pieces)


class BlobInput:
    """An input blob of `size` bytes under `root`, read chunk by chunk from `source`: only the
    chunks covering the ranges asked for, each proven against `root` (the leaf count follows
    from `size`, so a proof for any other chunking fails)."""

    def __init__(self, source: LeafSource, root: bytes, size: int) -> None:
        self.source = source
        self.root = root
        self.size = size
        self.leaf_count = chunk_count(size)
        self.chunks_read = 0
        """Chunks read from the source so far (each proven)."""

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice, /) -> memoryview:
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise SliceNotHeld(f"an input blob is read with step 1, not {step}")
        return self.slices([(start, stop)])[start:stop]

    def chunk(self, index: int) -> bytes:
        """Chunk `index`, proven against the root and of the size its place requires;
        Unavailable naming what is wrong."""
        name = f"input blob 0x{self.root.hex()}"
        try:
            leaf, proof = self.source.leaf(self.root, index)
        except BlobError as exc:
            if self.source.info(self.root) is None:
                raise Unavailable(f"{name} is not in the local blob store") from exc
            raise Unavailable(f"{name} cannot be read: {exc}") from exc
        self.chunks_read += 1
        try:
            verify_merkle_proof(self.root, leaf, index, self.leaf_count, proof)
        except MerkleProofError as exc:
            raise Unavailable(f"chunk {index} of {name} does not match its root ({exc})") from exc
        expected = min(CHUNK_BYTES, self.size - index * CHUNK_BYTES)
        if len(leaf) != expected:
            raise Unavailable(
                f"chunk {index} of {name} is {len(leaf)} bytes, not {expected}: the blob is not "
                f"chunked in {CHUNK_BYTES}-byte leaves"
            )
        return leaf

    def slices(self, ranges: Iterable[Read]) -> InputSlices:
        """The bytes of `ranges` (each a `(start, stop)` range or `ByteRuns` within the blob),
        read as whole proven chunks: each covering chunk read once, consecutive ones joined into
        one piece."""
        ranges = list(ranges)
        for read in ranges:
            start, stop = (read.start, read.stop) if isinstance(read, ByteRuns) else read
            if not 0 <= start <= stop <= self.size:
                raise SliceNotHeld(f"bytes {start}..{stop} are outside the {self.size}-byte input")
        info = self.source.info(self.root)
        if info is not None and info.size != self.size:
            raise Unavailable(
                f"input blob 0x{self.root.hex()} holds {info.size} bytes, the job {self.size}"
            )
        runs = _runs(covering_chunks(ranges))
        if len(runs) > MAX_HELD_PIECES:
            raise SliceNotHeld(f"{len(runs)} separate ranges, over {MAX_HELD_PIECES}")
        pieces = tuple(
            (first * CHUNK_BYTES, b"".join(self.chunk(i) for i in range(first, stop)))
            for first, stop in runs
        )
        return InputSlices(self.size, pieces)


async def fetch_chunks(
    fetch_leaf: Callable[[bytes, int], Awaitable[BlobLeaf | None]],
    root: bytes,
    indices: Iterable[int],
) -> dict[tuple[bytes, int], tuple[bytes, list[bytes]]]:
    """Chunks `indices` of blob `root` from peers (`NodeNetwork.fetch_blob_leaf`, which checks
    each proof against the peer's leaf count; `BlobInput` checks it again against the count the
    job's input size gives), keyed as `WithPeerLeaves.fetched` keeps them; a chunk no peer
    served is left out."""
    found: dict[tuple[bytes, int], tuple[bytes, list[bytes]]] = {}
    limiter = trio.Semaphore(CHUNK_FETCH_CONCURRENCY)

    async def fetch(index: int) -> None:
        async with limiter:
            leaf = await fetch_leaf(root, index)
        if leaf is not None:
            found[(root, index)] = (leaf.leaf, list(leaf.proof))

    indices = list(indices)
    async with trio.open_nursery() as nursery:
        for index in indices:
            nursery.start_soon(fetch, index)
    log.info(
        "fetched %d of %d chunks of input blob 0x%s from peers",
        len(found),
        len(indices),
        root.hex()[:16],
    )
    return found


__all__ = [
    "CHUNK_FETCH_CONCURRENCY",
    "MAX_HELD_PIECES",
    "BlobInput",
    "InputSlices",
    "LeafSource",
    "Read",
    "SliceNotHeld",
    "Unavailable",
    "chunk_count",
    "covering_chunks",
    "fetch_chunks",
]
