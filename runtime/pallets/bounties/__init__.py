"""Bounties: work the treasury pays for once it is done, judged by a curator (Substrate's
pallet_bounties and pallet_child_bounties). Other code imports the package as one:
`from runtime.pallets import bounties`.

The rules:

1. Proposal. Anyone proposes a bounty of `value` (at least `value_minimum`) with a description,
   holding a bond of `bond_base` + `bond_per_byte` per byte (hold "bounties").
2. Approval. Root, or a spending track whose `max_spend` covers the value (a referendum on
   `treasurer` or `small_spender`), approves it: the treasury pays the value into the bounty's
   own account (`bounty_account`, no key controls it) and the bond is refunded. Root (a
   referendum on the root track) rejects a proposal with `close_bounty`: the bond is slashed to
   the treasury. A proposal nobody decided on within `proposal_period` blocks may be withdrawn
   by anyone (`withdraw_proposal`), the bond refunded.
3. Curator. The same origins propose a curator and its fee (below the value); the curator
   accepts, holding a deposit (`curator_deposit_ppm` of the fee within its bounds) until the
   bounty ends. It must `extend_bounty_expiry` at least every `update_period` blocks; after that
   anyone may unassign it, its deposit slashed. Governance may unassign it at any time (deposit
   slashed); it may resign (deposit refunded).
4. Milestones. The curator adds child bounties out of the bounty's funds (never more than its
   account holds above the existential deposit; at most MAX_CHILDREN open), proposes their
   curators, who accept (a deposit, none for the parent's curator) and award them.
5. Award and claim. The curator awards the bounty (once no children are open) to a beneficiary;
   after `payout_delay` blocks anyone claims it: the curator gets its fee and deposit back, the
   beneficiary the rest, the bounty is removed (no second claim). In the delay governance may
   unassign a curator that awarded wrongly (its deposit slashed, the bounty funded again).
6. Close. Root closes a bounty that is not awarded and has no open children: its account goes
   back to the treasury (as returns); an active curator gets its deposit back. A child bounty
   closed by Root or the parent's curator returns its funds to the parent.

Every end state refunds or slashes each deposit: a proposal's bond at approval, rejection or
withdrawal; a curator's deposit at the claim, a close, a resignation or an unassignment. The
invariants check that the "bounties" holds equal exactly the deposits owed.

What an attacker can still do: propose many bounties, each costing its bond and fee, locked until
governance rejects (slashed) or the proposal period ends (refunded); a curator may award its own
account, which governance can undo during the payout delay at the cost of the curator's deposit;
a stranger may unassign only a curator silent past its update due.

The package: `params` (constants and parameters), `storage` (records, storage, readers),
`events`, `errors`, `funds` (how money and deposits move), `children` (the child bounties'
calls), `invariants`, `pallet` (the BountiesPallet and a bounty's calls).
"""

from __future__ import annotations

from runtime.pallets.bounties.pallet import BountiesPallet
from runtime.pallets.bounties.params import (
    DEFAULT_BOUNTIES_PARAMS,
    HOLD,
    MAX_CHILDREN,
    MAX_DESCRIPTION,
    NAME,
    BountiesParams,
)
from runtime.pallets.bounties.storage import (
    Bounties,
    Bounty,
    BountyCount,
    ChildBounties,
    ChildBounty,
    ChildBountyCount,
    Children,
    Params,
    bounty_account,
    child_account,
)

__all__ = [
    "DEFAULT_BOUNTIES_PARAMS",
    "HOLD",
    "MAX_CHILDREN",
    "MAX_DESCRIPTION",
    "NAME",
    "Bounties",
    "BountiesPallet",
    "BountiesParams",
    "Bounty",
    "BountyCount",
    "ChildBounties",
    "ChildBounty",
    "ChildBountyCount",
    "Children",
    "Params",
    "bounty_account",
    "child_account",
]
