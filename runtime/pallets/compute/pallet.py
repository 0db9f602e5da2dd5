"""The Compute pallet: its calls (commitments, attestations, responses, disputes, parameters),
its hooks (draws, decisions, settlement) and its invariants. The rules are in the package's
docstring."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from runtime import fields
from runtime.framework import BlockContext, Origin, Pallet, call, ensure_signed
from runtime.pallets import balances, market, session, system
from runtime.pallets.compute.drawing import (
    DRAW_DELAY,
    _seed,
    audit_seed,
    check_purpose,
    draw_committee,
    draw_leaves,
    roll_delay,
    rolls_audit,
    witness_mask,
)
from runtime.pallets.compute.errors import (
    ERRORS,
    AlreadyAttested,
    AlreadyResponded,
    BadLeaf,
    BadParams,
    BadResponse,
    BadReveal,
    DisputeWindowClosed,
    NoCommitment,
    NotCommitted,
    NotInCommittee,
    NotMatchedWorker,
    TooManyChecks,
    UnknownCheck,
    WrongJob,
    WrongPhase,
)
from runtime.pallets.compute.events import (
    EVENTS,
    AttestationCommitted,
    AttestationRevealed,
    ChallengeDrawn,
    DisputeOpened,
    ParamsChanged,
    ResultCommitted,
    WorkerResponded,
)
from runtime.pallets.compute.guard import check_incentives, check_verification_window
from runtime.pallets.compute.params import (
    ATTEST_WEIGHT,
    BOND,
    COMMIT_WEIGHT,
    DISPUTE_WEIGHT,
    MAX_AUDIT_LEAVES,
    MAX_CHECKS_PER_JOB,
    MAX_OPEN_CHECKS,
    MAX_PROOF_HASHES,
    NAME,
    REQUESTER_DISPUTES,
    RESPOND_WEIGHT,
    SET_PARAMS_WEIGHT,
    ComputeParams,
    fraud_bond_for,
)
from runtime.pallets.compute.records import (
    NO_WITNESS,
    AuditRolls,
    Check,
    Checks,
    Draws,
    Due,
    Params,
)
from runtime.pallets.compute.verdicts import (
    RESULT_WITHHELD,
    attestation_commitment,
    check_digest,
    decide,
    result_digest,
    verifiers,
)
from runtime.pallets.market import Job
from runtime.pallets.market.errors import MarketError
from runtime.primitives.merkle import MerkleProofError, verify_hash_proof
from runtime.state import PrefixIterator, StateOverlay, StateReader
from runtime.workloads import audited_leaves, builds_on

_HASH_LIST = fields.list_type(fields.HASH, MAX_AUDIT_LEAVES)


class ComputeGenesis(Protocol):
    """The part of the genesis config that compute builds from."""

    @property
    def compute(self) -> ComputeParams: ...


def _committed_job(ctx: BlockContext, job_id: int) -> Job:
    current = market.find_job(ctx, job_id)
    if current is None or current.state != "committed":
        raise NotCommitted()
    return current


def _bound_job(job_id: int, current: Job | None, digest: bytes) -> None:
    """WrongJob if the job with id `job_id` is not the one whose digest the call carries (another
    fork's job that was given the same id)."""
    if current is not None and market.job_digest(job_id, current) != digest:
        raise WrongJob()


def _drawn_check(ctx: BlockContext, job_id: int, index: int) -> list[Check]:
    """The job's checks, with check `index` open and drawn (UnknownCheck if not)."""
    checks = list(Checks.get(ctx.state, job_id) or ())
    if not 0 <= index < len(checks) or checks[index].outcome or not checks[index].drawn:
        raise UnknownCheck()
    return checks


def _member_check(
    ctx: BlockContext, job_id: int, index: int, member: bytes, digest: bytes | None = None
) -> list[Check]:
    """The job's checks, with check `index` open, drawn and naming `member`; the check's round
    is bound to `digest` (`check_digest`: the job, its result and the round's draw) if given."""
    current = _committed_job(ctx, job_id)
    checks = _drawn_check(ctx, job_id, index)
    if digest is not None and check_digest(job_id, current, index, checks[index]) != digest:
        raise WrongJob()
    if member not in checks[index].committee:
        raise NotInCommittee()
    return checks


def _dispute_bond(ctx: BlockContext, args: tuple[Any, ...]) -> int | None:
    """A dispute's outflow: the fraud bond it holds (None for a job not committed: it fails,
    but say the worst)."""
    current = market.find_job(ctx, int(args[0]))
    if current is None or current.state != "committed":
        return None
    _, verification_fee = market.job_fees(ctx, current)
    return fraud_bond_for(Params.get(ctx.state), verification_fee)


def incentives_with_market(state: StateOverlay, market_params: market.MarketParams) -> None:
    """Compute's rule on the market's parameters (bound to `market.set_params`): with the compute
    parameters in force in `state`, faking results must still lose money at `market_params`'s
    slash (`check_incentives`); ValueError saying why otherwise."""
    try:
        check_incentives(market_params, Params.get(state))
    except ValueError as exc:
        raise ValueError(f"with the compute parameters in force, {exc}") from exc


market.bind_params_rule(incentives_with_market)


class Compute(Pallet):
    """The compute pallet: result commitments, audits, committees, disputes and verdicts."""

    NAME = NAME
    PARAMS = ComputeParams
    EVENTS = EVENTS
    ERRORS = ERRORS

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> int:
        """Draw audits and committees due now; decide checks whose reveal phase ended; settle."""
        state = ctx.state
        p = Params.get(state)
        drawn = Draws.get(state, ctx.number)
        if drawn is not None:
            Draws.remove(state, ctx.number)
            for job_id in drawn:
                self._draw(ctx, job_id, p)
        due = Due.get(state, ctx.number)
        if due is not None:
            Due.remove(state, ctx.number)
            for job_id in due:
                self._look_at(ctx, job_id, p)
        return 0

    def _draw(self, ctx: BlockContext, job_id: int, p: ComputeParams) -> None:
        """In the block after a commitment, when its audit is rolled (`roll_delay`); at that
        block, the audit roll; and the committees of the job's checks whose draw is due."""
        roll_at = AuditRolls.get(ctx.state, job_id)
        if roll_at is not None and roll_at <= ctx.number:
            AuditRolls.remove(ctx.state, job_id)
        current = market.find_job(ctx, job_id)
        if current is None or current.state != "committed":
            return
        if ctx.number == current.committed_at + 1 and roll_at is None:
            roll_at = current.committed_at + roll_delay(ctx)
            AuditRolls.insert(ctx.state, job_id, roll_at)
            market.schedule(Draws, ctx, roll_at, job_id)
        elif roll_at == ctx.number:
            self._roll_audit(ctx, job_id, current, p)
        checks = Checks.get(ctx.state, job_id) or ()
        for index, check in enumerate(checks):
            if not check.outcome and not check.drawn and check.draw_at <= ctx.number:
                seed = _seed(ctx, job_id, check_purpose(index))
                avoid = _silent_before(checks, index)
                committee = draw_committee(ctx, seed, p.committee_size, avoid)
                self._open(ctx, job_id, index, replace(check, committee=committee), p)

    def _roll_audit(self, ctx: BlockContext, job_id: int, current: Job, p: ComputeParams) -> None:
        seed = audit_seed(ctx, job_id)
        checks = Checks.get(ctx.state, job_id) or ()
        audited = (current.mode == "always" or rolls_audit(seed, p.audit_ppm)) and len(
            checks
        ) < MAX_CHECKS_PER_JOB
        if not audited:
            ctx.deposit_event(ChallengeDrawn, job_id, 0, False, [], [], 0, 0)
            return
        count = audited_leaves(current.workload, p.audit_leaves, current.leaves)
        leaves = draw_leaves(seed, count, current.leaves)
        committee = draw_committee(ctx, seed, p.committee_size)
        check = Check(kind="audit", leaves=leaves, committee=committee, draw_at=ctx.number)
        Checks.insert(ctx.state, job_id, (*checks, check))
        self._open(ctx, job_id, len(checks), check, p)

    def _open(
        self, ctx: BlockContext, job_id: int, index: int, check: Check, p: ComputeParams
    ) -> None:
        """Start a drawn check's commit phase now."""
        commit_deadline = ctx.number + p.commit_window
        reveal_deadline = commit_deadline + p.reveal_window
        check = replace(
            check,
            drawn_at=ctx.number,
            commit_deadline=commit_deadline,
            reveal_deadline=reveal_deadline,
            mask=witness_mask(ctx, job_id, index),
        )
        checks = list(Checks.get(ctx.state, job_id) or ())
        checks[index] = check
        Checks.insert(ctx.state, job_id, tuple(checks))
        market.schedule(Due, ctx, reveal_deadline + 1, job_id)
        ctx.deposit_event(
            ChallengeDrawn,
            job_id,
            index,
            True,
            list(check.leaves),
            list(check.committee),
            commit_deadline,
            reveal_deadline,
        )

    def _look_at(self, ctx: BlockContext, job_id: int, p: ComputeParams) -> None:
        """Decide checks past their reveal phase; settle the job once its window is over and no
        check is open."""
        current = market.find_job(ctx, job_id)
        if current is None or current.state != "committed":
            return
        index = 0
        while index < len(Checks.get(ctx.state, job_id) or ()):
            check = (Checks.get(ctx.state, job_id) or ())[index]
            if check.phase(ctx.number) == "decide":
                decide(ctx, job_id, index, p)
                if market.job(ctx, job_id).state != "committed":
                    return
            index += 1
        checks = Checks.get(ctx.state, job_id) or ()
        window_end = current.committed_at + p.dispute_window
        if ctx.number < window_end:
            # The window may have grown since the commitment scheduled its end.
            market.schedule(Due, ctx, window_end, job_id)
            return
        if any(not c.outcome for c in checks):
            return  # each open check's decision looks at the job again
        market.settle_success(ctx, job_id, verifiers(checks))

    # Calls

    @call(
        args=(
            ("job", fields.U64),
            ("digest", fields.HASH),
            ("root", fields.HASH),
            ("leaves", fields.U32),
        ),
        weight=COMMIT_WEIGHT,
        outflow=0,
    )
    def commit_result(
        self,
        ctx: BlockContext,
        origin: Origin,
        job_id: int,
        digest: bytes,
        root: bytes,
        leaves: int,
    ) -> None:
        """Commit a matched job's result: the Merkle root over its leaves and their number.

        `digest` (`market.job_digest`) names the job the worker computed: WrongJob if the job
        with that id is another one. Without it, a commitment signed for job N on one fork could
        be included on another fork whose job N is different work, and bind the worker to a root
        that fails every audit of that work."""
        worker = ensure_signed(origin)
        _bound_job(job_id, market.find_job(ctx, job_id), digest)
        try:
            market.record_commitment(ctx, job_id, worker, root, leaves)
        except MarketError as exc:
            raise NotMatchedWorker() from exc
        p = Params.get(ctx.state)
        market.schedule(Draws, ctx, ctx.number + 1, job_id)  # when to roll its audit
        market.schedule(Due, ctx, ctx.number + p.dispute_window, job_id)
        ctx.deposit_event(ResultCommitted, job_id, worker, root, leaves)

    @call(
        args=(
            ("job", fields.U64),
            ("digest", fields.HASH),
            ("check", fields.U32),
            ("commitment", fields.HASH),
        ),
        weight=ATTEST_WEIGHT,
        pays=False,
        outflow=0,
    )
    def attest_commit(
        self,
        ctx: BlockContext,
        origin: Origin,
        job_id: int,
        digest: bytes,
        index: int,
        commitment: bytes,
    ) -> None:
        """A committee member's commitment to its recomputation, in the commit phase:
        `attestation_commitment` over its recomputed leaf hashes (or none: "unavailable").
        `digest` (`check_digest`) names the job, its result and the round's draw (leaves and
        mask) it recomputed (WrongJob otherwise), so that a commitment over another fork's job
        with the same id, or over another fork's draw of this check, never counts here."""
        member = ensure_signed(origin)
        checks = _member_check(ctx, job_id, index, member, digest)
        check = checks[index]
        if check.phase(ctx.number) != "commit":
            raise WrongPhase()
        if check.commitment_of(member) is not None:
            raise AlreadyAttested()
        checks[index] = replace(check, commits=(*check.commits, (member, commitment)))
        Checks.insert(ctx.state, job_id, tuple(checks))
        ctx.deposit_event(AttestationCommitted, job_id, index, member)

    @call(
        args=(
            ("job", fields.U64),
            ("check", fields.U32),
            ("leaf_hashes", _HASH_LIST),
            ("witness", fields.HASH),
            ("salt", fields.HASH),
        ),
        weight=ATTEST_WEIGHT,
        pays=False,
        outflow=0,
    )
    def attest_reveal(
        self,
        ctx: BlockContext,
        origin: Origin,
        job_id: int,
        index: int,
        leaf_hashes: list[bytes],
        witness: bytes,
        salt: bytes,
    ) -> None:
        """A committee member reveals the leaf hashes and witness it committed to (no hashes and
        NO_WITNESS: "unavailable") and its salt, in the reveal phase; refused unless they open
        its commitment."""
        member = ensure_signed(origin)
        checks = _member_check(ctx, job_id, index, member)
        check = checks[index]
        if check.phase(ctx.number) != "reveal":
            raise WrongPhase()
        commitment = check.commitment_of(member)
        if commitment is None:
            raise NoCommitment()
        if check.reveal_of(member) is not None:
            raise AlreadyAttested()
        hashes = tuple(leaf_hashes)
        if len(hashes) not in (0, len(check.leaves)) and hashes != RESULT_WITHHELD:
            raise BadReveal()
        if (not hashes or hashes == RESULT_WITHHELD) and witness != NO_WITNESS:
            raise BadReveal()  # recomputed nothing, so it has no witness
        if hashes == RESULT_WITHHELD and not any(
            builds_on(market.job(ctx, job_id).workload, leaf) for leaf in check.leaves
        ):
            raise BadReveal()  # the checked leaves build on no committed leaf to withhold
        if attestation_commitment(job_id, index, member, hashes, witness, salt) != commitment:
            raise BadReveal()
        checks[index] = replace(
            check,
            reveals=(*check.reveals, (member, hashes)),
            witnesses=(*check.witnesses, (member, witness)),
        )
        Checks.insert(ctx.state, job_id, tuple(checks))
        matches = bool(check.response) and hashes == check.response
        ctx.deposit_event(AttestationRevealed, job_id, index, member, matches)

    @call(
        args=(
            ("job", fields.U64),
            ("check", fields.U32),
            ("leaf_hashes", _HASH_LIST),
            (
                "proofs",
                fields.list_type(fields.list_type(fields.HASH, MAX_PROOF_HASHES), MAX_AUDIT_LEAVES),
            ),
        ),
        weight=RESPOND_WEIGHT,
        pays=False,
        outflow=0,
    )
    def respond(
        self,
        ctx: BlockContext,
        origin: Origin,
        job_id: int,
        index: int,
        leaf_hashes: list[bytes],
        proofs: list[list[bytes]],
    ) -> None:
        """The worker's committed leaf hashes of a check's leaves, each with its Merkle proof to
        the result root, in the reveal phase only (so no member can copy them into its
        commitment)."""
        worker = ensure_signed(origin)
        current = _committed_job(ctx, job_id)
        if current.worker != worker:
            raise NotMatchedWorker()
        checks = _drawn_check(ctx, job_id, index)
        check = checks[index]
        if check.phase(ctx.number) != "reveal":
            raise WrongPhase()
        if check.response:
            raise AlreadyResponded()
        if not len(leaf_hashes) == len(proofs) == len(check.leaves):
            raise BadResponse()
        for leaf, hashed, proof in zip(check.leaves, leaf_hashes, proofs, strict=True):
            try:
                verify_hash_proof(current.result_root, hashed, leaf, current.leaves, proof)
            except MerkleProofError as exc:
                raise BadResponse() from exc
        checks[index] = replace(check, response=tuple(leaf_hashes))
        Checks.insert(ctx.state, job_id, tuple(checks))
        ctx.deposit_event(WorkerResponded, job_id, index)

    @call(
        args=(("job", fields.U64), ("digest", fields.HASH), ("leaf", fields.U32)),
        weight=DISPUTE_WEIGHT,
        outflow=_dispute_bond,
    )
    def dispute(
        self, ctx: BlockContext, origin: Origin, job_id: int, digest: bytes, leaf: int
    ) -> None:
        """Claim that one leaf of a committed result is wrong, bonding `fraud_bond_for` the job
        on it; its committee is drawn DRAW_DELAY blocks later. `digest` (`result_digest`) names the
        job and the committed result the challenger checked (WrongJob otherwise), so its bond
        never stakes on another job, nor on another fork's worker or root for the same job."""
        challenger = ensure_signed(origin)
        current = _committed_job(ctx, job_id)
        if result_digest(job_id, current) != digest:
            raise WrongJob()
        p = Params.get(ctx.state)
        if ctx.number >= current.committed_at + p.dispute_window:
            raise DisputeWindowClosed()
        if leaf >= current.leaves:
            raise BadLeaf()
        checks = Checks.get(ctx.state, job_id) or ()
        firsts = [c for c in checks if c.round == 0]
        if challenger == current.requester:
            own = sum(1 for c in firsts if c.challenger == challenger)
            full = own >= REQUESTER_DISPUTES and len(firsts) >= MAX_OPEN_CHECKS
        else:
            full = sum(1 for c in firsts if c.challenger != current.requester) >= MAX_OPEN_CHECKS
        if full or len(checks) >= MAX_CHECKS_PER_JOB:
            raise TooManyChecks()
        _, verification_fee = market.job_fees(ctx, current)
        bond = fraud_bond_for(p, verification_fee)
        balances.hold(ctx, challenger, BOND, bond)
        draw_at = ctx.number + DRAW_DELAY
        check = Check(
            kind="dispute", leaves=(leaf,), draw_at=draw_at, challenger=challenger, bond=bond
        )
        Checks.insert(ctx.state, job_id, (*checks, check))
        market.schedule(Draws, ctx, draw_at, job_id)
        ctx.deposit_event(DisputeOpened, job_id, len(checks), challenger, leaf, draw_at)

    @call(args=ComputeParams.call_args(), weight=SET_PARAMS_WEIGHT, outflow=0)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the verification parameters (Root only); refused if cheating would pay."""
        self.change_params(ctx, origin, ComputeParams(*values), Params, BadParams, ParamsChanged)

    # Parameters and genesis

    def check_params(self, state: StateOverlay, params: Any) -> None:
        """ValueError unless `params` fit, and with the market's parameters in `state` make
        faking a job unprofitable."""
        check_incentives(market.params_in(state), params)
        check_verification_window(params, session.SlotDurationMs.get(state))

    def build_genesis(self, ctx: BlockContext, config: ComputeGenesis) -> None:
        """The verification parameters (after the market's, which they are checked against)."""
        self.check_params(ctx.state, config.compute)
        Params.put(ctx.state, config.compute)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Each account's bond hold equals its open disputes' bonds; no check has more commits
        than members or more reveals than commits; every open check's phases are in order; a
        settled job has no open check."""
        problems: list[str] = []
        bonds: dict[bytes, int] = {}
        for key, raw in iterate(Checks.prefix):
            job_id = int.from_bytes(Checks.key_suffix(key), "big")
            checks = Checks.decode_at(key, raw)
            for index, check in enumerate(checks):
                where = f"job {job_id} check {index}"
                if not check.outcome and check.challenger is not None:
                    bonds[check.challenger] = bonds.get(check.challenger, 0) + check.bond
                problems.extend(f"{where}: {p}" for p in _check_problems(check))
            job_key = market.Jobs.key(job_id)
            raw_job = read(job_key)
            settled = (
                raw_job is not None and market.Jobs.decode_at(job_key, raw_job).state == "settled"
            )
            if settled and any(not c.outcome for c in checks):
                problems.append(f"job {job_id} settled with an open check")
        for key, _ in iterate(AuditRolls.prefix):
            job_id = int.from_bytes(AuditRolls.key_suffix(key), "big")
            job_key = market.Jobs.key(job_id)
            raw_job = read(job_key)
            if raw_job is None or market.Jobs.decode_at(job_key, raw_job).state != "committed":
                problems.append(f"job {job_id} awaits an audit roll but is not committed")
        for who, info in system.accounts_in(iterate):
            held = info.held(BOND)
            if held != bonds.get(who, 0):
                problems.append(
                    f"account {who.hex()} holds {held} as bonds, disputes owe {bonds.get(who, 0)}"
                )
        return problems


def _silent_before(checks: tuple[Check, ...], index: int) -> set[bytes]:
    """Members of the previous round of check `index` that did not reveal (a fresh committee
    avoids them where it can)."""
    check = checks[index]
    if check.round == 0:
        return set()
    for other in reversed(checks[:index]):
        if other.round == check.round - 1 and other.same_check(check):
            return {m for m in other.committee if other.reveal_of(m) is None}
    return set()


def _check_problems(check: Check) -> list[str]:
    problems: list[str] = []
    members = set(check.committee)
    committed = [m for m, _ in check.commits]
    revealed = [m for m, _ in check.reveals]
    if len(committed) > len(check.committee) or len(set(committed)) != len(committed):
        problems.append("more commitments than committee members")
    if not set(committed) <= members or not set(revealed) <= set(committed):
        problems.append("a commitment from outside the committee, or a reveal without one")
    if len(set(revealed)) != len(revealed):
        problems.append("a member revealed twice")
    if [m for m, _ in check.witnesses] != revealed:
        problems.append("the witnesses are not one for each reveal")
    if check.response and len(check.response) != len(check.leaves):
        problems.append("a response of the wrong length")
    if check.outcome:
        return problems
    if not check.drawn:
        if check.committee or check.commit_deadline or check.reveal_deadline or check.commits:
            problems.append("an undrawn check with a committee, deadlines or commitments")
    elif not check.draw_at <= check.drawn_at < check.commit_deadline < check.reveal_deadline:
        problems.append("an open check's phases are out of order")
    return problems
