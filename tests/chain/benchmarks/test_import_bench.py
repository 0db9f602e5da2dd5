"""The import benchmark: its figures by the clock and by CPU time, and its pooled variant, in
which the importing node checks none of the signatures its pool checked on admission."""

from __future__ import annotations

import runtime.executive as executive
from chain.benchmarks.import_bench import run_import_benchmark
from runtime.primitives.keys import verify


def test_a_pooled_import_checks_no_signature_and_a_plain_one_checks_each(monkeypatch):
    checked: list[bytes] = []

    def counting(public: bytes, message: bytes, signature: bytes) -> bool:
        checked.append(message)
        return verify(public, message, signature)

    monkeypatch.setattr(executive, "verify", counting)
    pooled = run_import_benchmark(txs=60, accounts=12, pooled=True)
    assert checked == [] and pooled.pooled
    plain = run_import_benchmark(txs=60, accounts=12)
    assert len(checked) == 60 and not plain.pooled
    for figures in (pooled, plain):
        assert figures.transfers_per_cpu_s > 0 and figures.verify_per_cpu_s > 0
        ratio = figures.transfers_per_cpu_s / figures.verify_per_cpu_s
        assert abs(figures.cpu_ratio - ratio) < 0.01
