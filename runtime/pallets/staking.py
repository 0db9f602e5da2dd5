"""Staking: bonds, validator candidates and nominators, an election each era, rewards, slashing.

Rules (DESIGN 6, after Substrate's staking pallet; the stash is its own controller):

1. Bonding. A stash bonds part of its balance (held under "staking"); its ledger records the
   active bond and the chunks being unbonded, each of which unlocks `bonding_eras` eras after
   `unbond`; `withdraw_unbonded` releases the unlocked chunks. The "staking" hold always equals
   the ledger's total.
2. Candidacy. A stash with at least `min_validator_bond` active `validate`s with a commission and
   a session key (the key its node signs blocks and finality votes with; by default the stash
   itself). A session key belongs to one stash only, and stays that stash's after it changes
   keys, so that offences signed with it are still its own. A stash with at least
   `min_nominator_bond` `nominate`s up to `max_nominations` candidates instead. `chill` ends
   either.
3. Election. In the block whose number is a multiple of `era_blocks` (or the block after a
   forced era end) the era ends and the next era's validators are elected: the top
   `validator_count` eligible candidates by approval (own bond plus the whole bond of every
   nominator naming them), ties broken by stash bytes. Each nominator's bond is then split equally
   among its elected targets (integer division, the remainder to the first in sorted order): the
   validators' exposures. Session gets the set as (session key, total backing): the validators
   it already has in their places, newcomers after them sorted by stash.
   With fewer than `min_validators` eligible candidates the current set and exposures stay.
4. Era points: 20 per block authored, 1 per compute attestation, 1 per finality precommit noted on
   chain (`note_votes`, once per finalized round). At the era's end `era_reward` is minted and
   shared by points; each validator's share pays its commission, and the rest goes to it and its
   nominators pro rata to their exposure (rounding dust is not minted).
5. Offline. At the era's end, an active validator that authored no block and had no precommit
   noted, in an era long enough to give it at least two slots, loses `offline_slash_ppm` of its
   own bond (to the treasury). It is not chilled.
6. Equivocation. Anyone may report two signed messages that prove an authority equivocated (two
   votes in one round, or two headers in one slot). The offender loses `equivocation_slash_ppm`
   of its own bond, and each of its nominators of that share of its exposure this era; the
   reporter gets `reporter_reward_ppm` of the total and the treasury the rest. The offender is
   disabled (its blocks are refused at once; but never the last enabled authority, so that blocks
   go on), chilled, and the era ends at the next block so the set changes promptly. Each offence
   is punished once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from runtime import consensus, fields
from runtime.accounts import TREASURY
from runtime.consensus import Precommit, SlotEquivocation, VoteEquivocation
from runtime.fields import FieldType
from runtime.framework import (
    U64_CODEC,
    WEIGHT_PER_MICROS,
    BlockContext,
    DispatchError,
    EventDef,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    ValueCodec,
    Weight,
    call,
    ensure_root,
    ensure_signed,
    value_codec,
)
from runtime.pallets import balances, session, system
from runtime.primitives import codec
from runtime.primitives.address import encode_address
from runtime.primitives.amount import format_amount
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.hashing import from_hex, to_hex
from runtime.schema import Record, param
from runtime.state import PrefixIterator, StateOverlay, StateReader

NAME: Final = "staking"

# Constants

HOLD: Final = "staking"
PPM: Final = 1_000_000
UNIT: Final = 10**12
MAX_CANDIDATES: Final = 1_000
MAX_NOMINATORS: Final = 1_000
MAX_NOMINATIONS: Final = 64
"""The most targets `max_nominations` may allow."""
MAX_UNLOCKING_CHUNKS: Final = 32
MAX_ERA_BLOCKS: Final = 1_000_000
MAX_BONDING_ERAS: Final = 1_000
MAX_NOTED_ROUNDS: Final = 256
"""Finality rounds remembered as noted; a round older than all of them is refused."""
MAX_OFFENCES: Final = 32
"""Offences remembered per offender, the most recent ones."""
BLOCK_POINTS: Final = 20
ATTESTATION_POINTS: Final = 1
PRECOMMIT_POINTS: Final = 1

SIGNATURE_WEIGHT: Final = 100 * WEIGHT_PER_MICROS
"""One Ed25519 check (about 60-75 µs measured with PyNaCl on the 2-core development machine)."""
BOND_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
CANDIDACY_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
NOMINATE_WEIGHT: Final = 80 * WEIGHT_PER_MICROS + MAX_NOMINATIONS * 2 * WEIGHT_PER_MICROS
NOTE_VOTES_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""Plus SIGNATURE_WEIGHT per precommit."""
SET_PARAMS_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""Decoding and range-checking the parameters and writing them."""
SLASH_WEIGHT: Final = 20 * WEIGHT_PER_MICROS
REPORT_WEIGHT: Final = (
    2 * SIGNATURE_WEIGHT + 100 * WEIGHT_PER_MICROS + MAX_NOMINATORS * SLASH_WEIGHT
)
"""Two signature checks, and a slash of the offender and each of its nominators."""


@dataclass(frozen=True, slots=True)
class StakingParams(Record):
    """Staking parameters (genesis; changed by Root, later by governance)."""

    era_blocks: int = param(fields.U32, 1, MAX_ERA_BLOCKS, default=100)
    """Blocks per era."""
    validator_count: int = param(fields.U32, 1, session.MAX_AUTHORITIES, default=100)
    """The most validators an election picks."""
    min_validators: int = param(fields.U32, 1, session.MAX_AUTHORITIES, default=1)
    """Below this many eligible candidates the current set is kept."""
    min_validator_bond: int = param(
        fields.BALANCE,
        1,
        default=100 * UNIT,
        rule="must be positive (a validator's weight is its stake)",
    )
    min_nominator_bond: int = param(fields.BALANCE, default=10 * UNIT)
    bonding_eras: int = param(fields.U32, 0, MAX_BONDING_ERAS, default=7)
    """Eras an unbonded chunk waits before it can be withdrawn."""
    era_reward: int = param(fields.BALANCE, default=100 * UNIT)
    """Minted at each era's end and shared among its validators and their nominators."""
    max_nominations: int = param(fields.U32, 1, MAX_NOMINATIONS, default=16)
    equivocation_slash_ppm: int = param(fields.U32, 0, PPM, default=100_000)
    offline_slash_ppm: int = param(fields.U32, 0, PPM, default=1_000)
    reporter_reward_ppm: int = param(fields.U32, 0, PPM, default=100_000)
    """The reporter's share of an equivocation's slash; the treasury gets the rest."""

    def check(self) -> None:
        """ValueError naming the first parameter out of its range."""
        Record.check(self)
        if self.min_validators > self.validator_count:
            raise ValueError("min_validators must be 1 to validator_count")


DEFAULT_STAKING_PARAMS: Final = StakingParams()
"""100-block eras, up to 100 validators, 100 XPL to validate and 10 XPL to nominate, 7 eras to
unbond, 100 XPL minted per era; an equivocation costs 10% (a tenth of it to the reporter), being
offline 0.1%."""


@dataclass(frozen=True, slots=True)
class Ledger(Record):
    """A stash's bond: what is active, and what is unbonding as (era it unlocks at, amount)."""

    active: int = param(fields.BALANCE)
    unlocking: tuple[tuple[int, int], ...] = param(
        fields.tuple_type(fields.pair_type(fields.U64, fields.BALANCE), MAX_UNLOCKING_CHUNKS),
        default=(),
    )

    @property
    def total(self) -> int:
        return self.active + sum(amount for _, amount in self.unlocking)

    def slashed(self, amount: int) -> Ledger:
        """This ledger less `amount`: from the active bond first, then the latest chunks."""
        active = self.active - min(self.active, amount)
        left = amount - (self.active - active)
        chunks = list(self.unlocking)
        for i in reversed(range(len(chunks))):
            if left == 0:
                break
            era, chunk = chunks[i]
            take = min(chunk, left)
            chunks[i] = (era, chunk - take)
            left -= take
        return Ledger(active, tuple((e, a) for e, a in chunks if a))


@dataclass(frozen=True, slots=True)
class Exposure(Record):
    """A validator's backing in the current era, fixed at its election."""

    session_key: bytes = param(fields.ACCOUNT)
    total: int = param(fields.BALANCE)
    own: int = param(fields.BALANCE)
    others: tuple[tuple[bytes, int], ...] = param(
        fields.tuple_type(fields.pair_type(fields.ACCOUNT, fields.BALANCE), MAX_NOMINATORS)
    )
    """(nominator, its share), sorted by nominator."""
    commission_ppm: int = param(fields.U32, 0, PPM)


@dataclass(frozen=True, slots=True)
class Activity(Record):
    """What an active validator did this era: its points, blocks and noted precommits."""

    points: int = param(fields.U64, default=0)
    blocks: int = param(fields.U64, default=0)
    precommits: int = param(fields.U64, default=0)


def _precommit_from_json(j: Any, what: str) -> Precommit:
    if not isinstance(j, list) or len(j) != 4:
        raise ValueError(f"{what}: expected [block_hash, number, voter, signature]")
    return Precommit(
        fields.HASH.from_json(j[0], f"{what}.block_hash"),
        fields.U32.from_json(j[1], f"{what}.number"),
        fields.ACCOUNT.from_json(j[2], f"{what}.voter"),
        from_hex(j[3], length=64, what=f"{what}.signature"),
    )


PRECOMMIT_FIELD: Final = FieldType(
    name="precommit",
    to_value=Precommit.to_value,
    from_value=Precommit.from_value,
    to_json=lambda p: [
        to_hex(p.block_hash),
        p.number,
        encode_address(p.voter),
        to_hex(p.signature),
    ],
    from_json=_precommit_from_json,
)


def _accounts_codec(limit: int, what: str) -> ValueCodec[tuple[bytes, ...]]:
    return value_codec(
        list,
        lambda v: tuple(
            codec.expect_bytes(a, what, length=32) for a in codec.expect_array(v, limit, what)
        ),
    )


def _pairs_codec(limit: int) -> ValueCodec[tuple[tuple[bytes, bytes], ...]]:
    def decode(v: Value) -> tuple[tuple[bytes, bytes], ...]:
        out = []
        for i, item in enumerate(codec.expect_array(v, limit, "active")):
            pair = codec.expect_list(item, 2, f"active[{i}]")
            out.append(
                (
                    codec.expect_bytes(pair[0], "active.stash", length=32),
                    codec.expect_bytes(pair[1], "active.session_key", length=32),
                )
            )
        return tuple(out)

    return value_codec(lambda pairs: [list(p) for p in pairs], decode)


def _rounds_codec() -> ValueCodec[tuple[tuple[int, int], ...]]:
    def decode(v: Value) -> tuple[tuple[int, int], ...]:
        out = []
        for i, item in enumerate(codec.expect_array(v, MAX_NOTED_ROUNDS, "noted rounds")):
            pair = codec.expect_list(item, 2, f"noted rounds[{i}]")
            out.append((codec.expect_u64(pair[0], "set_id"), codec.expect_u64(pair[1], "round")))
        return tuple(out)

    return value_codec(lambda rounds: [list(r) for r in rounds], decode)


def _account_key(a: bytes) -> bytes:
    return a


# Storage

Params: Final = StorageValue[StakingParams](
    NAME,
    "Params",
    value_codec(StakingParams.to_value, StakingParams.from_value),
    DEFAULT_STAKING_PARAMS,
)
CurrentEra: Final = StorageValue[int](NAME, "CurrentEra", U64_CODEC, 0)
EraStart: Final = StorageValue[int](NAME, "EraStart", U64_CODEC, 0)
"""The block whose hook started the current era (0 for the first era)."""
ForceEra: Final = StorageValue[bool](
    NAME, "ForceEra", value_codec(lambda v: v, lambda v: codec.expect_bool(v, "force era")), False
)
"""The current era ends at the next block, whatever its number."""
Ledgers: Final = StorageMap[bytes, Ledger](
    NAME, "Ledgers", _account_key, value_codec(Ledger.to_value, Ledger.from_value)
)
Validators: Final = StorageMap[bytes, int](NAME, "Validators", _account_key, U64_CODEC)
"""Candidates' commission, in parts per million."""
Candidates: Final = StorageValue[tuple[bytes, ...]](
    NAME, "Candidates", _accounts_codec(MAX_CANDIDATES, "candidate"), ()
)
"""The candidate stashes, sorted."""
Nominations: Final = StorageMap[bytes, tuple[bytes, ...]](
    NAME, "Nominations", _account_key, _accounts_codec(MAX_NOMINATIONS, "target")
)
"""A nominator's targets, sorted."""
Nominators: Final = StorageValue[tuple[bytes, ...]](
    NAME, "Nominators", _accounts_codec(MAX_NOMINATORS, "nominator"), ()
)
"""The nominating stashes, sorted."""
SessionKeys: Final = StorageMap[bytes, bytes](
    NAME,
    "SessionKeys",
    _account_key,
    value_codec(lambda v: v, lambda v: codec.expect_bytes(v, "session key", length=32)),
)
"""A stash's session key."""
KeyOwner: Final = StorageMap[bytes, bytes](
    NAME,
    "KeyOwner",
    _account_key,
    value_codec(lambda v: v, lambda v: codec.expect_bytes(v, "stash", length=32)),
)
"""The stash behind a session key (SessionKeys the other way round)."""
RetiredKeys: Final = StorageMap[bytes, bytes](
    NAME,
    "RetiredKeys",
    _account_key,
    value_codec(lambda v: v, lambda v: codec.expect_bytes(v, "stash", length=32)),
)
"""Session keys a stash used before, and the stash: a key is never another stash's, so an offence
signed with an old key is still the old owner's."""
Active: Final = StorageValue[tuple[tuple[bytes, bytes], ...]](
    NAME, "Active", _pairs_codec(session.MAX_AUTHORITIES), ()
)
"""The current era's validators as (stash, session key), sorted by stash."""
Exposures: Final = StorageMap[bytes, Exposure](
    NAME, "Exposures", _account_key, value_codec(Exposure.to_value, Exposure.from_value)
)
"""The current era's validators' backing, by stash."""
EraActivity: Final = StorageMap[bytes, Activity](
    NAME, "EraActivity", _account_key, value_codec(Activity.to_value, Activity.from_value)
)
"""What each of the current era's validators did so far, by stash."""
NotedRounds: Final = StorageValue[tuple[tuple[int, int], ...]](
    NAME, "NotedRounds", _rounds_codec(), ()
)
"""The latest MAX_NOTED_ROUNDS (set id, round) noted by `note_votes`, sorted."""
Offences: Final = StorageMap[bytes, tuple[bytes, ...]](
    NAME,
    "Offences",
    _account_key,
    value_codec(
        list,
        lambda v: tuple(
            codec.expect_bytes(k, "offence", max_len=64)
            for k in codec.expect_array(v, MAX_OFFENCES, "offences")
        ),
    ),
)
"""The offences a stash was punished for, the latest MAX_OFFENCES."""

# Events

_STASH = ("stash", fields.ACCOUNT)
_AMOUNT = ("amount", fields.BALANCE)
Bonded: Final = EventDef(NAME, "Bonded", (_STASH, _AMOUNT), "A stash bonded more.")
Unbonded: Final = EventDef(
    NAME,
    "Unbonded",
    (_STASH, _AMOUNT, ("unlocks_at_era", fields.U64)),
    "Part of a bond starts unbonding; it can be withdrawn from the era named.",
)
Withdrawn: Final = EventDef(
    NAME, "Withdrawn", (_STASH, _AMOUNT), "Unlocked chunks were released to the free balance."
)
ValidatorPrefsSet: Final = EventDef(
    NAME,
    "ValidatorPrefsSet",
    (_STASH, ("commission_ppm", fields.U32), ("session_key", fields.ACCOUNT)),
    "A stash is a validator candidate with this commission and session key.",
)
Nominated: Final = EventDef(
    NAME,
    "Nominated",
    (_STASH, ("targets", fields.list_type(fields.ACCOUNT, MAX_NOMINATIONS))),
)
Chilled: Final = EventDef(NAME, "Chilled", (_STASH,), "A stash stopped validating or nominating.")
NewEra: Final = EventDef(
    NAME,
    "NewEra",
    (
        ("era", fields.U64),
        ("validators", fields.list_type(fields.ACCOUNT, session.MAX_AUTHORITIES)),
    ),
    "A new era began with these validators (stashes).",
)
EraPaid: Final = EventDef(
    NAME,
    "EraPaid",
    (("era", fields.U64), ("minted", fields.BALANCE)),
    "An era's reward was minted and paid out.",
)
Rewarded: Final = EventDef(NAME, "Rewarded", (_STASH, _AMOUNT))
Slashed: Final = EventDef(NAME, "Slashed", (_STASH, _AMOUNT), "A stash's bond was slashed.")
Offline: Final = EventDef(
    NAME,
    "Offline",
    (_STASH, _AMOUNT),
    "A validator neither authored a block nor voted in an era, and was slashed this much.",
)
Equivocation: Final = EventDef(
    NAME,
    "Equivocation",
    (("offender", fields.ACCOUNT), ("kind", fields.str_type(8))),
    'A validator was punished for an equivocation ("vote" or "slot").',
)
VotesNoted: Final = EventDef(
    NAME,
    "VotesNoted",
    (("set_id", fields.U64), ("round", fields.U64), ("voters", fields.U32)),
    "The precommits of a finalized round earned their voters points.",
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", ())

# Errors


class StakingError(DispatchError):
    pallet = NAME


class AlreadyBonded(StakingError):
    """This stash is already bonded; use bond_extra."""


class NotBonded(StakingError):
    """This account has no bond."""


class BondTooSmall(StakingError):
    """The bond is below the minimum for what the stash does (chill before unbonding below it)."""


class InsufficientBond(StakingError):
    """The amount is zero or more than the active bond."""


class TooManyChunks(StakingError):
    """The ledger already has the most unlocking chunks; withdraw some first."""


class NothingToWithdraw(StakingError):
    """No unbonded chunk has unlocked yet."""


class BadCommission(StakingError):
    """A commission is at most 1,000,000 parts per million."""


class SessionKeyTaken(StakingError):
    """That session key belongs to another stash."""


class TooManyCandidates(StakingError):
    """The candidate list is full."""


class TooManyNominators(StakingError):
    """The nominator list is full."""


class TooManyTargets(StakingError):
    """A nomination names at least one and at most max_nominations targets."""


class DuplicateTarget(StakingError):
    """A nomination names a target twice."""


class UnknownTarget(StakingError):
    """A nomination target is not a validator candidate."""


class NotStaking(StakingError):
    """This stash neither validates nor nominates."""


class BadParams(StakingError):
    """A staking parameter is out of its range."""


class MalformedProof(StakingError):
    """The proof does not decode as an equivocation."""


class NotOneOffence(StakingError):
    """The two messages are not by one signer in one round and phase (or one slot)."""


class SameMessage(StakingError):
    """The two messages are for the same block: they do not conflict."""


class BadProofSignature(StakingError):
    """A message's signature (or a header's seal) is invalid."""


class UnknownSet(StakingError):
    """That authority set is unknown, or too old to be kept."""


class NotAnAuthority(StakingError):
    """The signer was not an authority of the set named, or is no known stash's session key."""


class AlreadyPunished(StakingError):
    """This offence was already punished."""


class RoundAlreadyNoted(StakingError):
    """That round was already noted, or is older than every round still remembered."""


class NotAVoter(StakingError):
    """A precommit's voter is not an authority of the set named."""


class BadPrecommit(StakingError):
    """A precommit's signature is invalid."""


class NoSupermajority(StakingError):
    """The precommits do not hold more than 2/3 of the set's weight: the round is not final."""


# Reading (the interface other pallets, the node and RPC use)


def stash_of(state: StateOverlay, session_key: bytes) -> bytes | None:
    """The stash behind a session key: the stash it is, or was, the session key of."""
    owner = KeyOwner.get(state, session_key)
    return owner if owner is not None else RetiredKeys.get(state, session_key)


def _active_stash(state: StateOverlay, session_key: bytes) -> bytes | None:
    for stash, key in Active.get(state):
        if key == session_key:
            return stash
    return None


def _note_activity(
    state: StateOverlay, stash: bytes, *, points: int, blocks: int = 0, precommits: int = 0
) -> None:
    a = EraActivity.get(state, stash) or Activity()
    EraActivity.insert(
        state,
        stash,
        Activity(a.points + points, a.blocks + blocks, a.precommits + precommits),
    )


def note_attestation(ctx: BlockContext, session_key: bytes) -> None:
    """A compute attestation by `session_key`: a point to its stash if it validates this era."""
    stash = _active_stash(ctx.state, session_key)
    if stash is not None:
        _note_activity(ctx.state, stash, points=ATTESTATION_POINTS)


# Bookkeeping


def _insert_sorted(items: tuple[bytes, ...], item: bytes) -> tuple[bytes, ...]:
    return items if item in items else tuple(sorted((*items, item)))


def _ledger(ctx: BlockContext, stash: bytes) -> Ledger:
    ledger = Ledgers.get(ctx.state, stash)
    if ledger is None:
        raise NotBonded()
    return ledger


def _is_candidate(state: StateOverlay, stash: bytes) -> bool:
    return Validators.get(state, stash) is not None


def _is_nominator(state: StateOverlay, stash: bytes) -> bool:
    return Nominations.get(state, stash) is not None


def _stop_validating(ctx: BlockContext, stash: bytes) -> bool:
    if Validators.get(ctx.state, stash) is None:
        return False
    Validators.remove(ctx.state, stash)
    Candidates.put(ctx.state, tuple(s for s in Candidates.get(ctx.state) if s != stash))
    return True


def _stop_nominating(ctx: BlockContext, stash: bytes) -> bool:
    if Nominations.get(ctx.state, stash) is None:
        return False
    Nominations.remove(ctx.state, stash)
    Nominators.put(ctx.state, tuple(s for s in Nominators.get(ctx.state) if s != stash))
    return True


def _chill(ctx: BlockContext, stash: bytes) -> bool:
    stopped = _stop_validating(ctx, stash)
    stopped = _stop_nominating(ctx, stash) or stopped
    if stopped:
        ctx.deposit_event(Chilled, stash)
    return stopped


def _set_session_key(state: StateOverlay, stash: bytes, key: bytes) -> None:
    old = SessionKeys.get(state, stash)
    if old == key:
        return
    if old is not None:
        _retire_key(state, stash, old)
    RetiredKeys.remove(state, key)
    SessionKeys.insert(state, stash, key)
    KeyOwner.insert(state, key, stash)


def _retire_key(state: StateOverlay, stash: bytes, key: bytes) -> None:
    KeyOwner.remove(state, key)
    RetiredKeys.insert(state, key, stash)


def _forget_stash(ctx: BlockContext, stash: bytes) -> None:
    """A stash with nothing bonded any more (withdrawn, or reaped by a slash)."""
    Ledgers.remove(ctx.state, stash)
    _chill(ctx, stash)
    key = SessionKeys.get(ctx.state, stash)
    if key is not None:
        SessionKeys.remove(ctx.state, stash)
        _retire_key(ctx.state, stash, key)


# Slashing and paying


def _mint(ctx: BlockContext, who: bytes, amount: int) -> int:
    """Mint a reward without ever failing (hooks must not); returns what was credited."""
    try:
        return balances.deposit(ctx, who, amount)
    except balances.Overflow:
        return 0


def _slash(ctx: BlockContext, stash: bytes, amount: int) -> int:
    """Burn up to `amount` of a stash's bond; returns what was taken (to be paid on)."""
    ledger = Ledgers.get(ctx.state, stash)
    if ledger is None:
        return 0
    amount = min(amount, ledger.total, balances.held(ctx, stash, HOLD))
    taken = balances.slash_held(ctx, stash, HOLD, amount)
    if taken == 0:
        return 0
    ctx.deposit_event(Slashed, stash, taken)
    remaining = ledger.slashed(taken)
    if not balances.exists(ctx, stash) or remaining.total == 0:
        _forget_stash(ctx, stash)  # reaped: what it still held is gone with the account
    else:
        Ledgers.insert(ctx.state, stash, remaining)
    return taken


def _pay_slash(ctx: BlockContext, taken: int, reporter: bytes | None, p: StakingParams) -> None:
    """Pay a slash on: the reporter's share to the reporter, the rest to the treasury."""
    reward = 0
    if reporter is not None:
        reward = _mint(ctx, reporter, taken * p.reporter_reward_ppm // PPM)
    _mint(ctx, TREASURY, taken - reward)


# The election


def _elect(state: StateOverlay, p: StakingParams) -> tuple[tuple[bytes, Exposure], ...] | None:
    """The next era's validators and their exposures, sorted by stash; None to keep the set."""
    own: dict[bytes, int] = {}
    for stash in Candidates.get(state):
        ledger = Ledgers.get(state, stash)
        key = SessionKeys.get(state, stash)
        if ledger is not None and key is not None and ledger.active >= p.min_validator_bond:
            own[stash] = ledger.active
    if len(own) < p.min_validators:
        return None
    approval = dict(own)
    votes: list[tuple[bytes, int, tuple[bytes, ...]]] = []
    for nominator in Nominators.get(state):
        ledger = Ledgers.get(state, nominator)
        if ledger is None or ledger.active == 0 or ledger.active < p.min_nominator_bond:
            continue
        targets = tuple(t for t in Nominations.get(state, nominator) or () if t in own)
        if targets:
            votes.append((nominator, ledger.active, targets))
            for target in targets:
                approval[target] += ledger.active
    ranked = sorted(own, key=lambda s: (-approval[s], s))[: p.validator_count]
    others: dict[bytes, list[tuple[bytes, int]]] = {s: [] for s in ranked}
    for nominator, bond, targets in votes:
        elected = [t for t in targets if t in others]  # targets are sorted
        if not elected:
            continue
        share, remainder = divmod(bond, len(elected))
        for i, target in enumerate(elected):
            amount = share + (remainder if i == 0 else 0)
            if amount:
                others[target].append((nominator, amount))
    out = []
    for stash in sorted(ranked):
        key = SessionKeys.get(state, stash)
        assert key is not None
        backing = tuple(others[stash])
        total = own[stash] + sum(amount for _, amount in backing)
        commission = Validators.get(state, stash) or 0
        out.append((stash, Exposure(key, total, own[stash], backing, commission)))
    return tuple(out)


def _install(ctx: BlockContext, elected: tuple[tuple[bytes, Exposure], ...]) -> None:
    """Make `elected` the era's validators, in staking's storage and in session's set.

    Session's order is the authoring order: validators already in the set keep their places,
    newcomers follow sorted by stash, so an unchanged election leaves the set as it is.
    """
    state = ctx.state
    for stash, _ in Active.get(state):
        Exposures.remove(state, stash)
    for stash, exposure in elected:
        Exposures.insert(state, stash, exposure)
    Active.put(state, tuple((stash, e.session_key) for stash, e in elected))
    place = {key: i for i, key in enumerate(session.authority_set(state).keys)}
    ordered = sorted(
        elected, key=lambda item: (place.get(item[1].session_key, len(place)), item[0])
    )
    session.set_authorities(ctx, [(e.session_key, e.total) for _, e in ordered])


# Era end


def _punish_offline(ctx: BlockContext, p: StakingParams, era_length: int) -> None:
    active = Active.get(ctx.state)
    if era_length < 2 * len(active):
        return  # too short an era to tell
    disabled = session.disabled_keys(ctx.state)
    for stash, key in active:
        activity = EraActivity.get(ctx.state, stash) or Activity()
        if activity.blocks or activity.precommits or key in disabled:
            continue
        ledger = Ledgers.get(ctx.state, stash)
        taken = _slash(
            ctx, stash, 0 if ledger is None else ledger.active * p.offline_slash_ppm // PPM
        )
        _pay_slash(ctx, taken, None, p)
        ctx.deposit_event(Offline, stash, taken)


def _pay_era(ctx: BlockContext, p: StakingParams, era: int) -> None:
    """Mint the era's reward and share it by points, commission and exposure."""
    state = ctx.state
    active = Active.get(state)
    points = {stash: (EraActivity.get(state, stash) or Activity()).points for stash, _ in active}
    total_points = sum(points.values())
    minted = 0
    for stash, _ in active:
        exposure = Exposures.get(state, stash)
        if not points[stash] or exposure is None or exposure.total == 0:
            continue
        share = p.era_reward * points[stash] // total_points
        commission = share * exposure.commission_ppm // PPM
        rest = share - commission
        payouts = [(stash, commission + rest * exposure.own // exposure.total)]
        payouts.extend((who, rest * amount // exposure.total) for who, amount in exposure.others)
        for who, amount in payouts:
            credited = _mint(ctx, who, amount)
            if credited:
                minted += credited
                ctx.deposit_event(Rewarded, who, credited)
    ctx.deposit_event(EraPaid, era, minted)


def _end_era(ctx: BlockContext, p: StakingParams) -> None:
    """Punish the offline, pay the era, elect the next one's validators."""
    state = ctx.state
    era = CurrentEra.get(state)
    _punish_offline(ctx, p, ctx.number - EraStart.get(state))
    _pay_era(ctx, p, era)
    for stash, _ in Active.get(state):
        EraActivity.remove(state, stash)
    elected = _elect(state, p)
    if elected is not None:
        _install(ctx, elected)
    CurrentEra.put(state, era + 1)
    EraStart.put(state, ctx.number)
    ForceEra.kill(state)
    ctx.deposit_event(NewEra, era + 1, [stash for stash, _ in Active.get(state)])


# Offences


def _offender(proof: consensus.Equivocation) -> bytes:
    """The offender's session key if the proof's messages prove an offence; the error if not."""
    try:
        return proof.check()
    except consensus.InvalidProof as exc:
        if isinstance(proof, VoteEquivocation):
            a, b = proof.first, proof.second
            if (a.voter, a.phase, a.set_id, a.round) != (b.voter, b.phase, b.set_id, b.round):
                raise NotOneOffence() from exc
            if a.target == b.target:
                raise SameMessage() from exc
        else:
            x, y = proof.first, proof.second
            if (x.digest.slot, x.digest.author) != (y.digest.slot, y.digest.author):
                raise NotOneOffence() from exc
            if x.hash == y.hash:
                raise SameMessage() from exc
        raise BadProofSignature() from exc


def _slash_offender(ctx: BlockContext, stash: bytes, p: StakingParams) -> int:
    """Slash an equivocating validator and its nominators' exposure this era; the total."""
    exposure = Exposures.get(ctx.state, stash)
    others: tuple[tuple[bytes, int], ...] = ()
    if exposure is None:
        ledger = Ledgers.get(ctx.state, stash)
        own = 0 if ledger is None else ledger.active
    else:
        own, others = exposure.own, exposure.others
    total = _slash(ctx, stash, own * p.equivocation_slash_ppm // PPM)
    for nominator, amount in others:
        total += _slash(ctx, nominator, amount * p.equivocation_slash_ppm // PPM)
    return total


def _disable(ctx: BlockContext, key: bytes) -> None:
    """Disable an offender's key, unless it is the last enabled authority: blocks must go on."""
    disabled = session.disabled_keys(ctx.state)
    enabled = [k for k in session.authority_set(ctx.state).keys if k not in disabled]
    if key in enabled and len(enabled) > 1:
        session.disable(ctx, key)


def _note_votes_weight(args: tuple[Any, ...]) -> Weight:
    return NOTE_VOTES_WEIGHT + len(args[2]) * SIGNATURE_WEIGHT


class Staking(Pallet):
    NAME = NAME
    PARAMS = StakingParams
    EVENTS = (
        Bonded,
        Unbonded,
        Withdrawn,
        ValidatorPrefsSet,
        Nominated,
        Chilled,
        NewEra,
        EraPaid,
        Rewarded,
        Slashed,
        Offline,
        Equivocation,
        VotesNoted,
        ParamsChanged,
    )
    ERRORS = (
        AlreadyBonded,
        NotBonded,
        BondTooSmall,
        InsufficientBond,
        TooManyChunks,
        NothingToWithdraw,
        BadCommission,
        SessionKeyTaken,
        TooManyCandidates,
        TooManyNominators,
        TooManyTargets,
        DuplicateTarget,
        UnknownTarget,
        NotStaking,
        BadParams,
        MalformedProof,
        NotOneOffence,
        SameMessage,
        BadProofSignature,
        UnknownSet,
        NotAnAuthority,
        AlreadyPunished,
        RoundAlreadyNoted,
        NotAVoter,
        BadPrecommit,
        NoSupermajority,
    )

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> Weight:
        """Count the author's block; end the era at its boundary (or when forced) and elect."""
        state = ctx.state
        stash = _active_stash(state, ctx.author)
        if stash is not None:
            _note_activity(state, stash, points=BLOCK_POINTS, blocks=1)
        p = Params.get(state)
        if ctx.number % p.era_blocks == 0 or ForceEra.get(state):
            _end_era(ctx, p)
            return (len(Candidates.get(state)) + len(Nominators.get(state))) * SLASH_WEIGHT
        return 0

    # Calls: bonding

    @call(args=(("value", fields.BALANCE),), weight=BOND_WEIGHT)
    def bond(self, ctx: BlockContext, origin: Origin, value: int) -> None:
        """Bond `value` of the signer's free balance: the signer becomes a stash."""
        stash = ensure_signed(origin)
        if Ledgers.get(ctx.state, stash) is not None:
            raise AlreadyBonded()
        p = Params.get(ctx.state)
        if value == 0 or value < min(p.min_nominator_bond, p.min_validator_bond):
            raise BondTooSmall()
        balances.hold(ctx, stash, HOLD, value)
        Ledgers.insert(ctx.state, stash, Ledger(active=value))
        ctx.deposit_event(Bonded, stash, value)

    @call(args=(("value", fields.BALANCE),), weight=BOND_WEIGHT)
    def bond_extra(self, ctx: BlockContext, origin: Origin, value: int) -> None:
        """Add `value` of the free balance to the active bond."""
        stash = ensure_signed(origin)
        ledger = _ledger(ctx, stash)
        if value == 0:
            raise InsufficientBond()
        balances.hold(ctx, stash, HOLD, value)
        Ledgers.insert(ctx.state, stash, replace(ledger, active=ledger.active + value))
        ctx.deposit_event(Bonded, stash, value)

    @call(args=(("value", fields.BALANCE),), weight=BOND_WEIGHT)
    def unbond(self, ctx: BlockContext, origin: Origin, value: int) -> None:
        """Start unbonding `value` of the active bond; it unlocks `bonding_eras` eras later."""
        stash = ensure_signed(origin)
        state = ctx.state
        ledger = _ledger(ctx, stash)
        if value == 0 or value > ledger.active:
            raise InsufficientBond()
        p = Params.get(state)
        remaining = ledger.active - value
        if (_is_candidate(state, stash) and remaining < p.min_validator_bond) or (
            _is_nominator(state, stash) and remaining < p.min_nominator_bond
        ):
            raise BondTooSmall()
        unlocks_at = CurrentEra.get(state) + p.bonding_eras
        chunks = dict(ledger.unlocking)
        chunks[unlocks_at] = chunks.get(unlocks_at, 0) + value
        if len(chunks) > MAX_UNLOCKING_CHUNKS:
            raise TooManyChunks()
        Ledgers.insert(state, stash, Ledger(remaining, tuple(sorted(chunks.items()))))
        ctx.deposit_event(Unbonded, stash, value, unlocks_at)

    @call(args=(), weight=BOND_WEIGHT)
    def withdraw_unbonded(self, ctx: BlockContext, origin: Origin) -> None:
        """Release every unbonded chunk that has unlocked; a ledger left empty is removed."""
        stash = ensure_signed(origin)
        ledger = _ledger(ctx, stash)
        era = CurrentEra.get(ctx.state)
        ready = sum(amount for unlocks_at, amount in ledger.unlocking if unlocks_at <= era)
        if ready == 0:
            raise NothingToWithdraw()
        balances.release(ctx, stash, HOLD, ready)
        remaining = Ledger(ledger.active, tuple((e, a) for e, a in ledger.unlocking if e > era))
        if remaining.total == 0:
            _forget_stash(ctx, stash)
        else:
            Ledgers.insert(ctx.state, stash, remaining)
        ctx.deposit_event(Withdrawn, stash, ready)

    # Calls: candidacy and nominations

    @call(
        args=(("commission_ppm", fields.U32), ("session_key", fields.option_type(fields.ACCOUNT))),
        weight=CANDIDACY_WEIGHT,
    )
    def validate(
        self, ctx: BlockContext, origin: Origin, commission_ppm: int, session_key: bytes | None
    ) -> None:
        """Be a validator candidate with this commission and session key (default: the stash).

        Ends a nomination; takes effect at the next election.
        """
        stash = ensure_signed(origin)
        state = ctx.state
        ledger = _ledger(ctx, stash)
        if commission_ppm > PPM:
            raise BadCommission()
        if ledger.active < Params.get(state).min_validator_bond:
            raise BondTooSmall()
        key = stash if session_key is None else session_key
        owner = stash_of(state, key)
        if owner is not None and owner != stash:
            raise SessionKeyTaken()
        candidates = Candidates.get(state)
        if stash not in candidates and len(candidates) >= MAX_CANDIDATES:
            raise TooManyCandidates()
        if _stop_nominating(ctx, stash):
            ctx.deposit_event(Chilled, stash)
        _set_session_key(state, stash, key)
        Validators.insert(state, stash, commission_ppm)
        Candidates.put(state, _insert_sorted(candidates, stash))
        ctx.deposit_event(ValidatorPrefsSet, stash, commission_ppm, key)

    @call(
        args=(("targets", fields.list_type(fields.ACCOUNT, MAX_NOMINATIONS)),),
        weight=NOMINATE_WEIGHT,
    )
    def nominate(self, ctx: BlockContext, origin: Origin, targets: list[bytes]) -> None:
        """Back these validator candidates with the whole active bond; ends a candidacy."""
        stash = ensure_signed(origin)
        state = ctx.state
        ledger = _ledger(ctx, stash)
        p = Params.get(state)
        if ledger.active < p.min_nominator_bond:
            raise BondTooSmall()
        if not 1 <= len(targets) <= p.max_nominations:
            raise TooManyTargets()
        if len(set(targets)) != len(targets):
            raise DuplicateTarget()
        candidates = set(Candidates.get(state)) - {stash}
        if any(t not in candidates for t in targets):
            raise UnknownTarget()
        nominators = Nominators.get(state)
        if stash not in nominators and len(nominators) >= MAX_NOMINATORS:
            raise TooManyNominators()
        if _stop_validating(ctx, stash):
            ctx.deposit_event(Chilled, stash)
        chosen = tuple(sorted(targets))
        Nominations.insert(state, stash, chosen)
        Nominators.put(state, _insert_sorted(nominators, stash))
        ctx.deposit_event(Nominated, stash, list(chosen))

    @call(args=(), weight=CANDIDACY_WEIGHT)
    def chill(self, ctx: BlockContext, origin: Origin) -> None:
        """Stop validating or nominating from the next election on; the bond stays."""
        if not _chill(ctx, ensure_signed(origin)):
            raise NotStaking()

    # Calls: finality votes and offences

    @call(
        args=(
            ("set_id", fields.U64),
            ("round", fields.U64),
            ("precommits", fields.list_type(PRECOMMIT_FIELD, session.MAX_AUTHORITIES)),
        ),
        weight=_note_votes_weight,
    )
    def note_votes(
        self,
        ctx: BlockContext,
        origin: Origin,
        set_id: int,
        round_: int,
        precommits: list[Precommit],
    ) -> None:
        """Note a finalized round's precommits: a point to each voter validating this era.

        Every precommit is checked; a voter listed twice counts once; a round counts once.
        """
        ensure_signed(origin)
        state = ctx.state
        authorities = session.historical_set(ctx, set_id)
        if authorities is None:
            raise UnknownSet()
        noted = NotedRounds.get(state)
        mark = (set_id, round_)
        if mark in noted or (len(noted) >= MAX_NOTED_ROUNDS and mark < noted[0]):
            raise RoundAlreadyNoted()
        voters: list[bytes] = []
        weight = 0
        for precommit in precommits:
            voter_weight = authorities.weight_of(precommit.voter)
            if voter_weight == 0:
                raise NotAVoter()
            if precommit.voter in voters:
                continue
            if not precommit.signature_is_valid(set_id, round_):
                raise BadPrecommit()
            voters.append(precommit.voter)
            weight += voter_weight
        if not authorities.is_supermajority(weight):
            raise NoSupermajority()
        NotedRounds.put(state, tuple(sorted((*noted, mark)))[-MAX_NOTED_ROUNDS:])
        for voter in voters:
            stash = _active_stash(state, voter)
            if stash is not None:
                _note_activity(state, stash, points=PRECOMMIT_POINTS, precommits=1)
        ctx.deposit_event(VotesNoted, set_id, round_, len(voters))

    @call(args=(("proof", fields.bytes_type(consensus.MAX_PROOF_BYTES)),), weight=REPORT_WEIGHT)
    def report_equivocation(self, ctx: BlockContext, origin: Origin, proof: bytes) -> None:
        """Report an equivocation (`runtime.consensus.encode_equivocation`); the reporter earns a
        share of the slash."""
        reporter = ensure_signed(origin)
        state = ctx.state
        try:
            offence = consensus.decode_equivocation(proof)
        except DecodeError as exc:
            raise MalformedProof() from exc
        key = _offender(offence)
        if isinstance(offence, VoteEquivocation):
            authorities = session.historical_set(ctx, offence.first.set_id)
            if authorities is None:
                raise UnknownSet()
            if authorities.weight_of(key) == 0:
                raise NotAnAuthority()
            kind = "vote"
        else:
            assert isinstance(offence, SlotEquivocation)
            kind = "slot"
        stash = stash_of(state, key)
        if stash is None:
            raise NotAnAuthority()
        punished = Offences.get(state, stash) or ()
        if offence.offence_key in punished:
            raise AlreadyPunished()
        Offences.insert(state, stash, (*punished, offence.offence_key)[-MAX_OFFENCES:])
        p = Params.get(state)
        _pay_slash(ctx, _slash_offender(ctx, stash, p), reporter, p)
        _disable(ctx, key)
        _chill(ctx, stash)
        ForceEra.put(state, True)
        ctx.deposit_event(Equivocation, stash, kind)

    # Calls: parameters

    @call(args=StakingParams.call_args(), weight=SET_PARAMS_WEIGHT)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the staking parameters (Root only); they apply from the next block on."""
        ensure_root(origin)
        updated = StakingParams(*values)
        try:
            self.check_params(ctx.state, updated)
        except ValueError as exc:
            raise BadParams() from exc
        Params.put(ctx.state, updated)
        ctx.deposit_event(ParamsChanged)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: StakingGenesis) -> None:
        """Bond the genesis validators and nominators and elect era 0's set, which session takes
        as its first authority set: (session key, backing), in the config's order."""
        params, validators, nominators = config.staking, config.validators, config.nominators
        self.check_params(ctx.state, params)
        state = ctx.state
        Params.put(state, params)
        if not validators:
            raise ValueError("the genesis config needs at least one validator")
        if len(validators) > params.validator_count:
            raise ValueError(
                f"more genesis validators than validator_count ({params.validator_count})"
            )
        if len(validators) < params.min_validators:
            raise ValueError(
                f"fewer genesis validators than min_validators ({params.min_validators})"
            )
        for v in validators:
            who = encode_address(v.stash)
            if Ledgers.get(state, v.stash) is not None:
                raise ValueError(f"genesis validator {who} is listed twice")
            if stash_of(state, v.key) is not None:
                raise ValueError(f"genesis validator {who}: its session key is taken")
            if not 0 <= v.commission_ppm <= PPM:
                raise ValueError(f"genesis validator {who}: commission must be 0 to {PPM} ppm")
            if v.bond < params.min_validator_bond:
                raise ValueError(f"genesis validator {who}: bond below min_validator_bond")
            _genesis_bond(ctx, v.stash, v.bond, "validator")
            _set_session_key(state, v.stash, v.key)
            Validators.insert(state, v.stash, v.commission_ppm)
        Candidates.put(state, tuple(sorted(v.stash for v in validators)))
        if len(nominators) > MAX_NOMINATORS:
            raise ValueError(f"at most {MAX_NOMINATORS} genesis nominators")
        candidates = set(Candidates.get(state))
        for n in nominators:
            who = encode_address(n.stash)
            if Ledgers.get(state, n.stash) is not None:
                raise ValueError(f"genesis nominator {who} is listed twice or validates")
            if not 1 <= len(n.targets) <= params.max_nominations:
                raise ValueError(f"genesis nominator {who}: 1 to max_nominations targets")
            if len(set(n.targets)) != len(n.targets) or not set(n.targets) <= candidates:
                raise ValueError(f"genesis nominator {who}: targets must be distinct validators")
            if n.bond == 0 or n.bond < params.min_nominator_bond:
                raise ValueError(f"genesis nominator {who}: bond below min_nominator_bond")
            _genesis_bond(ctx, n.stash, n.bond, "nominator")
            Nominations.insert(state, n.stash, tuple(sorted(n.targets)))
        Nominators.put(state, tuple(sorted(n.stash for n in nominators)))
        CurrentEra.put(state, 0)
        EraStart.put(state, 0)
        elected = _elect(state, params)
        assert elected is not None and len(elected) == len(validators)
        for stash, exposure in elected:
            Exposures.insert(state, stash, exposure)
        Active.put(state, tuple((stash, e.session_key) for stash, e in elected))
        backing = {e.session_key: e.total for _, e in elected}
        session.set_genesis_authorities(ctx, [(v.key, backing[v.key]) for v in validators])

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        problems: list[str] = []

        def value(item: StorageValue[Any]) -> Any:
            raw = read(item.key)
            return item.get(StateOverlay(lambda _k: None)) if raw is None else item.decode(raw)

        def entries(item: StorageMap[bytes, Any]) -> dict[bytes, Any]:
            return {item.key_suffix(k): item.decode(v) for k, v in iterate(item.prefix)}

        ledgers: dict[bytes, Ledger] = entries(Ledgers)
        holds = {who: info.held(HOLD) for who, info in system.accounts_in(iterate)}
        for stash, ledger in ledgers.items():
            who = stash.hex()
            if holds.get(stash, 0) != ledger.total:
                problems.append(
                    f"stash {who} holds {holds.get(stash, 0)}, its ledger {ledger.total}"
                )
            if ledger.total == 0:
                problems.append(f"stash {who} has an empty ledger")
            eras = [e for e, _ in ledger.unlocking]
            if eras != sorted(set(eras)) or any(a == 0 for _, a in ledger.unlocking):
                problems.append(f"stash {who} has malformed unlocking chunks")
        for account, held in holds.items():
            if held and account not in ledgers:
                problems.append(f"account {account.hex()} holds a staking bond without a ledger")

        candidates = value(Candidates)
        prefs = entries(Validators)
        if list(candidates) != sorted(prefs):
            problems.append("the candidate list differs from the candidates' preferences")
        nominators = value(Nominators)
        nominations = entries(Nominations)
        if list(nominators) != sorted(nominations):
            problems.append("the nominator list differs from the nominations")
        keys = entries(SessionKeys)
        owners = entries(KeyOwner)
        for stash in (*candidates, *nominators):
            if stash not in ledgers:
                problems.append(f"stash {stash.hex()} stakes without a bond")
        for stash in candidates:
            if stash in nominations:
                problems.append(f"stash {stash.hex()} both validates and nominates")
            if stash not in keys:
                problems.append(f"candidate {stash.hex()} has no session key")
        for stash, targets in nominations.items():
            if list(targets) != sorted(set(targets)) or not targets:
                problems.append(f"nominator {stash.hex()} has malformed targets")
        if {k: s for s, k in keys.items()} != owners or len(set(keys.values())) != len(keys):
            problems.append("session keys and their owners do not match one to one")
        for stash in keys:
            if stash not in ledgers:
                problems.append(f"stash {stash.hex()} keeps a session key without a bond")
        retired = entries(RetiredKeys)
        if set(retired) & set(owners):
            problems.append("a session key in use is also listed as retired")

        active = value(Active)
        exposures: dict[bytes, Exposure] = entries(Exposures)
        if [s for s, _ in active] != sorted(exposures) or len(set(active)) != len(active):
            problems.append("the active set differs from the era's exposures")
        if len({k for _, k in active}) != len(active):
            problems.append("two active validators share a session key")
        for stash, key in active:
            if owners.get(key, retired.get(key)) != stash:
                problems.append(f"active session key {key.hex()} is not its stash's")
        authorities = []
        for stash, key in active:
            exposure = exposures.get(stash)
            if exposure is None:
                continue
            if exposure.session_key != key:
                problems.append(f"validator {stash.hex()}'s exposure names another session key")
            if exposure.total != exposure.own + sum(a for _, a in exposure.others):
                problems.append(f"validator {stash.hex()}'s exposure does not sum to its total")
            others = [n for n, _ in exposure.others]
            if others != sorted(set(others)) or any(a == 0 for _, a in exposure.others):
                problems.append(f"validator {stash.hex()}'s exposure has malformed shares")
            authorities.append((key, exposure.total))
        in_session = session.authority_set(StateOverlay(read)).authorities
        if sorted(authorities) != sorted(in_session):
            problems.append("session's authority set is not the era's validators and backing")
        for stash in entries(EraActivity):
            if stash not in exposures:
                problems.append(f"stash {stash.hex()} has era points but does not validate")
        noted = value(NotedRounds)
        if list(noted) != sorted(set(noted)) or len(noted) > MAX_NOTED_ROUNDS:
            problems.append("the noted rounds are malformed")
        return problems


# Genesis config


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    """A validator bonded at genesis: its stash, bond, session key (None: the stash) and
    commission."""

    stash: bytes
    bond: int
    session_key: bytes | None = None
    commission_ppm: int = 0

    @property
    def key(self) -> bytes:
        return self.stash if self.session_key is None else self.session_key


@dataclass(frozen=True, slots=True)
class GenesisNominator:
    """A nominator bonded at genesis."""

    stash: bytes
    bond: int
    targets: tuple[bytes, ...]


def _genesis_bond(ctx: BlockContext, stash: bytes, bond: int, role: str) -> None:
    try:
        balances.hold(ctx, stash, HOLD, bond)
    except balances.BalancesError as exc:
        raise ValueError(
            f"genesis {role} {encode_address(stash)} cannot bond {format_amount(bond)}: its "
            f"genesis balance is {format_amount(balances.free_balance(ctx, stash))}"
        ) from exc
    Ledgers.insert(ctx.state, stash, Ledger(active=bond))


__all__ = [
    "DEFAULT_STAKING_PARAMS",
    "Exposure",
    "GenesisNominator",
    "GenesisValidator",
    "Ledger",
    "Precommit",
    "Staking",
    "StakingParams",
    "note_attestation",
    "stash_of",
]


class StakingGenesis(Protocol):
    """The part of the genesis config that staking builds from."""

    @property
    def staking(self) -> StakingParams: ...

    @property
    def validators(self) -> Sequence[GenesisValidator]: ...

    @property
    def nominators(self) -> Sequence[GenesisNominator]: ...
