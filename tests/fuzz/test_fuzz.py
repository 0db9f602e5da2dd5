"""The fuzz targets in the suite: every input that ever failed is replayed, every seed passes, and
each target runs under atheris for a few seconds (`make fuzz` runs them for longer), all targets
in one process that imports and instruments XPL once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.run import REGRESSIONS, SUITE_INSTRUMENTED, run_targets
from tests.fuzz.targets import TARGETS, Finding, request_document

SECONDS_IN_SUITE = 2
"""How long each target is fuzzed by the test suite."""
BROKEN = "no_such_target"
"""A name run beside the targets: its child fails to start, and the run must say so."""


def _regressions() -> list[tuple[str, Path]]:
    if not REGRESSIONS.is_dir():
        return []
    return [
        (target.name, path)
        for target in sorted(REGRESSIONS.iterdir())
        if target.is_dir()
        for path in sorted(target.iterdir())
        if path.is_file()
    ]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_and_kept_failure_is_handled(name: str) -> None:
    one = TARGETS[name].build()
    for seed in TARGETS[name].seeds():
        one(seed)
    for target, path in _regressions():
        if target == name:
            one(path.read_bytes())


@pytest.fixture(scope="module")
def fuzzed() -> dict[str, tuple[bool, str]]:
    """Every target fuzzed for SECONDS_IN_SUITE, in one run: {name: (passed, summary)}."""
    return run_targets([*sorted(TARGETS), BROKEN], SECONDS_IN_SUITE, None, SUITE_INSTRUMENTED)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_each_target_fuzzes_for_a_few_seconds_without_failure(
    name: str, fuzzed: dict[str, tuple[bool, str]]
) -> None:
    passed, summary = fuzzed[name]
    assert passed, summary
    assert " 0 inputs" not in summary, summary


def test_a_target_that_fails_in_its_child_is_reported_with_its_error(
    fuzzed: dict[str, tuple[bool, str]],
) -> None:
    """A failure in one forked child fails that target only, with the child's own output."""
    passed, summary = fuzzed[BROKEN]
    assert not passed
    assert "FAILED (exit 70)" in summary and f"KeyError: '{BROKEN}'" in summary, summary
    assert all(fuzzed[name][0] for name in TARGETS)


def test_a_target_reports_what_breaks_its_promise() -> None:
    """The codec target fails on bytes that decode but re-encode otherwise: here, a codec whose
    canonical check is bypassed by decoding non-minimal msgpack directly."""
    import msgpack

    from runtime.primitives import codec

    one = TARGETS["codec"].build()
    non_minimal = b"\xcc\x01"  # 1 as a uint8 with a header: msgpack would write b"\x01"
    one(non_minimal)  # refused by the codec: the target accepts the refusal
    original = codec.decode
    codec.decode = lambda data, **_: msgpack.unpackb(data)  # type: ignore[assignment]
    try:
        with pytest.raises(Finding):
            one(non_minimal)
    finally:
        codec.decode = original


def test_structured_rpc_requests_name_the_nodes_methods() -> None:
    TARGETS["rpc"].build()
    document = request_document(bytes([1, 3, 2, 2, 1, 5]))
    assert document.startswith(b'{"jsonrpc": "2.0", "method": "')
