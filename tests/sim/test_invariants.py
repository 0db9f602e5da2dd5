"""The simulator's invariants: a planted bug in the runtime is caught and replayed to the same
point; the issuance accounting agrees with what the balances pallet really does; slashes and
payments need their evidence."""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from chain.cli.main import main
from chain.core.chain_updates import ChainUpdates
from chain.spec import local_spec
from runtime.accounts import TREASURY
from runtime.block import Digest, Header
from runtime.framework import BlockContext, EventDef, EventRecord
from runtime.pallets import balances, market, system, transaction_payment, treasury
from runtime.pallets.compute.events import CheckDecided, MemberPenalized
from runtime.pallets.market import settlement
from runtime.pallets.market.constants import STAKE
from runtime.pallets.market.events import JobExpired, JobFailed, JobSettled
from runtime.pallets.staking.constants import HOLD
from runtime.pallets.staking.events import Equivocation, EraPaid, Offline
from runtime.pallets.staking.slashing import slash_stash
from runtime.pallets.staking.storage import Params as StakingParamsStore
from runtime.pallets.treasury import events as treasury_events
from runtime.primitives.keys import keypair_from_suri
from runtime.state import StateOverlay
from sim.invariants import (
    InvariantChecker,
    block_events,
    escrow_released_without_event,
    figures_of,
    minting_beyond_rewards,
    payments_for_failed_jobs,
    replay_command,
    settlements_without_payment,
    slashes_without_evidence,
    treasury_outflows,
)
from sim.scenario import scenario_from_dict
from sim.world.build import validator_keypair

SCENARIO = """\
name = "planted"
duration_s = 15

[validators]
count = 4

[outputs]
plots = false
"""

BUGGY_FROM_BLOCK = 6


@pytest.fixture
def minting_one_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime, from block BUGGY_FROM_BLOCK on, mints one unit into the treasury without an
    event (the balances still add up to the issuance and the treasury's ledger counts it: only
    the event accounting sees it)."""
    original = transaction_payment.TransactionPayment.on_finalize

    def on_finalize(self: Any, ctx: BlockContext) -> None:
        original(self, ctx)
        if ctx.number >= BUGGY_FROM_BLOCK:
            info = system.account(ctx, TREASURY)
            assert info is not None
            system.put_account(ctx, TREASURY, info.with_free(info.free + 1))
            issuance = balances.TotalIssuance.get(ctx.state)
            balances.TotalIssuance.put(ctx.state, issuance + 1)
            treasury.receive(ctx, treasury.DONATIONS, 1)

    monkeypatch.setattr(transaction_payment.TransactionPayment, "on_finalize", on_finalize)


def test_a_runtime_minting_one_unit_is_caught_and_replayed(
    minting_one_unit: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "planted.toml"
    file.write_text(SCENARIO)
    result = sim.run(file, seed=4, overrides=["network.jitter_ms=3"])
    violation = result.violation
    assert violation is not None
    assert violation.name == "issuance"
    assert violation.block == BUGGY_FROM_BLOCK
    changed, explained = (int(x) for x in re.findall(r"\(([+-]\d+)\)", violation.detail))
    assert changed - explained == 1
    assert result.summary["stopped_at_ms"] == violation.t_ms < 15_000
    assert violation.replay == (
        f"xpl sim run {file} --seed 4 --set network.jitter_ms=3 --until-ms {violation.t_ms}"
    )
    # The replay command stops at the same violation, at the same simulated time.
    argv = shlex.split(violation.replay)
    assert argv[:3] == ["xpl", "sim", "run"]
    assert main(argv[1:]) == 1
    err = capsys.readouterr().err
    assert "invariant violated: issuance" in err
    assert f"block #{BUGGY_FROM_BLOCK}, simulated time {violation.t_ms} ms" in err
    # Replayed to just before it, the run ends clean.
    before = sim.run(file, seed=4, overrides=["network.jitter_ms=3"], until_ms=violation.t_ms - 1)
    assert before.violation is None


def test_the_same_run_without_the_bug_holds_every_invariant(tmp_path: Path) -> None:
    file = tmp_path / "planted.toml"
    file.write_text(SCENARIO)
    assert sim.run(file, seed=4, overrides=["network.jitter_ms=3"]).violation is None


CHEATERS: dict[str, Any] = {
    "name": "cheaters",
    "duration_s": 20,
    "validators": {"count": 4},
    "chain": {
        "compute": {"commit_window": 3, "reveal_window": 2, "dispute_window": 12},
        "market": {"min_match_reputation": -1000},
    },
    "workers": [
        {
            "name": "cheaters",
            "count": 2,
            "strategy": {"kind": "cheat", "fraction": 1.0},
            "pricing": {"price_xpl_per_gunit": 2500.0},
        }
    ],
    "requesters": [
        {
            "name": "audited",
            "count": 2,
            "mode": "always",
            "arrival": {"process": "fixed", "rate_per_s": 0.2},
            "max_price_xpl_per_gunit": 5000.0,
        }
    ],
    "outputs": {"plots": False},
}
"""Workers faking every leaf for requesters who have every job audited: jobs fail from ~16 s."""


def test_a_runtime_paying_a_failed_job_is_caught_and_replayed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    honest = sim.run(scenario_from_dict(CHEATERS), seed=2)
    assert honest.violation is None
    assert (honest.jobs["step"] == "failed").any()

    def pay_anyway(ctx: BlockContext, job_id: int, verifiers: Any, *_: Any) -> None:
        market.settle_success(ctx, job_id, verifiers)

    monkeypatch.setattr(market, "settle_failure", pay_anyway)
    scenario = scenario_from_dict(CHEATERS)
    result = sim.run(scenario, seed=2)
    violation = result.violation
    assert violation is not None and violation.name == "payment for a failed job"
    assert "although a check of it failed" in violation.detail
    first_failure = int(honest.jobs[honest.jobs["step"] == "failed"]["t_ms"].min())
    assert violation.t_ms <= first_failure
    assert violation.replay.endswith(f"--seed 2 --until-ms {violation.t_ms}")
    replayed = sim.run(scenario, seed=2, until_ms=violation.t_ms)
    assert replayed.violation == violation


# The issuance accounting against the real balances pallet

SPEC = local_spec(validators=2)
ACCOUNTS = [keypair_from_suri(f"//{n}").public for n in ("Alice", "Bob", "Charlie", "Dave")]
NEW = keypair_from_suri("//Nobody").public

operation = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from([*ACCOUNTS, NEW]), st.integers(0, 10**13)),
    st.tuples(st.just("fee"), st.sampled_from(ACCOUNTS), st.integers(0, 10**12)),
    st.tuples(st.just("hold"), st.sampled_from(ACCOUNTS), st.integers(1, 10**18)),
    st.tuples(st.just("slash"), st.sampled_from(ACCOUNTS), st.integers(0, 10**18)),
    st.tuples(st.just("pay_held"), st.sampled_from(ACCOUNTS), st.integers(0, 10**18)),
    st.tuples(st.just("transfer"), st.sampled_from(ACCOUNTS), st.integers(0, 10**24)),
)


def context() -> BlockContext:
    state = SPEC.genesis_state()
    return BlockContext(
        state=StateOverlay(state.get),
        number=1,
        parent_hash=bytes(32),
        timestamp=0,
        author=ACCOUNTS[0],
        genesis_hash=bytes(32),
    )


def apply(ctx: BlockContext, op: tuple[str, bytes, int]) -> None:
    kind, who, amount = op
    try:
        if kind == "deposit":
            balances.deposit(ctx, who, amount)
        elif kind == "fee":
            fee = transaction_payment.BASE_FEE + amount
            transaction_payment.withdraw_fee(ctx, who, fee, 0)
            paid = len(ctx.events) - 1
            if amount % 2:  # a duty refunded
                transaction_payment.refund_fee(ctx, who, fee, 0, paid)
        elif kind == "hold":
            balances.hold(ctx, who, "escrow", amount)
        elif kind == "slash":
            balances.slash_held(ctx, who, "escrow", amount)
        elif kind == "pay_held":
            balances.transfer_held(
                ctx, who, "escrow", NEW, min(amount, balances.held(ctx, who, "escrow"))
            )
        else:
            balances.transfer(ctx, who, NEW, amount, keep_alive=False)
    except (balances.BalancesError, transaction_payment.CannotPayFee):
        pass


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=12))
def test_events_explain_every_change_of_the_issuance(ops: list[tuple[str, bytes, int]]) -> None:
    ctx = context()
    before = balances.TotalIssuance.get(ctx.state)
    for op in ops:
        apply(ctx, op)
    transaction_payment.TransactionPayment().on_finalize(ctx)  # the fees paid out
    raw = system.encode_events(tuple(ctx.events))
    events = block_events(lambda key: raw if key == system.EVENTS_KEY else None)
    after = balances.TotalIssuance.get(ctx.state)
    figures = figures_of(events, after)
    assert after - before == figures.minted - figures.burned


# Slashes and payments need their evidence


def events_of(*emitted: tuple[EventDef, tuple[Any, ...]]) -> Any:
    records = tuple(EventRecord(None, e, args) for e, args in emitted)
    raw = system.encode_events(records)
    return block_events(lambda key: raw if key == system.EVENTS_KEY else None)


WORKER, STASH = ACCOUNTS[2], ACCOUNTS[3]


def test_a_worker_slashed_without_a_failed_job_is_caught() -> None:
    slash = (balances.Slashed, (WORKER, STAKE, 500))
    assert slashes_without_evidence(events_of(slash)) != []
    failed = (JobFailed, (3, WORKER, 500, 0))
    assert slashes_without_evidence(events_of(slash, failed)) == [
        "job 3 failed with no check of it decided"
    ]
    decided = (CheckDecided, (3, 0, "fail"))
    assert slashes_without_evidence(events_of(decided, slash, failed)) == []
    staking_slash = (balances.Slashed, (STASH, HOLD, 10))
    assert slashes_without_evidence(events_of(staking_slash)) != []
    offence = (Equivocation, (STASH, "vote"))
    assert slashes_without_evidence(events_of(staking_slash, offence)) == []
    penalty = (MemberPenalized, (3, 0, STASH, 10))
    assert slashes_without_evidence(events_of(staking_slash, penalty)) == []


def test_a_worker_paid_for_a_failed_check_is_caught() -> None:
    settled = (JobSettled, (9, WORKER, 1_000, 10, 5, 0))
    failed_check = (CheckDecided, (9, 0, "fail"))
    passed_check = (CheckDecided, (9, 0, "pass"))

    def empty(_key: bytes) -> bytes | None:
        return None

    assert payments_for_failed_jobs(events_of(passed_check, settled), empty) == []
    problems = payments_for_failed_jobs(events_of(failed_check, settled), empty)
    assert problems and "job 9" in problems[0]


def test_the_replay_command_is_quoted_for_a_shell() -> None:
    command = replay_command("my runs/q.toml", 3, ["workers[1].strategy.fraction=0.5"], 900)
    assert shlex.split(command) == [
        "xpl",
        "sim",
        "run",
        "my runs/q.toml",
        "--seed",
        "3",
        "--set",
        "workers[1].strategy.fraction=0.5",
        "--until-ms",
        "900",
    ]


# Finality across nodes


def header(number: int, salt: int = 0) -> Header:
    digest = Digest(slot=number, author=bytes(32), seal=b"")
    return Header(bytes([salt]) * 32, number, bytes(32), bytes(32), number * 1000, digest)


class Reported(Exception):
    pass


def raising(name: str, node: str, block: Header, detail: str) -> None:
    raise Reported(name, node, block.number, detail)


def test_two_nodes_finalizing_different_blocks_at_a_height_is_caught() -> None:
    checker = InvariantChecker(genesis_issuance=0, genesis_hash=bytes(32), report=raising)
    checker.on_finalized("v0", [header(1), header(2)])
    checker.on_finalized("v1", [header(1), header(2)])
    with pytest.raises(Reported) as caught:
        checker.on_finalized("v2", [header(1), header(2, salt=7)])
    assert caught.value.args[:3] == ("conflicting finality", "v2", 2)


def test_a_node_whose_finality_goes_back_is_caught() -> None:
    checker = InvariantChecker(genesis_issuance=0, genesis_hash=bytes(32), report=raising)
    checker.on_finality("v0", header(5))
    checker.on_finality("v0", header(5))
    checker.on_finality("v1", header(3))
    with pytest.raises(Reported) as caught:
        checker.on_finality("v0", header(4))
    assert caught.value.args[:3] == ("finality regressed", "v0", 4)


# Planted bugs in settlement, each caught end to end

SETTLING: dict[str, Any] = {
    "name": "settling",
    "duration_s": 28,
    "validators": {"count": 4},
    "chain": {
        "compute": {"commit_window": 3, "reveal_window": 2, "dispute_window": 12},
        "market": {"min_match_reputation": -1000},
    },
    "workers": [
        {"name": "honest", "count": 2, "pricing": {"price_xpl_per_gunit": 2500.0}},
        {
            "name": "cheaters",
            "count": 2,
            "strategy": {"kind": "cheat", "fraction": 1.0},
            "pricing": {"price_xpl_per_gunit": 2500.0},
        },
    ],
    "requesters": [
        {
            "name": "audited",
            "count": 2,
            "mode": "always",
            "arrival": {"process": "fixed", "rate_per_s": 0.3},
            "max_price_xpl_per_gunit": 5000.0,
        }
    ],
    "outputs": {"plots": False},
}
"""Honest and cheating workers, every job audited: jobs fail from ~14 s and settle from ~17 s
(which jobs the audits and committees draw follows the chain randomness, seeded by the genesis
hash, so the run is long enough to settle a few whatever the genesis state holds)."""

settle_success = market.settle_success
pay_out_all = vars(settlement)["pay_out_all"]


def paying_the_requester(ctx: BlockContext, job_id: int, verifiers: Any) -> None:
    """(d) The worker's payment goes back to the requester; the event still says it was paid."""
    job = market.Jobs.get(ctx.state, job_id)
    assert job is not None

    def routed(ctx: BlockContext, source: bytes, reason: str, payouts: Any) -> list[int]:
        return pay_out_all(  # type: ignore[no-any-return]
            ctx, source, reason, [(job.requester if d == job.worker else d, a) for d, a in payouts]
        )

    vars(settlement)["pay_out_all"] = routed
    try:
        settle_success(ctx, job_id, verifiers)
    finally:
        vars(settlement)["pay_out_all"] = pay_out_all


def paying_twice(ctx: BlockContext, job_id: int, verifiers: Any) -> None:
    """(a) The worker is paid a second time, out of the treasury, with no event of its own (the
    treasury's ledger counting it, as a grant)."""
    settle_success(ctx, job_id, verifiers)
    job = market.Jobs.get(ctx.state, job_id)
    assert job is not None and job.worker is not None
    balances.transfer(ctx, TREASURY, job.worker, job.payment, keep_alive=True)
    treasury.Ledgers.put(ctx.state, treasury.Ledgers.get(ctx.state).plus("grants", job.payment))


def settling_silently(ctx: BlockContext, job_id: int, verifiers: Any) -> None:
    """(b) The escrow is paid out and released, the settlement's event dropped."""
    settle_success(ctx, job_id, verifiers)
    ctx.events[:] = [e for e in ctx.events if e.event is not JobSettled]


def minting_with_an_event(ctx: BlockContext, job_id: int, verifiers: Any) -> None:
    """(e) A unit minted into the treasury, its `Deposited` event and the treasury's ledger
    making the books agree."""
    settle_success(ctx, job_id, verifiers)
    treasury.receive(ctx, treasury.DONATIONS, balances.deposit(ctx, TREASURY, 10**9))


def slashing_a_bystander(ctx: BlockContext, job_id: int, verifiers: Any) -> None:
    """(c) A validator's bond slashed in a block where another is reported offline."""
    settle_success(ctx, job_id, verifiers)
    slash_stash(ctx, validator_keypair(0).public, 10**12)
    ctx.deposit_event(Offline, validator_keypair(1).public, 0)


@pytest.mark.parametrize(
    ("bug", "caught"),
    [
        (None, None),
        (paying_the_requester, "settlement"),
        (paying_twice, "treasury"),
        (settling_silently, "escrow"),
        (minting_with_an_event, "issuance"),
        (slashing_a_bystander, "slash without evidence"),
    ],
)
def test_a_planted_settlement_bug_is_caught(
    bug: Any, caught: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if bug is not None:
        monkeypatch.setattr(market, "settle_success", bug)
    result = sim.run(scenario_from_dict(SETTLING), seed=2)
    if caught is None:
        assert result.violation is None
        assert (result.jobs["step"] == "settled").any()
        assert (result.jobs["step"] == "slashed").any()
    else:
        assert result.violation is not None
        assert result.violation.name == caught


def test_a_scenario_object_run_with_out_is_replayed_from_the_file_it_wrote(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(market, "settle_success", minting_with_an_event)
    out = tmp_path / "run"
    scenario = scenario_from_dict(SETTLING)
    violation = sim.run(scenario, seed=2, out=out, overrides=["network.jitter_ms=2"]).violation
    assert violation is not None
    assert violation.replay == (
        f"xpl sim run {out / 'scenario.toml'} --seed 2 --until-ms {violation.t_ms}"
    )
    assert main(shlex.split(violation.replay)[1:]) == 1
    assert f"simulated time {violation.t_ms} ms" in capsys.readouterr().err


# Slashes, settlements, escrow, the treasury and minting judged by a block's events


def test_a_slash_beyond_or_beside_its_own_evidence_is_caught() -> None:
    failed = (JobFailed, (3, WORKER, 500, 0))
    fail = (CheckDecided, (3, 0, "fail"))
    slash = (balances.Slashed, (WORKER, STAKE, 500))
    assert slashes_without_evidence(events_of(fail, slash, failed)) == []
    # More than the failed job says.
    too_much = (balances.Slashed, (WORKER, STAKE, 501))
    assert slashes_without_evidence(events_of(fail, too_much, failed)) != []
    # A job failed in a block whose only check of it passed.
    passed = (CheckDecided, (3, 0, "pass"))
    assert slashes_without_evidence(events_of(passed, slash, failed)) == [
        "job 3 failed although its check passed"
    ]
    # A stash slashed where another validator is the one reported offline.
    bystander = (balances.Slashed, (STASH, HOLD, 10))
    other_offline = (Offline, (WORKER, 10))
    assert slashes_without_evidence(events_of(bystander, other_offline)) != []
    assert slashes_without_evidence(events_of(bystander, (Offline, (STASH, 10)))) == []
    # A penalized member's stash, found from its session key.
    penalty = (MemberPenalized, (3, 0, WORKER, 10))
    assert slashes_without_evidence(events_of(bystander, penalty)) != []
    assert slashes_without_evidence(events_of(bystander, penalty), {WORKER: STASH}.get) == []
    # An equivocation slashes the offender's nominators, whom no event names.
    assert slashes_without_evidence(events_of(bystander, (Equivocation, (WORKER, "vote")))) == []


def with_job(job_id: int, **fields: Any) -> Any:
    """A state reader holding one job record."""
    ctx = context()
    record = market.Job(
        requester=ACCOUNTS[1],
        workload="gemm_i8",
        params=(8, 16, 8, 2),
        inputs=(),
        seed=0,
        max_price=10**12,
        cost_units=10**9,
        leaves=4,
        escrow=10**10,
        mode="always",
        deadline_blocks=20,
        expires_at=100,
        submitted_at=1,
        state="settled",
        worker=WORKER,
        price=1000,
    )
    market.Jobs.insert(ctx.state, job_id, replace(record, **fields))
    changes = ctx.state.changes()
    return changes.get


def test_a_settlement_that_does_not_pay_its_worker_once_is_caught() -> None:
    read = with_job(9)
    payment = market.Jobs.get(StateOverlay(read), 9).payment  # type: ignore[union-attr]
    settled = (JobSettled, (9, WORKER, payment, 10, 5, 0))
    paid = (balances.Transfer, (ACCOUNTS[1], WORKER, payment))
    assert settlements_without_payment(events_of(paid, settled), read) == []
    assert settlements_without_payment(events_of(settled), read) != []  # nothing credited
    twice = settlements_without_payment(events_of(paid, paid, settled, settled), read)
    assert twice == ["job 9 settled twice in one block"]
    understated = (JobSettled, (9, WORKER, payment - 1, 10, 5, 0))
    assert settlements_without_payment(events_of(paid, understated), read) != []
    assert (
        settlements_without_payment(events_of(paid, settled), with_job(9, state="committed")) != []
    )


def test_escrow_leaving_with_no_event_of_its_job_is_caught() -> None:
    read = with_job(9)
    released = (balances.Released, (ACCOUNTS[1], market.ESCROW, 700))
    assert escrow_released_without_event(events_of(released), read) != []
    expired = (JobExpired, (9, 700))
    assert escrow_released_without_event(events_of(released, expired), read) == []
    other = (balances.Released, (ACCOUNTS[2], market.ESCROW, 700))
    assert escrow_released_without_event(events_of(other, expired), read) != []


def test_payments_out_of_the_treasury_and_minting_beyond_the_era_reward_are_caught() -> None:
    assert treasury_outflows(events_of((balances.Transfer, (TREASURY, WORKER, 5)))) != []
    assert treasury_outflows(events_of((balances.Transfer, (WORKER, TREASURY, 5)))) == []
    announced = (treasury_events.PaidOut, ("spends", WORKER, 5))
    paid = (balances.Transfer, (TREASURY, WORKER, 5))
    assert treasury_outflows(events_of(paid, announced)) == []
    assert treasury_outflows(events_of(paid, paid, announced)) != []  # announced once, paid twice
    read = SPEC.genesis_state().get
    reward = StakingParamsStore.get(StateOverlay(read)).era_reward
    recycled = events_of(
        (balances.Slashed, (WORKER, STAKE, 9)), (balances.Deposited, (TREASURY, 9))
    )
    assert minting_beyond_rewards(recycled, figures_of(recycled, 0), read) == ""
    minted = events_of((balances.Deposited, (TREASURY, 9)))
    assert minting_beyond_rewards(minted, figures_of(minted, 0), read) != ""
    era = events_of((balances.Deposited, (STASH, reward)), (EraPaid, (1, reward)))
    assert minting_beyond_rewards(era, figures_of(era, 0), read) == ""
    over = events_of((balances.Deposited, (STASH, reward + 1)), (EraPaid, (1, reward + 1)))
    assert "more than its reward" in minting_beyond_rewards(over, figures_of(over, 0), read)


def test_a_block_finalized_that_too_little_stake_holds_is_caught() -> None:
    stakes = {"v0": 10, "v1": 10, "v2": 10, "v3": 10}
    checker = InvariantChecker(
        genesis_issuance=0, genesis_hash=bytes(32), report=raising, stakes=stakes
    )
    checker.on_import("v0", header(1))
    checker.on_import("v1", header(1))
    checker.on_finalized("v0", [header(1)])  # half the stake holds it
    checker.on_import("v0", header(2))
    with pytest.raises(Reported) as caught:
        checker.on_finalized("v0", [header(2)])  # v0's alone: no supermajority voted for it
    assert caught.value.args[:3] == ("finality without votes", "v0", 2)
    with pytest.raises(Reported):
        checker.on_finalized("v0", [header(3)])  # a block no node ever imported


def test_a_node_finalizing_a_block_no_supermajority_can_have_voted_for_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(f) The first node to author a block from BUGGY_FROM_BLOCK on finalizes it at once, with
    no justification, before any other node has seen it."""
    persist = ChainUpdates.persist
    planted: list[int] = []

    def finalizing_alone(self: ChainUpdates, executed: Any, **kwargs: Any) -> Any:
        actions = persist(self, executed, **kwargs)
        header = executed.block.header
        if kwargs["authored"] and header.number >= BUGGY_FROM_BLOCK and not planted:
            planted.append(header.number)
            actions = actions + self.finalize_stored(header, b"", kwargs["now_ms"])
        return actions

    monkeypatch.setattr(ChainUpdates, "persist", finalizing_alone)
    violation = sim.run(
        scenario_from_dict({**CHEATERS, "workers": [], "requesters": []}), seed=1
    ).violation
    assert violation is not None and violation.name == "finality without votes"
    assert violation.block == BUGGY_FROM_BLOCK == planted[0]
