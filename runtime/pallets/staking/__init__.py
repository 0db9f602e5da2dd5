"""Staking: bonds, validator candidates and nominators, an election each era, rewards, slashing.

Rules (DESIGN 6, after Substrate's staking pallet; the stash is its own controller):

1. Bonding. A stash bonds part of its balance (held under "staking"); its ledger records the
   active bond and the chunks being unbonded, each of which unlocks at the era boundary
   `bonding_eras` eras' worth of blocks after the last boundary before its `unbond` (counted in
   blocks, so that eras forced to end early shorten nothing); `withdraw_unbonded` releases the
   unlocked chunks (those still locked when governance lengthened eras or the slash window are
   held until the era then running has its offences expire, `bonding.HeldLonger`). The
   "staking" hold always equals the ledger's total.
2. Candidacy. A stash with at least `min_validator_bond` active `validate`s with a commission and
   a session key (the key its node signs blocks and finality votes with; by default the stash
   itself). A session key belongs to one stash only, and stays that stash's after it changes
   keys, so that offences signed with it are still its own. A commission decrease applies from
   the next election; a raise applies from the first era that starts `era_blocks` or more blocks
   after it, however many eras end early meanwhile, so nominators can leave first (a new
   candidacy's commission is a raise over 0%, since nominations outlive a candidacy). A stash
   with at least `min_nominator_bond` `nominate`s up to `max_nominations` candidates instead.
   `chill` ends either.
3. Election. In the block whose number is a multiple of `era_blocks` (or the block after a
   forced era end) the era ends and the next era's validators are elected by sequential
   Phragmén (`phragmen`): up to `validator_count` eligible candidates, each standing with its own
   bond, each nominator voting for its targets with its bond, ties broken by stash bytes. Each
   nominator's bond is split over its elected targets as the election loaded them, adding up to
   the bond and never more: the validators' exposures. Session gets the set as (session key,
   total backing): the validators it already has in their places, newcomers after them sorted
   by stash. With fewer than `min_validators` eligible candidates the current set and exposures
   stay.
4. Era points: 20 per block authored, 1 per compute attestation, 1 per finality precommit noted on
   chain (`note_votes`: a round that finalized a block of this chain, once per voter per window
   of NOTE_VOTES_EVERY blocks, see `finality_notes`; a note of the previous set counts only
   blocks up to the handover to the current one). At the era's end `era_reward` (in proportion
   to the era's blocks, if it was cut short) is minted: the treasury's `inflation_share_ppm` of
   it to the treasury (`treasury.inflation_share`), the rest shared by points; each validator's
   share pays its commission, and the rest goes to it and its nominators pro rata to their
   exposure (rounding dust is not minted).
5. Offline. At the era's end, an active validator that authored no block and had no precommit
   noted, in an era long enough to give it at least two slots or whose notes credited some
   validator for at least `eras.MIN_NOTED_WINDOWS` windows, loses `offline_slash_ppm` of its
   own bond (to the treasury). It is not chilled.
6. Equivocation. Anyone may report two signed messages that prove an authority equivocated (two
   votes in one round, or two headers in one slot). The offender loses `equivocation_slash_ppm`
   of its own stake, and each of its nominators of its share, in the exposure of the era the
   offence happened in (a slot's era; a set's latest era; kept by `history` for
   `slash_window_eras` eras' worth of blocks after the era's end), from the whole ledger, active
   and unbonding; the reporter gets `reporter_reward_ppm` of the offender's own loss and the
   treasury the rest. A slot offence must be by the slot's author in that era's set, a vote
   offence by an authority of the set named; an offence is refused from `slash_window_eras` eras'
   worth of blocks after its era's end (below `bonding_eras`, so that what was unbonded after it
   is still held). The offender is disabled (its blocks are refused at once;
   but never the last enabled authority, so that blocks go on), chilled, and if it validates the
   era ends at the next block so the set changes promptly. Each offence is punished once.

The package, by sub-domain: `constants`, `params`, `storage` (records and storage items), `events`,
`errors`, `candidacy` (validators, nominators and session keys), `bonding` (ledgers), `slashing`
(slashes and equivocations), `history` (past eras kept for offences), `phragmen` (sequential
Phragmén), `election`, `eras` (points, rewards and the era's end), `genesis`, `invariants`, and
`pallet` (the Staking pallet with its calls). Other code imports it as one:
`from runtime.pallets import staking`. Its error and event types are named from their modules
(`staking.errors`, `staking.events`); callers tell a failed call by its error's name.
"""

from __future__ import annotations

from runtime.consensus import Precommit
from runtime.pallets.staking.candidacy import stash_of
from runtime.pallets.staking.constants import (
    ATTESTATION_POINTS,
    BLOCK_POINTS,
    BOND_WEIGHT,
    CANDIDACY_WEIGHT,
    HOLD,
    MAX_BONDING_ERAS,
    MAX_CANDIDATES,
    MAX_ERA_BLOCKS,
    MAX_NOMINATIONS,
    MAX_NOMINATORS,
    MAX_UNLOCKING_CHUNKS,
    NAME,
    NOMINATE_WEIGHT,
    NOTE_VOTES_WEIGHT,
    PPM,
    PRECOMMIT_POINTS,
    REPORT_WEIGHT,
    SET_PARAMS_WEIGHT,
    SIGNATURE_WEIGHT,
    SLASH_WEIGHT,
    UNIT,
)
from runtime.pallets.staking.eras import note_attestation
from runtime.pallets.staking.finality_notes import (
    NOTE_VOTES_EVERY,
    CreditedWindows,
    NotedWindows,
    is_credited,
    would_credit,
)
from runtime.pallets.staking.genesis import GenesisNominator, GenesisValidator, StakingGenesis
from runtime.pallets.staking.pallet import PRECOMMIT_FIELD, Staking
from runtime.pallets.staking.params import DEFAULT_STAKING_PARAMS, StakingParams
from runtime.pallets.staking.slashing import penalize
from runtime.pallets.staking.storage import (
    Active,
    Activity,
    Candidates,
    CommissionRaise,
    CurrentEra,
    EraActivity,
    EraStart,
    Exposure,
    Exposures,
    ForceEra,
    KeyOwner,
    Ledger,
    Ledgers,
    Nominations,
    Nominators,
    Params,
    PendingCommission,
    RetiredKeys,
    SessionKeys,
    Validators,
)

__all__ = [
    "ATTESTATION_POINTS",
    "BLOCK_POINTS",
    "BOND_WEIGHT",
    "CANDIDACY_WEIGHT",
    "DEFAULT_STAKING_PARAMS",
    "HOLD",
    "MAX_BONDING_ERAS",
    "MAX_CANDIDATES",
    "MAX_ERA_BLOCKS",
    "MAX_NOMINATIONS",
    "MAX_NOMINATORS",
    "MAX_UNLOCKING_CHUNKS",
    "NAME",
    "NOMINATE_WEIGHT",
    "NOTE_VOTES_EVERY",
    "NOTE_VOTES_WEIGHT",
    "PPM",
    "PRECOMMIT_FIELD",
    "PRECOMMIT_POINTS",
    "REPORT_WEIGHT",
    "SET_PARAMS_WEIGHT",
    "SIGNATURE_WEIGHT",
    "SLASH_WEIGHT",
    "UNIT",
    "Active",
    "Activity",
    "Candidates",
    "CommissionRaise",
    "CreditedWindows",
    "CurrentEra",
    "EraActivity",
    "EraStart",
    "Exposure",
    "Exposures",
    "ForceEra",
    "GenesisNominator",
    "GenesisValidator",
    "KeyOwner",
    "Ledger",
    "Ledgers",
    "Nominations",
    "Nominators",
    "NotedWindows",
    "Params",
    "PendingCommission",
    "Precommit",
    "RetiredKeys",
    "SessionKeys",
    "Staking",
    "StakingGenesis",
    "StakingParams",
    "Validators",
    "is_credited",
    "note_attestation",
    "penalize",
    "stash_of",
    "would_credit",
]
