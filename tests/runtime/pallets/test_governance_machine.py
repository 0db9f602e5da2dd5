"""All of governance together, as its users and attackers drive it, in real blocks.

Voters submit referenda on every track (parameter changes, treasury spends, bounty approvals and
curators, compute grants, and proposals a track must refuse), place decision deposits, vote
(standard, split and abstain, every conviction, amounts up to and above their balances),
delegate and undelegate, remove votes and unlock, claim spends, propose, curate, award and claim
bounties, and try to move locked funds; Root cancels and kills referenda through sudo; blocks go
by, so that referenda pass, enact, time out, and the treasury burns and spends expire. After
every block every pallet's invariants hold, and the cross-pallet checks of `governance_helpers`:
no freeze above its account's total, deposits held equal deposits owed, the issuance moves only
by what the events mint and burn, the treasury's balance by its ledger, and every ongoing tally
is a recount of the votes and delegations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import astuple, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from runtime import dispatch
from runtime.accounts import TREASURY
from runtime.executive import InvalidTransaction
from runtime.pallets import balances, bounties, grants
from runtime.pallets.bounties import DEFAULT_BOUNTIES_PARAMS
from runtime.pallets.bounties.storage import ACTIVE, ADDED, CURATOR_PROPOSED, FUNDED, PROPOSED
from runtime.pallets.governance.tracks import Tracks
from runtime.pallets.referenda import ReferendumCount, ReferendumInfo
from runtime.pallets.treasury.storage import Pending, SpendCount
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes, prefix_iterator
from tests.runtime.pallets.governance_helpers import (
    ALICE,
    TREASURY_PARAMS,
    UNIT,
    VOTERS,
    GovernanceChain,
    cross_pallet_problems,
    keypair_of,
)

SEEN: Counter[str] = Counter()
"""What the runs reached, over every example (printed at the end of the module, with -s)."""

ROOT_TRACK, TREASURER, SMALL = 0, 1, 2
FAST_BOUNTIES = replace(DEFAULT_BOUNTIES_PARAMS, payout_delay=2, update_period=40)
VOTE_LOCKING_PERIOD = 4

voters = st.sampled_from(VOTERS)
tracks = st.sampled_from((ROOT_TRACK, TREASURER, SMALL))
fractions = st.sampled_from((0.001, 0.05, 0.2, 0.5, 0.9, 1.0, 1.2))
"""Of an account's total balance: small to all of it, and above it."""


@pytest.fixture(scope="module", autouse=True)
def report_reach() -> Iterator[None]:
    yield
    print("\ngovernance machine reached:", dict(sorted(SEEN.items())))


def encode(pallet: str, name: str, *args: Any) -> bytes:
    return dispatch.encode_call(pallet, name, args)


class GovernanceMachine(RuleBasedStateMachine):
    """Random governance in real blocks, every block checked."""

    def __init__(self) -> None:
        super().__init__()
        self.chain = GovernanceChain()
        for pallet, name, args in (
            ("bounties", "set_params", astuple(FAST_BOUNTIES)),
            ("conviction_voting", "set_params", (VOTE_LOCKING_PERIOD, 100)),
        ):
            assert self.chain.sudid(self.chain.sudo(pallet, name, *args)) is None

    def teardown(self) -> None:
        SEEN.update(self.chain.seen)

    # Reading

    def now(self) -> int:
        return self.chain.head.number

    def referendum_count(self) -> int:
        return ReferendumCount.get(self.chain.overlay())

    def ongoing(self) -> list[int]:
        state = self.chain.overlay()
        return [
            i
            for i in range(self.referendum_count())
            if (ref := ReferendumInfo.get(state, i)) is not None and ref.ongoing
        ]

    def pick(self, data: st.DataObject, ids: list[int], upto: int) -> int:
        """Mostly one of `ids`, sometimes any index below `upto` (perhaps none)."""
        if ids and data.draw(st.integers(0, 3), label="pick listed"):
            return data.draw(st.sampled_from(ids), label="index")
        return data.draw(st.integers(0, max(upto, 0)), label="index")

    def usable(self, who: bytes) -> int:
        """What `who` may move: free less what its freeze keeps (nothing here is staked)."""
        info = self.chain.account(who)
        return 0 if info is None else max(0, info.free - self.chain.frozen(who))

    def signed(self, who: Keypair, pallet: str, name: str, *args: Any) -> str | None:
        """Make a call as a signed transaction in a new block: its error, or None. A transaction
        no block may include (its signer cannot pay the fee) makes an empty block."""
        try:
            outcome = self.chain.call(who, pallet, name, *args)
        except InvalidTransaction as exc:
            self.chain.advance(1)
            SEEN[f"{pallet}.{name} invalid"] += 1
            return type(exc).__name__
        SEEN[f"{pallet}.{name} {outcome.error or 'ok'}"] += 1
        return outcome.error

    def root(self, pallet: str, name: str, *args: Any) -> str | None:
        error = self.chain.sudid(self.chain.sudo(pallet, name, *args))
        SEEN[f"root {pallet}.{name} {'ok' if error is None else 'refused'}"] += 1
        return error

    # Referenda

    def proposal(self, data: st.DataObject, track: int) -> tuple[str, bytes, bool]:
        """A proposal for `track`: its kind, its call, and whether the track must refuse it."""
        kind = data.draw(
            st.sampled_from(("params", "spend", "spend", "approve", "curator", "grant")),
            label="proposal",
        )
        limit = next(t for t in Tracks.get(self.chain.overlay()) if t.id == track).max_spend
        count = bounties.BountyCount.get(self.chain.overlay())
        if kind == "params":
            params = replace(
                TREASURY_PARAMS,
                spend_period=data.draw(st.integers(5, 12), label="spend period"),
                burn_ppm=data.draw(st.integers(0, 50_000), label="burn"),
            )
            # A spending track may not change parameters.
            return kind, encode("treasury", "set_params", *astuple(params)), track != ROOT_TRACK
        if kind in ("spend", "grant"):
            cap = limit or 200_000 * UNIT
            amount = int(cap * data.draw(st.sampled_from((0.01, 0.3, 1.0, 1.3)), label="of cap"))
            to = data.draw(voters, label="beneficiary").public
            if kind == "spend":
                call = encode("treasury", "spend", amount, to, 0)
            else:
                call = encode("grants", "award", to, amount, UNIT, self.now() + 60)
            return kind, call, track != ROOT_TRACK and amount > limit
        bounty = data.draw(st.integers(max(0, count - 3), count), label="bounty")
        if kind == "approve":
            return kind, encode("bounties", "approve_bounty", bounty), False
        curator = data.draw(voters, label="curator").public
        return kind, encode("bounties", "propose_curator", bounty, curator, UNIT), False

    @rule(data=st.data(), who=voters, track=tracks, after=st.integers(0, 3))
    def submit(self, data: st.DataObject, who: Keypair, track: int, after: int) -> None:
        kind, proposal, refused = self.proposal(data, track)
        error = self.signed(who, "referenda", "submit", track, proposal, after)
        if refused:
            assert error is not None, f"track {track} took a {kind} it may not make"
        elif error is None:
            SEEN[f"submitted {kind} on track {track}"] += 1

    @rule(
        data=st.data(),
        who=voters,
        backer=voters,
        voter=voters,
        track=tracks,
        conviction=st.integers(0, 6),
    )
    def campaign(
        self,
        data: st.DataObject,
        who: Keypair,
        backer: Keypair,
        voter: Keypair,
        track: int,
        conviction: int,
    ) -> None:
        """In one block: a submission, its decision deposit, and a large aye vote."""
        kind, proposal, refused = self.proposal(data, track)
        index = self.referendum_count()
        amount = self.chain.total(voter.public) // 2
        try:
            outcomes = self.chain.calls(
                (who, "referenda", "submit", (track, proposal, 0)),
                (backer, "referenda", "place_decision_deposit", (index,)),
                (voter, "conviction_voting", "vote", (index, amount, 0, 0, conviction)),
            )
        except InvalidTransaction:
            self.chain.advance(1)
            return
        if refused:
            assert outcomes[0].error is not None, f"track {track} took a {kind}"
        for name, outcome in zip(
            ("submit", "place_decision_deposit", "vote"), outcomes, strict=True
        ):
            SEEN[f"campaign {name} {'ok' if outcome.error is None else 'refused'}"] += 1

    @rule(data=st.data(), who=voters)
    def place_decision_deposit(self, data: st.DataObject, who: Keypair) -> None:
        index = self.pick(data, self.ongoing(), self.referendum_count())
        self.signed(who, "referenda", "place_decision_deposit", index)

    @rule(data=st.data(), who=voters, decision=st.booleans())
    def refund_deposit(self, data: st.DataObject, who: Keypair, decision: bool) -> None:
        ended = [i for i in range(self.referendum_count()) if i not in self.ongoing()]
        index = self.pick(data, ended, self.referendum_count())
        name = "refund_decision_deposit" if decision else "refund_submission_deposit"
        self.signed(who, "referenda", name, index)

    @rule(data=st.data(), kill=st.booleans())
    def root_ends(self, data: st.DataObject, kill: bool) -> None:
        index = self.pick(data, self.ongoing(), self.referendum_count())
        self.root("referenda", "kill" if kill else "cancel", index)

    # Conviction voting

    @rule(
        data=st.data(),
        who=voters,
        kind=st.sampled_from(("aye", "aye", "aye", "nay", "split", "abstain")),
        fraction=fractions,
        conviction=st.integers(0, 6),
    )
    def vote(
        self, data: st.DataObject, who: Keypair, kind: str, fraction: float, conviction: int
    ) -> None:
        poll = self.pick(data, self.ongoing(), self.referendum_count())
        total = self.chain.total(who)
        amount = int(total * fraction)
        aye, nay, abstain = {
            "aye": (amount, 0, 0),
            "nay": (0, amount, 0),
            "split": (amount // 2, amount - amount // 2, 0),
            "abstain": (amount // 3, amount // 3, amount - 2 * (amount // 3)),
        }[kind]
        if kind in ("split", "abstain"):
            conviction = 0
        error = self.signed(who, "conviction_voting", "vote", poll, aye, nay, abstain, conviction)
        if amount > total:
            assert error is not None, f"a vote of {amount} from a balance of {total}"

    @rule(who=voters, to=voters, track=tracks, fraction=fractions, conviction=st.integers(0, 6))
    def delegate(
        self, who: Keypair, to: Keypair, track: int, fraction: float, conviction: int
    ) -> None:
        total = self.chain.total(who.public)
        amount = int(total * fraction)
        error = self.signed(
            who, "conviction_voting", "delegate", track, to.public, conviction, amount
        )
        if amount > total or who == to:
            assert error is not None

    @rule(who=voters, track=tracks)
    def undelegate(self, who: Keypair, track: int) -> None:
        self.signed(who, "conviction_voting", "undelegate", track)

    @rule(data=st.data(), who=voters, other=voters, track=tracks, own=st.booleans())
    def remove_vote(
        self, data: st.DataObject, who: Keypair, other: Keypair, track: int, own: bool
    ) -> None:
        poll = data.draw(st.integers(0, self.referendum_count()), label="poll")
        if own:
            self.signed(who, "conviction_voting", "remove_vote", track, poll)
        else:
            self.signed(who, "conviction_voting", "remove_other_vote", other.public, track, poll)

    @rule(who=voters, other=voters, track=tracks)
    def unlock(self, who: Keypair, other: Keypair, track: int) -> None:
        self.signed(who, "conviction_voting", "unlock", track, other.public)

    # Balances

    @rule(who=voters, to=voters, fraction=st.sampled_from((0.01, 0.5, 0.999, 1.0)))
    def transfer(self, who: Keypair, to: Keypair, fraction: float) -> None:
        """A transfer of part or all of the free balance, locked funds included."""
        info = self.chain.account(who.public)
        free = 0 if info is None else info.free
        amount = int(free * fraction)
        usable = self.usable(who.public)
        frozen = self.chain.frozen(who.public)
        error = self.signed(who, "balances", "transfer", to.public, amount)
        if amount > usable and to != who:  # (a transfer to oneself moves nothing)
            assert error is not None, (
                f"moved {amount} of which {frozen} is frozen: {info} -> "
                f"{self.chain.account(who.public)}, now frozen {self.chain.frozen(who.public)}"
            )
            if frozen:
                SEEN["locked funds refused"] += 1

    # Treasury

    @rule(data=st.data(), who=voters, action=st.sampled_from(("payout", "payout", "check", "void")))
    def settle_spend(self, data: st.DataObject, who: Keypair, action: str) -> None:
        """Anyone claims a spend (again, or early) or clears an expired one; Root voids one."""
        count = SpendCount.get(self.chain.overlay())
        index = self.pick(data, list(Pending.get(self.chain.overlay())), count)
        if action == "void":
            self.root("treasury", "void_spend", index)
            return
        error = self.signed(
            who, "treasury", "check_status" if action == "check" else "payout", index
        )
        if action == "payout" and error is None:
            again = self.signed(who, "treasury", "payout", index)
            assert again is not None, f"spend {index} was paid twice"

    @precondition(lambda self: bool(Pending.get(self.chain.overlay())))
    @rule(data=st.data(), who=voters)
    def claim_pending_spend(self, data: st.DataObject, who: Keypair) -> None:
        """Anyone claims a pending spend for its beneficiary; a second claim is refused."""
        index = data.draw(st.sampled_from(Pending.get(self.chain.overlay())), label="spend")
        if self.signed(who, "treasury", "payout", index) is None:
            assert self.signed(who, "treasury", "payout", index) is not None, "paid twice"

    # Bounties

    def bounty_ids(self) -> list[int]:
        state = self.chain.overlay()
        return [
            i for i in range(bounties.BountyCount.get(state)) if bounties.Bounties.get(state, i)
        ]

    @precondition(lambda self: len(self.bounty_ids()) < 4)
    @rule(who=voters, value=st.sampled_from((10 * UNIT, 5_000 * UNIT, 50_000 * UNIT)))
    def propose_bounty(self, who: Keypair, value: int) -> None:
        self.signed(who, "bounties", "propose_bounty", value, b"a benchmark suite")

    @precondition(lambda self: bool(self.bounty_ids()))
    @rule(data=st.data(), anyone=voters, curator=voters, steps=st.integers(1, 6))
    def bounty_steps(
        self, data: st.DataObject, anyone: Keypair, curator: Keypair, steps: int
    ) -> None:
        """A bounty's next few steps, a block each."""
        bounty_id = data.draw(st.sampled_from(self.bounty_ids()), label="bounty")
        for _ in range(steps):
            if bounties.Bounties.get(self.chain.overlay(), bounty_id) is None:
                return
            self.bounty_step(data, bounty_id, anyone, curator)

    def bounty_step(
        self, data: st.DataObject, bounty_id: int, anyone: Keypair, curator: Keypair
    ) -> None:
        """A bounty's next step by whoever takes it (Root approves and names a curator, the
        curator accepts, adds a milestone or awards, anyone claims), or a deviation: a stranger
        takes the curator's step, or Root closes the bounty."""
        bounty = bounties.Bounties.get(self.chain.overlay(), bounty_id)
        assert bounty is not None
        deviation = data.draw(st.integers(0, 9), label="deviation")
        if deviation == 0:
            self.root("bounties", "close_bounty", bounty_id)
            return
        own = keypair_of(bounty.curator) if bounty.curator is not None else curator
        actor = anyone if deviation == 1 else own
        if bounty.status == PROPOSED:
            self.root("bounties", "approve_bounty", bounty_id)
        elif bounty.status == FUNDED:
            self.root("bounties", "propose_curator", bounty_id, curator.public, bounty.value // 10)
        elif bounty.status == CURATOR_PROPOSED:
            error = self.signed(actor, "bounties", "accept_curator", bounty_id)
            if actor != own:
                assert error is not None, "a stranger became a bounty's curator"
        elif bounty.status == ACTIVE:
            if data.draw(st.booleans(), label="milestone"):
                value = bounty.value // 5
                self.signed(actor, "bounties", "add_child_bounty", bounty_id, value, b"milestone")
            else:
                winner = data.draw(voters, label="beneficiary").public
                error = self.signed(actor, "bounties", "award_bounty", bounty_id, winner)
                if actor != own:
                    assert error is not None, "a stranger awarded a bounty"
        else:
            self.signed(anyone, "bounties", "claim_bounty", bounty_id)

    def child_ids(self) -> list[int]:
        state = self.chain.overlay()
        count = bounties.ChildBountyCount.get(state)
        return [i for i in range(count) if bounties.ChildBounties.get(state, i)]

    @precondition(lambda self: bool(self.child_ids()))
    @rule(data=st.data(), anyone=voters, curator=voters, steps=st.integers(1, 5))
    def child_steps(
        self, data: st.DataObject, anyone: Keypair, curator: Keypair, steps: int
    ) -> None:
        """A milestone's next few steps, a block each."""
        child_id = data.draw(st.sampled_from(self.child_ids()), label="child")
        for _ in range(steps):
            if bounties.ChildBounties.get(self.chain.overlay(), child_id) is None:
                return
            self.child_step(data, child_id, anyone, curator)

    def child_step(
        self, data: st.DataObject, child_id: int, anyone: Keypair, curator: Keypair
    ) -> None:
        """A milestone's next step: the parent's curator names its curator, who accepts and
        awards it, anyone claims it; or the parent's curator closes it."""
        child = bounties.ChildBounties.get(self.chain.overlay(), child_id)
        parent = bounties.Bounties.get(self.chain.overlay(), child.parent) if child else None
        assert child is not None and parent is not None and parent.curator is not None
        head = keypair_of(parent.curator)
        own = keypair_of(child.curator) if child.curator is not None else curator
        ids = (child.parent, child_id)
        if data.draw(st.integers(0, 9), label="close") == 0:
            self.signed(head, "bounties", "close_child_bounty", *ids)
        elif child.status == ADDED:
            fee = child.value // 10
            self.signed(head, "bounties", "propose_child_curator", *ids, curator.public, fee)
        elif child.status == CURATOR_PROPOSED:
            self.signed(own, "bounties", "accept_child_curator", *ids)
        elif child.status == ACTIVE:
            winner = data.draw(voters, label="beneficiary").public
            self.signed(own, "bounties", "award_child_bounty", *ids, winner)
        else:
            self.signed(anyone, "bounties", "claim_child_bounty", *ids)

    # Grants

    @rule(data=st.data(), who=voters)
    def close_grant(self, data: st.DataObject, who: Keypair) -> None:
        grant = data.draw(
            st.integers(0, grants.GrantCount.get(self.chain.overlay())), label="grant"
        )
        self.signed(who, "grants", "close", grant)

    # Time

    @rule(blocks=st.integers(1, 8))
    def advance(self, blocks: int) -> None:
        self.chain.advance(blocks)

    @invariant()
    def every_block_holds(self) -> None:
        assert self.chain.problems == []
        assert self.chain.total(TREASURY) >= balances.EXISTENTIAL_DEPOSIT
        assert self.chain.account(ALICE.public) is not None


GovernanceMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestGovernanceMachine = GovernanceMachine.TestCase


def test_the_cross_pallet_checks_name_a_broken_state() -> None:
    """Each cross-pallet check fails on a state broken its way: a freeze above the account's
    total, a deposit held that no referendum owes, a tally that the votes do not add up to."""
    chain = GovernanceChain()
    bob, charlie, dave = (k.public for k in VOTERS[:3])
    outcomes = chain.calls(
        (VOTERS[0], "referenda", "submit", (SMALL, encode("treasury", "spend", UNIT, bob, 0), 0)),
        (VOTERS[1], "referenda", "place_decision_deposit", (0,)),
        (VOTERS[2], "conviction_voting", "vote", (0, 1_000 * UNIT, 0, 0, 3)),
    )
    assert [o.error for o in outcomes] == [None, None, None]
    assert chain.problems == [] and cross_pallet_problems(chain.read, chain.iterate) == []

    def broken(change: Any) -> list[str]:
        state = dict(chain.state)
        overlay = StateOverlay(state.get)
        change(overlay)
        apply_changes(state, overlay.changes())
        return cross_pallet_problems(state.get, prefix_iterator(state))

    total = chain.total(dave)
    found = broken(lambda s: balances.Freezes.insert(s, dave, (("vote", total + 1),)))
    assert found == [f"{dave.hex()[:8]} freezes {total + 1}, above its total {total}"]
    ref = ReferendumInfo.get(chain.overlay(), 0)
    assert ref is not None and ref.ayes == 3_000 * UNIT
    found = broken(lambda s: ReferendumInfo.insert(s, 0, replace(ref, ayes=ref.ayes + 1)))
    assert len(found) == 1 and found[0].startswith("referendum 0's tally")
    found = broken(lambda s: ReferendumInfo.insert(s, 0, replace(ref, decision_deposit=0)))
    assert found == [
        f"{charlie.hex()[:8]} holds {ref.decision_deposit} for referenda, owes 0",
    ]
