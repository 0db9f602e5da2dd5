"""The treasury's income on the chain's own paths, in real blocks: its share of fees, plain
transfers (donations), its share of era inflation, slashes; and a spend paid in a block.

The market's and compute's paths (protocol fees, rent, deadline penalties, failed jobs, kept
bonds) are exercised by their own tests, each of which checks every pallet's invariants, the
treasury's ledger among them, after its blocks.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.pallets import treasury
from runtime.pallets.staking import eras
from runtime.pallets.treasury import Ledger, TreasuryParams
from tests.runtime.pallets.market_helpers import UNIT
from tests.runtime.pallets.staking_helpers import (
    BOB,
    NINA,
    PARAMS,
    PPM,
    C,
    StakingChain,
    boundary,
    staking_config,
)

SHARE = 200_000
WITH_SHARE = TreasuryParams(inflation_share_ppm=SHARE)


def chain_with(params: TreasuryParams = WITH_SHARE) -> StakingChain:
    return StakingChain(replace(staking_config(), treasury=params))


def ledger(chain: StakingChain) -> Ledger:
    return treasury.Ledgers.get(chain.overlay())


def test_fees_and_plain_transfers_are_recorded_by_source() -> None:
    chain = chain_with()
    start = chain.total(TREASURY)
    out = chain.call(BOB, "balances", "transfer", TREASURY, 5 * UNIT)
    assert out.error is None
    gained = chain.total(TREASURY) - start
    assert ledger(chain).donations == 5 * UNIT
    assert ledger(chain).fees == gained - 5 * UNIT > 0
    assert chain.problems() == []


def test_the_treasury_mints_its_share_of_each_era_and_the_validators_the_rest() -> None:
    chain = chain_with()
    fees_before = ledger(chain).fees
    events = boundary(chain)
    share = PARAMS.era_reward * SHARE // PPM
    assert ledger(chain).inflation == share
    rewarded = sum(args[1] for name, args in events if name == "Rewarded")
    minted = next(args[1] for name, args in events if name == "EraPaid")
    assert minted == rewarded + share  # the era's mint, the treasury's share included
    assert PARAMS.era_reward - share - 10 <= rewarded <= PARAMS.era_reward - share
    assert ledger(chain).fees == fees_before  # empty blocks: no fees
    assert chain.problems() == []


def test_with_no_share_the_validators_are_minted_the_whole_reward() -> None:
    chain = chain_with(TreasuryParams(inflation_share_ppm=0))
    events = boundary(chain)
    assert ledger(chain).inflation == 0
    rewarded = sum(args[1] for name, args in events if name == "Rewarded")
    assert PARAMS.era_reward - 10 <= rewarded <= PARAMS.era_reward
    assert eras.era_reward_for(PARAMS, PARAMS.era_blocks) == PARAMS.era_reward


def test_an_offline_slash_is_recorded_as_a_slash() -> None:
    chain = chain_with()
    chain.offline = {C}
    events = boundary(chain)
    slash = next(args[1] for name, args in events if name == "Offline")
    assert slash > 0 and ledger(chain).slashes == slash
    assert chain.problems() == []


def test_a_spend_approved_by_root_is_claimed_in_a_block_for_free() -> None:
    chain = chain_with()
    assert chain.call(BOB, "balances", "transfer", TREASURY, 500 * UNIT).error is None
    assert chain.root_call("treasury", "spend", 300 * UNIT, NINA.public, 0) is None
    before = chain.balance(NINA)
    out = chain.call(BOB, "treasury", "payout", 0)
    assert out.error is None and out.fee == 0  # a duty that succeeded: its fee refunded
    assert chain.balance(NINA) == before + 300 * UNIT
    again = chain.call(BOB, "treasury", "payout", 0)
    assert again.error == "AlreadyPaid" and again.fee > 0  # a second claim pays its fee in full
    assert chain.balance(NINA) == before + 300 * UNIT
    assert ledger(chain).spends == 300 * UNIT
    assert chain.problems() == []
