"""The Numba BLAKE3 tile kernel: every tile's hash is the blake3 package's, over the tile's bytes.

Sizes are chosen across BLAKE3's boundaries (a partial block, one chunk exactly, a chunk and a
word, several chunks whose tree has uneven subtrees) and tiles at the matrix's edges.
"""

from __future__ import annotations

import numpy as np
import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import commitment
from gpu_worker.commitment import tile_leaf_hashes
from gpu_worker.jobs import tile_leaves
from gpu_worker.kernels import blake3_tiles
from gpu_worker.kernels.blake3_tiles import layout_hashes, leaf_hashes_at, tile_hashes
from runtime.primitives.merkle import LEAF_KEY, leaf_hash


def matrix(rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-(2**31), 2**31, size=(rows, cols), dtype=np.int32)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 24),
    cols=st.integers(1, 40),
    row_block=st.integers(1, 24),
    col_block=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_small_tiles_hash_like_their_encoded_leaves(
    rows: int, cols: int, row_block: int, col_block: int, seed: int
) -> None:
    c = matrix(rows, cols, seed)
    expected = [leaf_hash(leaf) for leaf in tile_leaves(c, row_block, col_block)]
    assert list(tile_leaf_hashes(c, row_block, col_block)) == expected


@pytest.mark.parametrize(
    "words",
    [16, 17, 255, 256, 257, 512, 768, 1024, 1025, 1280, 2049, 2304],
)
def test_tiles_across_chunk_boundaries_match_the_package(words: int) -> None:
    # One tile per row, `words` int32 wide: 1 to 9 chunks, so trees of every uneven shape.
    c = matrix(3, words, words)
    key = bytes(range(32))
    got = tile_hashes(c, 1, words, key)
    for row in range(3):
        assert bytes(got[row]) == blake3(c[row].astype("<i4").tobytes(), key=key).digest()


def test_tiles_of_a_gemm_result_at_the_default_layout_shape() -> None:
    c = matrix(40, 300, 5)  # 8 × 128 tiles, the last column of tiles 44 wide
    expected = [leaf_hash(leaf) for leaf in tile_leaves(c, 8, 128)]
    assert list(tile_leaf_hashes(c, 8, 128)) == expected
    changed = c.copy()
    changed[39, 299] ^= 1  # one bit of the last tile
    again = list(tile_leaf_hashes(changed, 8, 128))
    assert again[:-1] == expected[:-1] and again[-1] != expected[-1]


def test_what_is_not_an_int32_matrix_or_a_tile_is_refused() -> None:
    with pytest.raises(ValueError, match="2-D int32"):
        tile_hashes(np.zeros((4, 4), np.int64), 2, 2, bytes(32))
    with pytest.raises(ValueError, match="2-D int32"):
        tile_hashes(np.zeros(16, np.int32), 2, 2, bytes(32))
    with pytest.raises(ValueError, match="at least 1 × 1"):
        tile_hashes(np.zeros((4, 4), np.int32), 0, 2, bytes(32))


@pytest.mark.parametrize(
    ("rows", "cols", "row_block", "col_block"), [(9, 50, 4, 13), (9, 50, 4, 50)]
)
def test_tiles_over_the_kernels_size_take_the_packages_path_to_the_same_hashes(
    rows: int, cols: int, row_block: int, col_block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiles (copied one at a time) and row bands (hashed where they lie) by the blake3 package.
    monkeypatch.setattr(commitment, "KERNEL_LEAF_BYTES", 0)
    c = matrix(rows, cols, 9)
    expected = [leaf_hash(leaf) for leaf in tile_leaves(c, row_block, col_block)]
    for threads in (1, 2):
        assert list(tile_leaf_hashes(c, row_block, col_block, threads=threads)) == expected


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 700),
    row_block=st.integers(1, 40),
    col_block=st.sampled_from([1, 7, 15, 16, 32, 64, 100, 128, 256, 300, 512, 700]),
    key=st.binary(min_size=32, max_size=32),
    seed=st.integers(0, 2**16),
)
def test_tiles_of_any_shape_and_key_hash_like_the_package(
    rows: int, cols: int, row_block: int, col_block: int, key: bytes, seed: int
) -> None:
    # Widths of 16·2^k words take the uniform path (blocks a step apart), others are gathered;
    # a group of 16 chunks may mix leaves of both kinds at a matrix's edges.
    c = matrix(rows, cols, seed)
    got = tile_hashes(c, row_block, col_block, key)
    expected = [blake3(leaf, key=key).digest() for leaf in tile_leaves(c, row_block, col_block)]
    assert [bytes(row) for row in got] == expected


def test_a_group_mixing_one_row_leaves_and_tiles_hashes_each_its_own_way() -> None:
    # The last tile of a row of 8 × 64 tiles and the 1 × 300 leaves of the last row share a
    # group of chunks: each lane's blocks must be found its own way.
    key = bytes(range(32))
    for rows, cols, row_block, col_block in [(9, 364, 8, 300), (17, 320, 8, 64), (9, 576, 8, 512)]:
        c = matrix(rows, cols, rows)
        got = tile_hashes(c, row_block, col_block, key)
        expected = [blake3(t, key=key).digest() for t in tile_leaves(c, row_block, col_block)]
        assert [bytes(row) for row in got] == expected


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 1300), min_size=1, max_size=30),
    key=st.binary(min_size=32, max_size=32),
)
def test_leaves_laid_out_one_after_another_hash_like_the_package(
    sizes: list[int], key: bytes
) -> None:
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = matrix(1, int(bounds[-1]) + 3, len(sizes)).reshape(-1)
    got = layout_hashes(flat, bounds, key)
    for i, size in enumerate(sizes):
        leaf = flat[bounds[i] : bounds[i] + size].tobytes()
        assert bytes(got[i]) == blake3(leaf, key=key).digest()


@pytest.mark.parametrize("threshold", [0, 10**12])
def test_one_thread_or_every_core_give_the_same_hashes(
    threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blake3_tiles, "PARALLEL_BYTES", threshold)
    c = matrix(64, 600, 3)  # 150 KiB: more than one task of 128 chunks
    expected = [leaf_hash(leaf) for leaf in tile_leaves(c, 8, 128)]
    assert [bytes(row) for row in tile_hashes(c, 8, 128, LEAF_KEY)] == expected


def test_a_leaf_outside_the_result_or_overlapping_rows_is_refused() -> None:
    data = np.zeros(100, np.int32)
    one = np.ones(1, np.int64)

    def at(start: int, height: int, width: int, stride: int) -> None:
        leaf_hashes_at(data, start * one, height * one, width * one, stride * one, bytes(32))

    at(0, 10, 10, 10)  # the whole result: fine
    for start, height, width, stride in [(1, 10, 10, 10), (-1, 1, 5, 5), (0, 2, 10, 5)]:
        with pytest.raises(ValueError, match="outside"):
            at(start, height, width, stride)
    with pytest.raises(ValueError, match="rise"):
        layout_hashes(data, np.array([0, 50, 40], np.int64), bytes(32))
    with pytest.raises(ValueError, match="rise"):
        layout_hashes(data, np.array([0, 101], np.int64), bytes(32))


@settings(max_examples=40, deadline=None)
@given(
    leaves=st.integers(0, 20),
    leaf_words=st.sampled_from([1, 7, 16, 255, 256, 257, 512, 1024, 1031]),
    seed=st.integers(0, 2**16),
)
def test_runs_laid_end_to_end_hash_like_the_package(
    leaves: int, leaf_words: int, seed: int
) -> None:
    data = matrix(1, leaves * leaf_words, seed).reshape(-1)
    key = blake3(seed.to_bytes(4, "little")).digest()
    expected = b"".join(
        blake3(data[i * leaf_words : (i + 1) * leaf_words].tobytes(), key=key).digest()
        for i in range(leaves)
    )
    assert blake3_tiles.run_hashes(data, leaf_words, key) == expected


def test_runs_that_are_not_whole_or_not_flat_int32_are_refused() -> None:
    data = matrix(2, 8, 0)
    with pytest.raises(ValueError, match="whole runs"):
        blake3_tiles.run_hashes(data.reshape(-1), 3, LEAF_KEY)
    with pytest.raises(ValueError, match="whole runs"):
        blake3_tiles.run_hashes(data.reshape(-1), 0, LEAF_KEY)
    with pytest.raises(ValueError, match="flat C-contiguous int32"):
        blake3_tiles.run_hashes(data, 8, LEAF_KEY)
    with pytest.raises(ValueError, match="flat C-contiguous int32"):
        blake3_tiles.run_hashes(data.reshape(-1)[::2], 4, LEAF_KEY)
    with pytest.raises(ValueError, match="flat C-contiguous int32"):
        blake3_tiles.run_hashes(data.reshape(-1).view(np.uint32), 8, LEAF_KEY)
