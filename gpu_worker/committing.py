"""A job computed and committed together: the leaves of each finished band of rows are hashed
while the kernel computes the next band.

    committed = compute_committed(spec, inputs, device="cpu")
    assert committed.root == merkle_root(compute_leaves(spec, inputs, device="cpu"))

The kernels of gemm_i8 and qmlp_i8 compute their result one band of rows at a time
(`gemm_bands`, `gemm_tile_bands`, `qmlp_bands` of each device's module), writing every leaf
where it lies in a result laid out in leaf order (a tile is a matrix of its own there), so each
leaf is a read-only view into the result: committing copies nothing. A band is a whole number of
leaves, so once the kernel yields it, its leaves are final.

- CUDA (`HASH_ON_DEVICE`): each band's leaves are hashed on the GPU right after its kernel
  (`gpu_worker.kernels.cuda_blake3`, a leaf a thread), and the band and its 32-byte hashes are
  copied back on a second stream while the next band computes. From the host, a leaf costs a
  1.5 to 2 µs `blake3` call holding the GIL whatever its size, more than a GPU spends on a
  small tile.
- A device that computes while the host's cores are free (`HASH_WHILE_COMPUTING`) has the host
  hash band i on every core while it computes band i + 1; only the last band's hashing waits.
- The CPU kernel holds every core: one band (`gpu_worker.kernels.cpu.BANDS`), whose tasks
  hash the leaves they have just computed (`HASH_IN_KERNEL`: a few tiles of one column of
  tiles, or a few rows, in the core's cache) by the Numba BLAKE3 kernel, the product and the
  hashes one parallel call; through the same `LeafHashing` interface as CUDA. Where a leaf is
  over `commitment.KERNEL_LEAF_BYTES` (one task would hash it alone), the product is computed
  first and each layer's result hashed after it on every core (`blake3_tiles.layout_hashes`,
  the `blake3` package for the large leaves). The leaves are handed out as views made when
  read (`LeafViews`), the hashes as one `HashLevel`: no Python object a leaf is made to commit.

sgd_fxp steps depend on each other one after the other and are hashed after the fact; so are the
reference device's. The result is equal, byte for byte, to `compute_leaves` and `merkle_root`.
"""

from __future__ import annotations

import bisect
import functools
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, overload

import numpy as np

from gpu_worker.commitment import (
    KERNEL_LEAF_BYTES,
    HashLevel,
    leaf_hashes,
    root_of_levels,
    tree_of,
)
from gpu_worker.devices import backend, resolve_device
from gpu_worker.jobs import JobSpec, _arrays, compute_leaves, gemm_blocks
from gpu_worker.kernels.blake3_tiles import layout_hashes
from runtime.primitives.merkle import LEAF_KEY

BANDS: Final = 8
"""Bands a job's rows are cut into where the device does not say: only the last one's hashing
is not overlapped with the kernel."""

Leaf = bytes | memoryview


@dataclass(frozen=True, slots=True)
class Committed:
    """A computed result and its commitment: the leaves (views into the result where they lie
    contiguous), their hashes, every level of the tree (for serving proofs) and the root."""

    leaves: Sequence[Leaf]
    hashes: Sequence[bytes]
    levels: list[Sequence[bytes]]
    root: bytes


@dataclass(frozen=True, slots=True)
class LeafRegion:
    """Where a leaf lies in the result: the rows of one layer's matrix it covers (`layer` 0 for
    gemm_i8), and its elements [start, stop) in that layer's result laid out in leaf order."""

    layer: int
    rows: slice
    start: int
    stop: int


def committed_from_leaves(leaves: Sequence[Leaf]) -> Committed:
    """The commitment to leaves computed already (hashed on every core)."""
    return _committed(list(leaves), leaf_hashes(leaves))


def _committed(leaves: Sequence[Leaf], hashes: Sequence[bytes]) -> Committed:
    levels = tree_of(hashes)
    return Committed(leaves, hashes, levels, root_of_levels(levels))


def _tiling(spec: JobSpec) -> tuple[int, int, int | None, list[int]]:
    """(rows, row_block, col_block or None for whole rows, each layer's width) of a gemm_i8 or
    qmlp_i8 job."""
    p = spec.params
    if spec.workload == "gemm_i8":
        row_block, col_block = gemm_blocks(spec)
        return p[0], row_block, (col_block if col_block < p[2] else None), [p[2]]
    return p[0], p[1], None, list(p[3:])


def leaf_regions(spec: JobSpec) -> list[LeafRegion]:
    """Where each leaf of a gemm_i8 or qmlp_i8 job lies in its result, in leaf order: row
    blocks of each layer, or tiles (row_tile · col_tiles + col_tile) where the job has them."""
    return list(_regions(spec))


@functools.lru_cache(maxsize=4)
def _regions(spec: JobSpec) -> tuple[LeafRegion, ...]:
    """leaf_regions, kept: a worker commits jobs of one shape again and again, and listing
    4,096 tiles costs about a millisecond."""
    rows, row_block, col_block, widths = _tiling(spec)
    regions: list[LeafRegion] = []
    for layer, width in enumerate(widths):
        offset = 0
        for r0 in range(0, rows, row_block):
            band = slice(r0, min(r0 + row_block, rows))
            height = band.stop - band.start
            for c0 in range(0, width, col_block or width):
                size = height * (min(c0 + (col_block or width), width) - c0)
                regions.append(LeafRegion(layer, band, offset, offset + size))
                offset += size
    return tuple(regions)


def row_bands(rows: int, row_block: int, *, bands: int = BANDS, min_rows: int = 1) -> list[slice]:
    """The bands of rows the kernel computes one at a time: whole leaves each, about `bands`
    of them, none under `min_rows` rows unless a leaf is larger."""
    if rows <= 0:
        return []
    blocks = -(-rows // row_block)
    per_band = max(-(-blocks // max(bands, 1)), -(-min_rows // row_block), 1)
    step = per_band * row_block
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]


def _byte_view(result: np.ndarray) -> memoryview | None:
    """The result's bytes as one memoryview (each leaf is a slice of it: slicing a memoryview
    costs about 0.1 µs, exporting an array's buffer for every leaf ten times that); None on a
    big-endian host, where the leaves must be converted."""
    return result.data.cast("B") if sys.byteorder == "little" else None


def _leaf_view(result: np.ndarray, view: memoryview | None, region: LeafRegion) -> Leaf:
    """The leaf's bytes as a view into the result (laid out in leaf order, read-only: the root
    is taken over them, so nothing may change them after); a copy on a big-endian host."""
    if view is not None:
        return view[4 * region.start : 4 * region.stop]
    return np.ascontiguousarray(result[region.start : region.stop], dtype="<i4").tobytes()


class LeafViews(Sequence[Leaf]):
    """A result's leaves, each a read-only view into the result where it lies (laid out in leaf
    order), made as it is read: a list of thousands of views would cost more than hashing
    them (about 0.1 µs a view)."""

    __slots__ = ("_regions", "_results", "_views")

    def __init__(self, results: Sequence[np.ndarray], regions: Sequence[LeafRegion]) -> None:
        self._results = list(results)
        self._views = [_byte_view(result) for result in self._results]
        self._regions = regions

    def __len__(self) -> int:
        return len(self._regions)

    @overload
    def __getitem__(self, index: int) -> Leaf: ...
    @overload
    def __getitem__(self, index: slice) -> list[Leaf]: ...
    def __getitem__(self, index: int | slice) -> Leaf | list[Leaf]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        region = self._regions[index]
        return _leaf_view(self._results[region.layer], self._views[region.layer], region)

    def __iter__(self) -> Iterator[Leaf]:
        results, views = self._results, self._views
        for region in self._regions:
            yield _leaf_view(results[region.layer], views[region.layer], region)


def _banded(
    spec: JobSpec,
    inputs: Mapping[str, bytes],
    kernels: Any,
    bands: Sequence[slice],
    hashing: Any = None,
) -> tuple[list[np.ndarray], Iterator[tuple[int, slice]]]:
    """Each layer's result laid out in leaf order (flat, read-only views) and an
    iterator computing it band by band, yielding (layer, rows) as each band is final; with
    `hashing` (a device that hashes), each band's leaf hashes come back with it."""
    arrays = _arrays(spec, inputs)
    _, row_block, col_block, _ = _tiling(spec)
    extra = {} if hashing is None else {"hashing": hashing}
    if spec.workload == "gemm_i8":
        if col_block is None:
            out, progress = kernels.gemm_bands(arrays["a"], arrays["b"], bands, **extra)
        else:
            out, progress = kernels.gemm_tile_bands(
                arrays["a"], arrays["b"], row_block, col_block, bands, **extra
            )
        results = [out.reshape(-1)]
        layer_progress: Iterator[tuple[int, slice]] = ((0, band) for band in progress)
    else:
        accs, layer_progress = kernels.qmlp_bands(arrays["x"], arrays["layers"], bands, **extra)
        results = [acc.reshape(-1) for acc in accs]
    return [_read_only(result) for result in results], layer_progress


def _read_only(result: np.ndarray) -> np.ndarray:
    """A read-only view of `result` (which the kernel goes on writing): the leaves are views of
    it, and the root is taken over them, so nothing may change them after."""
    view = result.view()
    view.flags.writeable = False
    return view


_hashers: list[ThreadPoolExecutor] = []
_hashers_lock = threading.Lock()


def _hasher() -> ThreadPoolExecutor:
    """The thread that hashes a finished band while the device computes the next (each band on
    every core, through `leaf_hashes`), started once a process: on a busy machine starting a
    thread was measured at several milliseconds, as much as hashing a megabyte of result."""
    with _hashers_lock:
        if not _hashers:
            _hashers.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="xpl-bands"))
        return _hashers[0]


def _hash_into(hashes: list[bytes], indices: Sequence[int], leaves: Sequence[Leaf]) -> None:
    """Hash the leaves at `indices` (on every core) into their places in `hashes`."""
    for index, digest in zip(indices, leaf_hashes([leaves[i] for i in indices]), strict=True):
        hashes[index] = digest


def compute_committed(
    spec: JobSpec,
    inputs: Mapping[str, bytes],
    *,
    device: str = "auto",
    bands: int | None = None,
    min_band_rows: int | None = None,
) -> Committed:
    """The job's leaves and their commitment, hashing each finished band while the next
    computes; equal to `compute_leaves` followed by `merkle_root`.

    The rows are cut into about `bands` bands of whole leaves, each at least `min_band_rows`
    rows (defaults: the device's BANDS and MIN_BAND_ROWS: on a GPU, several bands of rows
    enough to fill it; on the CPU, whose kernel holds every core, one).
    """
    device = resolve_device(device)
    kernels = backend(device)
    if spec.workload not in ("gemm_i8", "qmlp_i8") or not hasattr(kernels, "gemm_bands"):
        return committed_from_leaves(compute_leaves(spec, inputs, device=device))
    regions = _regions(spec)
    _, row_block, _, _ = _tiling(spec)
    if bands is None:
        bands = int(getattr(kernels, "BANDS", BANDS))
    if min_band_rows is None:
        min_band_rows = int(getattr(kernels, "MIN_BAND_ROWS", 1))
    band_list = row_bands(spec.params[0], row_block, bands=bands, min_rows=min_band_rows)
    if getattr(kernels, "HASH_ON_DEVICE", False) or (
        getattr(kernels, "HASH_IN_KERNEL", False)
        and sys.byteorder == "little"
        and _layer_bounds(spec) is not None
    ):
        return _committed_on_device(spec, inputs, kernels, band_list)
    results, progress = _banded(spec, inputs, kernels, band_list)
    leaves = LeafViews(results, regions)
    if not getattr(kernels, "HASH_WHILE_COMPUTING", True):
        # A CPU kernel holds every core: its leaves are hashed after it, on every core.
        for _ in progress:
            pass
        return _committed(leaves, _layout_hashes(spec, results, leaves))
    # A device that leaves the host's cores free has each band hashed as it lands.
    in_band = _leaves_by_band(spec, tuple(band.start for band in band_list))
    hashes: list[bytes] = [b""] * len(regions)
    remaining = len(band_list) * len(results)  # the (layer, band) pairs the kernel yields
    pending: list[Future[None]] = []
    waiting: list[int] = []
    for layer, rows in progress:
        remaining -= 1
        waiting += in_band.get((layer, rows.start), ())
        if remaining:
            pending.append(_hasher().submit(_hash_into, hashes, waiting, leaves))
            waiting = []
    for future in pending:
        future.result()
    _hash_into(hashes, waiting, leaves)  # the last band has nothing left to overlap with
    return _committed(leaves, hashes)


def _layout_hashes(spec: JobSpec, results: Sequence[np.ndarray], leaves: LeafViews) -> HashLevel:
    """Every leaf's hash, read where it lies in its layer's result (laid out in leaf order): by
    the Numba BLAKE3 kernel, 16 chunks side by side on every core, one call a layer; by the
    `blake3` package a leaf where a leaf is over KERNEL_LEAF_BYTES."""
    bounds = _layer_bounds(spec)
    if bounds is None or sys.byteorder != "little":
        return HashLevel(b"".join(leaf_hashes(leaves)))
    parts = [
        layout_hashes(result, layer, LEAF_KEY).tobytes()
        for result, layer in zip(results, bounds, strict=True)
    ]
    return HashLevel(b"".join(parts))


@functools.lru_cache(maxsize=4)
def _layer_bounds(spec: JobSpec) -> tuple[np.ndarray, ...] | None:
    """Each layer's leaf bounds (elements) in its result laid out in leaf order, the layers in
    leaf order; None where a leaf is over KERNEL_LEAF_BYTES."""
    layers: list[list[int]] = []
    for region in _regions(spec):
        if 4 * (region.stop - region.start) > KERNEL_LEAF_BYTES:
            return None
        if region.layer == len(layers):
            layers.append([region.start])
        layers[region.layer].append(region.stop)
    bounds = tuple(np.array(layer, np.int64) for layer in layers)
    for array in bounds:
        array.flags.writeable = False
    return bounds


def _committed_on_device(
    spec: JobSpec, inputs: Mapping[str, bytes], kernels: Any, bands: Sequence[slice]
) -> Committed:
    """compute_committed on a device whose kernels hash each band's leaves (CUDA, the CPU):
    the host takes the leaves as views and the hashes as they come back, and builds the tree."""
    hashing = [
        kernels.LeafHashing(starts, lengths, np.zeros((len(starts), 32), np.uint8))
        for starts, lengths in _leaf_bytes(spec)
    ]
    results, progress = _banded(spec, inputs, kernels, bands, hashing)
    for _ in progress:
        pass
    # The layers' leaves are consecutive in leaf order: their hashes, joined, are in it too.
    hashes = HashLevel(b"".join(layer.out.tobytes() for layer in hashing))
    return _committed(LeafViews(results, _regions(spec)), hashes)


@functools.lru_cache(maxsize=4)
def _leaf_bytes(spec: JobSpec) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Each layer's leaves' (byte offsets, byte lengths) in its result laid out in leaf order,
    kept for the next job of the same shape (listing 2,048 tiles costs about half a
    millisecond, 3% of a gemm_i8 n = 1,024 job)."""
    layers: dict[int, list[LeafRegion]] = {}
    for region in _regions(spec):
        layers.setdefault(region.layer, []).append(region)
    kept = []
    for _, regions in sorted(layers.items()):
        starts = np.array([4 * region.start for region in regions], np.int64)
        lengths = np.array([4 * (region.stop - region.start) for region in regions], np.int64)
        starts.flags.writeable = lengths.flags.writeable = False
        kept.append((starts, lengths))
    return tuple(kept)


@functools.lru_cache(maxsize=4)
def _leaves_by_band(
    spec: JobSpec, starts: tuple[int, ...]
) -> dict[tuple[int, int], tuple[int, ...]]:
    """The leaves in each (layer, band start) of the bands starting at `starts` (a band holds
    whole leaves), kept for the next job of the same shape."""
    by_band: dict[tuple[int, int], list[int]] = {}
    for index, region in enumerate(_regions(spec)):
        band = starts[bisect.bisect_right(starts, region.rows.start) - 1]
        by_band.setdefault((region.layer, band), []).append(index)
    return {key: tuple(indices) for key, indices in by_band.items()}


__all__ = [
    "BANDS",
    "Committed",
    "LeafRegion",
    "LeafViews",
    "committed_from_leaves",
    "compute_committed",
    "leaf_regions",
    "row_bands",
]
