"""Finding a result's leaves where they lie, for Freivalds' check (`gpu_worker.freivalds`).

A list or tuple of bytes leaves is found in one compiled pass over its item pointers and each
leaf's header (its type and size: CPython's object layout, checked at import, `_OBJECTS`);
any other sequence, or a leaf of another type or size, goes the one-by-one way. The check holds
its own list of the leaves (`_held`) while it reads them where they lie. Also the pointer and
prefetch intrinsics the check's kernels read rows with.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.extending import intrinsic
from numba.np.numpy_support import carray

from gpu_worker.inputs import I64
from gpu_worker.jobs import LeafTile
from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)

Leaf = bytes | memoryview


@dataclass(frozen=True)
class _Grid:
    """One layer's leaves from leaf `first` on: bands of row_block rows, each cut into tiles of
    col_block columns, band-major (the last band and the last tile may be smaller)."""

    first: int
    rows: int
    width: int
    row_block: int
    col_block: int

    @property
    def col_tiles(self) -> int:
        return -(-self.width // self.col_block)

    @property
    def leaves(self) -> int:
        return -(-self.rows // self.row_block) * self.col_tiles

    def tile(self, layer: int, index: int) -> LeafTile:
        """The tile of leaf `index` (counted from the job's first leaf)."""
        band, col = divmod(index - self.first, self.col_tiles)
        r, c = band * self.row_block, col * self.col_block
        return LeafTile(
            layer,
            slice(r, min(r + self.row_block, self.rows)),
            slice(c, min(c + self.col_block, self.width)),
        )


def _pointer_typer(kind: Any) -> Callable[[Any, Any], Any]:
    def typer(typingctx: Any, address: Any) -> Any:
        if not isinstance(address, types.Integer):
            return None
        pointer = _CPointer(kind)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.inttoptr(args[0], context.get_value_type(pointer))

        return pointer(address), codegen

    return typer


_CPointer: Any = types.CPointer
_int32_pointer: Any = intrinsic(_pointer_typer(types.int32))
_int64_pointer: Any = intrinsic(_pointer_typer(types.int64))


def _prefetch_typer(typingctx: Any, address: Any) -> Any:
    if not isinstance(address, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        pointer = ir.PointerType()
        i32 = ir.IntType(32)
        name = "llvm.prefetch.p0"
        function = builder.module.globals.get(name) or ir.Function(
            builder.module, ir.FunctionType(ir.VoidType(), [pointer, i32, i32, i32]), name
        )
        # Read (0), keep in every cache level (3), data (1).
        flags = [ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        builder.call(function, [builder.inttoptr(args[0], pointer), *flags])
        return context.get_dummy_value()

    return types.void(address), codegen


_prefetch: Any = intrinsic(_prefetch_typer)


def _object_layout() -> tuple[int, int, int, int] | None:
    """Where a bytes object's type, size and data lie from its id(), and where a list's item
    pointers lie (CPython: an object's header, then its data), or None where this interpreter
    lays them out otherwise."""
    probe = [b"where", b"else"]
    data = cast(int, ctypes.cast(ctypes.c_char_p(probe[0]), ctypes.c_void_p).value) - id(probe[0])
    type_at, size_at, items_at = 8, 16, 24  # a reference count, the type, the size, the items

    def word(address: int) -> int:
        return ctypes.c_ssize_t.from_address(address).value

    items = word(id(probe) + items_at)
    if (
        sys.byteorder != "little"
        or word(id(probe[0]) + type_at) != id(bytes)
        or word(id(probe[0]) + size_at) != len(probe[0])
        or word(id(probe) + type_at) != id(list)
        or (word(items), word(items + 8)) != (id(probe[0]), id(probe[1]))
    ):
        return None
    return type_at, size_at, data, items_at


_OBJECTS: Final = _object_layout()


@numba.njit(cache=True)  # holds the GIL, so that no thread changes a list while it is read
def _bytes_leaves(items: int, count: int, layout: I64, grids: I64) -> I64:
    """The ids at items[0..count) (a list's item pointers, or an array of ids) when each is a
    bytes object of its tile's size (4 bytes an entry); otherwise an empty array.

    layout = (id(bytes), where the type lies, where the size lies); grids[j] = (first leaf,
    rows, width, row_block, col_block) of layer j's tiles, which cover the ids in order.
    """
    ids = carray(_int64_pointer(items), count).copy()
    for j in range(grids.shape[0]):
        first, rows, width, row_block, col_block = grids[j]
        col_tiles = (width + col_block - 1) // col_block
        for band in range((rows + row_block - 1) // row_block):
            height = min(row_block, rows - band * row_block)
            for t in range(col_tiles):
                w = min(col_block, width - t * col_block)
                at = ids[first + band * col_tiles + t]
                if carray(_int64_pointer(at + layout[1]), 1)[0] != layout[0]:
                    return ids[:0]
                if carray(_int64_pointer(at + layout[2]), 1)[0] != height * w * 4:
                    return ids[:0]
    return ids


def _leaf_addresses(grids: Sequence[_Grid], leaves: Sequence[Leaf]) -> I64 | None:
    """Where each leaf's entries lie, when the leaves are bytes objects of their tiles' sizes;
    None otherwise (other leaves take `_addresses`, after their sizes are checked one by one).

    One compiled pass over a list's item pointers and the leaves' headers, where checking each
    leaf's type and size and taking its address from Python costs about 0.1 µs a leaf in each
    of three passes (0.4 ms for 4,096 tiles, a quarter of the whole check on two cores).
    """
    count = sum(g.leaves for g in grids)
    if _OBJECTS is None or len(leaves) != count or count == 0:
        return None
    type_at, size_at, data, items_at = _OBJECTS
    layout = np.array([id(bytes), type_at, size_at], np.int64)
    table = np.array(
        [(g.first, g.rows, g.width, g.row_block, g.col_block) for g in grids], np.int64
    )
    if type(leaves) is list:
        items = ctypes.c_ssize_t.from_address(id(leaves) + items_at).value
        ids = _bytes_leaves(items, count, layout, table)
    elif type(leaves) is tuple:  # holds its items, as a list does
        listed = np.fromiter(map(id, leaves), np.int64, count)
        ids = _bytes_leaves(listed.ctypes.data, count, layout, table)
    else:  # another sequence may make its items on access and free them at once
        return None
    return ids + data if len(ids) == count else None


def _held(leaves: Sequence[Leaf]) -> list[Leaf]:
    """The leaves in a list of the check's own, which keeps every one alive while it is read
    (where it lies): a sequence may make its items on access, or its owner replace them, and a
    leaf freed under the check would have it read whatever comes to lie there."""
    return list(leaves)


def _addresses(blocks: Sequence[Leaf | np.ndarray]) -> I64:
    """Where each block's bytes lie; the caller keeps the blocks alive while they are read."""
    out = np.empty(len(blocks), np.int64)
    for index, block in enumerate(blocks):
        out[index] = np.frombuffer(block, np.uint8).ctypes.data
    return out


def _native_blocks(leaves: Sequence[Leaf]) -> Sequence[Leaf | np.ndarray]:
    """Leaves as native int32 blocks: themselves on little-endian machines, converted elsewhere."""
    if sys.byteorder == "little":
        return leaves
    return [np.frombuffer(leaf, "<i4").astype(np.int32) for leaf in leaves]
