"""Compute: result commitments, random audits, verifier committees, disputes and verdicts.

After a worker commits a result (its Merkle root over the result leaves), the rules are:

1. Challenge randomness is the hash of the first block after the commitment block, with the
   job id: it is unknown when the worker commits. Two blocks after the commitment the job is
   audited with probability q (always, in the "always" mode); an audit names k leaves and draws a
   committee of c validators by stake (their session keys); each attestation earns its validator
   an era point.
2. Committee members fetch the named leaves with their Merkle proofs, recompute them from the
   job's inputs, and attest pass, fail or unavailable. More than 2/3 of the committee decides; if
   the audit window ends without that, nobody is convicted ("inconclusive").
3. During the dispute window of W blocks after the commitment, anyone may dispute one leaf,
   putting up a bond; a committee recomputes that leaf. A dispute that fails the worker returns
   the bond and rewards the challenger; one that the worker passes costs the challenger its bond
   (half to the worker, half to the committee).
4. A failed check ends the job at once: the worker is slashed and the requester refunded (the
   market pallet settles it). Otherwise the job settles when the dispute window is over and no
   check is open; the committee members who attested a passed audit share the verification fee.

The parameters must keep cheating unprofitable: `guard.check_incentives` refuses any under which
faking a job in full or in part pays, counting the conviction probability of one audit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from runtime import fields
from runtime.framework import (
    WEIGHT_PER_MICROS,
    BlockContext,
    DispatchError,
    EventDef,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    ValueCodec,
    call,
    ensure_signed,
    record_codec,
    value_codec,
)
from runtime.pallets import balances, market, randomness, session, staking, system
from runtime.pallets.compute.guard import check_incentives, check_verification_window
from runtime.pallets.market import PPM
from runtime.pallets.market.errors import MarketError
from runtime.primitives import codec
from runtime.primitives.hashing import blake2b_256
from runtime.schema import Record, param
from runtime.state import PrefixIterator, StateOverlay, StateReader

NAME: Final = "compute"

# Constants

BOND: Final = "bond"
VERDICTS: Final = ("pass", "fail", "unavailable")
MAX_CHECKS_PER_JOB: Final = 7
"""The audit and anyone's disputes take up to MAX_OPEN_CHECKS (the audit is drawn even past it);
the requester has REQUESTER_DISPUTES more of its own, so nobody (the worker under another name
included) can use up the dispute slots and shut the requester's fraud proof out."""
MAX_OPEN_CHECKS: Final = 4
REQUESTER_DISPUTES: Final = 2
MAX_COMMITTEE: Final = 64
MAX_AUDIT_LEAVES: Final = 256
DRAW_DELAY: Final = 3
"""The draw for a commitment in block n happens in block n + 2, whose parent is the first block
after the commitment: its hash is the challenge randomness."""

COMMIT_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
ATTEST_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
DISPUTE_WEIGHT: Final = 100 * WEIGHT_PER_MICROS
SET_PARAMS_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""Decoding and checking the parameters against the market's and writing them."""


@dataclass(frozen=True, slots=True)
class ComputeParams(Record):
    """Verification parameters (genesis; changed by Root, later by governance)."""

    audit_ppm: int = param(fields.U32, 0, PPM, default=500_000, rule=f"must be between 0 and {PPM}")
    """q: the probability that a committed job is audited, in parts per million."""
    audit_leaves: int = param(fields.U32, 1, MAX_AUDIT_LEAVES, default=16)
    """k: leaves an audit recomputes."""
    committee_size: int = param(fields.U32, 1, MAX_COMMITTEE, default=3)
    """c: validators on a committee."""
    audit_window: int = param(
        fields.U32, 1, default=10, rule="must be at least 1 block", json_max=100_000
    )
    """Blocks a committee has to attest."""
    dispute_window: int = param(fields.U32, 1, default=20, json_max=1_000_000)
    """W: blocks after a commitment during which disputes are open and payment waits."""
    fraud_bond: int = param(fields.BALANCE, default=10**12)
    """What a dispute puts up."""
    reveal_window: int = param(fields.U32, 1, default=4, json_max=100_000)
    """Blocks after a check's commit phase in which members reveal and the worker responds."""
    max_rounds: int = param(fields.U32, 1, 8, default=3)
    """Committees a check draws at most; after that many inconclusive rounds the job is void."""
    member_penalty: int = param(fields.BALANCE, default=10**10)
    """What a committee member that does not vote, or votes against the outcome, loses."""
    challenger_share_ppm: int = param(
        fields.U32, 0, PPM, default=250_000, rule=f"must be between 0 and {PPM}"
    )
    """The share of a convicted worker's slash that a dispute's challenger receives."""
    collusion_ppm: int = param(
        fields.U32, 0, PPM // 2, default=250_000, rule=f"must be between 0 and {PPM // 2}"
    )
    """The share of the validators' stake the guard assumes one colluding party controls."""
    margin_ppm: int = param(fields.U32, 0, 10 * PPM, default=250_000)
    """How far the guard requires a cheater's expected loss to exceed its saving (0.25: 25%)."""

    def check(self) -> None:
        """ValueError naming the first parameter out of its range or not fitting the others."""
        self.check_fields("audit_ppm", "audit_leaves", "committee_size", "audit_window")
        if self.dispute_window <= DRAW_DELAY + self.audit_window:
            raise ValueError("the dispute window must outlast the audit draw and the audit window")
        Record.check(self)


DEFAULT_COMPUTE_PARAMS: Final = ComputeParams()
"""Audit half the jobs on 16 leaves by 3 validators within 10 blocks; disputes for 20 blocks; a
dispute bonds 1 XPL. With the market's slash of 3× the payment the guard's figure is 1.37."""


@dataclass(frozen=True, slots=True)
class Check(Record):
    """One verification round of a job: an audit, or a dispute of one leaf."""

    kind: str = param(fields.str_type(16))
    leaves: tuple[int, ...] = param(fields.tuple_type(fields.U32, MAX_AUDIT_LEAVES))
    committee: tuple[bytes, ...] = param(fields.tuple_type(fields.ACCOUNT, MAX_COMMITTEE))
    votes: tuple[tuple[bytes, str], ...] = param(
        fields.tuple_type(fields.pair_type(fields.ACCOUNT, fields.str_type(16)), MAX_COMMITTEE)
    )
    deadline: int = param(fields.U32)
    challenger: bytes | None = param(fields.option_type(fields.ACCOUNT), default=None)
    bond: int = param(fields.BALANCE, default=0)
    outcome: str = param(fields.str_type(16), default="")
    """"" while open; then "pass", "fail" or "inconclusive"."""

    def count(self, *verdicts: str) -> int:
        """How many committee votes are one of `verdicts`."""
        return sum(1 for _, v in self.votes if v in verdicts)

    def decided(self) -> str:
        """ "fail" or "pass" once more than 2/3 of the committee agree, else ""."""
        size = len(self.committee)
        if 3 * self.count("fail", "unavailable") > 2 * size:
            return "fail"
        if 3 * self.count("pass") > 2 * size:
            return "pass"
        return ""


def _checks_codec() -> ValueCodec[tuple[Check, ...]]:
    return value_codec(
        lambda checks: [c.to_value() for c in checks],
        lambda v: tuple(
            Check.from_value(c) for c in codec.expect_array(v, MAX_CHECKS_PER_JOB, "checks")
        ),
    )


# Storage

Params: Final = StorageValue[ComputeParams](
    NAME,
    "Params",
    record_codec(ComputeParams),
    DEFAULT_COMPUTE_PARAMS,
)
Checks: Final = StorageMap[int, tuple[Check, ...]](
    NAME, "Checks", lambda i: i.to_bytes(8, "big"), _checks_codec()
)
Draws: Final = StorageMap[int, tuple[int, ...]](
    NAME, "Draws", lambda n: n.to_bytes(4, "big"), market.JOB_IDS_CODEC
)
"""Jobs whose audit draw happens in block n."""
Due: Final = StorageMap[int, tuple[int, ...]](
    NAME, "Due", lambda n: n.to_bytes(4, "big"), market.JOB_IDS_CODEC
)
"""Jobs to look at in block n: a check's deadline passed, or the dispute window ended."""

# Events

_JOB = ("job", fields.U64)
ResultCommitted: Final = EventDef(
    NAME,
    "ResultCommitted",
    (_JOB, ("worker", fields.ACCOUNT), ("root", fields.HASH), ("leaves", fields.U32)),
)
ChallengeDrawn: Final = EventDef(
    NAME,
    "ChallengeDrawn",
    (
        _JOB,
        ("check", fields.U32),
        ("audited", fields.BOOL),
        ("leaves", fields.list_type(fields.U32, MAX_AUDIT_LEAVES)),
        ("committee", fields.list_type(fields.ACCOUNT, MAX_COMMITTEE)),
        ("deadline", fields.U32),
    ),
)
DisputeOpened: Final = EventDef(
    NAME,
    "DisputeOpened",
    (
        _JOB,
        ("check", fields.U32),
        ("challenger", fields.ACCOUNT),
        ("leaf", fields.U32),
        ("committee", fields.list_type(fields.ACCOUNT, MAX_COMMITTEE)),
        ("deadline", fields.U32),
    ),
)
Attested: Final = EventDef(
    NAME,
    "Attested",
    (_JOB, ("check", fields.U32), ("member", fields.ACCOUNT), ("verdict", fields.str_type(16))),
)
CheckDecided: Final = EventDef(
    NAME, "CheckDecided", (_JOB, ("check", fields.U32), ("outcome", fields.str_type(16)))
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", ())

# Errors


class ComputeError(DispatchError):
    """Base of the compute pallet's dispatch errors."""

    pallet = NAME


class NotMatchedWorker(ComputeError):
    """Only the job's matched worker may commit, before its deadline, with the right leaf count."""


class NotCommitted(ComputeError):
    """The job has no committed result awaiting verification."""


class UnknownCheck(ComputeError):
    """The job has no open check with that number."""


class NotInCommittee(ComputeError):
    """Only members of the check's committee may attest."""


class AlreadyAttested(ComputeError):
    """This member already attested on this check."""


class BadVerdict(ComputeError):
    """A verdict is "pass", "fail" or "unavailable"."""


class DisputeWindowClosed(ComputeError):
    """Disputes are open only during the dispute window after the commitment."""


class BadLeaf(ComputeError):
    """The leaf index is beyond the job's result."""


class TooManyChecks(ComputeError):
    """The job already has the most checks it takes (the requester keeps two dispute slots)."""


class BadParams(ComputeError):
    """The parameters would let cheating pay, or do not fit together."""


# Randomness, committees and leaves


def _seed(ctx: BlockContext, job_id: int, purpose: bytes) -> bytes:
    """A draw's seed: the chain randomness of this block (`randomness.current`) with the job.

    Drawn DRAW_DELAY blocks after what it checks was committed, the chain randomness mixes the
    VRF outputs of the d = DRAW_DELAY blocks after it: nobody knows it at the commitment, and no
    block content (extrinsics, their order, the timestamp) moves it. Only the author of the last
    of those blocks knows the draw before it is published; it can forfeit its slot (and its
    reward) to get the next author's draw instead: one bit, which moves an audit probability q to
    at most 1 − (1 − q)² or down to q². An operator holding several slots of the window gets one
    such bit per slot, each bought with a forfeited block (see `runtime.pallets.randomness`).
    """
    return blake2b_256(
        b"xpl-compute" + purpose + randomness.current(ctx.state) + job_id.to_bytes(8, "big")
    )


def draw_committee(ctx: BlockContext, seed: bytes, size: int) -> tuple[bytes, ...]:
    """`size` distinct authorities (session keys) drawn by stake with `seed`, in drawing order.

    Each draw picks an authority with probability its weight over the weight still undrawn:
    draw i takes BLAKE2b-256(seed ‖ "committee" ‖ i) modulo that weight and walks the cumulative
    weights. Disabled authorities are left out; integers only, so every node draws the same.
    """
    disabled = session.disabled_keys(ctx.state)
    remaining = [
        (key, weight)
        for key, weight in session.authority_set(ctx.state).authorities
        if key not in disabled
    ]
    chosen: list[bytes] = []
    i = 0
    while remaining and len(chosen) < size:
        total = sum(weight for _, weight in remaining)
        digest = blake2b_256(seed + b"committee" + i.to_bytes(4, "big"))
        point = int.from_bytes(digest, "big") % total
        for index, (key, weight) in enumerate(remaining):
            if point < weight:
                chosen.append(key)
                del remaining[index]
                break
            point -= weight
        i += 1
    return tuple(chosen)


def draw_leaves(seed: bytes, count: int, leaves: int) -> tuple[int, ...]:
    """`count` distinct leaf indices below `leaves`, drawn by `seed`, in drawing order."""
    if count >= leaves:
        return tuple(range(leaves))
    chosen: list[int] = []
    taken: set[int] = set()
    i = 0
    while len(chosen) < count:
        index = int.from_bytes(blake2b_256(seed + b"leaf" + i.to_bytes(4, "big"))[:8], "big")
        index %= leaves
        if index not in taken:
            taken.add(index)
            chosen.append(index)
        i += 1
    return tuple(chosen)


# Deciding checks


def _close(ctx: BlockContext, job_id: int, index: int, outcome: str) -> None:
    """Record a check's outcome and carry out what it means."""
    checks = list(Checks.get(ctx.state, job_id) or ())
    check = checks[index]
    checks[index] = replace(check, outcome=outcome)
    Checks.insert(ctx.state, job_id, tuple(checks))
    ctx.deposit_event(CheckDecided, job_id, index, outcome)
    if outcome == "fail":
        catchers = [m for m, v in check.votes if v in ("fail", "unavailable")]
        if check.challenger is not None:
            catchers.append(check.challenger)
            _release_bond(ctx, check)
        _return_bonds(ctx, job_id)
        market.settle_failure(ctx, job_id, catchers)
    elif check.kind == "dispute":
        if outcome == "pass":
            _forfeit_bond(ctx, job_id, check)
        else:
            _release_bond(ctx, check)


def _release_bond(ctx: BlockContext, check: Check) -> None:
    if check.challenger is not None and check.bond:
        amount = min(check.bond, balances.held(ctx, check.challenger, BOND))
        if amount:
            balances.release(ctx, check.challenger, BOND, amount)


def _return_bonds(ctx: BlockContext, job_id: int) -> None:
    """A job that failed: its other open checks are moot; disputes get their bonds back."""
    checks = list(Checks.get(ctx.state, job_id) or ())
    for i, check in enumerate(checks):
        if not check.outcome:
            if check.kind == "dispute":
                _release_bond(ctx, check)
            checks[i] = replace(check, outcome="inconclusive")
    Checks.insert(ctx.state, job_id, tuple(checks))


def _forfeit_bond(ctx: BlockContext, job_id: int, check: Check) -> None:
    """A dispute the worker passed: half the bond to the worker, half to the committee."""
    assert check.challenger is not None
    taken = balances.slash_held(ctx, check.challenger, BOND, check.bond)
    voters = [m for m, v in check.votes if v == "pass"]
    share = taken // 2 // len(voters) if voters else 0
    for voter in voters:
        balances.deposit(ctx, voter, share)
    worker = market.job(ctx, job_id).worker
    if worker is not None:
        balances.deposit(ctx, worker, taken - share * len(voters))


def _open_checks(ctx: BlockContext, job_id: int) -> list[tuple[int, Check]]:
    return [(i, c) for i, c in enumerate(Checks.get(ctx.state, job_id) or ()) if not c.outcome]


def _verifiers(ctx: BlockContext, job_id: int) -> list[bytes]:
    """Members who attested pass on the job's audits that passed or stayed inconclusive.

    They earn the verification fee: the job settles, so a pass was the verdict that stood.
    """
    found: list[bytes] = []
    for check in Checks.get(ctx.state, job_id) or ():
        if check.kind == "audit" and check.outcome in ("pass", "inconclusive"):
            found.extend(m for m, v in check.votes if v == "pass" and m not in found)
    return found


class ComputeGenesis(Protocol):
    """The part of the genesis config that compute builds from."""

    @property
    def compute(self) -> ComputeParams: ...


class Compute(Pallet):
    """The compute pallet: result commitments, audits, committees, disputes and verdicts."""

    NAME = NAME
    PARAMS = ComputeParams
    EVENTS = (ResultCommitted, ChallengeDrawn, DisputeOpened, Attested, CheckDecided, ParamsChanged)
    ERRORS = (
        NotMatchedWorker,
        NotCommitted,
        UnknownCheck,
        NotInCommittee,
        AlreadyAttested,
        BadVerdict,
        DisputeWindowClosed,
        BadLeaf,
        TooManyChecks,
        BadParams,
    )

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> int:
        """Draw audits for commitments two blocks old; decide expired checks; settle jobs."""
        state = ctx.state
        p = Params.get(state)
        drawn = Draws.get(state, ctx.number)
        if drawn is not None:
            Draws.remove(state, ctx.number)
            for job_id in drawn:
                self._draw_audit(ctx, job_id, p)
        due = Due.get(state, ctx.number)
        if due is not None:
            Due.remove(state, ctx.number)
            for job_id in due:
                self._look_at(ctx, job_id, p)
        return 0

    def _draw_audit(self, ctx: BlockContext, job_id: int, p: ComputeParams) -> None:
        current = market.find_job(ctx, job_id)
        if current is None or current.state != "committed":
            return
        seed = _seed(ctx, job_id, b"audit")
        roll = int.from_bytes(seed[:8], "big") % PPM
        checks = Checks.get(ctx.state, job_id) or ()
        audited = (current.mode == "always" or roll < p.audit_ppm) and len(
            checks
        ) < MAX_CHECKS_PER_JOB
        if not audited:
            ctx.deposit_event(ChallengeDrawn, job_id, 0, False, [], [], 0)
            return
        leaves = draw_leaves(seed, p.audit_leaves, current.leaves)
        committee = draw_committee(ctx, seed, p.committee_size)
        deadline = ctx.number + p.audit_window
        check = Check(kind="audit", leaves=leaves, committee=committee, votes=(), deadline=deadline)
        Checks.insert(ctx.state, job_id, (*checks, check))
        market.schedule(Due, ctx, deadline + 1, job_id)
        ctx.deposit_event(
            ChallengeDrawn, job_id, len(checks), True, list(leaves), list(committee), deadline
        )

    def _look_at(self, ctx: BlockContext, job_id: int, p: ComputeParams) -> None:
        """Close checks past their deadline; settle the job once its window is over and clear."""
        current = market.find_job(ctx, job_id)
        if current is None or current.state != "committed":
            return
        for index, check in _open_checks(ctx, job_id):
            if check.deadline < ctx.number:
                _close(ctx, job_id, index, check.decided() or "inconclusive")
                if market.job(ctx, job_id).state != "committed":
                    return
        still_open = _open_checks(ctx, job_id)
        window_end = current.committed_at + p.dispute_window
        if ctx.number < window_end:
            # The window may have grown since the commitment scheduled its end.
            market.schedule(Due, ctx, window_end, job_id)
            return
        if still_open:
            market.schedule(Due, ctx, max(c.deadline for _, c in still_open) + 1, job_id)
            return
        market.settle_success(ctx, job_id, _verifiers(ctx, job_id))

    # Calls

    @call(
        args=(("job", fields.U64), ("root", fields.HASH), ("leaves", fields.U32)),
        weight=COMMIT_WEIGHT,
    )
    def commit_result(
        self, ctx: BlockContext, origin: Origin, job_id: int, root: bytes, leaves: int
    ) -> None:
        """Commit a matched job's result: the Merkle root over its leaves and their number."""
        worker = ensure_signed(origin)
        try:
            market.record_commitment(ctx, job_id, worker, root, leaves)
        except MarketError as exc:
            raise NotMatchedWorker() from exc
        p = Params.get(ctx.state)
        market.schedule(Draws, ctx, ctx.number + DRAW_DELAY, job_id)
        market.schedule(Due, ctx, ctx.number + p.dispute_window, job_id)
        ctx.deposit_event(ResultCommitted, job_id, worker, root, leaves)

    @call(
        args=(("job", fields.U64), ("check", fields.U32), ("verdict", fields.str_type(16))),
        weight=ATTEST_WEIGHT,
    )
    def attest(
        self, ctx: BlockContext, origin: Origin, job_id: int, index: int, verdict: str
    ) -> None:
        """A committee member's verdict on a check: pass, fail, or unavailable (no leaves)."""
        member = ensure_signed(origin)
        if verdict not in VERDICTS:
            raise BadVerdict()
        current = market.find_job(ctx, job_id)
        if current is None or current.state != "committed":
            raise NotCommitted()
        checks = list(Checks.get(ctx.state, job_id) or ())
        if not 0 <= index < len(checks) or checks[index].outcome:
            raise UnknownCheck()
        check = checks[index]
        if member not in check.committee:
            raise NotInCommittee()
        if any(m == member for m, _ in check.votes):
            raise AlreadyAttested()
        check = replace(check, votes=(*check.votes, (member, verdict)))
        checks[index] = check
        Checks.insert(ctx.state, job_id, tuple(checks))
        ctx.deposit_event(Attested, job_id, index, member, verdict)
        staking.note_attestation(ctx, member)
        outcome = check.decided()
        if outcome:
            _close(ctx, job_id, index, outcome)

    @call(args=(("job", fields.U64), ("leaf", fields.U32)), weight=DISPUTE_WEIGHT)
    def dispute(self, ctx: BlockContext, origin: Origin, job_id: int, leaf: int) -> None:
        """Claim that one leaf of a committed result is wrong, bonding the fraud bond on it."""
        challenger = ensure_signed(origin)
        current = market.find_job(ctx, job_id)
        if current is None or current.state != "committed":
            raise NotCommitted()
        p = Params.get(ctx.state)
        if ctx.number >= current.committed_at + p.dispute_window:
            raise DisputeWindowClosed()
        if leaf >= current.leaves:
            raise BadLeaf()
        checks = Checks.get(ctx.state, job_id) or ()
        if challenger == current.requester:
            own = sum(1 for c in checks if c.challenger == challenger)
            others = len(checks) - own
            full = own >= REQUESTER_DISPUTES and others + own >= MAX_OPEN_CHECKS
        else:
            full = sum(1 for c in checks if c.challenger != current.requester) >= MAX_OPEN_CHECKS
        if full or len(checks) >= MAX_CHECKS_PER_JOB:
            raise TooManyChecks()
        balances.hold(ctx, challenger, BOND, p.fraud_bond)
        committee = draw_committee(ctx, _seed(ctx, job_id, b"dispute"), p.committee_size)
        deadline = ctx.number + p.audit_window
        check = Check(
            kind="dispute",
            leaves=(leaf,),
            committee=committee,
            votes=(),
            deadline=deadline,
            challenger=challenger,
            bond=p.fraud_bond,
        )
        Checks.insert(ctx.state, job_id, (*checks, check))
        market.schedule(Due, ctx, deadline + 1, job_id)
        ctx.deposit_event(
            DisputeOpened, job_id, len(checks), challenger, leaf, list(committee), deadline
        )

    @call(args=ComputeParams.call_args(), weight=SET_PARAMS_WEIGHT)
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
        """Each account's bond hold equals its open disputes' bonds; no check is over-voted."""
        problems: list[str] = []
        bonds: dict[bytes, int] = {}
        for _, raw in iterate(Checks.prefix):
            for check in Checks.decode(raw):
                if not check.outcome and check.challenger is not None:
                    bonds[check.challenger] = bonds.get(check.challenger, 0) + check.bond
                if len(check.votes) > len(check.committee):
                    problems.append("a check has more votes than committee members")
        for who, info in system.accounts_in(iterate):
            held = info.held(BOND)
            if held != bonds.get(who, 0):
                problems.append(
                    f"account {who.hex()} holds {held} as bonds, disputes owe {bonds.get(who, 0)}"
                )
        return problems
