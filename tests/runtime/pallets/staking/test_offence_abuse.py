"""Offences used as tools: an offender that has a colluding reporter slash its own nominators
again and again, and a validator that reports its own sybil to end an era early. Each drives the
runtime the way the attack would and shows it now gains nothing.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks
(staking_helpers). Eve is a sybil validator of Dave's with the minimum bond.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.pallets import session
from runtime.pallets.staking.eras import era_reward_for
from tests.runtime.pallets.market_helpers import UNIT, hook_events
from tests.runtime.pallets.staking_helpers import (
    DAVE,
    EVE,
    NINA,
    PARAMS,
    REPORTER,
    D,
    StakingChain,
    staking_chain,
    vote_equivocation,
)


def _set_id(chain: StakingChain) -> int:
    return session.SetId.get(chain.overlay())


def test_made_up_rounds_slash_an_offender_once_an_era() -> None:
    """A vote offence names any round number, so an offender once signed prevote pairs for ten
    rounds that never ran and a colluding reporter had each slashed: the nominator lost its whole
    5,000 XPL instead of 500, and offender and reporter together came out 408 XPL ahead. A
    validator is now slashed at most once an era: the nine other reports are refused, the
    nominator loses its 10%, and the pair loses."""
    chain = staking_chain()
    assert chain.bond(DAVE, 100 * UNIT).error is None
    assert chain.validate(DAVE).error is None
    assert chain.bond(NINA, 5_000 * UNIT).error is None
    assert chain.nominate(NINA, DAVE).error is None
    chain.to_era_end()
    assert D in chain.active()
    set_id = _set_id(chain)
    nina_before = chain.ledger(NINA).total
    pair_before = chain.total(DAVE) + chain.total(REPORTER)
    proofs = [vote_equivocation(DAVE, set_id=set_id, round_=1_000 + r) for r in range(10)]
    outs = chain.calls(*[(REPORTER, "staking", "report_equivocation", (p,)) for p in proofs])
    assert [o.error for o in outs] == [None] + ["AlreadyPunished"] * 9
    ledger = chain.ledger(NINA)
    assert nina_before - (0 if ledger is None else ledger.total) == 500 * UNIT
    gain = chain.total(DAVE) + chain.total(REPORTER) - pair_before
    assert gain < 0, gain


def test_an_era_cut_short_by_a_report_mints_only_its_part_of_the_reward() -> None:
    """An era forced to end by an equivocation report once minted the whole era reward, however
    few blocks it lasted: Dave reported his sybil early in an era and was paid 200 XPL for a
    few blocks, for about 9 XPL of the sybil's slash. The era now mints its reward in proportion
    to its blocks, so ending it early mints nothing extra."""
    chain = staking_chain(replace(PARAMS, validator_count=5))
    assert chain.bond(DAVE, 1_000 * UNIT).error is None
    assert chain.validate(DAVE).error is None
    assert chain.bond(EVE, 100 * UNIT).error is None
    assert chain.validate(EVE).error is None
    chain.to_era_end()
    assert chain.era() == 1
    era_start = chain.head.number
    chain.advance(2)
    out = chain.report(DAVE, vote_equivocation(EVE, set_id=_set_id(chain)))
    assert out.error is None
    events = hook_events(chain.advance()[0], "staking")  # the forced end of era 1
    assert chain.era() == 2
    blocks = chain.head.number - era_start
    minted = next(args[1] for name, args in events if name == "EraPaid")
    assert blocks < PARAMS.era_blocks
    assert (
        minted <= era_reward_for(PARAMS, blocks) == PARAMS.era_reward * blocks // PARAMS.era_blocks
    )
    assert minted < PARAMS.era_reward
