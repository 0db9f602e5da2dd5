"""A genesis state full of governance: open referenda and conviction votes, made by the pallets.

The block-import benchmark compares importing transfers on a plain genesis with importing them
on one that also holds `referenda` open referenda and `votes` votes (see `import_bench`). This
module builds the second: on a BlockContext over the plain genesis, as block 0, it dispatches
the pallets' own calls (`referenda.submit`, `place_decision_deposit`, `conviction_voting.vote`
and `delegate`) as signed by the benchmark's accounts, so that every record, hold, freeze,
queue, tally and alarm is what the chain itself would have written.

- The tracks are the defaults with no prepare period, so that a referendum with its decision
  deposit decides at once while its track has a place, and queues (at most MAX_QUEUED a track)
  when not (the rest wait outside a full queue): the genesis holds deciding, queued, preparing
  and submitted referenda (and confirming ones where the votes make one pass).
- Votes come from many accounts, each voting on distinct referenda (amounts and convictions
  vary; some split and abstain); one account in DELEGATOR_EVERY delegates every class to its
  neighbour instead of voting, so that delegated power rides on the neighbour's votes.
- Alarms fall where the referenda's rules put them (a decision's end, the block the curves let
  it pass, a confirmation's end, a time-out: days to weeks away). So that the imported blocks
  service alarms too, `due` of the referenda get an alarm at one of the first DUE_WINDOW
  blocks, spread evenly (servicing a referendum early does what `nudge` does: it is brought up
  to date and its alarm set again where its rules put it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from runtime import dispatch
from runtime.framework import BlockContext, Origin
from runtime.pallets.governance.tracks import DEFAULT_TRACKS, TrackInfo
from runtime.pallets.referenda import ReferendumInfo, alarms, lifecycle
from runtime.pallets.referenda.storage import STATE_NAMES
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import StateOverlay

UNIT = 10**12
DELEGATOR_EVERY = 20
"""One account in this many delegates every class to the account before it, and votes on none."""
DUE_WINDOW = 64
"""The first blocks after genesis among which the `due` alarms are spread."""
SPEND = 100 * UNIT
"""What each referendum's proposal (a treasury spend) asks for: within every track's maximum."""
MAX_VOTES_PER_ACCOUNT = 90
"""Fewer than conviction voting's default `max_votes` (100 per class)."""


def bench_tracks() -> tuple[TrackInfo, ...]:
    """The default tracks without a prepare period (deciding starts with the decision deposit)."""
    return tuple(replace(t, prepare_period=0) for t in DEFAULT_TRACKS)


@dataclass(frozen=True)
class GovernanceSetup:
    """What the governance genesis holds: referenda by state, votes, delegations, early alarms."""

    referenda: int
    votes: int
    delegations: int
    due: int
    states: dict[str, int]

    def describe(self) -> str:
        """One line for the benchmark's progress."""
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.states.items()))
        return (
            f"{self.referenda} referenda ({states}), {self.votes} votes, "
            f"{self.delegations} delegations, {self.due} alarms due in the first "
            f"{DUE_WINDOW} blocks"
        )


def _call(ctx: BlockContext, who: bytes, pallet: str, name: str, *args: object) -> None:
    dispatch.dispatch(ctx, Origin(signer=who), dispatch.encode_call(pallet, name, args))
    ctx.events.clear()


def populate_governance(
    genesis: dict[bytes, bytes],
    accounts: Sequence[bytes],
    *,
    referenda: int,
    votes: int,
    due: int | None = None,
) -> tuple[dict[bytes, bytes], GovernanceSetup]:
    """`genesis` with `referenda` open referenda and `votes` votes by `accounts` added through
    the pallets' calls (the genesis must use `bench_tracks()`); returns the new state and what it
    holds. `due` (default a tenth of the referenda) get an alarm in the first DUE_WINDOW blocks.
    Raises ValueError when the accounts cannot cast that many votes on that many referenda."""
    voters = [a for i, a in enumerate(accounts) if i % DELEGATOR_EVERY != DELEGATOR_EVERY - 1]
    delegators = [
        (a, accounts[i - 1])
        for i, a in enumerate(accounts)
        if i % DELEGATOR_EVERY == DELEGATOR_EVERY - 1
    ]
    per_voter = min(referenda, MAX_VOTES_PER_ACCOUNT)
    if referenda < 1 or votes < 0 or votes > len(voters) * per_voter:
        raise ValueError(
            f"{len(voters)} voting accounts cannot cast {votes} votes on {referenda} referenda "
            f"(at most {per_voter} each)"
        )
    due = referenda // 10 if due is None else min(due, referenda)
    ctx = BlockContext(
        state=StateOverlay(genesis.get),
        number=0,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=accounts[0],
        genesis_hash=ZERO_HASH,
    )
    tracks = len(DEFAULT_TRACKS)
    for index in range(referenda):
        submitter = accounts[index % len(accounts)]
        proposal = dispatch.encode_call("treasury", "spend", (SPEND, submitter, 0))
        _call(ctx, submitter, "referenda", "submit", index % tracks, proposal, 0)
        if index % 10 != 9:  # one in ten waits for its decision deposit
            depositor = accounts[(index * 7 + 3) % len(accounts)]
            _call(ctx, depositor, "referenda", "place_decision_deposit", index)
    for v in range(votes):
        who = voters[v % len(voters)]
        k = v // len(voters)
        poll = (v % len(voters) * 37 + k) % referenda
        amount = (1 + (v * 7919) % 1000) * UNIT
        if v % 50 == 0:  # split
            _call(ctx, who, "conviction_voting", "vote", poll, amount, amount // 2, 0, 0)
        elif v % 50 == 1:  # abstain
            _call(ctx, who, "conviction_voting", "vote", poll, 0, 0, amount, 0)
        else:
            aye = v % 3 != 0
            conviction = v % 7
            ayes, nays = (amount, 0) if aye else (0, amount)
            _call(ctx, who, "conviction_voting", "vote", poll, ayes, nays, 0, conviction)
    delegations = 0
    for i, (who, to) in enumerate(delegators):
        for cls in range(tracks):
            _call(ctx, who, "conviction_voting", "delegate", cls, to, 1 + i % 6, 1_000 * UNIT)
            delegations += 1
    states: Counter[str] = Counter()
    early = 0
    for index in range(referenda):
        ref = ReferendumInfo.get(ctx.state, index)
        assert ref is not None
        if ref.ongoing and early < due and index % max(1, referenda // due) == 0:
            ref = alarms.set_alarm(ctx, index, ref, 1 + early % DUE_WINDOW)
            lifecycle.store(ctx.state, index, ref)
            early += 1
        states[STATE_NAMES[ref.state]] += 1
    state = dict(genesis)
    for key, value in ctx.state.changes().items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state, GovernanceSetup(referenda, votes, delegations, early, dict(states))
