"""What a job will cost before it is submitted: its escrow under the chain's market parameters,
the least price the least escrow allows, the requester's balance and the standing asks."""

from __future__ import annotations

from dataclasses import dataclass

from chain.client.chain import XplClient
from chain.client.jobs.errors import JobRequestError
from chain.client.jobs.requests import JobRequest
from runtime.pallets import balances, market
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount
from runtime.workloads import WorkloadShape, payment_for


def least_price(workload: str, shape: WorkloadShape, params: market.MarketParams) -> int:
    """The lowest price per 10^9 units whose escrow for a job of this workload and shape
    reaches the least escrow (the deposit) and whose payment reaches the least payment."""
    cost_units = shape.cost_units
    least = max(balances.EXISTENTIAL_DEPOSIT, params.min_payment)
    low, high = 1, max(1, -(-least * 10**9 // cost_units))
    while low < high:
        middle = (low + high) // 2
        if (
            params.escrow_for(workload, shape, middle) >= balances.EXISTENTIAL_DEPOSIT
            and payment_for(cost_units, middle) >= params.min_payment
        ):
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True, slots=True)
class Quote:
    """What a job will hold and whether a worker stands ready to take it."""

    cost_units: int
    leaves: int
    escrow: int
    free: int
    cheapest_ask: int | None
    """The lowest ask among the workers that offer the workload (None: no worker offers it)."""
    within_price: int
    """How many workers offer the workload at or below the job's price."""

    @property
    def unmatchable(self) -> bool:
        """No worker asks as little as the job pays: the chain refuses it (NoEligibleWorker)."""
        return self.within_price == 0


def quote_job(client: XplClient, requester: bytes, request: JobRequest) -> Quote:
    """The job's escrow (a model's fee per use included) and the market for it; JobRequestError
    if the chain would refuse it (an escrow below the least escrow, or more than the requester's
    free balance)."""
    shape = request.shape
    params, _ = client.market_params()
    escrow = params.escrow_for(request.workload, shape, request.max_price)
    fee = 0 if request.model is None else request.model.fee
    if escrow < balances.EXISTENTIAL_DEPOSIT:
        lowest = least_price(request.workload, shape, params)
        raise JobRequestError(
            f"the escrow at that price, {format_amount(escrow)}, is below the least escrow of "
            f"{format_amount(balances.EXISTENTIAL_DEPOSIT)}: this job needs a maximum price of "
            f"at least {format_amount(lowest)} per 10^9 units"
        )
    escrow += fee  # a model's fee per use is held with the escrow
    account = client.account(requester)
    free = account.free
    if escrow > account.usable:
        locked = f" ({format_amount(free - account.usable)} of it locked by votes)"
        raise JobRequestError(
            f"the escrow, {format_amount(escrow)}, is more than the free balance of "
            f"{encode_address(requester)}, {format_amount(free)}"
            f"{locked if account.usable < free else ''}"
        )
    next_block = client.best_number() + 1
    asks = [
        price
        for worker in client.workers().values()
        if not worker.retiring
        and (price := worker.ask_at(request.workload, next_block)) is not None
    ]
    return Quote(
        cost_units=shape.cost_units,
        leaves=shape.leaves,
        escrow=escrow,
        free=free,
        cheapest_ask=min(asks) if asks else None,
        within_price=sum(1 for price in asks if price <= request.max_price),
    )
