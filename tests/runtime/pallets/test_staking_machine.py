"""The staking pallet under random sequences of calls, offline validators and era changes.

A hypothesis state machine bonds, bonds more, unbonds and withdraws, validates with random
commissions and session keys, nominates random targets, chills, takes validators offline and back,
changes commissions in an era's last block, reports equivocations of both kinds, has an
offender and its nominators chill and unbond before their offence is reported eras later, notes
finality votes, changes the parameters as Root, and lets blocks and eras pass. After every block
it checks:

- every pallet's invariants (staking's: holds equal ledgers, exposures sum to their totals and
  match session's set, session keys map one to one), and total issuance against all balances;
- that every change of total issuance is explained by the block's events: deposits minted,
  fees withdrawn, slashes and dust burned;
- that no validator earned more than one noted precommit per window of NOTE_VOTES_EVERY blocks
  this era, whatever rounds were noted (made-up ones with huge numbers included);
- that an era's rewards are at most `era_reward` and are what its `EraPaid` says;
- at an election: the new validators were candidates when the block began, there are at most
  `validator_count` of them, and the set id moved exactly when session's set changed; each winner
  is backed by its own active bond and each nominator's bond is split over the winners it named,
  adding up to that bond and never more (sequential Phragmén counts no stake twice); and no
  winner's commission is above what it asked for at least `era_blocks` blocks before.

Adversarial steps: a candidate raises its commission and at once a sybil's equivocation is
reported, forcing the era to end at the next block (the raise still waits a whole era's blocks);
an offender dodging its report forces eras to end through such reports (its offence stays
reportable `slash_window_eras` eras' worth of blocks after its era's end, and an unbonded chunk
never unlocks within `bonding_eras - 1` eras' worth of blocks); and a note of the previous set
for a recent block (it counts only if the block is no later than the handover block).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, rule

from chain.client.chain import make_call
from runtime.block import Block
from runtime.executive import BlockBuilder, BlockResult, InvalidTransaction
from runtime.pallets import session, staking, system
from runtime.pallets.staking import history
from runtime.primitives.keys import Keypair
from tests.runtime.pallets.market_helpers import UNIT, hook_events
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    NINA,
    NOEL,
    OUTSIDER,
    PARAMS,
    PPM,
    REPORTER,
    SESSION_KEYS,
    StakingChain,
    keypair_of,
    precommit,
    slot_equivocation,
    staking_config,
    vote_equivocation,
)

STASHES = (ALICE, BOB, CHARLIE, DAVE, EVE, NINA, NOEL)
AMOUNTS = [0, 5 * UNIT, 10 * UNIT, 100 * UNIT, 500 * UNIT, 1_500 * UNIT, 3_000 * UNIT]
COMMISSIONS = [0, 50_000, PPM, PPM + 1]
KEYS: list[bytes | None] = [None, None, *(k.public for k in SESSION_KEYS), ALICE.public]
FEE_RESERVE = UNIT // 10
Snapshot = dict[str, Any]


class WatchedChain(StakingChain):
    """A staking chain that snapshots the state before each block and checks each block after."""

    def __init__(self, check: Callable[[Snapshot, BlockResult], None]) -> None:
        super().__init__(staking_config(PARAMS))
        self.check = check
        self.before: Snapshot = {}

    def builder(self) -> BlockBuilder:
        self.before = {
            "issuance": self.issuance(),
            "candidates": set(self.candidates()),
            "active": set(self.active()),
            "authorities": self.authorities(),
            "params": self.params(),
            "ledgers": {who: self.ledger(who) for who in (k.public for k in STASHES)},
            "nominations": {n: self.nominations(n) for n in self.nominators()},
            "era": self.era(),
            "number": self.head.number + 1,
            "eligible": len(
                [
                    c
                    for c in self.candidates()
                    if (ledger := self.ledger(c)) is not None
                    and ledger.active >= self.params().min_validator_bond
                    and staking.SessionKeys.get(self.overlay(), c) is not None
                ]
            ),
        }
        return super().builder()

    def seal(self, builder: BlockBuilder) -> tuple[Block, BlockResult]:
        block, result = super().seal(builder)
        self.check(self.before, result)
        return block, result

    def nominations(self, who: bytes) -> tuple[bytes, ...]:
        return staking.Nominations.get(self.overlay(), who) or ()


class StakingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = WatchedChain(self.after_block)
        self.round = 0
        self.eras = 0
        self.commissions: dict[bytes, list[tuple[int, int]]] = {
            v.public: [(-(10**9), 0)] for v in (ALICE, BOB, CHARLIE)
        }
        """The commissions each stash asked for, with the block from which its notice allows it
        (the asking block plus the era's length then)."""
        self.era_ends: dict[int, int] = {}
        """The block that ended each era."""

    # Acting

    def act(self, calls: Sequence[tuple[Keypair, str, tuple[Any, ...]]]) -> BlockResult:
        """Make staking calls in one block; signers that cannot pay their fee do not act."""
        builder = self.chain.builder()
        for keypair, name, args in calls:
            if self.chain.balance(keypair) < FEE_RESERVE:
                continue
            nonce = system.nonce_of(builder.context, keypair.public)
            tx = self.chain.sign(keypair, make_call("staking", name, *args), nonce=nonce)
            try:
                ok = builder.push(tx)
            except InvalidTransaction as exc:
                assert exc.kind == "payment", exc
                continue
            if currently_in_test_context():
                failed = [r for r in builder.context.events if r.event is system.ExtrinsicFailed]
                event(f"{name}: {'ok' if ok else failed[-1].args[1]}")
        return self.chain.seal(builder)[1]

    @rule(who=st.sampled_from(STASHES), amount=st.sampled_from(AMOUNTS))
    def bond(self, who: Keypair, amount: int) -> None:
        self.act([(who, "bond", (amount,))])

    @rule(who=st.sampled_from(STASHES), amount=st.sampled_from(AMOUNTS))
    def bond_extra(self, who: Keypair, amount: int) -> None:
        self.act([(who, "bond_extra", (amount,))])

    @rule(who=st.sampled_from(STASHES), share=st.sampled_from([0, 1, 2, 4]))
    def unbond(self, who: Keypair, share: int) -> None:
        """Unbond all, half, a quarter of the active bond, or a little over all of it."""
        ledger = self.chain.ledger(who)
        active = 0 if ledger is None else ledger.active
        amount = active + 1 if share == 0 else active // share
        self.act([(who, "unbond", (amount,))])

    @rule(who=st.sampled_from(STASHES))
    def withdraw(self, who: Keypair) -> None:
        self.act([(who, "withdraw_unbonded", ())])

    @rule(
        who=st.sampled_from(STASHES),
        commission=st.sampled_from(COMMISSIONS),
        key=st.sampled_from(KEYS),
    )
    def validate(self, who: Keypair, commission: int, key: bytes | None) -> None:
        self.act([(who, "validate", (commission, key))])

    @rule(
        who=st.sampled_from(STASHES),
        picks=st.lists(st.integers(0, 9), max_size=5),
        anyone=st.booleans(),
    )
    def nominate(self, who: Keypair, picks: list[int], anyone: bool) -> None:
        """Nominate candidates (or, now and then, any stash: refused unless a candidate)."""
        pool = [k.public for k in STASHES] if anyone else list(self.chain.candidates())
        chosen = [pool[i % len(pool)] for i in picks] if pool else []
        if not anyone:
            chosen = sorted(set(chosen))
        self.act([(who, "nominate", (chosen,))])

    @rule(who=st.sampled_from(STASHES), commission=st.sampled_from(COMMISSIONS))
    def raise_commission_at_era_end(self, who: Keypair, commission: int) -> None:
        """Change the commission in the last block of the era (a raise must wait for its era)."""
        number = self.chain.head.number + 1
        while (number + 1) % self.chain.params().era_blocks:
            number += 1
        if number > self.chain.head.number + 1:
            self.chain.advance_to(number - 1)
        key = staking.SessionKeys.get(self.chain.overlay(), who.public)
        self.act([(who, "validate", (commission, key))])
        self.chain.to_era_end()

    @rule(
        who=st.sampled_from(STASHES),
        commission=st.sampled_from(COMMISSIONS),
        index=st.integers(0, 5),
    )
    def raise_then_force_era_end(self, who: Keypair, commission: int, index: int) -> None:
        """Change the commission, then have another validator's equivocation reported at once
        (a sybil's), so that the era ends at the next block: a raise must still wait a whole
        era's blocks, however many eras end meanwhile."""
        key = staking.SessionKeys.get(self.chain.overlay(), who.public)
        self.act([(who, "validate", (commission, key))])
        self.force_era_end(index, spare=who.public)
        self.chain.advance()

    def force_era_end(self, index: int, spare: bytes) -> None:
        """Report an equivocation of an active validator other than stash `spare` in the current
        set, which ends the era at the next block (if the report is accepted)."""
        chain = self.chain
        keys = [
            k for k in chain.authorities().keys if staking.stash_of(chain.overlay(), k) != spare
        ]
        if not keys:
            return
        sybil = keypair_of(keys[index % len(keys)])
        proof = vote_equivocation(sybil, set_id=chain.authorities().set_id, round_=index)
        self.act([(REPORTER, "report_equivocation", (proof,))])

    @rule(voters=st.sets(st.integers(0, 5), min_size=1), back=st.integers(0, 12))
    def note_previous_set(self, voters: set[int], back: int) -> None:
        """Note a made-up round of the set before the current one for a recent block: it counts
        only if the block is no later than the handover block, the last that set finalized."""
        chain = self.chain
        set_id = chain.authorities().set_id
        previous = session.HistoricalSets.get(chain.overlay(), set_id - 1) if set_id else None
        if previous is None:
            return
        self.round += 1
        round_ = 2**62 + self.round
        number = max(0, chain.head.number - back)
        keys = sorted({previous[i % len(previous)][0] for i in voters})
        signed = [
            chain.precommit(keypair_of(k), number, set_id=set_id - 1, round_=round_) for k in keys
        ]
        handover = session.set_changed_at(chain.overlay())
        result = self.act([(OUTSIDER, "note_votes", (set_id - 1, round_, signed))])
        noted = [
            r.args
            for r in result.context.events
            if r.event.name == "VotesNoted" and r.args[0] == set_id - 1
        ]
        assert not noted or number <= handover, (number, handover)

    @rule(who=st.sampled_from(STASHES))
    def chill(self, who: Keypair) -> None:
        self.act([(who, "chill", ())])

    @rule(index=st.integers(0, 5), offline=st.booleans())
    def toggle_offline(self, index: int, offline: bool) -> None:
        keys = self.chain.authorities().keys
        key = keys[index % len(keys)]
        if offline:
            self.chain.offline.add(key)
        else:
            self.chain.offline.discard(key)

    @rule(blocks=st.integers(1, 4))
    def advance(self, blocks: int) -> None:
        self.chain.advance(blocks)

    @rule()
    def to_era_end(self) -> None:
        self.chain.to_era_end()

    @rule(index=st.integers(0, 5), kind=st.sampled_from(["vote", "slot"]), when=st.integers(0, 3))
    def report(self, index: int, kind: str, when: int) -> None:
        keys = self.chain.authorities().keys
        offender = keypair_of(keys[index % len(keys)])
        if kind == "vote":
            proof = vote_equivocation(offender, set_id=self.chain.authorities().set_id, round_=when)
        else:  # a slot of the current era: its author's in the current set
            slot = self.chain.head.digest.slot + 1 + index
            proof = slot_equivocation(keypair_of(keys[slot % len(keys)]), slot=slot)
        self.act([(REPORTER, "report_equivocation", (proof,))])

    @rule(wait=st.integers(0, 2), forced=st.booleans(), index=st.integers(0, 5))
    def offender_dodges(self, wait: int, forced: bool, index: int) -> None:
        """The last block's author also sealed another block for its slot; it and its nominators
        chill and unbond all they can, `wait` eras end (`forced`: each at once, by reporting a
        sybil validator), and then the offence is reported. Within the window (a window of
        blocks after the offence era's end) each loses its share of the offence era's exposure,
        as far as its ledger still holds it; after the window the report is refused and nobody
        loses anything."""
        chain = self.chain
        if chain.balance(REPORTER) < FEE_RESERVE:
            return  # nobody could pay for the report
        for _ in range(3):  # past an era's first block (a boundary's slot is the era before's)
            start = history.Eras.get(chain.overlay(), chain.era())
            if start is None or chain.head.digest.slot > start.start_slot:
                break
            chain.advance(1)
        slot, key = chain.head.digest.slot, chain.head.digest.author
        stash = staking.stash_of(chain.overlay(), key)
        exposure = None if stash is None else chain.exposure(stash)
        if stash is None or exposure is None:
            return
        era, ppm = chain.era(), chain.params().equivocation_slash_ppm
        due = {stash: exposure.own * ppm // PPM}
        due.update((who, amount * ppm // PPM) for who, amount in exposure.others)
        calls = []
        for who in due:
            ledger = chain.ledger(who)
            calls.append((keypair_of(who), "chill", ()))
            if ledger is not None and ledger.active:
                calls.append((keypair_of(who), "unbond", (ledger.active,)))
        self.act(calls)
        for _ in range(wait):
            if forced:
                self.force_era_end(index, spare=stash)
                chain.advance()
            else:
                chain.to_era_end()
        held = {who: getattr(chain.ledger(who), "total", 0) for who in due}
        # At most one slash an era: already reported (by another step) if so.
        punished = bool(history.ErasPunished.get(chain.overlay(), (era, stash)))
        proof = slot_equivocation(keypair_of(key), slot=slot)
        self.act([(REPORTER, "report_equivocation", (proof,))])
        p, ended = chain.params(), self.era_ends.get(era)
        expired = (
            ended is not None and chain.head.number >= ended + p.slash_window_eras * p.era_blocks
        )
        refused = punished or expired
        for who, share in due.items():
            lost = held[who] - getattr(chain.ledger(who), "total", 0)
            assert lost == (0 if refused else min(share, held[who])), (who.hex(), lost)
        if currently_in_test_context():
            event(f"offender dodges: {'refused' if refused else 'slashed'}")

    @rule(
        voters=st.sets(st.integers(0, 5), min_size=1),
        repeat=st.booleans(),
        back=st.integers(0, 12),
        made_up=st.booleans(),
    )
    def note_votes(self, voters: set[int], repeat: bool, back: int, made_up: bool) -> None:
        """Note a round's precommits for a recent block, or (made up) for a round number far
        ahead and, every other time, a block the chain never had."""
        authorities = self.chain.authorities()
        if not repeat:
            self.round += 1
        round_ = 2**63 + self.round if made_up else self.round
        number = max(0, self.chain.head.number - back)
        keys = sorted({authorities.keys[i % len(authorities.keys)] for i in voters})
        if made_up and back % 2:
            signed = [
                precommit(keypair_of(k), set_id=authorities.set_id, round_=round_) for k in keys
            ]
        else:
            signed = [
                self.chain.precommit(
                    keypair_of(k), number, set_id=authorities.set_id, round_=round_
                )
                for k in keys
            ]
        self.act([(OUTSIDER, "note_votes", (authorities.set_id, round_, signed))])

    @rule(
        era_blocks=st.sampled_from([4, 10, 13]),
        validator_count=st.integers(1, 4),
        min_validators=st.integers(1, 3),
        reward=st.sampled_from([0, 7, 1_000 * UNIT]),
    )
    def set_params(
        self, era_blocks: int, validator_count: int, min_validators: int, reward: int
    ) -> None:
        p = replace(
            self.chain.params(),
            era_blocks=era_blocks,
            validator_count=validator_count,
            min_validators=min_validators,
            era_reward=reward,
        )
        args = tuple(getattr(p, f) for f in staking.StakingParams.__dataclass_fields__)
        error = self.chain.root_call("staking", "set_params", *args)
        assert (error is None) == (min_validators <= validator_count)

    # Checking

    def after_block(self, before: Snapshot, result: BlockResult) -> None:
        chain = self.chain
        assert chain.problems() == []
        # At most one precommit point per window of blocks, from the window before the era on.
        every = staking.NOTE_VOTES_EVERY
        era_start = staking.EraStart.get(chain.overlay())
        windows = (chain.head.number - 1) // every - max(0, era_start - every) // every + 1
        assert all(chain.activity(stash).precommits <= windows for stash in chain.active())
        events = [(r.event.pallet, r.event.name, r.args) for r in result.context.events]

        def total(pallet: str, name: str, field: int) -> int:
            return sum(args[field] for p, n, args in events if (p, n) == (pallet, name))

        minted = total("balances", "Deposited", 1)
        burned = (
            total("balances", "DustLost", 1)
            + total("balances", "Slashed", 2)
            + total("transaction_payment", "TransactionFeePaid", 1)
        )
        assert chain.issuance() == before["issuance"] + minted - burned
        asked = {a[0]: a[1] for p, n, a in events if (p, n) == ("staking", "ValidatorPrefsSet")}
        raised = {
            a[0]: a[1] for p, n, a in events if (p, n) == ("staking", "CommissionRaisePending")
        }
        notice = before["number"] + before["params"].era_blocks
        for stash, commission in (asked | raised).items():
            self.commissions.setdefault(stash, []).append((notice, commission))
        # An unbonded chunk unlocks at an era boundary at least bonding_eras - 1 eras' worth of
        # blocks on, however many eras are forced to end meanwhile.
        p = before["params"]
        for pallet, name, args in events:
            if (pallet, name) == ("staking", "Unbonded"):
                unlocks_at = args[2]
                assert unlocks_at % p.era_blocks == 0
                assert unlocks_at > before["number"] + (p.bonding_eras - 1) * p.era_blocks
        paid = [args for p, n, args in events if (p, n) == ("staking", "EraPaid")]
        rewarded = total("staking", "Rewarded", 1)
        if paid:
            ((_, era_minted),) = paid
            assert rewarded == era_minted <= before["params"].era_reward
            self.era_ends[before["era"]] = chain.head.number
            self.eras += 1
            active = set(chain.active())
            if active != before["active"]:  # elected, not kept
                assert active <= before["candidates"]
                assert len(active) <= before["params"].validator_count
            if before["eligible"] >= before["params"].min_validators:
                self.check_exposures(before, result)
            changed = chain.authorities().authorities != before["authorities"].authorities
            bumped = chain.authorities().set_id == before["authorities"].set_id + 1
            assert changed == bumped
            assert bool([e for e in events if e[:2] == ("session", "NewAuthorities")]) == changed
            if currently_in_test_context():
                event(f"era ends: {'a new set' if changed else 'the set unchanged'}")
        else:
            assert rewarded == 0
            assert chain.authorities().set_id == before["authorities"].set_id

    def check_exposures(self, before: Snapshot, result: BlockResult) -> None:
        """At an election: each winner is backed by its whole active bond, and each nominator's
        shares add up to its active bond if it named a winner (nothing otherwise), never more.

        The bonds are those the election saw: before the block, less the era end's offline
        slashes (taken from the active bond first)."""
        chain, p = self.chain, before["params"]
        slashed = {
            args[0]: args[1] for name, args in hook_events(result, "staking") if name == "Slashed"
        }
        ledgers = {
            who: None if ledger is None else ledger.slashed(slashed.get(who, 0))
            for who, ledger in before["ledgers"].items()
        }
        exposures = {stash: chain.exposure(stash) for stash in chain.active()}
        backed: dict[bytes, int] = {}
        for stash, exposure in exposures.items():
            assert exposure is not None
            assert exposure.own == ledgers[stash].active
            # A commission asked for less than a whole era's blocks ago applies only if it is no
            # raise, whatever eras were forced to end meanwhile.
            old_enough = [c for due, c in self.commissions[stash] if due <= chain.head.number]
            assert not old_enough or exposure.commission_ppm <= max(old_enough)
            for nominator, amount in exposure.others:
                backed[nominator] = backed.get(nominator, 0) + amount
        for nominator, targets in before["nominations"].items():
            ledger = ledgers[nominator]
            counted = ledger is not None and ledger.active >= max(p.min_nominator_bond, 1)
            named_a_winner = counted and bool(set(targets) & set(exposures))
            assert backed.pop(nominator, 0) == (ledger.active if named_a_winner else 0)
        assert backed == {}


StakingMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStakingMachine = StakingMachine.TestCase


def test_the_machine_sees_elections_rewards_slashes_and_unbonding() -> None:
    """A fixed run through every kind of step, checked as above."""
    machine = StakingMachine()
    chain = machine.chain
    machine.bond(DAVE, 1_500 * UNIT)
    machine.validate(DAVE, 50_000, SESSION_KEYS[0].public)
    machine.bond(NINA, 500 * UNIT)
    machine.nominate(NINA, [0, 1], anyone=False)
    machine.to_era_end()
    assert SESSION_KEYS[0].public in chain.authorities().keys
    machine.toggle_offline(0, True)
    machine.note_votes({0, 1, 2}, repeat=False, back=0, made_up=False)
    machine.note_votes({0, 1}, repeat=False, back=1, made_up=True)
    machine.to_era_end()
    machine.report(1, "vote", 1)
    machine.advance(1)
    machine.unbond(NINA, 2)
    machine.chill(EVE)
    machine.report(0, "slot", 2)
    for _ in range(3):
        machine.to_era_end()
    machine.withdraw(NINA)
    machine.set_params(4, 2, 1, 7)
    machine.to_era_end()
    assert machine.eras >= 6
    ledger = chain.ledger(NINA)
    assert ledger is not None and ledger.unlocking == ()
