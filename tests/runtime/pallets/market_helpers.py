"""Builders for the market and compute tests: a dev chain with a validator set and named roles,
calls made as signed transactions in authored blocks, and readers for jobs, workers and events.

Four validators (Alice, Bob, Charlie, Dave) make the committees. Ferdie authors every block and
is not endowed, so the author's fee share reaches no account a test looks at (it is minted only
once a block's share reaches the existential deposit). Workers, requesters, a challenger and an
outsider have accounts of their own. Every transaction pays its fee; `Outcome.fee` and
`treasury_fee_share` read the fees back from the block's events so that balances can be
asserted exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chain.client.chain import make_call
from runtime.block import Block
from runtime.executive import CALLS, BlockBuilder, BlockResult
from runtime.framework import ROOT, DispatchError, EventRecord
from runtime.genesis import GenesisConfig
from runtime.pallets import compute, market, system, transaction_payment
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, Check, ComputeParams
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, Job, MarketParams, Worker
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.staking import events as staking_events
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import leaf_hash, proof_from_hashes, root_of_hashes
from runtime.state import StateOverlay
from runtime.workloads import payment_for
from tests.runtime.conftest import DevChain

UNIT: Final = 10**12
ENDOWMENT: Final = 1_000 * UNIT
SLOT_MS: Final = 6_000

ALICE, BOB, CHARLIE, DAVE = VALIDATORS = tuple(
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave")
)
AUTHOR: Final = dev_keypair("Ferdie")
WORKER, WORKER2, WORKER3 = (dev_keypair(n) for n in ("Wendy", "Walter", "Wilma"))
REQUESTER, REQUESTER2 = (dev_keypair(n) for n in ("Rita", "Ralph"))
CHALLENGER: Final = dev_keypair("Chuck")
OUTSIDER: Final = dev_keypair("Oscar")
"""Endowed, but neither a validator nor a party to any job."""
ACCOUNTS: Final = (
    *VALIDATORS,
    WORKER,
    WORKER2,
    WORKER3,
    REQUESTER,
    REQUESTER2,
    CHALLENGER,
    OUTSIDER,
)
_BY_ACCOUNT: Final = {k.public: k for k in (*ACCOUNTS, AUTHOR)}

# A gemm_i8 job of exactly 10^9 cost units in 10 leaves: its payment is the price per 10^9 units.
GEMM: Final = "gemm_i8"
GEMM_PARAMS: Final = (1000, 500, 1000, 100)
GEMM_UNITS: Final = 10**9
GEMM_LEAVES: Final = 10
STAKE: Final = 100 * UNIT
VALIDATOR_BOND: Final = 100 * UNIT
"""What each validator bonds of its endowment: equal stakes, so committees are drawn evenly."""
LEAF_HASHES: Final = tuple(leaf_hash(b"gemm leaf %d" % i) for i in range(GEMM_LEAVES))
"""The leaf hashes of every test job's correct result (what an honest member recomputes)."""
ROOT_HASH: Final = root_of_hashes(LEAF_HASHES)
"""The correct result's root, which an honest worker commits."""
GUESS: Final = leaf_hash(b"a guess")
"""A leaf hash a member that did not recompute might reveal."""


def guess(member: bytes) -> bytes:
    """The leaf hash a member that did not recompute reveals: members guessing on their own do
    not guess alike."""
    return leaf_hash(b"a guess by " + member)


def wrong_hashes(*bad: int) -> tuple[bytes, ...]:
    """A result whose leaves `bad` are wrong (a cheating worker's)."""
    return tuple(leaf_hash(b"garbage %d" % i) if i in bad else h for i, h in enumerate(LEAF_HASHES))


def market_config(
    market_params: MarketParams = DEFAULT_MARKET_PARAMS,
    compute_params: ComputeParams = DEFAULT_COMPUTE_PARAMS,
    endowed: Sequence[tuple[bytes, int]] | None = None,
) -> GenesisConfig:
    """Four validators and every named account endowed with ENDOWMENT (or `endowed`)."""
    if endowed is None:
        endowed = [(k.public, ENDOWMENT) for k in ACCOUNTS]
    return GenesisConfig(
        validators=tuple(GenesisValidator(v.public, VALIDATOR_BOND) for v in VALIDATORS),
        slot_duration_ms=SLOT_MS,
        balances=tuple(endowed),
        market=market_params,
        compute=compute_params,
    )


def market_chain(
    market_params: MarketParams = DEFAULT_MARKET_PARAMS,
    compute_params: ComputeParams = DEFAULT_COMPUTE_PARAMS,
) -> MarketChain:
    """A fresh chain on `market_config`, authored by Ferdie."""
    return MarketChain(market_config(market_params, compute_params), AUTHOR)


Event = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A transaction in its block: the error it failed with (None: it succeeded), the fee it
    paid, and the events it caused other than those of system and transaction payment."""

    error: str | None
    fee: int
    events: list[Event]
    block: BlockResult


class MarketChain(DevChain):
    """A dev chain that makes market and compute calls, each in a block of its own.

    It remembers the leaf hashes each job's worker committed to (`results`), so that the worker
    can respond to checks with Merkle proofs, and adds up, over every block it authors, the
    transaction fees each account paid (`fees`), the treasury's share of them (`treasury_fees`)
    the era rewards each stash was paid (`rewards`) and what staking took from it other than a
    compute penalty (`staking_slashes`: offline validators' slashes), so that what the compute
    protocol paid or took can be told apart from them.
    """

    results: dict[int, tuple[bytes, ...]]
    fees: dict[bytes, int]
    treasury_fees: int
    rewards: dict[bytes, int]
    staking_slashes: dict[bytes, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.results = {}
        self.fees = {}
        self.treasury_fees = 0
        self.rewards = {}
        self.staking_slashes = {}
        super().__init__(*args, **kwargs)

    def seal(self, builder: BlockBuilder) -> tuple[Block, BlockResult]:
        block, result = super().seal(builder)
        for r in records(result):
            if r.event is transaction_payment.TransactionFeePaid:
                self.fees[r.args[0]] = self.fees.get(r.args[0], 0) + r.args[1]
            elif r.event is staking_events.Rewarded:
                self.rewards[r.args[0]] = self.rewards.get(r.args[0], 0) + r.args[1]
            elif r.event is staking_events.Slashed:
                self.staking_slashes[r.args[0]] = self.staking_slashes.get(r.args[0], 0) + r.args[1]
            elif r.event is compute.MemberPenalized:
                self.staking_slashes[r.args[2]] = self.staking_slashes.get(r.args[2], 0) - r.args[3]
        self.treasury_fees += treasury_fee_share(result)
        return block, result

    def fees_since(self, before: dict[bytes, int], who: Keypair | bytes) -> int:
        """The fees `who` paid since `before` (a copy of `fees`)."""
        account = account_of(who)
        return self.fees.get(account, 0) - before.get(account, 0)

    def overlay(self) -> StateOverlay:
        return StateOverlay(self.read)

    # Reading

    def job(self, job_id: int) -> Job:
        found = market.Jobs.get(self.overlay(), job_id)
        assert found is not None, f"no job {job_id}"
        return found

    def jobs(self) -> dict[int, Job]:
        return {
            int.from_bytes(market.Jobs.key_suffix(k), "big"): market.Jobs.decode(v)
            for k, v in self.iterate(market.Jobs.prefix)
        }

    def worker(self, who: Keypair | bytes) -> Worker | None:
        return market.Workers.get(self.overlay(), account_of(who))

    def worker_list(self) -> tuple[bytes, ...]:
        return market.WorkerList.get(self.overlay())

    def digest(self, job_id: int) -> bytes:
        """The digest that names job `job_id` in calls (zeros for a job that is not there)."""
        found = market.Jobs.get(self.overlay(), job_id)
        return bytes(32) if found is None else market.job_digest(job_id, found)

    def result_digest(self, job_id: int) -> bytes:
        """The digest that names job `job_id`'s committed result (zeros for no job)."""
        found = market.Jobs.get(self.overlay(), job_id)
        return bytes(32) if found is None else compute.result_digest(job_id, found)

    def check_digest(self, job_id: int, index: int) -> bytes:
        """The digest that names the round of check `index` drawn now (zeros for none)."""
        found = market.Jobs.get(self.overlay(), job_id)
        checks = self.checks(job_id)
        if found is None or not 0 <= index < len(checks):
            return bytes(32)
        return compute.check_digest(job_id, found, index, checks[index])

    def checks(self, job_id: int) -> tuple[Check, ...]:
        return compute.Checks.get(self.overlay(), job_id) or ()

    def pending(self) -> tuple[int, ...]:
        return market.PendingJobs.get(self.overlay())

    def held(self, who: Keypair | bytes, reason: str) -> int:
        info = self.account(account_of(who))
        return 0 if info is None else info.held(reason)

    def balance(self, who: Keypair | bytes) -> int:
        """The free balance (0 for no account)."""
        return self.free(account_of(who))

    def total(self, who: Keypair | bytes) -> int:
        info = self.account(account_of(who))
        return 0 if info is None else info.total

    def compute_params(self) -> ComputeParams:
        return compute.Params.get(self.overlay())

    # Blocks

    def call(self, keypair: Keypair, pallet: str, name: str, *args: Any) -> Outcome:
        """Make one call as a signed transaction, alone in a new block."""
        _, result = self.produce([self.sign(keypair, make_call(pallet, name, *args))])
        return outcome_of(result, 0)

    def calls(self, *calls: tuple[Keypair, str, str, tuple[Any, ...]]) -> list[Outcome]:
        """Several calls in one new block, in order."""
        nonces: dict[bytes, int] = {}
        txs = []
        for keypair, pallet, name, args in calls:
            nonce = nonces.get(keypair.public, self.nonce(keypair.public))
            nonces[keypair.public] = nonce + 1
            txs.append(self.sign(keypair, make_call(pallet, name, *args), nonce=nonce))
        _, result = self.produce(txs)
        return [outcome_of(result, i) for i in range(len(txs))]

    def root_call(self, pallet: str, name: str, *args: Any) -> str | None:
        """Dispatch a call as Root (as governance will) in a new block; the error, if any."""
        builder = self.builder()
        ctx = builder.context
        ctx.phase = 0
        ctx.state.begin()
        error = None
        try:
            CALLS[(pallet, name)].function(ctx, ROOT, *args)
        except DispatchError as exc:
            ctx.state.rollback()
            error = exc.error_name()
        else:
            ctx.state.commit()
        self.seal(builder)
        return error

    def advance(self, blocks: int = 1) -> list[BlockResult]:
        """Author `blocks` empty blocks; their results in order."""
        return [self.produce()[1] for _ in range(blocks)]

    def audit_roll_at(self, job_id: int) -> int:
        """The block that rolls the committed job's audit (authoring the block after the
        commitment, which sets it, if need be)."""
        committed_at = self.job(job_id).committed_at
        if self.head.number <= committed_at:
            self.advance_to(committed_at + 1)
        roll_at = compute.AuditRolls.get(self.overlay(), job_id)
        assert roll_at is not None, "the audit was already rolled"
        return roll_at

    def randomness_of(self, number: int) -> bytes:
        """The chain randomness in the state of block `number`."""
        return self.randomness[self.headers[number].hash]

    def advance_to(self, number: int) -> BlockResult:
        """Author empty blocks up to block `number`; the last one's result."""
        assert number > self.head.number, (number, self.head.number)
        return self.advance(number - self.head.number)[-1]

    # The market's and compute's calls, with the tests' usual arguments

    def register(
        self,
        who: Keypair = WORKER,
        *,
        stake: int = STAKE,
        workloads: Sequence[str] = (GEMM,),
        prices: Sequence[int] = (UNIT,),
        throughput: Sequence[int] | None = None,
        capacity: int = 2,
        device: str = "rtx4090",
    ) -> Outcome:
        return self.call(
            who,
            "market",
            "register_worker",
            stake,
            device,
            24_576,
            list(workloads),
            list(prices),
            [50] * len(workloads) if throughput is None else list(throughput),
            "https://worker.example",
            capacity,
        )

    def submit(
        self,
        who: Keypair = REQUESTER,
        *,
        workload: str = GEMM,
        params: Sequence[int] = GEMM_PARAMS,
        names: Sequence[str] = ("a", "b"),
        roots: Sequence[bytes] = (b"", b""),
        seed: int = 7,
        max_price: int = 2 * UNIT,
        deadline: int = 10,
        wait: int = 5,
        mode: str = "always",
    ) -> Outcome:
        args = (workload, list(params), list(names), list(roots), seed, max_price, deadline, wait)
        return self.call(who, "market", "submit_job", *args, mode)

    def commit(
        self,
        who: Keypair,
        job_id: int,
        *,
        leaves: int = GEMM_LEAVES,
        root: bytes | None = None,
        hashes: Sequence[bytes] = LEAF_HASHES,
    ) -> Outcome:
        """Commit `hashes` (the correct result unless told) as the job's result; `root` commits
        a root with no known leaves instead."""
        if root is None:
            self.results[job_id] = tuple(hashes)
            root = root_of_hashes(hashes)
        return self.call(who, "compute", "commit_result", job_id, self.digest(job_id), root, leaves)

    def true_witness(self, job_id: int, check: int) -> bytes:
        """The witness every honest recomputation of the check's round reaches (a stand-in for
        `gpu_worker.witness`: a function of the job, the check and the round's mask only)."""
        checks = self.checks(job_id)
        mask = checks[check].mask if check < len(checks) else 0
        tag = job_id.to_bytes(8, "big") + check.to_bytes(4, "big") + mask.to_bytes(4, "big")
        return compute.witness_digest([leaf_hash(b"witness" + tag)])

    def witness_for(
        self, job_id: int, check: int, hashes: Sequence[bytes], witness: bytes | None
    ) -> bytes:
        """`witness`, or by default what an honest member reveals with `hashes`: the true
        witness, or NO_WITNESS with "unavailable" or RESULT_WITHHELD."""
        if witness is not None:
            return witness
        if not hashes or tuple(hashes) == compute.RESULT_WITHHELD:
            return compute.NO_WITNESS
        return self.true_witness(job_id, check)

    def commitment(
        self,
        who: Keypair | bytes,
        job_id: int,
        check: int,
        hashes: Sequence[bytes],
        witness: bytes | None = None,
    ) -> tuple[Keypair, str, str, tuple[Any, ...]]:
        """The call by which a member commits to `hashes` (empty: "unavailable") and `witness`
        (the true one unless told)."""
        member = account_of(who)
        salt = compute.attestation_salt(keypair_of(who).seed, job_id, check)
        seen = self.witness_for(job_id, check, hashes, witness)
        commitment = compute.attestation_commitment(job_id, check, member, hashes, seen, salt)
        args = (job_id, self.check_digest(job_id, check), check, commitment)
        return (keypair_of(who), "compute", "attest_commit", args)

    def reveal(
        self,
        who: Keypair | bytes,
        job_id: int,
        check: int,
        hashes: Sequence[bytes],
        witness: bytes | None = None,
    ) -> tuple[Keypair, str, str, tuple[Any, ...]]:
        """The call by which a member reveals `hashes` and `witness` with its salt."""
        salt = compute.attestation_salt(keypair_of(who).seed, job_id, check)
        seen = self.witness_for(job_id, check, hashes, witness)
        args = (job_id, check, list(hashes), seen, salt)
        return (keypair_of(who), "compute", "attest_reveal", args)

    def response(
        self, job_id: int, check: int, who: Keypair = WORKER
    ) -> tuple[Keypair, str, str, tuple[Any, ...]]:
        """The call by which the worker posts its committed hashes of the check's leaves with
        their Merkle proofs."""
        committed = self.results[job_id]
        leaves = self.checks(job_id)[check].leaves
        hashes = [committed[leaf] for leaf in leaves]
        proofs = [proof_from_hashes(committed, leaf) for leaf in leaves]
        return (who, "compute", "respond", (job_id, check, hashes, proofs))

    def attest_commit(
        self,
        who: Keypair | bytes,
        job_id: int,
        check: int,
        hashes: Sequence[bytes],
        witness: bytes | None = None,
    ) -> Outcome:
        keypair, pallet, name, args = self.commitment(who, job_id, check, hashes, witness)
        return self.call(keypair, pallet, name, *args)

    def attest_reveal(
        self,
        who: Keypair | bytes,
        job_id: int,
        check: int,
        hashes: Sequence[bytes],
        witness: bytes | None = None,
    ) -> Outcome:
        keypair, pallet, name, args = self.reveal(who, job_id, check, hashes, witness)
        return self.call(keypair, pallet, name, *args)

    def respond(self, job_id: int, check: int, who: Keypair = WORKER) -> Outcome:
        keypair, pallet, name, args = self.response(job_id, check, who)
        return self.call(keypair, pallet, name, *args)

    def truth(self, job_id: int, check: int) -> tuple[bytes, ...]:
        """The correct leaf hashes of the check's leaves (what an honest member recomputes)."""
        return tuple(LEAF_HASHES[leaf] for leaf in self.checks(job_id)[check].leaves)

    def worker_hashes(self, job_id: int, check: int) -> tuple[bytes, ...]:
        """The worker's committed hashes of the check's leaves (what a colluder reveals)."""
        return tuple(self.results[job_id][leaf] for leaf in self.checks(job_id)[check].leaves)

    def run_check(
        self,
        job_id: int,
        check: int,
        plan: Sequence[tuple[bytes, str]],
        *,
        respond: bool = True,
    ) -> BlockResult:
        """Run a drawn check's phases with the committee following `plan`, (member, strategy)
        pairs: "honest" (the correct hashes), "lazy" (a guess), "unavailable", "withheld" (the
        worker's committed leaves it needed could not be had), "copy" (the worker's hashes, as a
        colluder that recomputed knows them, with the true witness), "lazy-copy" (the worker's
        published hashes, recomputing nothing: a made-up witness), "mute" (commits, never
        reveals) or "silent" (nothing). Every
        commitment goes in one block of the commit phase, every reveal and the worker's response
        (unless not `respond`) in the first block of the reveal phase; the block that decides the
        check is returned."""
        current = self.checks(job_id)[check]
        assert current.drawn and self.head.number < current.commit_deadline
        truth = self.truth(job_id, check)
        copied = self.worker_hashes(job_id, check) if job_id in self.results else ()

        def chosen(member: bytes, strategy: str) -> tuple[bytes, ...]:
            return {
                "honest": truth,
                "lazy": tuple(guess(member) for _ in current.leaves),
                "unavailable": (),
                "withheld": compute.RESULT_WITHHELD,
                "copy": copied,
                "lazy-copy": copied,
                "mute": truth,
            }[strategy]

        def witness(member: bytes, strategy: str) -> bytes | None:
            return guess(member) if strategy in ("lazy", "lazy-copy") else None

        commits = [
            self.commitment(m, job_id, check, chosen(m, s), witness(m, s))
            for m, s in plan
            if s != "silent"
        ]
        if commits:
            assert all(o.error is None for o in self.calls(*commits))
        if self.head.number < current.commit_deadline:
            self.advance_to(current.commit_deadline)
        reveals = [
            self.reveal(m, job_id, check, chosen(m, s), witness(m, s))
            for m, s in plan
            if s not in ("silent", "mute")
        ]
        if respond:
            reveals.append(self.response(job_id, check))
        if reveals:
            assert all(o.error is None for o in self.calls(*reveals))
        return self.advance_to(current.reveal_deadline + 1)

    def dispute(self, who: Keypair, job_id: int, leaf: int) -> Outcome:
        return self.call(who, "compute", "dispute", job_id, self.result_digest(job_id), leaf)


def account_of(who: Keypair | bytes) -> bytes:
    return who if isinstance(who, bytes) else who.public


def keypair_of(who: Keypair | bytes) -> Keypair:
    return who if isinstance(who, Keypair) else _BY_ACCOUNT[who]


# Events


def records(result: BlockResult) -> Iterator[EventRecord]:
    return iter(result.context.events)


def hook_events(result: BlockResult, *pallets: str) -> list[Event]:
    """(name, args) of the events the block's hooks caused, from `pallets` (all but system and
    transaction payment if none are named)."""
    return [
        (r.event.name, r.args) for r in records(result) if r.phase is None and _wanted(r, pallets)
    ]


def _wanted(record: EventRecord, pallets: Sequence[str]) -> bool:
    if pallets:
        return record.event.pallet in pallets
    return record.event.pallet not in ("system", "transaction_payment")


def outcome_of(result: BlockResult, index: int) -> Outcome:
    found = [r for r in records(result) if r.phase == index]
    last = found[-1]
    error = last.args[1] if last.event is system.ExtrinsicFailed else None
    fee = sum(r.args[1] for r in found if r.event is transaction_payment.TransactionFeePaid)
    return Outcome(
        error=error,
        fee=fee,
        events=[(r.event.name, r.args) for r in found if _wanted(r, ())],
        block=result,
    )


def treasury_fee_share(result: BlockResult) -> int:
    """The treasury's share of the block's transaction fees."""
    fees: int = sum(
        r.args[1] - r.args[2]
        for r in records(result)
        if r.event is transaction_payment.TransactionFeePaid
    )
    return fees - fees * transaction_payment.AUTHOR_FEE_PERCENT // 100


# The rules' arithmetic, for expected values


def escrow_for(
    max_price: int, units: int = GEMM_UNITS, p: MarketParams = DEFAULT_MARKET_PARAMS
) -> int:
    """A job's escrow: its highest payment and the protocol and verification fees on it."""
    payment = payment_for(units, max_price)
    protocol, verification = p.fees_for(payment)
    return payment + protocol + verification
