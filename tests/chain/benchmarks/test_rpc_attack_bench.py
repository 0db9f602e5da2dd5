"""`xpl benchmark rpc-attack`: its arguments and its percentile (the attack itself runs in
tests/chain/test_rpc_attacks.py against a real node)."""

from __future__ import annotations

import math

from chain.benchmarks.rpc_attack_bench import percentile
from chain.cli.main import main


def test_bad_arguments_are_refused_before_a_node_starts() -> None:
    assert main(["benchmark", "rpc-attack", "--duration", "0"]) == 2
    assert main(["benchmark", "rpc-attack", "--stalled", "-1"]) == 2


def test_the_p99_of_a_run_with_a_failed_call_is_infinite() -> None:
    latencies = [1.0] * 99 + [math.inf]
    assert percentile(latencies, 0.5) == 1.0
    assert percentile(latencies, 0.99) == math.inf
    assert percentile([], 0.99) == math.inf
