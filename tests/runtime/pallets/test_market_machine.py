"""The market and compute pallets under random sequences of calls and blocks.

A hypothesis state machine registers, updates and retires workers, submits jobs with valid and
invalid parameters, cancels, commits right and wrong results, has committee members (and others)
commit to and reveal recomputed, guessed or "unavailable" leaf hashes, has workers respond (or
not), disputes, drains requesters down to their escrow, changes the verification parameters as
Root, and lets blocks pass. After every block it checks:

- every pallet's invariants, and total issuance against the sum of all balances;
- each account's escrow, stake and bond holds against the open jobs, workers and disputes;
- each job ends at most once, and its end event matches its state;
- the amounts of every end: escrows, payments, fees, refunds, slashes, penalties and rewards, as
  the rules compute them from the job's price and the checks' reveals;
- each worker's stake against a ledger kept from the events: what it put up, less the penalties
  (of misses and declines) and slashes the events record (each paid to the treasury, or to the
  catchers and treasury);
- that nothing waits past its time: pending jobs expire, matched jobs commit or miss, committed
  jobs settle, fail or are void within their windows and rounds.

Some parties follow the attacks on the market. A farming requester (FARMER) submits jobs whose
inputs nobody serves, or whose deadline no worker meets, hoping workers miss them. An expiring
worker (WORKER3) never commits nor declines what it is matched to. A front-runner (WORKER3 again)
raises its ask to the highest price in the block of an honest submission, placed before it.
The honest workers (WORKER, WORKER2) decline at once the jobs whose inputs they cannot fetch
(for the decline's small penalty, never the larger one of a miss).
An honest worker may go away for some blocks (`vanish`): it neither commits, declines nor
responds, so the jobs it holds miss their deadlines. After every block the machine checks that
each match has a full commit window and goes to no worker that gave the job back, that a job's
wait is extended by the blocks of each match given back and its history holds them, and that a
job given back is not left waiting while a worker free for it all along is idle
(`check_reoffers`). It also checks that the farmer never holds more than it started with,
that no honest worker pays a penalty on a job it could not do, that no job is matched twice to
the same worker, and that every job is matched at a price no higher than its worker's ask in
force before the block (so no update in the block raises it).
"""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from chain.client.chain import make_call, transfer_call
from runtime import api
from runtime.accounts import TREASURY
from runtime.executive import BlockResult, InvalidTransaction
from runtime.pallets import system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.compute import Check
from runtime.pallets.market import (
    OPEN_STATES,
    PPM,
    WAIT_RENT_GROWTH,
    Worker,
)
from runtime.pallets.market.rent import deposit_of
from runtime.primitives.keys import Keypair
from runtime.primitives.merkle import proof_from_hashes
from runtime.workloads import GOP, payment_for
from tests.runtime.pallets.market_helpers import (
    ACCOUNTS,
    CHALLENGER,
    ENDOWMENT,
    GEMM,
    OUTSIDER,
    REQUESTER,
    REQUESTER2,
    UNIT,
    VALIDATORS,
    WORKER,
    WORKER2,
    WORKER3,
    keypair_of,
)
from tests.runtime.pallets.market_machine_model import (
    ANSWERS,
    ASKS,
    CHALLENGERS,
    ENDS,
    EXPIRING,
    FARMER,
    FAST,
    FEE_RESERVE,
    FLAWS,
    GEMM_MAX,
    GUESS,
    HONEST,
    HONEST_WORKERS,
    MAX_PRICES,
    MP,
    REQUESTERS,
    UNSERVED,
    VALID_JOBS,
    WORKERS,
    JobModel,
    WatchedChain,
    balance_events,
    check_reoffers,
    fail_verifiers,
    result_hashes,
    result_root,
    round_blocks,
    signer,
)


class MarketMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = WatchedChain(self.after_block)
        self.jobs: dict[int, JobModel] = {}
        self.ended: dict[int, str] = {}
        self.stake: dict[bytes, int] = {}
        self.longest = (FAST.dispute_window, round_blocks(FAST))
        self.random = Random(0)
        self.answers: dict[tuple[int, int, bytes], tuple[bytes, ...]] = {}
        """What each member committed to, by (job, check, member): it reveals the same."""
        self.farmer_start = ENDOWMENT
        self.workers_before: dict[bytes, Worker] = {}
        """The workers as the block before left them (for the asks in force)."""
        self.matched_to: dict[int, set[bytes]] = {}
        self.gone: set[bytes] = set()
        """Workers that went away: they neither commit, decline nor respond until they return."""
        self.went_away: set[bytes] = set()

    # Acting

    def can_pay(self, who: Keypair) -> bool:
        return self.chain.balance(who) >= FEE_RESERVE

    def act(self, calls: Sequence[tuple[Keypair, str, str, tuple[Any, ...]]]) -> None:
        """Make the calls, and what honest workers and committees do meanwhile, in one block;
        signers without FEE_RESERVE do not act, and a transaction whose fee cannot be paid
        after the block's earlier ones is left out."""
        builder = self.chain.builder()
        for keypair, pallet, name, args in (*calls, *self.background()):
            if not self.can_pay(keypair):
                continue
            nonce = system.nonce_of(builder.context, keypair.public)
            tx = self.chain.sign(keypair, make_call(pallet, name, *args), nonce=nonce)
            try:
                builder.push(tx)
            except InvalidTransaction as exc:  # as an author does, leave out what cannot pay
                assert exc.kind == "payment", exc
        self.chain.seal(builder)

    def background(self) -> list[tuple[Keypair, str, str, tuple[Any, ...]]]:
        """Some matched workers commit (mostly right results), some committee members commit
        and reveal (mostly honestly), workers respond: so that every run sees jobs through their
        whole lives."""
        chance = self.random
        calls: list[tuple[Keypair, str, str, tuple[Any, ...]]] = []
        for job_id, job in sorted(self.chain.jobs().items()):
            if job.worker in self.gone:
                continue
            unserved = any(root == UNSERVED for _, root in job.inputs)
            if job.state == "matched" and job.worker in HONEST and unserved:
                calls.append(
                    (
                        keypair_of(job.worker),
                        "market",
                        "decline_job",
                        (job_id, self.chain.digest(job_id)),
                    )
                )
                continue
            if (
                job.state == "matched"
                and job.worker is not None
                and job.worker != EXPIRING.public
                and chance.random() < 0.4
            ):
                root = result_root(job.leaves, chance.random() < 0.7)
                args = (job_id, self.chain.digest(job_id), root, job.leaves)
                calls.append((keypair_of(job.worker), "compute", "commit_result", args))
            if job.state != "committed":
                continue
            right = job.result_root == result_root(job.leaves, True)
            # A requester that finds a wrong result disputes a leaf of it; now and then a
            # challenger disputes a right one and loses its bond.
            if chance.random() < (0.05 if right else 0.3):
                # (The farmer leaves its fraud proofs to others: what it would earn by them is
                # no gain from its farming, and the machine checks that it gains nothing.)
                honest_requester = not right and job.requester != FARMER.public
                who = signer(job.requester) if honest_requester else CHALLENGER
                leaf = chance.randrange(job.leaves)
                calls.append(
                    (who, "compute", "dispute", (job_id, self.chain.result_digest(job_id), leaf))
                )
            for index, check in enumerate(self.chain.checks(job_id)):
                if chance.random() < 0.5:
                    calls.extend(self.duties(job_id, index, check, chance.random() < 0.9))
        return calls

    def duties(
        self, job_id: int, index: int, check: Check, honest: bool
    ) -> list[tuple[Keypair, str, str, tuple[Any, ...]]]:
        """What the committee members of an open check that have not acted in its phase do
        next block, and the worker's response in the reveal phase: honest members commit to the
        right hashes, the others to a guess or "unavailable"."""
        number = self.chain.head.number + 1
        phase = check.phase(number)
        calls: list[tuple[Keypair, str, str, tuple[Any, ...]]] = []
        right = result_hashes(self.chain.job(job_id).leaves, True)
        for member in check.committee:
            key = (job_id, index, member)
            if phase == "commit" and check.commitment_of(member) is None:
                answer = "right" if honest else self.random.choice(ANSWERS)
                hashes = {
                    "right": tuple(right[leaf] for leaf in check.leaves),
                    "guess": (GUESS,) * len(check.leaves),
                    "unavailable": (),
                }[answer]
                self.answers[key] = hashes
                calls.append(self.chain.commitment(member, job_id, index, hashes))
            elif (
                phase == "reveal"
                and check.commitment_of(member)
                and check.reveal_of(member) is None
            ):
                calls.append(self.chain.reveal(member, job_id, index, self.answers.get(key, ())))
        if phase == "reveal" and not check.response:
            calls.append(self.response(job_id, index, check))
        return calls

    def response(
        self, job_id: int, index: int, check: Check
    ) -> tuple[Keypair, str, str, tuple[Any, ...]]:
        job = self.chain.job(job_id)
        assert job.worker is not None
        committed = result_hashes(job.leaves, job.result_root == result_root(job.leaves, True))
        hashes = [committed[leaf] for leaf in check.leaves]
        proofs = [proof_from_hashes(committed, leaf) for leaf in check.leaves]
        return (keypair_of(job.worker), "compute", "respond", (job_id, index, hashes, proofs))

    def job_ids(self, *states: str) -> list[int]:
        return [i for i, job in sorted(self.chain.jobs().items()) if job.state in states]

    @initialize(data=st.data(), chance=st.randoms(use_true_random=False))
    def start(self, data: st.DataObject, chance: Random) -> None:
        """Two workers, and a first few jobs."""
        self.random = chance
        self.chain.register(WORKER, prices=[UNIT], capacity=2)
        self.chain.register(WORKER2, prices=[UNIT // 2], capacity=1)
        if data.draw(st.booleans(), label="expiring worker"):
            self.chain.register(EXPIRING, prices=[UNIT // 4], capacity=2)
        self.act([self.submission(data) for _ in range(data.draw(st.integers(1, 3)))])

    @rule(
        who=st.sampled_from(WORKERS),
        stake=st.sampled_from([MP.min_stake, 150 * UNIT, MP.min_stake - 1, 2_000 * UNIT]),
        price=st.sampled_from(ASKS),
        capacity=st.sampled_from([1, 2, 3, 0]),
        workloads=st.sampled_from([[GEMM], [GEMM, "qmlp_i8", "sgd_fxp"], ["bogus"]]),
    )
    def register(
        self, who: Keypair, stake: int, price: int, capacity: int, workloads: list[str]
    ) -> None:
        args = (stake, "rtx4090", 24_576, workloads, [price] * len(workloads))
        rest = ([50] * len(workloads), "https://w.example", capacity)
        self.act([(who, "market", "register_worker", (*args, *rest))])

    @rule(
        who=st.sampled_from(WORKERS),
        price=st.sampled_from(ASKS),
        capacity=st.sampled_from([1, 2, 3, 0]),
        add=st.sampled_from([0, 0, 10 * UNIT, 200 * UNIT]),
    )
    def update(self, who: Keypair, price: int, capacity: int, add: int) -> None:
        self.act([(who, "market", "update_worker", ([GEMM], [price], capacity, add))])

    @rule(who=st.sampled_from(HONEST_WORKERS), blocks=st.integers(0, 14))
    def vanish(self, who: Keypair, blocks: int) -> None:
        """An honest worker goes away (its node stops) for `blocks` blocks, then returns: the
        jobs it holds miss their deadlines and go to the next worker at once."""
        self.gone.add(who.public)
        self.went_away.add(who.public)
        for _ in range(blocks):
            self.act([])
        self.gone.discard(who.public)

    @rule(who=st.sampled_from(WORKERS))
    def retire(self, who: Keypair) -> None:
        self.act([(who, "market", "retire_worker", ())])

    @rule(data=st.data(), count=st.integers(1, 3))
    def submit(self, data: st.DataObject, count: int) -> None:
        """One to three submissions in a block, most of them valid."""
        self.act([self.submission(data) for _ in range(count)])

    def submission(self, data: st.DataObject) -> tuple[Keypair, str, str, tuple[Any, ...]]:
        workload, params, inputs = data.draw(st.sampled_from(VALID_JOBS), label="job")
        job: dict[str, Any] = {
            "workload": workload,
            "params": params,
            "names": inputs,
            "max_price": data.draw(st.sampled_from(MAX_PRICES), label="max_price"),
            "deadline": data.draw(st.sampled_from([6, 8, 12]), label="deadline"),
            "wait": data.draw(st.integers(1, 8), label="wait"),
            "mode": data.draw(st.sampled_from(["always", "sampled"]), label="mode"),
        }
        flaw = data.draw(st.sampled_from([None] * 6 + sorted(FLAWS)), label="flaw")
        if flaw is not None:
            job = {**job, "workload": GEMM, "params": VALID_JOBS[0][1], "names": ["a", "b"]}
            job.update(FLAWS[flaw])
        names: list[str] = job["names"]
        roots = [b"" if i % 2 else bytes([i + 1]) * 32 for i in range(len(names))]
        seed = data.draw(st.integers(0, 2**64 - 1), label="seed")
        args = (job["workload"], job["params"], names, roots, seed, job["max_price"])
        who = data.draw(st.sampled_from(REQUESTERS), label="requester")
        return (who, "market", "submit_job", (*args, job["deadline"], job["wait"], job["mode"]))

    @rule(
        data=st.data(),
        unserved=st.booleans(),
        deadline=st.sampled_from([1, 5, 6, 20]),
        count=st.integers(1, 3),
    )
    def farm(self, data: st.DataObject, unserved: bool, deadline: int, count: int) -> None:
        """The farming requester submits jobs no worker can do: inputs nobody serves, or a
        deadline too short, hoping to be paid for the misses."""
        calls = []
        for _ in range(count):
            workload, params, names = data.draw(st.sampled_from(VALID_JOBS), label="job")
            roots = [UNSERVED if unserved else b""] * len(names)
            seed = data.draw(st.integers(0, 2**64 - 1), label="seed")
            args = (workload, params, names, roots, seed, 2 * UNIT, deadline, 30, "always")
            calls.append((FARMER, "market", "submit_job", args))
        self.act(calls)

    @rule(data=st.data(), price=st.sampled_from([2 * UNIT, 40 * UNIT]))
    def front_run(self, data: st.DataObject, price: int) -> None:
        """WORKER3 raises its ask in the block of an honest submission, placed before it."""
        raise_ask = (WORKER3, "market", "update_worker", ([GEMM], [price], 2, 0))
        self.act([raise_ask, self.submission(data)])

    @rule(data=st.data(), who=st.sampled_from(REQUESTERS))
    def cancel(self, data: st.DataObject, who: Keypair) -> None:
        job_id = data.draw(st.sampled_from([*self.job_ids(*OPEN_STATES), 999]))
        self.act([(who, "market", "cancel_job", (job_id, self.chain.digest(job_id)))])

    @rule(data=st.data())
    def work(self, data: st.DataObject) -> None:
        """The workers of matched jobs commit, each a right or a wrong result, in one block."""
        calls = []
        for job_id in self.job_ids("matched"):
            job = self.chain.job(job_id)
            assert job.worker is not None
            if job.worker == EXPIRING.public or job.worker in self.gone:
                continue
            root = result_root(job.leaves, data.draw(st.sampled_from([True, True, False])))
            calls.append(
                (
                    keypair_of(job.worker),
                    "compute",
                    "commit_result",
                    (job_id, self.chain.digest(job_id), root, job.leaves),
                )
            )
        self.act(calls)

    @rule(
        data=st.data(), who=st.sampled_from(HONEST_WORKERS), leaves=st.sampled_from([0, 1, 10, 11])
    )
    def commit(self, data: st.DataObject, who: Keypair, leaves: int) -> None:
        """A commitment by any worker with any leaf count: most are refused."""
        job_id = data.draw(st.sampled_from([*self.job_ids(*OPEN_STATES), 999]))
        self.act(
            [
                (
                    who,
                    "compute",
                    "commit_result",
                    (job_id, self.chain.digest(job_id), result_root(10, True), leaves),
                )
            ]
        )

    @rule(data=st.data(), honest=st.sampled_from([True, True, True, False]))
    def committee_votes(self, data: st.DataObject, honest: bool) -> None:
        """The members of an open check do their duty of its phase together in one block:
        honestly (they commit to and reveal the right hashes), or not; the worker responds."""
        open_checks = self.open_checks()
        if not open_checks:
            self.act([])
            return
        job_id, index = data.draw(st.sampled_from(open_checks), label="check")
        self.act(self.duties(job_id, index, self.chain.checks(job_id)[index], honest))

    @rule(
        data=st.data(),
        reveal=st.booleans(),
        who=st.sampled_from([*VALIDATORS, OUTSIDER]),
        index=st.integers(0, 4),
    )
    def attest(self, data: st.DataObject, reveal: bool, who: Keypair, index: int) -> None:
        """One commitment or reveal, by anyone, on any check: most are refused."""
        open_checks = self.open_checks()
        on_a_committee = data.draw(st.booleans(), label="member")
        if open_checks and on_a_committee:
            job_id, index = data.draw(st.sampled_from(open_checks))
            committee = self.chain.checks(job_id)[index].committee or (who.public,)
            who = keypair_of(data.draw(st.sampled_from(committee)))
        else:
            job_id = data.draw(st.sampled_from([*self.job_ids("committed", "settled"), 999]))
        hashes = data.draw(st.sampled_from([(), (GUESS,), (GUESS,) * 4]))
        if reveal:
            self.act([self.chain.reveal(who, job_id, index, hashes)])
        else:
            self.act([self.chain.commitment(who, job_id, index, hashes)])

    @rule(data=st.data(), who=st.sampled_from(CHALLENGERS), leaf=st.integers(0, 40))
    def dispute(self, data: st.DataObject, who: Keypair, leaf: int) -> None:
        job_id = data.draw(st.sampled_from([*self.job_ids("committed", "matched"), 999]))
        self.act([(who, "compute", "dispute", (job_id, self.chain.result_digest(job_id), leaf))])

    @rule(blocks=st.integers(1, 4))
    def wait(self, blocks: int) -> None:
        for _ in range(blocks):
            self.act([])

    @rule(who=st.sampled_from(REQUESTERS))
    def drain(self, who: Keypair) -> None:
        """Move all the requester's free balance away: its escrow may then be all it has."""
        if not self.can_pay(who):
            self.act([])
            return
        probe = self.chain.sign(who, transfer_call(OUTSIDER.public, 1))
        fee = api.query_fee(self.chain.read, probe).partial_fee
        amount = self.chain.balance(who) - fee
        tx = self.chain.sign(who, transfer_call(OUTSIDER.public, amount))
        self.chain.produce([tx])
        self.act([])  # the honest workers act in every other block at least

    @rule(
        audit_ppm=st.sampled_from([200_000, 250_000, 600_000, PPM, PPM + 1]),
        audit_leaves=st.sampled_from([0, 1, 4, 16]),
        committee_size=st.sampled_from([1, 3, 4, 5]),
        commit_window=st.integers(1, 4),
        dispute_window=st.integers(8, 16),
    )
    def set_params(
        self,
        audit_ppm: int,
        audit_leaves: int,
        committee_size: int,
        commit_window: int,
        dispute_window: int,
    ) -> None:
        args = (audit_ppm, audit_leaves, committee_size, commit_window, dispute_window, UNIT, 2)
        self.chain.root_call("compute", "set_params", *args)
        self.act([])  # the honest workers act in every other block at least
        p = self.chain.compute_params()
        self.longest = (
            max(self.longest[0], p.dispute_window),
            max(self.longest[1], round_blocks(p)),
        )

    def open_checks(self) -> list[tuple[int, int]]:
        return [
            (job_id, i)
            for job_id in self.job_ids("committed")
            for i, check in enumerate(self.chain.checks(job_id))
            if not check.outcome
        ]

    # Checking, after every block

    def after_block(self, result: BlockResult) -> None:
        self.follow_events(result)
        self.check_state()
        self.check_attacks(result)
        check_reoffers(self.chain, result, self.jobs, self.workers_before)
        self.workers_before = {
            account: worker
            for account in self.chain.worker_list()
            if (worker := self.chain.worker(account)) is not None
        }

    def check_attacks(self, result: BlockResult) -> None:
        """The attackers gain nothing, and the honest parties lose nothing, by their strategies."""
        number = self.chain.head.number
        assert self.chain.total(FARMER) <= self.farmer_start, "the farming requester gained"
        for record in result.context.events:
            if record.event.pallet != "market":
                continue
            args = record.args
            if record.event.name == "JobMatched":
                job_id, worker, price = args[0], args[1], args[2]
                assert worker not in self.matched_to.setdefault(job_id, set()), "matched twice"
                self.matched_to[job_id].add(worker)
                before = self.workers_before.get(worker)
                if before is not None:
                    job = self.chain.job(job_id)
                    ask = before.ask_at(job.workload, number)
                    assert ask is not None
                    least = -(-MP.min_payment * GOP // job.cost_units)
                    assert price <= min(job.max_price, max(ask, least)), "paid a raised ask"
            elif record.event.name == "DeadlineMissed":
                job = self.chain.job(args[0])
                unserved = any(root == UNSERVED for _, root in job.inputs)
                honest = args[1] in HONEST - self.went_away
                assert not (honest and unserved), "an honest worker paid for a job it could not do"

    def follow_events(self, result: BlockResult) -> None:
        records = [(r.event.pallet, r.event.name, r.args) for r in result.context.events]
        phases = [r.phase for r in result.context.events]
        retired: list[tuple[bytes, int]] = []
        for at, (pallet, name, args) in enumerate(records):
            if retired and (at == 0 or phases[at] != phases[at - 1]):
                self.on_retired(retired)
            if pallet == "balances" and name == "Held" and args[1] == "stake":
                self.stake[args[0]] = self.stake.get(args[0], 0) + args[2]
            if pallet in ("market", "compute") and currently_in_test_context():
                event(name)  # for --hypothesis-show-statistics
            if pallet not in ("market", "compute"):
                continue
            if name == "WorkerRetired":
                # What it is released is checked once the penalty or slash of the job that
                # ended its service, reported after it in the same phase, is counted.
                retired.append(args)
            elif name == "JobSubmitted":
                self.on_submitted(*args)
            elif name == "JobMatched":
                job = self.jobs[args[0]]
                job.worker, job.price, job.matched_at = args[1], args[2], self.chain.head.number
                job.slash = MP.slash_for(payment_for(job.units, job.price))
            elif name == "DeadlineMissed":
                self.on_missed(balance_events(records[:at]), *args)
            elif name == "JobDeclined":
                self.on_declined(balance_events(records[:at]), *args)
            elif name == "JobFailed":
                self.on_failed(balance_events(records[:at]), *args)
            elif name == "JobSettled":
                self.on_settled(balance_events(records[:at]), *args)
            elif name in ("JobExpired", "JobCancelled"):
                assert args[1] == self.jobs[args[0]].escrow
            if pallet == "compute" and name == "JobVoided":
                assert args[0] not in self.ended, f"job {args[0]} ended twice"
                self.ended[args[0]] = "cancelled"
                self.jobs[args[0]].worker = None
            if name in ENDS:
                assert args[0] not in self.ended, f"job {args[0]} ended twice"
                self.ended[args[0]] = ENDS[name]

        self.on_retired(retired)

    def on_retired(self, retired: list[tuple[bytes, int]]) -> None:
        for worker, released in retired:
            assert released == self.stake.pop(worker)
        retired.clear()

    def on_submitted(
        self, job_id: int, requester: bytes, workload: str, units: int, escrow: int
    ) -> None:
        job = self.chain.jobs()[job_id]
        payment = payment_for(units, job.max_price)
        protocol, verification = MP.fees_for(payment)
        assert escrow == payment + protocol + verification >= ED
        self.jobs[job_id] = JobModel(requester, units, escrow, job.expires_at)

    def on_missed(self, before: list[Any], job_id: int, worker: bytes, penalty: int) -> None:
        job = self.jobs[job_id]
        assert worker == job.worker
        assert penalty == job.slash * MP.miss_penalty_ppm // PPM
        if penalty:
            assert before[-1] == ("balances", "Transfer", (worker, TREASURY, penalty))
        self.stake[worker] -= penalty
        job.on_given_back(self.chain.head.number)

    def on_declined(self, before: list[Any], job_id: int, worker: bytes, penalty: int) -> None:
        job = self.jobs[job_id]
        assert worker == job.worker
        history = self.chain.job(job_id).past_matches
        mine = next(i for i, m in enumerate(history) if m.worker == worker)
        first = all(m.outcome != "declined" for m in history[:mine])
        # Only a job's first decline costs: its second expires it (`deadlines.decline`).
        assert penalty == (job.slash * MP.decline_penalty_ppm // PPM if first else 0)
        if penalty:
            assert ("balances", "Transfer", (worker, TREASURY, penalty)) in before[-3:]
        self.stake[worker] -= penalty
        job.on_given_back(self.chain.head.number)

    def on_failed(
        self, before: list[Any], job_id: int, worker: bytes, slashed: int, refund: int
    ) -> None:
        job = self.jobs[job_id]
        assert (worker, slashed) == (job.worker, job.slash)
        checks = self.chain.checks(job_id)
        (at,) = [i for i, c in enumerate(checks) if c.outcome == "fail"]
        failed = checks[at]
        verifiers = fail_verifiers(checks, at)
        _, verification = MP.fees_for(payment_for(job.units, job.price))
        share = verification // len(verifiers) if verifiers else 0
        assert refund == job.escrow - share * len(verifiers)
        # The verifiers' shares and the refund out of the escrow, then the slash: the
        # challenger's share to it, the rest to the treasury.
        reward = slashed * FAST.challenger_share_ppm // PPM if failed.challenger else 0
        tail = before[-(3 if reward else 2) :]
        assert tail[0] == ("balances", "Slashed", (worker, "stake", slashed))
        if reward:
            assert tail[1] == ("balances", "Deposited", (failed.challenger, reward))
        assert tail[-1] == ("balances", "Deposited", (TREASURY, slashed - reward))
        if refund:
            released = ("balances", "Released", (job.requester, "escrow", refund))
            assert released in before
        self.stake[worker] -= slashed

    def on_settled(
        self,
        before: list[Any],
        job_id: int,
        worker: bytes,
        payment: int,
        verifiers_paid: int,
        protocol_fee: int,
        refund: int,
    ) -> None:
        job = self.jobs[job_id]
        assert worker == job.worker
        assert payment == payment_for(job.units, job.price)
        protocol, verification = MP.fees_for(payment)
        assert protocol_fee == protocol
        verifiers: list[bytes] = []
        checks = self.chain.checks(job_id)
        for index, check in enumerate(checks):
            assert check.outcome, "a job settled with a check open"
            assert check.outcome in ("pass", "inconclusive"), f"a job settled after {check}"
            if check.outcome == "inconclusive":  # a later round of the same check passed
                assert any(
                    later.same_check(check) and later.round == check.round + 1
                    for later in checks[index + 1 :]
                )
            verifiers += [
                m
                for m, hashes in check.reveals
                if check.response and hashes == check.response and m not in verifiers
            ]
        share = verification // len(verifiers) if verifiers else 0
        assert verifiers_paid == share * len(verifiers)
        left = job.escrow - payment - protocol - verifiers_paid
        payouts = [(worker, payment), (TREASURY, protocol)] + [(v, share) for v in verifiers]
        taken = ("balances", "Slashed", (job.requester, "escrow", sum(a for _, a in payouts)))
        if refund == 0 and taken in before:
            # A requester whose escrow was all it had: everyone is paid, its dust is burned (it
            # may be reaped later in the block, by another job's end, whatever path this took).
            deposits = [("balances", "Deposited", p) for p in payouts if p[1]]
            assert before[-len(deposits) :] == deposits
        else:
            assert refund == left
            if left:  # a job at its highest price, with every fee paid, leaves nothing
                assert before[-1] == ("balances", "Released", (job.requester, "escrow", left))
            assert ("balances", "Transfer", (job.requester, worker, payment)) in before

    def check_state(self) -> None:
        chain = self.chain
        number = chain.head.number
        assert chain.problems() == []
        accounts = {
            system.Account.key_suffix(k): system.Account.decode(v)
            for k, v in chain.iterate(system.Account.prefix)
        }
        assert chain.issuance() == sum(a.free + a.reserved for a in accounts.values())
        jobs = chain.jobs()
        owed: dict[bytes, int] = {}
        for job_id, job in jobs.items():
            model = self.jobs[job_id]
            # A waiting job also holds the rent of the rest of its wait.
            deposit = deposit_of(job)
            assert job.state == "pending" or not job.rent
            assert job.rent <= MP.wait_rent * (1 + WAIT_RENT_GROWTH)
            assert job.escrow == model.escrow + deposit and job.requester == model.requester
            if job.state in OPEN_STATES:
                owed[job.requester] = owed.get(job.requester, 0) + job.escrow
                assert job_id not in self.ended
            else:
                assert self.ended.get(job_id) == job.state
            if job.state == "pending":
                assert number < job.expires_at, f"job {job_id} waits past its expiry"
            elif job.state == "matched":
                assert job.worker == model.worker and job.slash == model.slash
                assert number <= job.commit_by, f"job {job_id} is matched past its deadline"
            elif job.state == "committed":
                window, rounds = self.longest
                assert number <= job.committed_at + window + rounds, f"job {job_id} stuck"
        assert set(chain.pending()) == {i for i, j in jobs.items() if j.state == "pending"}
        assert len(set(chain.pending())) == len(chain.pending())
        bonds: dict[bytes, int] = {}
        for job_id in jobs:
            for check in chain.checks(job_id):
                if check.challenger is not None and not check.outcome:
                    bonds[check.challenger] = bonds.get(check.challenger, 0) + check.bond
        for who, info in accounts.items():
            assert info.held("escrow") == owed.get(who, 0), "escrow held differs from jobs"
            assert info.held("bond") == bonds.get(who, 0), "bond held differs from disputes"
            worker = chain.worker(who)
            if worker is None:
                assert info.held("stake") == 0 and who not in self.stake
            else:
                assert worker.stake == self.stake[who] == info.held("stake")
        for who in self.stake:
            assert chain.worker(who) is not None
        assert {k.public for k in ACCOUNTS} - set(accounts) <= {r.public for r in REQUESTERS}


MarketMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMarketMachine = MarketMachine.TestCase


def test_the_machine_follows_every_end() -> None:
    """A fixed run in which jobs settle, fail, expire and are cancelled, all checked as above."""
    machine = MarketMachine()
    machine.random = Idle()
    chain = machine.chain
    chain.register(WORKER, prices=[UNIT], capacity=2)
    chain.register(WORKER2, prices=[UNIT // 2], capacity=1)
    job = (GEMM, [1000, 500, 1000, 100], ["a", "b"], [b"", b""])
    machine.act(
        [
            (REQUESTER, "market", "submit_job", (*job, 1, UNIT, 6, 4, "always")),
            (REQUESTER2, "market", "submit_job", (*job, 2, UNIT, 6, 4, "always")),
            # Only WORKER2 asks this little, and it is busy: these two wait.
            (REQUESTER2, "market", "submit_job", (*job, 3, UNIT // 2, 6, 2, "always")),
            (REQUESTER, "market", "submit_job", (*job, 4, UNIT // 2, 6, 6, "sampled")),
        ]
    )
    machine.act([(REQUESTER, "market", "cancel_job", (4, chain.digest(4)))])
    for job_id, right in ((1, True), (2, False)):
        worker = chain.job(job_id).worker
        assert worker is not None
        chain.commit(keypair_of(worker), job_id, root=result_root(GEMM_MAX, right))
    chain.advance_to(min(chain.audit_roll_at(i) for i in (1, 2)))
    # Each member acts in time, in each job's phases (their audits roll at different blocks).
    while any(not chain.checks(i) or not chain.checks(i)[0].outcome for i in (1, 2)):
        machine.act(
            [
                c
                for i in (1, 2)
                if chain.checks(i) and not chain.checks(i)[0].outcome
                for c in machine.duties(i, 0, chain.checks(i)[0], honest=True)
            ]
        )
    chain.advance(FAST.dispute_window)
    assert machine.ended == {1: "settled", 2: "failed", 3: "expired", 4: "cancelled"}


class Idle(Random):
    """A chance that never comes: no background calls."""

    def random(self) -> float:
        return 1.0
