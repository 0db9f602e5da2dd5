"""The staking pallet: its hooks, calls, genesis and invariants."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from runtime import consensus, fields
from runtime.consensus import Precommit, VoteEquivocation
from runtime.fields import FieldType
from runtime.framework import BlockContext, Origin, Pallet, Weight, call, ensure_signed
from runtime.pallets import balances, session
from runtime.pallets.staking.bonding import (
    forget_stash,
    ledger_of,
    params_changed,
    unlock_block,
    unlocked,
)
from runtime.pallets.staking.candidacy import (
    active_stash,
    chill_stash,
    insert_sorted,
    is_candidate,
    is_nominator,
    set_commission,
    set_session_key,
    stash_of,
    stop_nominating,
    stop_validating,
)
from runtime.pallets.staking.constants import (
    BLOCK_POINTS,
    BOND_WEIGHT,
    CANDIDACY_WEIGHT,
    HOLD,
    MAX_CANDIDATES,
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
)
from runtime.pallets.staking.election import elect_validators
from runtime.pallets.staking.eras import end_era, note_activity
from runtime.pallets.staking.errors import (
    AlreadyBonded,
    AlreadyPunished,
    BadCommission,
    BadParams,
    BadPrecommit,
    BadProofSignature,
    BondTooSmall,
    DuplicateTarget,
    InsufficientBond,
    MalformedProof,
    NoSupermajority,
    NotAnAuthority,
    NotAVoter,
    NotBonded,
    NothingToWithdraw,
    NotOneOffence,
    NotStaking,
    OffenceExpired,
    RoundAlreadyNoted,
    SameMessage,
    SessionKeyTaken,
    TooManyCandidates,
    TooManyChunks,
    TooManyNominators,
    TooManyTargets,
    UnknownSet,
    UnknownTarget,
)
from runtime.pallets.staking.events import (
    Bonded,
    Chilled,
    CommissionRaisePending,
    Equivocation,
    EraPaid,
    NewEra,
    Nominated,
    Offline,
    ParamsChanged,
    Rewarded,
    Slashed,
    Unbonded,
    ValidatorPrefsSet,
    VotesNoted,
    Withdrawn,
)
from runtime.pallets.staking.finality_notes import noted_voters
from runtime.pallets.staking.genesis import StakingGenesis, genesis_bond
from runtime.pallets.staking.history import (
    history_problems,
    note_era,
    punish_once,
    window_blocks,
)
from runtime.pallets.staking.invariants import broken_invariants
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.slashing import (
    disable_offender,
    offence_exposure,
    offender_of,
    pay_slash,
    slash_offender,
)
from runtime.pallets.staking.storage import (
    Active,
    Candidates,
    CurrentEra,
    EraStart,
    Exposures,
    ForceEra,
    Ledger,
    Ledgers,
    Nominations,
    Nominators,
    Params,
    Validators,
)
from runtime.primitives.address import encode_address
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import from_hex, to_hex
from runtime.state import PrefixIterator, StateReader


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


def _value_bonded(_ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """A bond's outflow from free balance: its value (held)."""
    return int(args[0])


def _note_votes_weight(args: tuple[Any, ...]) -> Weight:
    return NOTE_VOTES_WEIGHT + len(args[2]) * SIGNATURE_WEIGHT


class Staking(Pallet):
    """Bonds, candidacy and nominations, an election each era, rewards and slashing."""

    NAME = NAME
    PARAMS = StakingParams
    EVENTS = (
        Bonded,
        Unbonded,
        Withdrawn,
        ValidatorPrefsSet,
        CommissionRaisePending,
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
        OffenceExpired,
    )

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> Weight:
        """Count the author's block; end the era at its boundary (or when forced) and elect."""
        state = ctx.state
        stash = active_stash(state, ctx.author)
        if stash is not None:
            note_activity(state, stash, points=BLOCK_POINTS, blocks=1)
        p = Params.get(state)
        if ctx.number % p.era_blocks == 0 or ForceEra.get(state):
            return end_era(ctx, p)
        return 0

    # Calls: bonding

    @call(args=(("value", fields.BALANCE),), weight=BOND_WEIGHT, outflow=_value_bonded)
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

    @call(args=(("value", fields.BALANCE),), weight=BOND_WEIGHT, outflow=_value_bonded)
    def bond_extra(self, ctx: BlockContext, origin: Origin, value: int) -> None:
        """Add `value` of the free balance to the active bond."""
        stash = ensure_signed(origin)
        ledger = ledger_of(ctx, stash)
        if value == 0:
            raise InsufficientBond()
        balances.hold(ctx, stash, HOLD, value)
        Ledgers.insert(ctx.state, stash, replace(ledger, active=ledger.active + value))
        ctx.deposit_event(Bonded, stash, value)

    @call(args=(("value", fields.BALANCE),), weight=BOND_WEIGHT, outflow=0)
    def unbond(self, ctx: BlockContext, origin: Origin, value: int) -> None:
        """Start unbonding `value` of the active bond; it unlocks `bonding_eras` eras' worth of
        blocks later (`bonding.unlock_block`)."""
        stash = ensure_signed(origin)
        state = ctx.state
        ledger = ledger_of(ctx, stash)
        if value == 0 or value > ledger.active:
            raise InsufficientBond()
        p = Params.get(state)
        remaining = ledger.active - value
        if (is_candidate(state, stash) and remaining < p.min_validator_bond) or (
            is_nominator(state, stash) and remaining < p.min_nominator_bond
        ):
            raise BondTooSmall()
        unlocks_at = unlock_block(ctx.number, p)
        chunks = dict(ledger.unlocking)
        chunks[unlocks_at] = chunks.get(unlocks_at, 0) + value
        if len(chunks) > MAX_UNLOCKING_CHUNKS:
            raise TooManyChunks()
        Ledgers.insert(state, stash, Ledger(remaining, tuple(sorted(chunks.items()))))
        ctx.deposit_event(Unbonded, stash, value, unlocks_at)

    @call(args=(), weight=BOND_WEIGHT, outflow=0)
    def withdraw_unbonded(self, ctx: BlockContext, origin: Origin) -> None:
        """Release every unbonded chunk that has unlocked; a ledger left empty is removed."""
        stash = ensure_signed(origin)
        ledger = ledger_of(ctx, stash)
        now = ctx.number
        chunks = [(unlocked(ctx.state, b, now), (b, a)) for b, a in ledger.unlocking]
        ready = sum(amount for free, (_, amount) in chunks if free)
        if ready == 0:
            raise NothingToWithdraw()
        balances.release(ctx, stash, HOLD, ready)
        remaining = Ledger(ledger.active, tuple(chunk for free, chunk in chunks if not free))
        if remaining.total == 0:
            forget_stash(ctx, stash)
        else:
            Ledgers.insert(ctx.state, stash, remaining)
        ctx.deposit_event(Withdrawn, stash, ready)

    # Calls: candidacy and nominations

    @call(
        args=(("commission_ppm", fields.U32), ("session_key", fields.option_type(fields.ACCOUNT))),
        weight=CANDIDACY_WEIGHT,
        outflow=0,
    )
    def validate(
        self, ctx: BlockContext, origin: Origin, commission_ppm: int, session_key: bytes | None
    ) -> None:
        """Be a validator candidate with this commission and session key (default: the stash).

        Ends a nomination; takes effect at the next election, except a commission raise, which
        waits `era_blocks` blocks (`candidacy.set_commission`).
        """
        stash = ensure_signed(origin)
        state = ctx.state
        ledger = ledger_of(ctx, stash)
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
        if stop_nominating(ctx, stash):
            ctx.deposit_event(Chilled, stash)
        set_session_key(state, stash, key)
        notice = Params.get(state).era_blocks
        raised_from = set_commission(state, stash, commission_ppm, ctx.number, notice)
        Candidates.put(state, insert_sorted(candidates, stash))
        ctx.deposit_event(ValidatorPrefsSet, stash, Validators.get(state, stash), key)
        if raised_from is not None:
            ctx.deposit_event(CommissionRaisePending, stash, commission_ppm, raised_from)

    @call(
        args=(("targets", fields.list_type(fields.ACCOUNT, MAX_NOMINATIONS)),),
        weight=NOMINATE_WEIGHT,
        outflow=0,
    )
    def nominate(self, ctx: BlockContext, origin: Origin, targets: list[bytes]) -> None:
        """Back these validator candidates with the whole active bond; ends a candidacy."""
        stash = ensure_signed(origin)
        state = ctx.state
        ledger = ledger_of(ctx, stash)
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
        if stop_validating(ctx, stash):
            ctx.deposit_event(Chilled, stash)
        chosen = tuple(sorted(targets))
        Nominations.insert(state, stash, chosen)
        Nominators.put(state, insert_sorted(nominators, stash))
        ctx.deposit_event(Nominated, stash, list(chosen))

    @call(args=(), weight=CANDIDACY_WEIGHT, outflow=0)
    def chill(self, ctx: BlockContext, origin: Origin) -> None:
        """Stop validating or nominating from the next election on; the bond stays."""
        if not chill_stash(ctx, ensure_signed(origin)):
            raise NotStaking()

    # Calls: finality votes and offences

    @call(
        args=(
            ("set_id", fields.U64),
            ("round", fields.U64),
            ("precommits", fields.list_type(PRECOMMIT_FIELD, session.MAX_AUTHORITIES)),
        ),
        weight=_note_votes_weight,
        outflow=0,
    )
    def note_votes(
        self,
        ctx: BlockContext,
        origin: Origin,
        set_id: int,
        round_: int,
        precommits: list[Precommit],
    ) -> None:
        """Note a finalized round's precommits: a point to each voter validating this era, at
        most one per window of blocks (`finality_notes`). Every precommit is checked; a voter
        listed twice counts once."""
        ensure_signed(origin)
        state = ctx.state
        voters = noted_voters(ctx, set_id, round_, precommits)
        for voter in voters:
            stash = active_stash(state, voter)
            if stash is not None:
                note_activity(state, stash, points=PRECOMMIT_POINTS, precommits=1)
        ctx.deposit_event(VotesNoted, set_id, round_, len(voters))

    @call(
        args=(("proof", fields.bytes_type(consensus.MAX_PROOF_BYTES)),),
        weight=REPORT_WEIGHT,
        outflow=0,
    )
    def report_equivocation(self, ctx: BlockContext, origin: Origin, proof: bytes) -> None:
        """Report an equivocation (`runtime.consensus.encode_equivocation`); the reporter earns a
        share of the slash."""
        reporter = ensure_signed(origin)
        state = ctx.state
        try:
            offence = consensus.decode_equivocation(proof)
        except DecodeError as exc:
            raise MalformedProof() from exc
        key = offender_of(offence)
        kind = "vote" if isinstance(offence, VoteEquivocation) else "slot"
        stash, exposure, era = offence_exposure(ctx, offence, key)
        if not punish_once(state, era, stash):
            raise AlreadyPunished()  # slashed for this era already
        p = Params.get(state)
        taken, own = slash_offender(ctx, stash, exposure, p)
        pay_slash(ctx, taken, reporter, p, rewarded=own)
        disable_offender(ctx, key)
        chill_stash(ctx, stash)
        if any(s == stash for s, _ in Active.get(state)):
            ForceEra.put(state, True)  # a new set without it, promptly
        ctx.deposit_event(Equivocation, stash, kind)

    # Calls: parameters

    @call(args=StakingParams.call_args(), weight=SET_PARAMS_WEIGHT, outflow=0)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the staking parameters (Root only); they apply from the next block on. Chunks
        still locked are held longer if eras or the slash window grow (`bonding.params_changed`)."""
        old = Params.get(ctx.state)
        self.change_params(ctx, origin, StakingParams(*values), Params, BadParams, ParamsChanged)
        params_changed(ctx.state, ctx.number, old, Params.get(ctx.state))

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
            genesis_bond(ctx, v.stash, v.bond, "validator")
            set_session_key(state, v.stash, v.key)
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
            genesis_bond(ctx, n.stash, n.bond, "nominator")
            Nominations.insert(state, n.stash, tuple(sorted(n.targets)))
        Nominators.put(state, tuple(sorted(n.stash for n in nominators)))
        CurrentEra.put(state, 0)
        EraStart.put(state, 0)
        elected = elect_validators(state, params)
        assert elected is not None and len(elected) == len(validators)
        for stash, exposure in elected:
            Exposures.insert(state, stash, exposure)
        Active.put(state, tuple((stash, e.session_key) for stash, e in elected))
        backing = {e.session_key: e.total for _, e in elected}
        session.set_genesis_authorities(ctx, [(v.key, backing[v.key]) for v in validators])
        note_era(ctx, 0, window_blocks(params))

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Bonds, roles, session keys and exposures, from `invariants.broken_invariants`, and the
        kept eras, from `history.history_problems`."""
        return broken_invariants(read, iterate) + history_problems(read, iterate)
