"""`xpl benchmark input-slices` on a 16 MiB input: reading only a leaf's slices keeps both the
node's and the verifying process's memory flat, and the recomputed leaf the same."""

from __future__ import annotations

from chain.benchmarks.input_slices_bench import run_input_slices_benchmark
from runtime.workloads import CHUNK_BYTES

MIB = 2**20


def test_slices_keep_the_memory_of_a_leaf_check_off_the_input_size() -> None:
    whole, slices = run_input_slices_benchmark(a_mib=16)

    assert (whole.mode, slices.mode) == ("whole", "slices")
    assert whole.verdict == slices.verdict == "pass"
    assert whole.input_bytes == slices.input_bytes == 16 * MIB
    assert whole.crossed_bytes > 16 * MIB
    assert slices.held_bytes == CHUNK_BYTES and slices.crossed_bytes < 2 * CHUNK_BYTES
    assert whole.node_peak_rss_bytes - whole.node_base_rss_bytes > 32 * MIB
    assert slices.node_peak_rss_bytes - slices.node_base_rss_bytes < 8 * MIB
    assert slices.verify_peak_rss_bytes + 16 * MIB < whole.verify_peak_rss_bytes
