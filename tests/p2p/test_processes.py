"""Separate node processes on 127.0.0.1, through the bench: everything published arrives."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(150)

BENCH_ARGUMENTS = ("--nodes", "3", "--rate", "10", "--seconds", "2", "--drain", "2")
BENCH_ARGUMENTS += ("--block-bytes", "300000")


def test_three_node_processes_deliver_every_message() -> None:
    bench = subprocess.run(
        [sys.executable, "-m", "p2p.bench", *BENCH_ARGUMENTS],
        capture_output=True,
        text=True,
        timeout=140,
        check=True,
    )
    report = bench.stdout
    published = int(re.search(r"published (\d+)", report).group(1))  # type: ignore[union-attr]
    assert published == 3 * 20
    assert f"delivered {2 * published} of {2 * published}, lost 0" in report
    assert "connected peers per node at start: [2, 2, 2]" in report
    assert re.search(r"latency all +ms: p50 +[\d.]+", report)
