"""Compute grants: an allowance from the treasury that a builder may spend only on compute jobs,
so that the treasury funds open AI work directly. Other code imports the package as one:
`from runtime.pallets import grants`.

The rules:

1. Award. Root, or a spending track whose `max_spend` covers the amount, awards `builder` a
   grant of `amount` with a price cap `max_price` and an expiry block: the treasury pays the
   amount into the grant's own account (`grant_account`, which no key controls).
2. Spending. The builder (alone) makes market calls as the grant's account with `grants.call`:
   `market.submit_job`, at a `max_price` up to the grant's and before it expires, whose escrow
   is held from the grant's account, whose worker, verifiers and protocol fee are paid from it
   when the job settles, and whose refunds (a cancel, an expiry, a failed or void job, the
   unused part of the escrow) return to it; and `market.cancel_job`. Every other call is
   refused (transfers, staking, worker registration, disputes, another grant's call), so the
   builder cannot move the grant's funds anywhere but into compute jobs. Fees are the
   builder's own.
3. Close. The builder at any time, governance at any time, anyone once the grant has expired:
   the grant account's free balance returns to the treasury (as "returns"). Escrow that open
   jobs still hold returns to the grant's account as they end; the grant stays closed (no new
   job) until a later close, by anyone, sweeps it and ends the grant. Anyone may sweep what
   reaches the account of a grant that has ended.

What a builder who is also a worker can do: register a worker (under any account) and have the
grant's jobs matched to it, being paid by the grant for the jobs it computes, as any requester's
worker is. The market matches each job to the cheapest eligible worker, and the grant caps what a
job may offer (`max_price`), so such a builder is paid at most the grant's price for compute it
actually performs and commits, and a wrong result is slashed as any worker's is. It cannot pay
itself through a failed dispute's bond (disputes are not grant calls: a builder disputes its
grant's jobs from its own account, with its own bond) nor by any transfer. What it gains beyond
honest work is at most the difference between the grant's price cap and the market's going
price, on work it did; governance sets the cap, and may close the grant at any time.
"""

from __future__ import annotations

from runtime.pallets.grants.pallet import GrantsPallet
from runtime.pallets.grants.storage import (
    ALLOWED_CALLS,
    NAME,
    Grant,
    GrantCount,
    Grants,
    grant_account,
)

__all__ = [
    "ALLOWED_CALLS",
    "NAME",
    "Grant",
    "GrantCount",
    "Grants",
    "GrantsPallet",
    "grant_account",
]
