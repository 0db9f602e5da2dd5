"""A bounty's life in real blocks, through signed transactions and Root calls: each block's
events account for every change of the total issuance (as the simulator checks them), every
payment out of the treasury is announced, and the pool's outflow of each call is what it holds."""

from __future__ import annotations

from dataclasses import astuple, replace

from runtime.accounts import TREASURY
from runtime.executive import CALLS
from runtime.pallets import bounties
from runtime.pallets.bounties import DEFAULT_BOUNTIES_PARAMS as P
from sim.invariants import block_events, figures_of, issuance_of, treasury_outflows
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    AUTHOR,
    CHALLENGER,
    ENDOWMENT,
    OUTSIDER,
    UNIT,
    WORKER3,
    MarketChain,
    market_config,
)

PROPOSER, CURATOR, WINNER = OUTSIDER, CHALLENGER, WORKER3
VALUE = 300 * UNIT
FEE = 20 * UNIT
DESCRIPTION = b"benchmarks for the qmlp workload"


def test_a_bounty_from_proposal_to_claim_in_blocks_accounts_for_every_coin() -> None:
    endowed = [(k.public, ENDOWMENT) for k in ACCOUNTS] + [(TREASURY, 100_000 * UNIT)]
    chain = MarketChain(market_config(endowed=endowed), AUTHOR)
    checked: list[str] = []

    def check_block() -> None:
        events = block_events(chain.read)
        issuance = issuance_of(chain.read)
        figures = figures_of(events, issuance)
        assert issuance - before[0] == figures.minted - figures.burned
        assert treasury_outflows(events) == []
        before[0] = issuance
        checked.append(str(chain.head.number))

    before = [issuance_of(chain.read)]
    fast = replace(P, payout_delay=2)
    assert chain.root_call("bounties", "set_params", *astuple(fast)) is None
    check_block()
    assert chain.call(PROPOSER, "bounties", "propose_bounty", VALUE, DESCRIPTION).error is None
    check_block()
    assert chain.root_call("bounties", "approve_bounty", 0) is None
    check_block()
    assert chain.root_call("bounties", "propose_curator", 0, CURATOR.public, FEE) is None
    check_block()
    out = chain.call(CURATOR, "bounties", "accept_curator", 0)
    assert out.error is None
    check_block()
    assert chain.call(CURATOR, "bounties", "award_bounty", 0, WINNER.public).error is None
    check_block()
    chain.advance(2)
    winner = chain.total(WINNER)
    out = chain.call(OUTSIDER, "bounties", "claim_bounty", 0)
    assert out.error is None
    check_block()
    assert chain.total(WINNER) == winner + VALUE - FEE
    assert bounties.Bounties.get(chain.overlay(), 0) is None
    assert len(checked) == 7


def test_the_pool_counts_each_deposit_a_call_holds() -> None:
    chain = MarketChain(market_config(), AUTHOR)
    ctx = chain.builder().context
    bond = CALLS[("bounties", "propose_bounty")].outflow(ctx, (VALUE, DESCRIPTION))
    assert bond == P.bond_base + P.bond_per_byte * len(DESCRIPTION)
    assert CALLS[("bounties", "accept_curator")].outflow(ctx, (0,)) == 0  # no such bounty
    for name in ("claim_bounty", "award_bounty", "unassign_curator", "add_child_bounty"):
        assert CALLS[("bounties", name)].outflow(ctx, (0,)) == 0
    assert CALLS[("grants", "call")].outflow(ctx, (0, b"")) == 0  # the grant pays, not its builder
