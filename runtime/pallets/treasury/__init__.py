"""Treasury: the chain's funds for its builders, what enters them, and how governance spends them.

Rules (after Substrate's pallet_treasury, with a ledger):

1. Income. The TREASURY account receives its share of transaction fees (`fees`), slashes and
   penalties (`slashes`: equivocation and offline slashes, committee members' penalties,
   workers' failed jobs and missed or declined deadlines, dispute bonds kept, deposits of killed
   referenda and rejected bounties), `inflation_share_ppm` of each era's reward (`inflation`),
   the market's protocol fee (`protocol`), the rent of waiting jobs (`rent`), unused bounty and
   grant funds (`returns`) and plain transfers to it (`donations`). Each path that credits it
   records what it credited in the ledger (`receive`), by source.
2. Spends. Root, or a referendum on a spending track (`treasurer`, `small_spender`) up to its
   track's `max_spend`, approves a spend (`spend(amount, beneficiary, valid_from)`): its amount
   is promised at once, out of the available funds (the balance less the existential deposit and
   less what other spends are promised), and is refused if they do not cover it. Anyone may
   claim it for the beneficiary (`payout`) from `valid_from` until `payout_period` blocks later,
   once; after that anyone may close it (`check_status`) and its amount is available again.
   Root may void a pending spend. Every spend's record stays readable under its index.
3. Burn. Every `spend_period` blocks, `burn_ppm` of the available funds is burned: promised
   funds never are. One burn per period, whatever the number of spends.
4. Payments for others. Bounties and grants take their funds with `pay_out(ctx, purpose, dest,
   amount)`, only from the available funds, recorded by purpose.
5. The invariant: the treasury's balance equals its genesis balance plus its income less its
   spends, payments and burns, and its pending spends are covered (`invariants`).

What a spender can still do: split. A spending track's limit bounds one spend, and each spend
is its own referendum, with its own submission and decision deposits and its own vote: a
spender can have several spends below the limit approved only by winning several referenda,
each of which voters see and can reject. Nothing bounds the sum a track spends in a period.

The package: `params` (constants and TreasuryParams), `storage` (the ledger and spend records),
`events`, `errors`, `ledger` (receive, pay_out, available, burn), `spends`, `invariants`,
`pallet`. Others import it as one: `from runtime.pallets import treasury`.
"""

from __future__ import annotations

from runtime.accounts import TREASURY
from runtime.pallets import balances
from runtime.pallets.governance.spending import register_spending_call
from runtime.pallets.treasury.errors import InsufficientFunds
from runtime.pallets.treasury.ledger import (
    DONATIONS,
    FEES,
    INFLATION,
    PROTOCOL,
    RENT,
    RETURNS,
    SLASHES,
    available,
    balance,
    inflation_share,
    next_burn,
    note_donation,
    pay_out,
    receive,
)
from runtime.pallets.treasury.pallet import Treasury, TreasuryGenesis
from runtime.pallets.treasury.params import (
    DEFAULT_TREASURY_PARAMS,
    MAX_HISTORY,
    MAX_PENDING_SPENDS,
    NAME,
    PPM,
    PURPOSES,
    SOURCES,
    TreasuryParams,
)
from runtime.pallets.treasury.spends import spend_amount
from runtime.pallets.treasury.storage import (
    History,
    Ledger,
    Ledgers,
    Params,
    Pending,
    Promised,
    Spend,
    SpendCount,
    Spends,
)

register_spending_call(NAME, "spend", spend_amount)
balances.on_transfer_to(TREASURY, note_donation)

__all__ = [
    "DEFAULT_TREASURY_PARAMS",
    "DONATIONS",
    "FEES",
    "INFLATION",
    "MAX_HISTORY",
    "MAX_PENDING_SPENDS",
    "NAME",
    "PPM",
    "PROTOCOL",
    "PURPOSES",
    "RENT",
    "RETURNS",
    "SLASHES",
    "SOURCES",
    "History",
    "InsufficientFunds",
    "Ledger",
    "Ledgers",
    "Params",
    "Pending",
    "Promised",
    "Spend",
    "SpendCount",
    "Spends",
    "Treasury",
    "TreasuryGenesis",
    "TreasuryParams",
    "available",
    "balance",
    "inflation_share",
    "next_burn",
    "note_donation",
    "pay_out",
    "receive",
]
