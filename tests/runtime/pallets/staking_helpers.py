"""Builders for the staking tests: a chain whose blocks are authored in Aura order by the authority
set in force, validators that can be taken offline, and readers of ledgers, exposures and points.

Alice, Bob and Charlie are the genesis validators, bonding 3000, 2000 and 1000 XPL of their
10,000. Dave and Eve are endowed and may become candidates; Nina and Noel nominate; Rita reports
offences; Oscar is an outsider. Eras are 10 blocks long; three validators are elected, and at least
two candidates are needed for an election. Every block is authored by the authority whose Aura
slot comes next, skipping those a test took offline and those disabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from runtime.block import Block, Digest, Header, extrinsics_root
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote, SlotEquivocation, VoteEquivocation
from runtime.consensus import encode_equivocation as encode_proof
from runtime.executive import BlockBuilder, BlockResult
from runtime.genesis import GenesisConfig
from runtime.pallets import session, staking, system
from runtime.pallets.staking import (
    Activity,
    Exposure,
    GenesisNominator,
    GenesisValidator,
    Ledger,
    Precommit,
    StakingParams,
)
from runtime.primitives.keys import Keypair, dev_keypair
from tests.runtime.conftest import apply_changes
from tests.runtime.pallets.market_helpers import SLOT_MS, UNIT, MarketChain, Outcome, hook_events

ALICE, BOB, CHARLIE = GENESIS_VALIDATORS = tuple(
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie")
)
DAVE, EVE = dev_keypair("Dave"), dev_keypair("Eve")
NINA, NOEL = dev_keypair("Nina"), dev_keypair("Noel")
REPORTER: Final = dev_keypair("Rita")
OUTSIDER: Final = dev_keypair("Oscar")
ACCOUNTS: Final = (*GENESIS_VALIDATORS, DAVE, EVE, NINA, NOEL, REPORTER, OUTSIDER)
SESSION_KEYS: Final = tuple(dev_keypair(f"{k}Session") for k in ("Dave", "Eve"))
"""Keys without accounts that Dave and Eve may use as session keys."""
_BY_ACCOUNT: Final = {k.public: k for k in (*ACCOUNTS, *SESSION_KEYS)}

ENDOWMENT: Final = 10_000 * UNIT
BONDS: Final = {ALICE.public: 3_000 * UNIT, BOB.public: 2_000 * UNIT, CHARLIE.public: 1_000 * UNIT}
ERA_BLOCKS: Final = 10
PARAMS: Final = StakingParams(
    era_blocks=ERA_BLOCKS,
    validator_count=3,
    min_validators=2,
    min_validator_bond=100 * UNIT,
    min_nominator_bond=10 * UNIT,
    bonding_eras=2,
    era_reward=1_000 * UNIT,
    max_nominations=4,
    equivocation_slash_ppm=100_000,
    offline_slash_ppm=10_000,
    reporter_reward_ppm=100_000,
    slash_window_eras=1,
)
PPM: Final = staking.PPM


def staking_config(
    params: StakingParams = PARAMS,
    *,
    nominators: Sequence[GenesisNominator] = (),
    commission: int = 0,
) -> GenesisConfig:
    return GenesisConfig(
        validators=tuple(
            GenesisValidator(v.public, BONDS[v.public], commission_ppm=commission)
            for v in GENESIS_VALIDATORS
        ),
        slot_duration_ms=SLOT_MS,
        balances=tuple((k.public, ENDOWMENT) for k in ACCOUNTS),
        nominators=tuple(nominators),
        staking=params,
    )


def keypair_of(who: bytes) -> Keypair:
    return _BY_ACCOUNT[who]


class StakingChain(MarketChain):
    """A dev chain authored in Aura order by the authorities in force."""

    def __init__(self, config: GenesisConfig) -> None:
        super().__init__(config, ALICE)
        self.offline: set[bytes] = set()
        """Session keys whose slots pass without a block."""
        self._timestamp = 0

    # Reading

    def params(self) -> StakingParams:
        return staking.Params.get(self.overlay())

    def era(self) -> int:
        return staking.CurrentEra.get(self.overlay())

    def ledger(self, who: Keypair | bytes) -> Ledger | None:
        return staking.Ledgers.get(self.overlay(), _account(who))

    def exposure(self, who: Keypair | bytes) -> Exposure | None:
        return staking.Exposures.get(self.overlay(), _account(who))

    def active(self) -> tuple[bytes, ...]:
        """The current era's validators (stashes), sorted."""
        return tuple(stash for stash, _ in staking.Active.get(self.overlay()))

    def candidates(self) -> tuple[bytes, ...]:
        return staking.Candidates.get(self.overlay())

    def nominators(self) -> tuple[bytes, ...]:
        return staking.Nominators.get(self.overlay())

    def activity(self, who: Keypair | bytes) -> Activity:
        return staking.EraActivity.get(self.overlay(), _account(who)) or Activity()

    def authorities(self) -> session.AuthoritySet:
        return session.authority_set(self.overlay())

    def disabled(self) -> tuple[bytes, ...]:
        return session.Disabled.get(self.overlay())

    # Blocks

    def next_author(self) -> tuple[int, Keypair]:
        """The next slot with an author that is online and not disabled, and that author."""
        keys = self.authorities().keys
        disabled = set(self.disabled())
        skipped = self.offline | disabled
        if all(k in skipped for k in keys):
            skipped = disabled  # somebody has to author
        slot = self.head.timestamp // SLOT_MS + 1
        while keys[slot % len(keys)] in skipped:
            slot += 1
        return slot, keypair_of(keys[slot % len(keys)])

    def builder(self) -> BlockBuilder:
        slot, self.author = self.next_author()
        self._timestamp = slot * SLOT_MS
        return BlockBuilder(
            self.read,
            self.head,
            timestamp=self._timestamp,
            slot=slot,
            author=self.author,
            genesis_hash=self.genesis_hash,
        )

    def seal(self, builder: BlockBuilder) -> tuple[Block, BlockResult]:
        result = builder.finish()
        post = dict(self.state)
        apply_changes(post, result.changes)
        ctx = result.context
        header = Header(
            parent_hash=self.head.hash,
            number=self.head.number + 1,
            state_root=self.roots.root_of(post),
            extrinsics_root=extrinsics_root(builder.extrinsics),
            timestamp=self._timestamp,
            digest=Digest(
                slot=self._timestamp // SLOT_MS,
                author=self.author.public,
                seal=b"",
                vrf_output=ctx.vrf_output,
                vrf_proof=ctx.vrf_proof,
            ),
        ).sealed_by(self.author)
        block = Block(header, tuple(builder.extrinsics))
        self.extend(block, post)
        return block, result

    def to_era_end(self) -> BlockResult:
        """Author blocks up to and including the next era boundary; the boundary's result."""
        number = self.head.number + 1
        while number % self.params().era_blocks:
            number += 1
        return self.advance_to(number)

    def points_at_era_end(self) -> dict[bytes, int]:
        """The points each active validator will end the era with if the next block ends it."""
        points = {stash: self.activity(stash).points for stash in self.active()}
        _, author = self.next_author()
        owner = staking.stash_of(self.overlay(), author.public)
        if owner in points:
            points[owner] += staking.BLOCK_POINTS
        return points

    # Calls

    def bond(self, who: Keypair, value: int) -> Outcome:
        return self.call(who, "staking", "bond", value)

    def validate(
        self, who: Keypair, commission: int = 0, session_key: bytes | None = None
    ) -> Outcome:
        return self.call(who, "staking", "validate", commission, session_key)

    def nominate(self, who: Keypair, *targets: Keypair | bytes) -> Outcome:
        return self.call(who, "staking", "nominate", [_account(t) for t in targets])

    def report(self, who: Keypair, proof: bytes) -> Outcome:
        return self.call(who, "staking", "report_equivocation", proof)

    def block_hash(self, number: int) -> bytes:
        """The hash of this chain's block `number` (the head or one of the recorded ones)."""
        if number == self.head.number:
            return self.head.hash
        found = system.BlockHash.get(self.overlay(), number)
        assert found is not None, f"block {number} is not recorded"
        return found

    def precommit(
        self, keypair: Keypair, number: int, *, set_id: int = 0, round_: int = 1
    ) -> Precommit:
        """`keypair`'s precommit in round `round_` of set `set_id` for this chain's block
        `number`."""
        return precommit(
            keypair, set_id=set_id, round_=round_, target=self.block_hash(number), number=number
        )

    def note_votes(
        self, who: Keypair, set_id: int, round_: int, precommits: Sequence[Precommit]
    ) -> Outcome:
        return self.call(who, "staking", "note_votes", set_id, round_, list(precommits))


def staking_chain(params: StakingParams = PARAMS, **kwargs: Any) -> StakingChain:
    return StakingChain(staking_config(params, **kwargs))


def _account(who: Keypair | bytes) -> bytes:
    return who if isinstance(who, bytes) else who.public


# Signed messages


def vote(
    keypair: Keypair,
    *,
    set_id: int = 0,
    round_: int = 5,
    target: bytes = b"\x01" * 32,
    number: int = 3,
    phase: int = PREVOTE,
) -> SignedVote:
    return SignedVote.sign(
        keypair, phase=phase, set_id=set_id, round_=round_, block_hash=target, number=number
    )


def vote_equivocation(keypair: Keypair, *, set_id: int = 0, round_: int = 5) -> bytes:
    """A proof that `keypair` prevoted for two blocks in one round."""
    first = vote(keypair, set_id=set_id, round_=round_, target=b"\x01" * 32)
    second = vote(keypair, set_id=set_id, round_=round_, target=b"\x02" * 32)
    return encode_proof(VoteEquivocation(first, second))


def header(keypair: Keypair, *, slot: int = 7, state_root: bytes = b"\x01" * 32) -> Header:
    """A header sealed by `keypair` for `slot`."""
    return Header(
        parent_hash=b"\x09" * 32,
        number=3,
        state_root=state_root,
        extrinsics_root=extrinsics_root(()),
        timestamp=slot * SLOT_MS,
        digest=Digest(slot=slot, author=keypair.public, seal=b""),
    ).sealed_by(keypair)


def slot_equivocation(keypair: Keypair, *, slot: int = 7) -> bytes:
    """A proof that `keypair` sealed two headers for one slot."""
    first = header(keypair, slot=slot, state_root=b"\x01" * 32)
    second = header(keypair, slot=slot, state_root=b"\x02" * 32)
    return encode_proof(SlotEquivocation(first, second))


def precommit(
    keypair: Keypair,
    *,
    set_id: int = 0,
    round_: int = 1,
    target: bytes = b"\x03" * 32,
    number: int = 1,
) -> Precommit:
    signed = SignedVote.sign(
        keypair, phase=PRECOMMIT, set_id=set_id, round_=round_, block_hash=target, number=number
    )
    return Precommit(target, number, keypair.public, signed.signature)


def with_signature(p: Precommit, signature: bytes) -> Precommit:
    return p._replace(signature=signature)


A, B, C, D, E = (k.public for k in (ALICE, BOB, CHARLIE, DAVE, EVE))


def boundary(chain: StakingChain) -> list[tuple[str, tuple[object, ...]]]:
    """Author to the next era boundary; the staking events of that block's hooks."""
    return hook_events(chain.to_era_end(), "staking")


def param_args(p: StakingParams) -> tuple[int, ...]:
    """`p` as the arguments of a `staking.set_params` call, in declaration order."""
    return tuple(getattr(p, f) for f in StakingParams.__dataclass_fields__)
