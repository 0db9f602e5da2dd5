"""The genesis state and block, built from a genesis config by each pallet's genesis part."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.block import Digest, Header, extrinsics_root
from runtime.executive import PALLETS
from runtime.framework import BlockContext
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams
from runtime.pallets.governance.tracks import DEFAULT_TRACKS, TrackInfo
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, MarketParams
from runtime.pallets.staking import (
    DEFAULT_STAKING_PARAMS,
    GenesisNominator,
    GenesisValidator,
    StakingParams,
)
from runtime.pallets.treasury import DEFAULT_TREASURY_PARAMS, TreasuryParams
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import StateOverlay


@dataclass(frozen=True, slots=True)
class GenesisConfig:
    """Everything the first state is made of.

    The validators' and nominators' bonds are held out of their genesis balances; the genesis
    authority set is the validators, each weighing its backing (its bond, plus what genesis
    nominators put behind it).
    """

    validators: tuple[GenesisValidator, ...]
    slot_duration_ms: int
    balances: tuple[tuple[bytes, int], ...]
    market: MarketParams = DEFAULT_MARKET_PARAMS
    compute: ComputeParams = DEFAULT_COMPUTE_PARAMS
    nominators: tuple[GenesisNominator, ...] = ()
    staking: StakingParams = DEFAULT_STAKING_PARAMS
    tracks: tuple[TrackInfo, ...] = DEFAULT_TRACKS
    """The governance tracks referenda are decided on (the chain spec's `governance.tracks`)."""
    sudo: bytes | None = None
    """The sudo key's account (development chains), or None: no sudo."""
    treasury: TreasuryParams = DEFAULT_TREASURY_PARAMS

    @property
    def validator_keys(self) -> tuple[bytes, ...]:
        """The genesis validators' session keys, in the genesis authority set's order."""
        return tuple(v.key for v in self.validators)


def build_genesis_state(config: GenesisConfig) -> dict[bytes, bytes]:
    """The complete genesis state as key-value pairs; ValueError if the config breaks a rule."""
    ctx = BlockContext(
        state=StateOverlay(lambda _key: None),
        number=0,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=bytes(32),
        genesis_hash=ZERO_HASH,
    )
    # Each pallet builds its own part, in the runtime's pallet order: balances before staking
    # (which holds bonds out of them), market before compute (whose parameters are checked
    # against the market's).
    for pallet in PALLETS:
        pallet.build_genesis(ctx, config)
    return {k: v for k, v in ctx.state.changes().items() if v is not None}


def genesis_header(state_root: bytes) -> Header:
    """Block 0: no parent, no extrinsics, no author."""
    return Header(
        parent_hash=ZERO_HASH,
        number=0,
        state_root=state_root,
        extrinsics_root=extrinsics_root(()),
        timestamp=0,
        digest=Digest(slot=0, author=bytes(32), seal=b""),
    )
