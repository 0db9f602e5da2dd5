"""How Freivalds' check finds its leaves: bytes leaves of their tiles' sizes are located in one
compiled pass over their headers, and that pass is the plain per-leaf definition (each leaf's
type, size and address); any leaf that is not a bytes object of its tile's size goes the slow
way, so a leaf cut short or grown is refused before anything reads past its end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import freivalds
from gpu_worker.freivalds import _Grid
from gpu_worker.inputs import InputError, generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves


class Bytes(bytes):
    """A bytes subclass: its instances are not laid out as bytes objects are."""


def layout(rows: int, widths: Sequence[int], row_block: int, col_block: int) -> list[_Grid]:
    """Grids for layers of `widths` columns, one after another."""
    grids: list[_Grid] = []
    first = 0
    for width in widths:
        grids.append(_Grid(first, rows, width, min(row_block, rows), min(col_block, width)))
        first += grids[-1].leaves
    return grids


def sizes(grids: Sequence[_Grid]) -> list[int]:
    """Every leaf's size in bytes, in leaf order: its tile's entries, 4 bytes each."""
    out: list[int] = []
    for grid in grids:
        for index in range(grid.first, grid.first + grid.leaves):
            tile = grid.tile(0, index)
            out.append((tile.rows.stop - tile.rows.start) * (tile.cols.stop - tile.cols.start) * 4)
    return out


def plain_addresses(grids: Sequence[_Grid], leaves: Sequence[object]) -> list[int] | None:
    """The definition: every leaf a bytes object of its tile's size, then where its data lies."""
    expected = sizes(grids)
    if len(leaves) != len(expected):
        return None
    for leaf, size in zip(leaves, expected, strict=True):
        if type(leaf) is not bytes or len(leaf) != size:
            return None
    return [int(np.frombuffer(leaf, np.uint8).ctypes.data) for leaf in leaves]  # type: ignore[call-overload]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 20),
    widths=st.lists(st.integers(1, 20), min_size=1, max_size=3),
    blocks=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    changes=st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(["cut", "grow", "bytearray", "subclass"])),
        max_size=2,
    ),
    as_tuple=st.booleans(),
)
def test_the_one_pass_over_the_leaves_is_the_per_leaf_definition(
    rows: int,
    widths: list[int],
    blocks: tuple[int, int],
    changes: list[tuple[int, str]],
    as_tuple: bool,
) -> None:
    """Right-sized bytes leaves give their data's addresses, read from a list's item pointers
    or, for other sequences, from their ids; a leaf 4 bytes short or long, a bytearray or a
    bytes subclass anywhere sends the whole result the slow way (None)."""
    grids = layout(rows, widths, *blocks)
    leaves: list[object] = [bytes(range(n % 251)) + bytes(n - n % 251) for n in sizes(grids)]
    for at, how in changes:
        index = at % len(leaves)
        leaf = bytes(leaves[index])  # type: ignore[call-overload]
        if how == "cut":
            leaves[index] = leaf[:-4]
        elif how == "grow":
            leaves[index] = leaf + bytes(4)
        elif how == "bytearray":
            leaves[index] = bytearray(leaf)
        else:
            leaves[index] = Bytes(leaf)
    given = tuple(leaves) if as_tuple else leaves
    found = freivalds._leaf_addresses(grids, given)  # type: ignore[arg-type]
    expected = plain_addresses(grids, leaves)
    assert (None if found is None else found.tolist()) == expected


def test_a_result_with_a_leaf_too_many_or_too_few_goes_the_slow_way() -> None:
    grids = layout(6, [5, 3], 4, 2)
    leaves = [bytes(n) for n in sizes(grids)]
    assert freivalds._leaf_addresses(grids, leaves) is not None
    assert freivalds._leaf_addresses(grids, leaves[:-1]) is None
    assert freivalds._leaf_addresses(grids, [*leaves, leaves[-1]]) is None


@pytest.mark.parametrize("how", ["cut", "grow"])
@pytest.mark.parametrize("index", [0, 7, -1])
def test_a_tiled_result_with_one_leaf_of_the_wrong_size_is_refused(how: str, index: int) -> None:
    """Every leaf but one right: the check refuses the result rather than read past a leaf."""
    spec = JobSpec("gemm_i8", (21, 13, 17, 4, 5), seed=5)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    leaves[index] = leaves[index][:-4] if how == "cut" else leaves[index] + bytes(4)
    with pytest.raises(InputError, match="bytes"):
        freivalds.check_result(spec, inputs, leaves)


def test_leaves_of_other_types_are_checked_the_slow_way_and_still_caught() -> None:
    """A result given partly as bytearrays and bytes subclasses passes when right and names the
    wrong leaf when not, as the same result given as bytes does."""
    spec = JobSpec("qmlp_i8", (11, 3, 9, 8, 6), seed=6)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    mixed: list[bytes] = [
        Bytes(leaf) if i % 3 == 1 else bytearray(leaf) if i % 3 == 2 else leaf  # type: ignore[misc]
        for i, leaf in enumerate(leaves)
    ]
    assert freivalds.check_result(spec, inputs, mixed) is None
    values = np.frombuffer(leaves[5], "<i4").copy()
    values[-1] += 1
    mixed[5] = Bytes(values.tobytes())
    assert freivalds.check_result(spec, inputs, mixed) == 5


class MadeOnAccess(Sequence[bytes]):
    """A result whose leaves are made anew each time one is asked for (as a lazy view of a
    store would): each is freed as soon as its caller lets it go."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._leaves = list(leaves)

    def __len__(self) -> int:
        return len(self._leaves)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [bytes(bytearray(leaf)) for leaf in self._leaves[index]]
        return bytes(bytearray(self._leaves[index]))


def test_leaves_made_on_access_are_read_while_alive_and_a_wrong_one_is_named() -> None:
    """A wrong result given as a sequence that makes its leaves on access is named: the check
    reads leaves it holds, never the memory of one already freed (where the last leaves made,
    all right here, would be found in place of the wrong one)."""
    spec = JobSpec("gemm_i8", (16, 13, 20, 4, 5), seed=5)
    inputs = {"a": bytes(16 * 13), "b": bytes(range(256)) + bytes(4)}  # C = 0
    leaves = [bytes(80)] * 16
    assert freivalds.check_result(spec, inputs, MadeOnAccess(leaves)) is None
    wrong = list(leaves)
    wrong[3] = np.full(20, 9, "<i4").tobytes()
    for _ in range(3):
        assert freivalds.check_result(spec, inputs, MadeOnAccess(wrong)) == 3


def test_a_bytearray_leaf_cannot_be_resized_while_the_check_reads_it(monkeypatch: Any) -> None:
    """A leaf given as a bytearray is read where it lies: growing it then would move its data
    and leave the check reading freed memory, so it is refused while the check runs (as any
    buffer held by a reader is), and the check still names the wrong leaf."""
    spec = JobSpec("gemm_i8", (21, 13, 17, 4, 5), seed=5)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves: list[Any] = list(compute_leaves(spec, inputs, device="cpu"))
    values = np.frombuffer(leaves[4], "<i4").copy()
    values[0] += 1
    leaves[4] = bytearray(values.tobytes())
    flag_rows = freivalds._flag_rows
    refused: list[bool] = []

    def growing(*args: Any) -> Any:
        try:
            leaves[4].extend(bytes(1 << 20))  # another thread of the caller's, say
        except BufferError:
            refused.append(True)
        else:
            refused.append(False)
        return flag_rows(*args)

    monkeypatch.setattr(freivalds, "_flag_rows", growing)
    assert freivalds.check_result(spec, inputs, leaves) == 4
    assert refused == [True]
