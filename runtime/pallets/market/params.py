"""The market's economic parameters, declared once as a schema record, and the rules other
pallets tie to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.pallets.market.constants import (
    MAX_DEADLINE_BLOCKS,
    MAX_EXCLUDED,
    MAX_REPUTATION,
    MIN_REPUTATION,
    PPM,
)
from runtime.schema import Record, param
from runtime.state import StateOverlay
from runtime.workloads import WorkloadShape, forced_audit_units, payment_for

PPM_RULE: Final = f"must be between 0 and {PPM}"

AUDIT_FEE_COMMITTEE: Final = 3
"""The members whose audits a job's verification fee pays for (the compute pallet's default
committee, which the market cannot see: a larger committee set by Root shares the same fee)."""
AUDIT_FEE_MARGIN_PPM: Final = 1_250_000
"""How far a job's verification fee exceeds the payment share its committee recomputes (25%)."""


@dataclass(frozen=True, slots=True)
class MarketParams(Record):
    """The market's economic parameters (genesis; later governance)."""

    slash_ppm: int = param(
        fields.U32, 0, 100 * PPM, default=3 * PPM, rule=f"must be between 0 and {100 * PPM}"
    )
    """A job's slash, as a share of its payment (in parts per million)..."""
    min_slash: int = param(fields.BALANCE, default=10**12)
    """...but at least this much."""
    protocol_fee_ppm: int = param(fields.U32, 0, PPM, default=20_000, rule=PPM_RULE)
    """The treasury's share of each payment."""
    verification_fee_ppm: int = param(fields.U32, 0, PPM, default=50_000, rule=PPM_RULE)
    """The verification committee's fee, as a share of the payment (more where the workload forces
    a whole-job audit: `fees_for`)..."""
    min_verification_fee: int = param(fields.BALANCE, default=10**9)
    """...but at least this much."""
    miss_penalty_ppm: int = param(fields.U32, 0, PPM, default=100_000, rule=PPM_RULE)
    """Share of a job's slash taken from a worker that misses its deadline."""
    min_stake: int = param(fields.BALANCE, default=100 * 10**12)
    """The least stake a worker registers with."""
    decline_blocks: int = param(fields.U32, 0, MAX_DEADLINE_BLOCKS, default=3)
    """Blocks after a match in which its worker may decline the job (see `decline_penalty_ppm`)."""
    decline_penalty_ppm: int = param(fields.U32, 0, PPM, default=5_000, rule=PPM_RULE)
    """Share of a job's slash taken from the stake of a worker that declines it (to the
    treasury), with one point of reputation."""
    deadline_safety_ppm: int = param(fields.U32, PPM, 100 * PPM, default=2 * PPM)
    """A worker needs this multiple (in parts per million) of the time its registered
    throughput says a job takes..."""
    deadline_margin_blocks: int = param(fields.U32, 1, MAX_DEADLINE_BLOCKS, default=2)
    """...plus these blocks (to fetch inputs, upload and commit), after the decline window."""
    min_match_reputation: int = param(fields.I64, MIN_REPUTATION, MAX_REPUTATION, default=-20)
    """A worker whose reputation is below this is matched to no job (a miss costs 2 points, a
    proven fault 10, a settled job earns 1)."""
    ask_delay: int = param(fields.U32, 0, MAX_DEADLINE_BLOCKS, default=10)
    """Blocks before a raised ask is in force (a lowered one is at once)."""
    min_payment: int = param(fields.BALANCE, 1, None, default=5 * 10**9)
    """The least a job pays its worker: a job whose highest payment is below it is refused."""
    wait_rent: int = param(fields.BALANCE, default=10**6)
    """What a job pays the treasury for each block it waits for its first worker, when the queue
    is empty; a job submitted to a queue holding n jobs pays 1 + WAIT_RENT_GROWTH·n /
    MAX_PENDING_JOBS times it (see `market.rent`)."""
    max_reoffers: int = param(fields.U32, 0, MAX_EXCLUDED - 1, default=MAX_EXCLUDED - 1)
    """Times a job given back by its worker (a decline or a missed deadline) is offered to
    another worker; the next give-back expires it with its escrow refunded, as does its
    MAX_DECLINES-th decline (see `deadlines.give_back` and `deadlines.decline` for what sybil
    workers can do within it, and what it costs them)."""

    def check(self) -> None:
        """ValueError naming the first parameter out of its range (the shares first)."""
        self.check_fields("protocol_fee_ppm", "verification_fee_ppm", "miss_penalty_ppm")
        Record.check(self)

    def slash_for(self, payment: int) -> int:
        """A failed worker's loss on a job paying `payment`: slash_ppm of it, min_slash at least."""
        return max(self.min_slash, payment * self.slash_ppm // PPM)

    def escrow_for(self, workload: str, shape: WorkloadShape, max_price: int) -> int:
        """What a job of this workload and shape holds at submission: its highest payment plus
        the protocol and verification fees on it."""
        max_payment = payment_for(shape.cost_units, max_price)
        protocol_fee, verification_fee = self.fees_for(max_payment, workload, shape)
        return max_payment + protocol_fee + verification_fee

    def fees_for(
        self, payment: int, workload: str | None = None, shape: WorkloadShape | None = None
    ) -> tuple[int, int]:
        """(protocol fee, verification fee) on a payment for a job of this workload and shape.

        The verification fee is verification_fee_ppm of the payment (min_verification_fee at
        least): the price of the protocol's sample of `audit_leaves` leaves. Where the workload
        forces its audit beyond a sample (`forced_audit_units`: an mlp_fxp audit recomputes every
        checkpoint, the whole job), it is at least what the committee's audits recompute, priced
        as the payment prices the job: AUDIT_FEE_COMMITTEE × forced units / cost units × the
        payment, with AUDIT_FEE_MARGIN_PPM on top, 3.75 times the payment for an mlp_fxp job.
        So a party that is its own requester and worker pays for all the work its audit makes
        the committee do. Without a shape (None), the flat fee only."""
        flat = max(self.min_verification_fee, payment * self.verification_fee_ppm // PPM)
        audit = 0
        if workload is not None and shape is not None and shape.cost_units:
            forced = forced_audit_units(workload, shape)
            units = AUDIT_FEE_COMMITTEE * forced * AUDIT_FEE_MARGIN_PPM
            audit = -(-payment * units // (shape.cost_units * PPM))
        return payment * self.protocol_fee_ppm // PPM, max(flat, audit)


DEFAULT_MARKET_PARAMS: Final = MarketParams()
"""Slash 3× the payment (at least 1 XPL), 2% to the treasury, 5% (at least 0.001 XPL) to the
verifiers, 10% of the slash for a missed deadline (to the treasury), 100 XPL least stake, 3 blocks
to decline a match for 0.5% of the slash (at least 0.005 XPL, to the treasury), twice the registered
throughput's time plus 2 blocks to commit, matching from a reputation of -20, raised asks in force
after 10 blocks, 0.005 XPL least payment (about twice a commitment's fee), 10^-6 XPL a block of
waiting in an empty queue (17 times that in a full one), a job offered again after each of up to
7 misses or its first decline."""


ParamsRule = Callable[[StateOverlay, MarketParams], None]
"""A rule another pallet ties to the market's parameters: ValueError, saying why, unless the
market's parameters may become `params` in `state` as far as that pallet is concerned."""

_RULES: list[ParamsRule] = []


def bind_params_rule(rule: ParamsRule) -> None:
    """Make `market.set_params` keep `rule` (a pallet above the market, as compute with its
    incentive guard over slash_ppm, binds its rule when it is imported: the market does not import
    the pallets that read its parameters)."""
    if rule not in _RULES:
        _RULES.append(rule)


def check_bound_rules(state: StateOverlay, params: MarketParams) -> None:
    """ValueError from the first bound rule that `params` would break in `state`."""
    for rule in _RULES:
        rule(state, params)
