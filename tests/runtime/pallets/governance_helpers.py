"""A dev chain for the state machine over all of governance, and the cross-pallet checks it
makes after every block.

`GovernanceChain` is a chain of real blocks (signed transactions through the executive, Root
calls through sudo) with the fast tracks, short treasury and staking periods, Alice as author and
sudo key, and five voters of 1,000,000 XPL. `cross_pallet_problems` states what no single pallet's
invariants see whole, recounted here from the raw records rather than from the pallets' own sums:

- every account's largest freeze is at most its total balance;
- every account's "referenda" hold is the deposits its referenda still hold, and its "bounties"
  hold the bonds and curator deposits its bounties still hold;
- the total issuance is the sum of the accounts' balances, and it moved in the block by exactly
  what the block's events minted and burned (fees, era inflation, treasury burns, slashes, dust);
- the treasury's balance moved by its ledger's income less its announced payments and burns, and
  it paid nothing it did not announce;
- every ongoing referendum's stored tally is a recount of the voting records: each account's own
  votes and, for a standard vote, what its delegators (found from their records) delegate.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any, Final

from runtime import dispatch
from runtime.accounts import TREASURY
from runtime.block import Block
from runtime.executive import BlockBuilder, BlockResult
from runtime.genesis import GenesisConfig
from runtime.invariants import check_invariants
from runtime.pallets import balances, system
from runtime.pallets.bounties.params import HOLD as BOUNTIES_HOLD
from runtime.pallets.bounties.storage import CURATED, PROPOSED, Bounties, ChildBounties
from runtime.pallets.conviction_voting.records import conviction_votes
from runtime.pallets.conviction_voting.storage import VotingFor, voting_key_parts
from runtime.pallets.governance.tally import Tally
from runtime.pallets.referenda import ReferendumInfo, fast_tracks
from runtime.pallets.referenda.constants import HOLD as REFERENDA_HOLD
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.treasury import DEFAULT_TREASURY_PARAMS
from runtime.pallets.treasury.storage import Ledger, Ledgers
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.state import StateOverlay
from sim.invariants import block_events, figures_of, treasury_outflows
from tests.runtime.conftest import SLOT_MS, TEST_STAKING, VALIDATOR_BOND, prefix_iterator
from tests.runtime.pallets.market_helpers import MarketChain, Outcome

UNIT: Final = 10**12
ALICE: Final = dev_keypair("Alice")
"""The author, the validator and the sudo key."""
VOTERS: Final = tuple(dev_keypair(n) for n in ("Bob", "Charlie", "Dave", "Eve", "Ferdie"))
ENDOWMENT: Final = 1_000_000 * UNIT
TREASURY_FUNDS: Final = 2_000_000 * UNIT
ERA_BLOCKS: Final = 12
TREASURY_PARAMS: Final = replace(
    DEFAULT_TREASURY_PARAMS,
    spend_period=9,
    burn_ppm=20_000,
    payout_period=30,
    inflation_share_ppm=250_000,
)


def governance_config() -> GenesisConfig:
    """The genesis: fast tracks, a treasury that burns every 9 blocks, eras of 12 blocks."""
    endowed = [(k.public, ENDOWMENT) for k in (ALICE, *VOTERS)]
    return GenesisConfig(
        validators=(GenesisValidator(ALICE.public, VALIDATOR_BOND),),
        slot_duration_ms=SLOT_MS,
        balances=(*endowed, (TREASURY, TREASURY_FUNDS)),
        staking=replace(TEST_STAKING, era_blocks=ERA_BLOCKS),
        tracks=fast_tracks(),
        sudo=ALICE.public,
        treasury=TREASURY_PARAMS,
    )


class GovernanceChain(MarketChain):
    """Real blocks of governance calls; every block sealed is checked (`problems` collects what
    broke, `seen` counts the events of interest)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: Counter[str] = Counter()
        super().__init__(governance_config(), ALICE)
        self._issuance = self.issuance()
        self._treasury = self.total(TREASURY)
        self._ledger = Ledgers.get(self.overlay())

    def seal(self, builder: BlockBuilder) -> tuple[Block, BlockResult]:
        block, result = super().seal(builder)
        self._check(block.header.number)
        return block, result

    def _check(self, number: int) -> None:
        problems = check_invariants(self.read, prefix_iterator(self.state))
        events = block_events(self.read)
        issuance, treasury = self.issuance(), self.total(TREASURY)
        ledger = Ledgers.get(self.overlay())
        problems += cross_pallet_problems(self.read, self.iterate)
        figures = figures_of(events, issuance)
        if issuance - self._issuance != figures.minted - figures.burned:
            problems.append(
                f"issuance moved {issuance - self._issuance:+}, the events minted "
                f"{figures.minted} and burned {figures.burned}"
            )
        problems += treasury_outflows(events)
        problems += _treasury_moves(events, self._ledger, ledger, treasury - self._treasury)
        self._issuance, self._treasury, self._ledger = issuance, treasury, ledger
        for e in events:
            self.seen[f"{e.pallet}.{e.name}"] += 1
            if (e.pallet, e.name) == ("scheduler", "Dispatched"):
                self.seen[f"enacted {e.data['call']} {'ok' if e.data['ok'] else 'failed'}"] += 1
        self.problems += [f"block {number}: {p}" for p in problems]

    def nonce(self, who: bytes) -> int:
        """The account's next nonce (a reaped account's is the one it was reaped with)."""
        return system.nonce_of_state(self.overlay(), who)

    def sudo(self, pallet: str, name: str, *args: Any) -> Outcome:
        """Dispatch a call as Root through Alice's sudo key, alone in a new block."""
        return self.call(ALICE, "sudo", "sudo", dispatch.encode_call(pallet, name, args))

    def sudid(self, outcome: Outcome) -> str | None:
        """The error of the call a sudo outcome dispatched (None: it ran)."""
        assert outcome.error is None, outcome.error
        for name, args in outcome.events:
            if name == "Sudid":
                return None if args[1] else str(args[2])
        raise AssertionError("no Sudid event")

    def frozen(self, who: bytes) -> int:
        return max((a for _, a in balances.freezes(self.overlay(), who)), default=0)


def _treasury_moves(events: list[Any], before: Ledger, after: Ledger, moved: int) -> list[str]:
    """The treasury's balance moved by its ledger's income less outflows, and its ledger's
    outflows grew by exactly the payments and burns its events announced."""
    announced = sum(
        e.data["amount"]
        for e in events
        if e.pallet == "treasury" and e.name in ("PaidOut", "Burnt")
    )
    problems = []
    outflows = after.outflows() - before.outflows()
    if outflows != announced:
        problems.append(f"the treasury's ledger records {outflows} out, its events {announced}")
    income = after.income() - before.income()
    if moved != income - outflows:
        problems.append(f"the treasury's balance moved {moved:+}, its ledger {income - outflows:+}")
    if min(income, outflows) < 0:
        problems.append("the treasury's ledger went back")
    return problems


def cross_pallet_problems(read: Any, iterate: Any) -> list[str]:
    """What is wrong across governance's pallets in a committed state (empty: nothing)."""
    state = StateOverlay(read)
    accounts = dict(system.accounts_in(iterate))
    problems = []
    # Locks never exceed balances.
    for key, raw in iterate(balances.Freezes.prefix):
        who = balances.Freezes.key_suffix(key)
        largest = max((a for _, a in balances.Freezes.decode(raw)), default=0)
        total = accounts[who].total if who in accounts else 0
        if largest > total:
            problems.append(f"{who.hex()[:8]} freezes {largest}, above its total {total}")
    # Deposits held equal deposits owed.
    owed: dict[str, Counter[bytes]] = {REFERENDA_HOLD: Counter(), BOUNTIES_HOLD: Counter()}
    referenda = {
        int.from_bytes(ReferendumInfo.key_suffix(k), "big"): ReferendumInfo.decode_at(k, v)
        for k, v in iterate(ReferendumInfo.prefix)
    }
    for ref in referenda.values():
        owed[REFERENDA_HOLD][ref.submitter] += ref.submission_deposit
        if ref.decision_depositor is not None:
            owed[REFERENDA_HOLD][ref.decision_depositor] += ref.decision_deposit
    for k, v in iterate(Bounties.prefix):
        bounty = Bounties.decode_at(k, v)
        if bounty.status == PROPOSED:
            owed[BOUNTIES_HOLD][bounty.proposer] += bounty.bond
        elif bounty.status in CURATED and bounty.curator is not None:
            owed[BOUNTIES_HOLD][bounty.curator] += bounty.curator_deposit
    for k, v in iterate(ChildBounties.prefix):
        child = ChildBounties.decode_at(k, v)
        if child.status in CURATED and child.curator is not None:
            owed[BOUNTIES_HOLD][child.curator] += child.curator_deposit
    for reason, debts in owed.items():
        for who in set(debts) | set(accounts):
            held = accounts[who].held(reason) if who in accounts else 0
            if held != debts[who]:
                problems.append(f"{who.hex()[:8]} holds {held} for {reason}, owes {debts[who]}")
    # Total issuance is the sum of the accounts.
    total = sum(info.total for info in accounts.values())
    if total != balances.TotalIssuance.get(state):
        problems.append(
            f"accounts sum to {total}, the issuance is {balances.TotalIssuance.get(state)}"
        )
    problems += _tally_problems(iterate, referenda)
    return problems


def _tally_problems(iterate: Any, referenda: dict[int, Any]) -> list[str]:
    """Every ongoing referendum's tally against a recount from the voting records, delegations
    found from the delegators' own records."""
    records = {
        voting_key_parts(VotingFor.key_suffix(k)): VotingFor.decode_at(k, v)
        for k, v in iterate(VotingFor.prefix)
    }
    delegators: dict[tuple[bytes, int], list[tuple[int, int]]] = defaultdict(list)
    for (_, cls), voting in records.items():
        if voting.delegating is not None:
            d = voting.delegating
            delegators[(d.target, cls)].append((d.conviction, d.balance))
    counted: dict[int, Tally] = defaultdict(Tally)
    for (who, cls), voting in records.items():
        for poll, vote in voting.votes:
            t = counted[poll]
            standard = vote.abstain == 0 and (vote.aye == 0) != (vote.nay == 0)
            if not standard:
                t = Tally(
                    t.ayes + vote.aye // 10,
                    t.nays + vote.nay // 10,
                    t.support + vote.aye + vote.abstain,
                )
            else:
                capital = vote.aye + vote.nay
                votes = conviction_votes(vote.conviction, capital)
                support = capital if vote.aye else 0
                for conviction, amount in delegators.get((who, cls), ()):
                    votes += conviction_votes(conviction, amount)
                    support += amount if vote.aye else 0
                if vote.aye:
                    t = Tally(t.ayes + votes, t.nays, t.support + support)
                else:
                    t = Tally(t.ayes, t.nays + votes, t.support)
            counted[poll] = t
    problems = []
    for index, ref in referenda.items():
        if ref.ongoing and ref.tally != counted.get(index, Tally()):
            problems.append(
                f"referendum {index}'s tally {tuple(ref.tally)}, recounted "
                f"{tuple(counted.get(index, Tally()))}"
            )
    return problems


def keypair_of(who: bytes) -> Keypair:
    """The dev keypair of an account of this chain."""
    return next(k for k in (ALICE, *VOTERS) if k.public == who)
