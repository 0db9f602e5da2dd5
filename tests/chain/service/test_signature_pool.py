"""Signature checking in worker processes gives the same answers as checking in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.service.signature_pool import (
    CHUNKS_PER_WORKER,
    MIN_PARALLEL,
    ChecksInWorkers,
    ProcessVerifier,
)
from runtime.executive import InlineVerifier
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair


def signed_items(count: int) -> list[tuple[bytes, bytes, bytes]]:
    items = []
    for i in range(count):
        keypair = Keypair.from_seed(blake2b_256(b"verifier-test-%d" % i))
        message = blake2b_256(b"message-%d" % i)
        items.append((keypair.public, message, keypair.sign(message)))
    return items


@pytest.fixture(scope="module")
def verifier() -> Iterator[ProcessVerifier]:
    pool = ProcessVerifier(2)
    yield pool
    pool.close()


@pytest.mark.timeout(120)
def test_workers_agree_with_inline_checks_and_find_the_bad_ones(verifier: ProcessVerifier) -> None:
    items = signed_items(3 * MIN_PARALLEL + 5)
    public, message, signature = items[7]
    items[7] = (public, message, bytes([signature[0] ^ 1]) + signature[1:])  # a bad signature
    public, message, signature = items[-1]
    items[-1] = (public, blake2b_256(b"another message"), signature)  # signed something else
    expected = InlineVerifier().submit(items)()
    assert expected.count(False) == 2
    assert verifier.submit(items)() == expected


@pytest.mark.timeout(60)
def test_small_and_malformed_batches_are_checked_in_process(verifier: ProcessVerifier) -> None:
    small = signed_items(3)
    assert verifier.submit(small)() == [True, True, True]
    odd = signed_items(MIN_PARALLEL)
    odd[0] = (odd[0][0][:31], odd[0][1], odd[0][2])  # a truncated public key
    results = verifier.submit(odd)()
    assert results[0] is False and all(results[1:])


@pytest.mark.timeout(60)
def test_a_refused_blocks_checks_not_yet_started_are_cancelled() -> None:
    pool = ProcessVerifier(1)
    try:
        # Chunks of 1,000 checks (tens of milliseconds each), so that a loaded machine does not
        # let the worker get through several before the cancel.
        items = signed_items(CHUNKS_PER_WORKER * 1_000)
        pending = pool.submit(items)
        assert isinstance(pending, ChecksInWorkers)
        pending.cancel()
        # One worker holds at most two of the chunks (and may have finished one): the others
        # are never checked.
        assert pending.cancelled >= CHUNKS_PER_WORKER - 3
        assert pool.submit(items)() == [True] * len(items)
    finally:
        pool.close()


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError):
        ProcessVerifier(0)
