"""The weight of block hooks is mandatory: counted apart from the transactions', it takes no
capacity from them and does not move the fee multiplier (staking's era end is the heavy hook).

On the staking test chain (staking_helpers) eras are 10 blocks: block 10 ends era 0.
"""

from __future__ import annotations

import pytest

from chain.client.chain import transfer_call
from runtime.executive import BlockBuilder, ExhaustsResources
from runtime.pallets import balances, staking
from runtime.pallets.system import EXTRINSIC_BASE_WEIGHT, MAX_BLOCK_WEIGHT, MAX_NORMAL_WEIGHT
from runtime.pallets.transaction_payment import FIXED_ONE, NextFeeMultiplier, next_multiplier
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    ERA_BLOCKS,
    StakingChain,
    staking_chain,
)

TRANSFER_WEIGHT = EXTRINSIC_BASE_WEIGHT + balances.TRANSFER_WEIGHT


def _multiplier(chain: StakingChain) -> int:
    return NextFeeMultiplier.get(chain.overlay())


def _era_end_builder() -> tuple[StakingChain, BlockBuilder, int]:
    """A chain one block before its era ends, with the fee multiplier at twice its floor (so
    that fullness can move it either way); the era-end block opened, and its hooks' weight."""
    chain = staking_chain()
    overlay = StateOverlay(chain.read)
    NextFeeMultiplier.put(overlay, 2 * FIXED_ONE)
    apply_changes(chain.state, overlay.changes())
    chain.advance_to(ERA_BLOCKS - 1)
    hook = (len(chain.candidates()) + len(chain.nominators())) * staking.SLASH_WEIGHT
    return chain, chain.builder(), hook


def test_the_era_end_hook_weight_does_not_move_the_fee_multiplier() -> None:
    chain, builder, hook = _era_end_builder()
    before = _multiplier(chain)
    assert hook > 0
    chain.seal(builder)
    assert chain.era() == 1
    after = _multiplier(chain)
    # What an empty block gives, not what counting the hook as transactions would.
    assert after == next_multiplier(before, 0, MAX_NORMAL_WEIGHT) < before
    assert next_multiplier(before, hook, MAX_NORMAL_WEIGHT) > after


def test_the_era_end_hook_weight_leaves_the_transactions_their_whole_capacity() -> None:
    chain, builder, hook = _era_end_builder()
    assert builder.context.weight_used == 0
    assert builder.context.mandatory_weight >= hook
    # Transactions filled the normal class up to one transfer: the last transfer still fits.
    builder.context.weight_used += MAX_NORMAL_WEIGHT - TRANSFER_WEIGHT
    tx = chain.sign(ALICE, transfer_call(BOB.public, balances.EXISTENTIAL_DEPOSIT))
    assert builder.push(tx)
    assert builder.context.weight_used == MAX_NORMAL_WEIGHT


def test_hooks_heavier_than_the_block_keeps_for_them_leave_transactions_less() -> None:
    chain, builder, _ = _era_end_builder()
    builder.context.mandatory_weight = MAX_BLOCK_WEIGHT - TRANSFER_WEIGHT + 1
    tx = chain.sign(ALICE, transfer_call(BOB.public, balances.EXISTENTIAL_DEPOSIT))
    with pytest.raises(ExhaustsResources):
        builder.push(tx)
