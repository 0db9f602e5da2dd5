"""The invariants a simulation checks after every block on every node, and what a violation says.

Per node, after each block it imports or authors and each change of its finality:
- no two nodes finalized different blocks at one height (`conflicting finality`);
- a node's finalized height never goes back, across crashes and restarts (`finality regressed`);
- a block a node finalizes is held by nodes of more than a third of the stake (`finality without
  votes`: of the more than two thirds whose votes finalize it, the honest hold it).

Per block (the state after a block is a function of the block alone, the runtime being
deterministic, so it is judged once, on the first node that holds it):
- the runtime's own invariants (`store.check_invariants`: balances sum to the issuance, every
  hold is explained by a bond, a stake or an escrow — the market's check that the escrow held
  equals what open jobs owe among them);
- the total issuance changed by exactly what the block's events say was minted (balances
  `Deposited`) and burned (`TransactionFeePaid`, `DustLost`, `Slashed`, the treasury's
  `Burnt`), and grew by no more
  than the era reward paid in it (`EraPaid`, itself at most `era_reward`);
- a stake is slashed only with evidence on chain in the same block: a worker's stake only as
  much as its own failed jobs say (`JobFailed`, each in a block that decides a check of the job
  against it), a validator's bond only with an offence naming it (`Equivocation`, `Offline`) or
  its penalty as a committee member (`MemberPenalized`), a challenger's bond only where a check
  is decided;
- a worker is paid (`JobSettled`) only for a job none of whose checks failed, once, as much as
  the job's record says, and the block's balance events credit it with that;
- a requester's escrow falls only in a block with an event of a job of its (matched, settled,
  failed, cancelled, expired, voided); the treasury pays out only what its `PaidOut` events
  announce.

A violation stops the run; it carries the replay command that runs the same scenario and seed
to the simulated time of the violation.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from chain.storage.chain_store import ChainStoreError
from runtime.accounts import TREASURY
from runtime.block import Header
from runtime.executive import EVENTS
from runtime.invariants import InvariantsBroken
from runtime.pallets import balances, system
from runtime.pallets.compute.params import BOND
from runtime.pallets.compute.records import Checks
from runtime.pallets.market.constants import ESCROW, STAKE
from runtime.pallets.market.storage import Jobs
from runtime.pallets.staking.candidacy import stash_of as staking_stash_of
from runtime.pallets.staking.constants import HOLD as STAKING_HOLD
from runtime.pallets.staking.storage import Params as StakingParamsStore
from runtime.primitives import codec
from runtime.state import StateOverlay, StateReader

PASSING_OUTCOMES: Final = frozenset({"pass", "inconclusive", "void"})
"""Check outcomes that do not fail a job (an inconclusive round is followed by another)."""

EQUIVOCATION: Final = ("staking", "Equivocation")

JOB_ENDINGS: Final = frozenset(
    {
        ("market", "JobMatched"),
        ("market", "JobSettled"),
        ("market", "JobFailed"),
        ("market", "JobCancelled"),
        ("market", "JobExpired"),
        ("compute", "JobVoided"),
    }
)
"""The events under which a job's escrow may leave its requester's hold (a match pays the rent
of the job's wait)."""

KEPT_BLOCKS: Final = 4_096
"""Blocks whose issuance and figures are remembered (for their children's checks); older ones
are forgotten, so that memory stays flat over a long run."""


@dataclass(frozen=True)
class Violation:
    """A broken invariant: which, on which node, at which block and simulated time, and how to
    replay the run to that point."""

    name: str
    node: str
    block: int
    t_ms: int
    detail: str
    replay: str

    def describe(self) -> str:
        """The violation in a few lines, the replay command last."""
        return (
            f"invariant violated: {self.name}\n"
            f"  node {self.node}, block #{self.block}, simulated time {self.t_ms} ms\n"
            f"  {self.detail}\n"
            f"  replay: {self.replay}"
        )


class InvariantViolated(Exception):
    """Raised out of the run loop by the first broken invariant."""

    def __init__(self, violation: Violation) -> None:
        self.violation = violation
        super().__init__(violation.describe())


@dataclass(frozen=True)
class Event:
    """One event of a block, its fields decoded to Python values (accounts as bytes)."""

    pallet: str
    name: str
    data: dict[str, Any]


def block_events(read: StateReader) -> list[Event]:
    """The events of the block whose state `read` reads."""
    raw = read(system.EVENTS_KEY)
    if raw is None:
        return []
    out = []
    for value in codec.expect_array(codec.decode_raw(raw), 10_000_000, "events"):
        f = codec.expect_list(value, 4, "event")
        pallet, name = f[1], f[2]
        assert isinstance(pallet, str) and isinstance(name, str)
        event = EVENTS[(pallet, name)]
        items = codec.expect_list(f[3], len(event.fields), "event fields")
        data = {
            fname: ftype.from_value(item, fname)
            for (fname, ftype), item in zip(event.fields, items, strict=True)
        }
        out.append(Event(pallet, name, data))
    return out


@dataclass(frozen=True)
class BlockFigures:
    """What a block minted and burned, by its events, and its issuance after."""

    issuance: int
    minted: int
    burned: int
    fees: int
    rewards: int


def issuance_of(read: StateReader) -> int:
    """`balances.TotalIssuance` in a state."""
    return balances.TotalIssuance.get(StateOverlay(read))


def figures_of(events: list[Event], issuance: int) -> BlockFigures:
    """Minted, burned, fees and staking rewards of a block's events."""
    minted = burned = fees = rewards = 0
    for e in events:
        if e.pallet == "balances" and e.name == "Deposited":
            minted += e.data["amount"]
        elif e.pallet == "balances" and e.name in ("DustLost", "Slashed"):
            burned += e.data["amount"]
        elif e.pallet == "transaction_payment" and e.name == "TransactionFeePaid":
            burned += e.data["actual_fee"]
            fees += e.data["actual_fee"]
        elif e.pallet == "staking" and e.name == "Rewarded":
            rewards += e.data["amount"]
        elif e.pallet == "treasury" and e.name == "Burnt":
            burned += e.data["amount"]
    return BlockFigures(issuance, minted, burned, fees, rewards)


def slashes_without_evidence(
    events: list[Event], stash_of: Callable[[bytes], bytes | None] | None = None
) -> list[str]:
    """Each slash of a stake, bond or challenger's bond that no evidence in the block explains:
    a worker's stake only as much as its own failed jobs say (each failed by a check decided
    against it), a stash's bond only where it is the offender, the offline validator or the
    penalized member (`stash_of` maps a member's session key to its stash), or a nominator in a
    block with an equivocation; a challenger's bond only where a check is decided."""
    decided_jobs = {
        e.data["job"] for e in events if (e.pallet, e.name) == ("compute", "CheckDecided")
    }
    failing_jobs = {
        e.data["job"]
        for e in events
        if (e.pallet, e.name) == ("compute", "CheckDecided")
        and e.data["outcome"] not in PASSING_OUTCOMES
    }
    failed: dict[bytes, int] = {}
    problems = []
    for e in events:
        if (e.pallet, e.name) == ("market", "JobFailed"):
            failed[e.data["worker"]] = failed.get(e.data["worker"], 0) + e.data["slashed"]
            if e.data["job"] not in decided_jobs:
                problems.append(f"job {e.data['job']} failed with no check of it decided")
            elif e.data["job"] not in failing_jobs:
                problems.append(f"job {e.data['job']} failed although its check passed")
    offenders = {e.data["offender"] for e in events if (e.pallet, e.name) == EQUIVOCATION}
    equivocation = bool(offenders)
    offenders |= {e.data["stash"] for e in events if (e.pallet, e.name) == ("staking", "Offline")}
    for e in events:
        if (e.pallet, e.name) == ("compute", "MemberPenalized"):
            member = e.data["member"]
            offenders.add(member)
            stash = None if stash_of is None else stash_of(member)
            if stash is not None:
                offenders.add(stash)
    decided = bool(decided_jobs)
    stake_slashed: dict[bytes, int] = {}
    for e in events:
        if (e.pallet, e.name) != ("balances", "Slashed"):
            continue
        who, reason = e.data["account"], e.data["reason"]
        if reason == STAKE:
            stake_slashed[who] = stake_slashed.get(who, 0) + e.data["amount"]
        elif reason == STAKING_HOLD and who not in offenders and not equivocation:
            # An equivocation slashes its offender's nominators too, whom no event names.
            problems.append(
                f"stash 0x{who.hex()} slashed {e.data['amount']} with no offence or penalty "
                "of its own"
            )
        elif reason == BOND and not decided:
            problems.append(f"challenger 0x{who.hex()} lost its bond with no check decided")
    for who, amount in stake_slashed.items():
        if who not in failed:
            problems.append(f"worker 0x{who.hex()} slashed {amount} with no failed job")
        elif amount > failed[who]:
            problems.append(
                f"worker 0x{who.hex()} slashed {amount}, its failed jobs say {failed[who]}"
            )
    return problems


def payments_for_failed_jobs(events: list[Event], read: StateReader) -> list[str]:
    """Each job settled (its worker paid) although one of its checks failed."""
    failed_now = {
        e.data["job"]
        for e in events
        if (e.pallet, e.name) == ("compute", "CheckDecided")
        and e.data["outcome"] not in PASSING_OUTCOMES
    }
    state = StateOverlay(read)
    problems = []
    for e in events:
        if (e.pallet, e.name) != ("market", "JobSettled"):
            continue
        job = e.data["job"]
        outcomes = [c.outcome for c in Checks.get(state, job) or ()]
        if job in failed_now or any(o not in PASSING_OUTCOMES and o for o in outcomes):
            problems.append(
                f"job {job} paid its worker 0x{e.data['worker'].hex()} {e.data['payment']} "
                "although a check of it failed"
            )
    return problems


def settlements_without_payment(events: list[Event], read: StateReader) -> list[str]:
    """Each job settled twice in a block, settled with another worker or payment than its record
    says, or whose worker the block's balance events do not credit with what it was paid."""
    credited: dict[bytes, int] = {}
    for e in events:
        if (e.pallet, e.name) == ("balances", "Transfer"):
            credited[e.data["to"]] = credited.get(e.data["to"], 0) + e.data["amount"]
        elif (e.pallet, e.name) == ("balances", "Deposited"):
            credited[e.data["account"]] = credited.get(e.data["account"], 0) + e.data["amount"]
    state = StateOverlay(read)
    settled: set[int] = set()
    owed: dict[bytes, int] = {}
    problems = []
    for e in events:
        if (e.pallet, e.name) != ("market", "JobSettled"):
            continue
        job, worker, payment = e.data["job"], e.data["worker"], e.data["payment"]
        if job in settled:
            problems.append(f"job {job} settled twice in one block")
        settled.add(job)
        record = Jobs.get(state, job)
        if record is None or record.state != "settled" or record.worker != worker:
            problems.append(f"job {job} settled to 0x{worker.hex()}, which its record does not say")
        elif record.payment != payment:
            problems.append(
                f"job {job} paid its worker {payment}, its record owes {record.payment}"
            )
        owed[worker] = owed.get(worker, 0) + payment
    for worker, amount in owed.items():
        if credited.get(worker, 0) < amount:
            problems.append(
                f"worker 0x{worker.hex()} settled {amount} but credited "
                f"{credited.get(worker, 0)} by the block's balance events"
            )
    return problems


def escrow_released_without_event(events: list[Event], read: StateReader) -> list[str]:
    """Each requester whose escrow hold fell in a block (released, paid out or slashed) although
    no job of its was matched (its wait's rent paid), settled, failed, cancelled, expired or
    voided by an event of that block."""
    leaving: dict[bytes, int] = {}
    jobs: set[int] = set()
    for e in events:
        if (e.pallet, e.name) in JOB_ENDINGS:
            jobs.add(e.data["job"])
        elif (
            e.pallet == "balances"
            and e.name in ("Released", "Slashed")
            and e.data["reason"] == ESCROW
        ):
            leaving[e.data["account"]] = leaving.get(e.data["account"], 0) + e.data["amount"]
    if not leaving:
        return []
    state = StateOverlay(read)
    explained = set()
    for job in jobs:
        record = Jobs.get(state, job)
        if record is not None:
            explained.add(record.requester)
    return [
        f"requester 0x{who.hex()}'s escrow fell by {amount} with no event of a job of its"
        for who, amount in leaving.items()
        if who not in explained
    ]


def treasury_outflows(events: list[Event]) -> list[str]:
    """Each payment out of the treasury that the treasury did not make: it holds no key, and
    pays only through its ledger (a spend, a bounty's funds, a grant), each payment announced by
    its `PaidOut`; any other is a payment the runtime made up."""
    announced = Counter(
        (e.data["to"], e.data["amount"])
        for e in events
        if (e.pallet, e.name) == ("treasury", "PaidOut")
    )
    problems = []
    for e in events:
        if (e.pallet, e.name) == ("balances", "Transfer") and e.data["from"] == TREASURY:
            paid = (e.data["to"], e.data["amount"])
            if announced[paid]:
                announced[paid] -= 1
            else:
                problems.append(f"the treasury paid {paid[1]} to 0x{paid[0].hex()}")
    return problems


def minting_beyond_rewards(events: list[Event], figures: BlockFigures, read: StateReader) -> str:
    """What is wrong where a block mints more than it burns beyond its era reward, or an era
    mints more than `era_reward` (empty if nothing): every other mint (fee shares, slashes paid
    on) is a burn paid out again."""
    era_minted = 0
    for e in events:
        if (e.pallet, e.name) == ("staking", "EraPaid"):
            era_minted += e.data["minted"]
    if era_minted:
        cap = StakingParamsStore.get(StateOverlay(read)).era_reward
        if era_minted > cap:
            return f"the era minted {era_minted}, more than its reward of {cap}"
    grown = figures.minted - figures.burned
    if grown > era_minted:
        return (
            f"the block minted {figures.minted} and burned {figures.burned} ({grown:+}), more "
            f"than the era reward it paid ({era_minted})"
        )
    return ""


Report = Callable[[str, str, Header, str], None]
"""How a broken invariant is reported: (invariant, node, block header, detail)."""


@dataclass
class InvariantChecker:
    """Checks the invariants as nodes import blocks and finalize them; `report` raises."""

    genesis_issuance: int
    genesis_hash: bytes
    report: Report
    figures: dict[bytes, BlockFigures] = field(default_factory=dict)
    """Each checked block's figures, by hash (the most recent KEPT_BLOCKS)."""
    finalized_heights: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    """Who first finalized which block at each height."""
    finalized_of: dict[str, int] = field(default_factory=dict)
    """Each node's highest finalized height seen."""
    stakes: dict[str, int] = field(default_factory=dict)
    """Each validator node's bond (empty: who holds a finalized block is not judged)."""
    holders: dict[bytes, tuple[int, set[str]]] = field(default_factory=dict)
    """Each block imported (its number, and the nodes that imported it), for the most recent
    KEPT_BLOCKS heights below finality."""

    forgotten_height: int = 0
    """Blocks below this height are no longer remembered."""

    def on_import(self, node: str, header: Header) -> None:
        """`node` imported or authored `header`."""
        held = self.holders.get(header.hash)
        if held is None:
            self.holders[header.hash] = (header.number, {node})
        else:
            held[1].add(node)

    def on_finalized(self, node: str, headers: tuple[Header, ...] | list[Header]) -> None:
        """A node finalized `headers`: no conflict with other nodes, no step back, and each
        imported by validators of more than a third of the stake (of the more than two thirds
        whose votes finalize a block, those that are honest voted for a block they hold)."""
        total = sum(self.stakes.values())
        for header in headers:
            held = self.holders.get(header.hash)
            if total and (held is not None or header.number >= self.forgotten_height):
                nodes = set() if held is None else held[1]
                holding = sum(self.stakes.get(n, 0) for n in nodes)
                if 3 * holding <= total:
                    self.report(
                        "finality without votes",
                        node,
                        header,
                        f"{node} finalized #{header.number} 0x{header.hash.hex()[:16]}, which "
                        f"only {sorted(nodes)} ({holding} of {total} staked) hold",
                    )
            seen = self.finalized_heights.get(header.number)
            if seen is None:
                self.finalized_heights[header.number] = (node, header.hash)
            elif seen[1] != header.hash:
                self.report(
                    "conflicting finality",
                    node,
                    header,
                    f"{seen[0]} finalized 0x{seen[1].hex()[:16]} and {node} finalized "
                    f"0x{header.hash.hex()[:16]} at #{header.number}",
                )

    def on_finality(self, node: str, finalized: Header) -> None:
        """A node's finalized head now: it must not be below one it had."""
        before = self.finalized_of.get(node, 0)
        if finalized.number < before:
            self.report(
                "finality regressed",
                node,
                finalized,
                f"{node}'s finalized height went from #{before} to #{finalized.number}",
            )
        self.finalized_of[node] = max(before, finalized.number)

    def on_block(
        self,
        node: str,
        header: Header,
        read: Callable[[bytes], StateReader],
        check_runtime: Callable[[bytes], None],
    ) -> BlockFigures | None:
        """Judge the state after `header` (once per block); its figures, or None if the node
        no longer holds that state."""
        known = self.figures.get(header.hash)
        if known is not None:
            return known
        try:
            reader = read(header.hash)
            events = block_events(reader)
            issuance = issuance_of(reader)
            try:
                check_runtime(header.hash)
            except InvariantsBroken as exc:
                name = "escrow" if any("escrow" in p for p in exc.problems) else "runtime"
                self.report(name, node, header, "; ".join(exc.problems))
        except ChainStoreError:  # abandoned by finality in the same step
            return None
        figures = figures_of(events, issuance)
        parent = self._issuance_before(header)
        if parent is not None and issuance - parent != figures.minted - figures.burned:
            self.report(
                "issuance",
                node,
                header,
                f"total issuance went from {parent} to {issuance} ({issuance - parent:+}), the "
                f"events minted {figures.minted} and burned {figures.burned} "
                f"({figures.minted - figures.burned:+})",
            )
        excess = minting_beyond_rewards(events, figures, reader)
        if excess:
            self.report("issuance", node, header, excess)
        for problem in slashes_without_evidence(events, self._stash_of(reader)):
            self.report("slash without evidence", node, header, problem)
        for problem in payments_for_failed_jobs(events, reader):
            self.report("payment for a failed job", node, header, problem)
        for problem in settlements_without_payment(events, reader):
            self.report("settlement", node, header, problem)
        for problem in treasury_outflows(events):
            self.report("treasury", node, header, problem)
        for problem in escrow_released_without_event(events, reader):
            self.report("escrow", node, header, problem)
        self._remember(header.hash, figures)
        return figures

    def forget_below(self, height: int) -> None:
        """Forget who finalized the heights below `height` (memory stays flat; a node that far
        behind is no longer compared there)."""
        for number in [n for n in self.finalized_heights if n < height]:
            del self.finalized_heights[number]
        self.holders = {h: held for h, held in self.holders.items() if held[0] >= height}
        self.forgotten_height = max(self.forgotten_height, height)

    @staticmethod
    def _stash_of(read: StateReader) -> Callable[[bytes], bytes | None]:
        state = StateOverlay(read)
        return lambda key: staking_stash_of(state, key)

    def _issuance_before(self, header: Header) -> int | None:
        if header.parent_hash == self.genesis_hash:
            return self.genesis_issuance
        parent = self.figures.get(header.parent_hash)
        return None if parent is None else parent.issuance

    def _remember(self, block_hash: bytes, figures: BlockFigures) -> None:
        self.figures[block_hash] = figures
        if len(self.figures) > KEPT_BLOCKS:
            oldest: Iterator[bytes] = iter(self.figures)
            del self.figures[next(oldest)]


def replay_command(
    file: str, seed: int, overrides: tuple[str, ...] | list[str], until_ms: int
) -> str:
    """The command that replays a run to simulated time `until_ms` (quoted for a shell)."""
    sets = "".join(f" --set {shlex.quote(o)}" for o in overrides)
    return f"xpl sim run {shlex.quote(file)} --seed {seed}{sets} --until-ms {until_ms}"


__all__ = [
    "BlockFigures",
    "Event",
    "InvariantChecker",
    "InvariantViolated",
    "Violation",
    "block_events",
    "replay_command",
]
