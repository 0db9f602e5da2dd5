"""The grinding author (`chain.core.grinding`) in a node core: the variants it builds are
different blocks, none draws other audits than the honest one, and so the block it publishes is
the honest block, byte for byte."""

from __future__ import annotations

import logging

import pytest

from chain.core.grinding import MAX_GRIND_VARIANTS, Grinding
from chain.core.node import NodeCore
from runtime.primitives.keys import dev_keypair

ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))
XPL = 10**12


def test_a_grinding_author_publishes_the_honest_block(dev, h, caplog: pytest.LogCaptureFixture):
    honest = dev.node(ALICE)
    grinder = NodeCore(dev.store(), authority=ALICE, grinding=Grinding(BOB.public, 16))
    blocks = []
    for core in (honest, grinder):
        core.start(dev.at(10))
        for nonce in range(3):
            tx = h.transfer(BOB, CHARLIE.public, XPL, nonce=nonce, genesis_hash=core.genesis_hash)
            core.submit_transaction(tx.raw, dev.at(10))
        with caplog.at_level(logging.INFO, logger="xpl.core"):
            header = h.authored(core.on_timer("slot", dev.at(11)))
        assert header is not None
        blocks.append(core.store.block(header.hash))

    assert blocks[0] == blocks[1] and len(blocks[0].extrinsics) == 3
    [line] = [r.getMessage() for r in caplog.records if "grinding block" in r.getMessage()]
    assert "16 variants (16 distinct bodies)" in line and "kept variant 0" in line


@pytest.mark.parametrize("variants", [0, MAX_GRIND_VARIANTS + 1])
def test_grinding_takes_a_bounded_number_of_variants(variants: int) -> None:
    with pytest.raises(ValueError, match="variants must be 1 to"):
        Grinding(BOB.public, variants)
