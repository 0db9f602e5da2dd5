"""The market's parameters changed by Root: who may, compute's incentive guard kept over the new
slash, and jobs in flight ending within the terms they were submitted on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from runtime import dispatch
from runtime.framework import ROOT, DispatchError, Origin
from runtime.pallets import market
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams
from runtime.pallets.compute.guard import least_audit_ppm
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM, MarketParams
from runtime.state import StateOverlay
from tests.runtime.pallets.market_helpers import (
    DAVE,
    REQUESTER,
    UNIT,
    WORKER,
    WORKER2,
    WORKER3,
    MarketChain,
    market_chain,
)
from tests.runtime.pallets.test_compute import commit_job, settle
from tests.runtime.pallets.test_compute_disputes import passed_audit

MP, CP = DEFAULT_MARKET_PARAMS, DEFAULT_COMPUTE_PARAMS


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    made.register(WORKER, capacity=16)
    yield made
    assert made.problems() == []


def args_of(params: MarketParams | ComputeParams) -> tuple[int, ...]:
    """A `set_params` call's arguments for `params`."""
    return tuple(getattr(params, f.name) for f in params.schema().fields)


def as_origin(chain: MarketChain, origin: Origin, pallet: str, *args: Any) -> str:
    """`pallet.set_params(args)` dispatched with `origin` in a new block; "" if it succeeded, else
    the error's name and reason."""
    builder = chain.builder()
    try:
        dispatch.dispatch(builder.context, origin, dispatch.encode_call(pallet, "set_params", args))
    except DispatchError as exc:
        chain.seal(builder)
        return f"{exc.error_name()}: {exc.reason()}"
    chain.seal(builder)
    return ""


def market_params(chain: MarketChain) -> MarketParams:
    return market.Params.get(StateOverlay(chain.read))


def test_only_root_changes_the_market_parameters(chain: MarketChain) -> None:
    changed = replace(MP, min_stake=200 * UNIT, ask_delay=20)
    out = chain.call(DAVE, "market", "set_params", *args_of(changed))
    assert out.error == "BadOrigin"
    assert as_origin(chain, Origin(track="treasurer"), "market", *args_of(changed)).startswith(
        "BadOrigin"
    )
    assert market_params(chain) == MP
    assert as_origin(chain, ROOT, "market", *args_of(changed)) == ""
    assert market_params(chain) == changed


def test_a_slash_too_low_for_the_compute_parameters_in_force_is_refused_saying_why(
    chain: MarketChain,
) -> None:
    """The attack: lower the slash under a compute setting that needs it, so that faking pays.
    The market's own ranges allow any slash; compute's guard, bound to the market's parameters,
    refuses it, and the reason names the rule."""
    cheap = replace(MP, slash_ppm=PPM // 10)
    reason = as_origin(chain, ROOT, "market", *args_of(cheap))
    assert reason.startswith("BadParams: with the compute parameters in force, faking results pays")
    assert "slash_ppm 100000" in reason
    assert market_params(chain) == MP


def test_governance_lowers_the_slash_after_raising_the_audits(chain: MarketChain) -> None:
    """The order matters: compute first (more audits), then the lower slash the guard now
    allows; the other order is refused at its first step."""
    cheap = replace(MP, slash_ppm=PPM)
    assert as_origin(chain, ROOT, "market", *args_of(cheap)).startswith("BadParams")
    audits = replace(CP, audit_ppm=least_audit_ppm(cheap, CP))
    assert CP.audit_ppm < audits.audit_ppm <= PPM
    assert as_origin(chain, ROOT, "compute", *args_of(audits)) == ""
    assert as_origin(chain, ROOT, "market", *args_of(cheap)) == ""
    assert market_params(chain) == cheap
    # Now the audits cannot fall back while the slash is low.
    assert as_origin(chain, ROOT, "compute", *args_of(CP)).startswith("BadParams")


@pytest.mark.parametrize(
    ("field", "value"),
    [("protocol_fee_ppm", PPM + 1), ("slash_ppm", 100 * PPM + 1), ("deadline_margin_blocks", 0)],
)
def test_parameters_out_of_range_are_refused(chain: MarketChain, field: str, value: int) -> None:
    reason = as_origin(chain, ROOT, "market", *args_of(replace(MP, **{field: value})))
    assert reason.startswith("BadParams") and field in reason
    assert market_params(chain) == MP


def test_fees_raised_under_a_committed_job_are_paid_within_its_escrow(chain: MarketChain) -> None:
    """The attack: raise the fee rates while jobs are in flight, so that their settlement takes
    more than their escrow (another job's escrow, or the requester's free balance). Each job
    pays at most what it escrowed at submission; the invariants (every escrow hold equals its
    open jobs' escrow) hold throughout (the fixture checks them)."""
    job_id = passed_audit(chain)
    commit_job(chain)  # the same requester's second job, in flight at the first's end
    escrow = chain.job(job_id).escrow
    payment = chain.job(job_id).payment
    dear = replace(
        MP,
        protocol_fee_ppm=PPM,
        verification_fee_ppm=PPM,
        min_verification_fee=10**6 * UNIT,
    )
    assert as_origin(chain, ROOT, "market", *args_of(dear)) == ""
    total_before = chain.total(REQUESTER)
    events = settle(chain, job_id)
    ((_, (_, _, paid, verifiers, protocol, refund)),) = [
        e for e in events if e[0] == "JobSettled" and e[1][0] == job_id
    ]
    assert paid == payment
    assert sum(dear.fees_for(payment)) > escrow - payment  # uncapped, they would take more
    assert paid + verifiers + protocol + refund <= escrow
    assert total_before - chain.total(REQUESTER) <= escrow
    assert chain.problems() == []  # the second job's escrow is whole


def test_a_job_keeps_its_history_when_max_reoffers_is_lowered(chain: MarketChain) -> None:
    """A job given back more often than a lowered max_reoffers allows is not a broken state:
    the invariants bound its history by the most any setting allows, and its next give-back
    expires it."""
    for worker in (WORKER2, WORKER3):
        chain.register(worker, capacity=16)
    out = chain.submit(REQUESTER, deadline=10, wait=40)
    job_id = int(out.events[1][1][0])
    first = chain.job(job_id).worker
    assert first is not None
    decliner = next(w for w in (WORKER, WORKER2, WORKER3) if w.public == first)
    assert chain.call(decliner, "market", "decline_job", job_id, chain.digest(job_id)).error is None
    chain.advance_to(chain.job(job_id).commit_by + 1)  # the second worker misses its deadline
    current = chain.job(job_id)
    assert len(current.past_matches) == 2 and current.state == "matched"
    assert as_origin(chain, ROOT, "market", *args_of(replace(MP, max_reoffers=0))) == ""
    assert chain.problems() == []
    chain.advance_to(chain.job(job_id).commit_by + 1)  # the third misses too: the job expires
    assert chain.job(job_id).state == "expired"
