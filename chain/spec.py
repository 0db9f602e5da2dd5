"""Chain specs: the JSON file that names a chain and holds its genesis config.

    {
      "name": "XPL Development", "id": "dev", "chainType": "Development",
      "bootNodes": [],
      "properties": {"tokenSymbol": "XPL", "tokenDecimals": 12, "ss58Format": 47},
      "genesis": {
        "slotDurationMs": 1000,
        "validators": [
          {"account": "<address>", "sessionKey": "<address>", "bond": "100000XPL",
           "commissionPpm": 0},
          ...
        ],
        "nominators": [{"account": "<address>", "bond": "5000XPL", "targets": ["<address>"]}],
        "balances": [["<address>", "1000000XPL"], ...],
        "market": {"slashPpm": 3000000, "minStake": "100XPL", ...},
        "compute": {"auditPpm": 250000, "auditLeaves": 16, "disputeWindow": 20, ...},
        "staking": {"eraBlocks": 100, "validatorCount": 100, "eraReward": "100XPL", ...}
      }
    }

A validator is its stash account, the session key its node signs blocks and votes with (default:
the account), the bond held out of the account's genesis balance, and its commission in parts per
million; a plain address also does, for a validator bonding DEFAULT_GENESIS_BOND with no
commission. The genesis authority set is the validators, each weighing its backing (its bond plus
the genesis nominators' shares). `nominators`, `market`, `compute` and `staking` are optional, and
so is each parameter: what is left out takes the runtime's default
(runtime.pallets.market.DEFAULT_MARKET_PARAMS, runtime.pallets.compute.DEFAULT_COMPUTE_PARAMS,
runtime.pallets.staking.DEFAULT_STAKING_PARAMS). The parameters must keep cheating unprofitable
(q·(1 + slash) ≥ 1); a spec that breaks that is refused.

Amounts are written like the CLI's (`1000000XPL` or `1500u`). The genesis hash is computed from the
genesis config; a node refuses a database that holds another chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from runtime.block import Header
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.compute import (
    DEFAULT_COMPUTE_PARAMS,
    MAX_AUDIT_LEAVES,
    MAX_COMMITTEE,
    ComputeParams,
)
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM, MarketParams
from runtime.pallets.session import MAX_AUTHORITIES
from runtime.pallets.staking import (
    DEFAULT_STAKING_PARAMS,
    MAX_BONDING_ERAS,
    MAX_ERA_BLOCKS,
    MAX_NOMINATIONS,
    MAX_NOMINATORS,
    GenesisNominator,
    GenesisValidator,
    StakingParams,
)
from runtime.primitives import trie
from runtime.primitives.address import XPL_ADDRESS_PREFIX, decode_address, encode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.keys import DEV_ACCOUNT_NAMES, dev_keypair, keypair_from_suri

MAX_SPEC_BYTES: Final = 16 * 1024 * 1024
DEV_ENDOWMENT: Final = 1_000_000 * 10**12
"""What each development account holds in the dev and local specs: one million XPL."""
DEFAULT_GENESIS_BOND: Final = 100_000 * 10**12
"""What a validator bonds in the dev and local specs, or when a spec lists it by address alone."""


class ChainSpecError(ValueError):
    """A chain spec that cannot be read or breaks a rule; the message names the field."""


def _amount(value: str) -> str:
    parse_amount(value)
    return value


def _address(value: str) -> str:
    decode_address(value)
    return value


_M = DEFAULT_MARKET_PARAMS
_C = DEFAULT_COMPUTE_PARAMS
_S = DEFAULT_STAKING_PARAMS


class _Market(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slashPpm: Annotated[int, Field(ge=0, le=100 * PPM)] = _M.slash_ppm
    minSlash: str = format_amount(DEFAULT_MARKET_PARAMS.min_slash)
    protocolFeePpm: Annotated[int, Field(ge=0, le=PPM)] = _M.protocol_fee_ppm
    verificationFeePpm: Annotated[int, Field(ge=0, le=PPM)] = (
        DEFAULT_MARKET_PARAMS.verification_fee_ppm
    )
    minVerificationFee: str = format_amount(DEFAULT_MARKET_PARAMS.min_verification_fee)
    missPenaltyPpm: Annotated[int, Field(ge=0, le=PPM)] = _M.miss_penalty_ppm
    minStake: str = format_amount(DEFAULT_MARKET_PARAMS.min_stake)

    _amounts = field_validator("minSlash", "minVerificationFee", "minStake")(_amount)

    def params(self) -> MarketParams:
        return MarketParams(
            slash_ppm=self.slashPpm,
            min_slash=parse_amount(self.minSlash),
            protocol_fee_ppm=self.protocolFeePpm,
            verification_fee_ppm=self.verificationFeePpm,
            min_verification_fee=parse_amount(self.minVerificationFee),
            miss_penalty_ppm=self.missPenaltyPpm,
            min_stake=parse_amount(self.minStake),
        )

    @classmethod
    def of(cls, p: MarketParams) -> _Market:
        return cls(
            slashPpm=p.slash_ppm,
            minSlash=format_amount(p.min_slash),
            protocolFeePpm=p.protocol_fee_ppm,
            verificationFeePpm=p.verification_fee_ppm,
            minVerificationFee=format_amount(p.min_verification_fee),
            missPenaltyPpm=p.miss_penalty_ppm,
            minStake=format_amount(p.min_stake),
        )


class _Compute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auditPpm: Annotated[int, Field(ge=0, le=PPM)] = _C.audit_ppm
    auditLeaves: Annotated[int, Field(ge=1, le=MAX_AUDIT_LEAVES)] = (
        DEFAULT_COMPUTE_PARAMS.audit_leaves
    )
    committeeSize: Annotated[int, Field(ge=1, le=MAX_COMMITTEE)] = (
        DEFAULT_COMPUTE_PARAMS.committee_size
    )
    auditWindow: Annotated[int, Field(ge=1, le=100_000)] = _C.audit_window
    disputeWindow: Annotated[int, Field(ge=1, le=1_000_000)] = _C.dispute_window
    fraudBond: str = format_amount(DEFAULT_COMPUTE_PARAMS.fraud_bond)

    _amounts = field_validator("fraudBond")(_amount)

    def params(self) -> ComputeParams:
        return ComputeParams(
            audit_ppm=self.auditPpm,
            audit_leaves=self.auditLeaves,
            committee_size=self.committeeSize,
            audit_window=self.auditWindow,
            dispute_window=self.disputeWindow,
            fraud_bond=parse_amount(self.fraudBond),
        )

    @classmethod
    def of(cls, p: ComputeParams) -> _Compute:
        return cls(
            auditPpm=p.audit_ppm,
            auditLeaves=p.audit_leaves,
            committeeSize=p.committee_size,
            auditWindow=p.audit_window,
            disputeWindow=p.dispute_window,
            fraudBond=format_amount(p.fraud_bond),
        )


class _Staking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eraBlocks: Annotated[int, Field(ge=1, le=MAX_ERA_BLOCKS)] = _S.era_blocks
    validatorCount: Annotated[int, Field(ge=1, le=MAX_AUTHORITIES)] = _S.validator_count
    minValidators: Annotated[int, Field(ge=1, le=MAX_AUTHORITIES)] = _S.min_validators
    minValidatorBond: str = format_amount(_S.min_validator_bond)
    minNominatorBond: str = format_amount(_S.min_nominator_bond)
    bondingEras: Annotated[int, Field(ge=0, le=MAX_BONDING_ERAS)] = _S.bonding_eras
    eraReward: str = format_amount(_S.era_reward)
    maxNominations: Annotated[int, Field(ge=1, le=MAX_NOMINATIONS)] = _S.max_nominations
    equivocationSlashPpm: Annotated[int, Field(ge=0, le=PPM)] = _S.equivocation_slash_ppm
    offlineSlashPpm: Annotated[int, Field(ge=0, le=PPM)] = _S.offline_slash_ppm
    reporterRewardPpm: Annotated[int, Field(ge=0, le=PPM)] = _S.reporter_reward_ppm

    _amounts = field_validator("minValidatorBond", "minNominatorBond", "eraReward")(_amount)

    @model_validator(mode="after")
    def _fits(self) -> _Staking:
        try:
            self.params().check()
        except ValueError as exc:
            raise ValueError(f"staking parameters: {exc}") from exc
        return self

    def params(self) -> StakingParams:
        return StakingParams(
            era_blocks=self.eraBlocks,
            validator_count=self.validatorCount,
            min_validators=self.minValidators,
            min_validator_bond=parse_amount(self.minValidatorBond),
            min_nominator_bond=parse_amount(self.minNominatorBond),
            bonding_eras=self.bondingEras,
            era_reward=parse_amount(self.eraReward),
            max_nominations=self.maxNominations,
            equivocation_slash_ppm=self.equivocationSlashPpm,
            offline_slash_ppm=self.offlineSlashPpm,
            reporter_reward_ppm=self.reporterRewardPpm,
        )

    @classmethod
    def of(cls, p: StakingParams) -> _Staking:
        return cls(
            eraBlocks=p.era_blocks,
            validatorCount=p.validator_count,
            minValidators=p.min_validators,
            minValidatorBond=format_amount(p.min_validator_bond),
            minNominatorBond=format_amount(p.min_nominator_bond),
            bondingEras=p.bonding_eras,
            eraReward=format_amount(p.era_reward),
            maxNominations=p.max_nominations,
            equivocationSlashPpm=p.equivocation_slash_ppm,
            offlineSlashPpm=p.offline_slash_ppm,
            reporterRewardPpm=p.reporter_reward_ppm,
        )


class _Validator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str
    sessionKey: str | None = None
    bond: str = format_amount(DEFAULT_GENESIS_BOND)
    commissionPpm: Annotated[int, Field(ge=0, le=PPM)] = 0

    _addresses = field_validator("account", "sessionKey")(lambda v: v if v is None else _address(v))
    _amounts = field_validator("bond")(_amount)

    def validator(self) -> GenesisValidator:
        return GenesisValidator(
            stash=decode_address(self.account),
            bond=parse_amount(self.bond),
            session_key=None if self.sessionKey is None else decode_address(self.sessionKey),
            commission_ppm=self.commissionPpm,
        )

    @classmethod
    def of(cls, v: GenesisValidator) -> _Validator:
        return cls(
            account=encode_address(v.stash),
            sessionKey=encode_address(v.key),
            bond=format_amount(v.bond),
            commissionPpm=v.commission_ppm,
        )


class _Nominator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str
    bond: str
    targets: list[str] = Field(min_length=1, max_length=MAX_NOMINATIONS)

    _addresses = field_validator("account")(_address)
    _amounts = field_validator("bond")(_amount)

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for address in value:
            decode_address(address)
        return value

    def nominator(self) -> GenesisNominator:
        return GenesisNominator(
            stash=decode_address(self.account),
            bond=parse_amount(self.bond),
            targets=tuple(decode_address(t) for t in self.targets),
        )

    @classmethod
    def of(cls, n: GenesisNominator) -> _Nominator:
        return cls(
            account=encode_address(n.stash),
            bond=format_amount(n.bond),
            targets=[encode_address(t) for t in n.targets],
        )


class _Genesis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slotDurationMs: int = Field(ge=100, le=3_600_000)
    validators: list[_Validator] = Field(min_length=1, max_length=MAX_AUTHORITIES)
    nominators: list[_Nominator] = Field(default_factory=list, max_length=MAX_NOMINATORS)
    balances: list[tuple[str, str]] = Field(max_length=1_000_000)
    market: _Market = Field(default_factory=lambda: _Market())
    compute: _Compute = Field(default_factory=lambda: _Compute())
    staking: _Staking = Field(default_factory=lambda: _Staking())

    @field_validator("validators", mode="before")
    @classmethod
    def _plain_addresses(cls, value: Any) -> Any:
        """A validator written as its address alone bonds the default bond."""
        if isinstance(value, list):
            return [{"account": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("balances")
    @classmethod
    def _balances(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for address, amount in value:
            decode_address(address)
            parse_amount(amount)
        return value


class _Properties(BaseModel):
    model_config = ConfigDict(extra="allow")

    tokenSymbol: str = "XPL"
    tokenDecimals: int = 12
    ss58Format: int = XPL_ADDRESS_PREFIX


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    chainType: Literal["Development", "Local", "Live"]
    bootNodes: list[str] = Field(default_factory=list)
    properties: _Properties = Field(default_factory=_Properties)
    genesis: _Genesis


@dataclass(frozen=True)
class ChainSpec:
    """A validated chain spec and the genesis it defines."""

    name: str
    id: str
    chain_type: str
    boot_nodes: tuple[str, ...]
    properties: dict[str, Any]
    genesis: GenesisConfig

    def genesis_state(self) -> dict[bytes, bytes]:
        return build_genesis_state(self.genesis)

    def genesis_header(self) -> Header:
        return genesis_header(trie.root_of(self.genesis_state()))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "chainType": self.chain_type,
            "bootNodes": list(self.boot_nodes),
            "properties": self.properties,
            "genesis": {
                "slotDurationMs": self.genesis.slot_duration_ms,
                "validators": [_Validator.of(v).model_dump() for v in self.genesis.validators],
                "nominators": [_Nominator.of(n).model_dump() for n in self.genesis.nominators],
                "balances": [
                    [encode_address(a), format_amount(x)] for a, x in self.genesis.balances
                ],
                "market": _Market.of(self.genesis.market).model_dump(),
                "compute": _Compute.of(self.genesis.compute).model_dump(),
                "staking": _Staking.of(self.genesis.staking).model_dump(),
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> ChainSpec:
        try:
            spec = _Spec.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            raise ChainSpecError(f"chain spec field {where}: {first['msg']}") from exc
        g = spec.genesis
        genesis = GenesisConfig(
            validators=tuple(v.validator() for v in g.validators),
            slot_duration_ms=g.slotDurationMs,
            balances=tuple((decode_address(a), parse_amount(x)) for a, x in g.balances),
            market=g.market.params(),
            compute=g.compute.params(),
            nominators=tuple(n.nominator() for n in g.nominators),
            staking=g.staking.params(),
        )
        try:
            build_genesis_state(genesis)
        except ValueError as exc:
            raise ChainSpecError(f"chain spec genesis: {exc}") from exc
        return cls(
            name=spec.name,
            id=spec.id,
            chain_type=spec.chainType,
            boot_nodes=tuple(spec.bootNodes),
            properties=spec.properties.model_dump(),
            genesis=genesis,
        )

    @classmethod
    def load(cls, path: Path) -> ChainSpec:
        """Read and validate a chain spec file."""
        try:
            if path.stat().st_size > MAX_SPEC_BYTES:
                raise ChainSpecError(f"chain spec {path} is larger than {MAX_SPEC_BYTES} bytes")
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ChainSpecError(f"chain spec {path} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ChainSpecError(f"cannot read chain spec {path}: {exc}") from exc
        except (ValueError, RecursionError) as exc:
            raise ChainSpecError(f"chain spec {path} is not valid JSON: {exc}") from exc
        return cls.from_json(data)


def validator_uris_of(count: int) -> list[str]:
    """The development key URIs of a local chain's `count` validators: //Alice, //Bob, ..."""
    names = list(DEV_ACCOUNT_NAMES) + [
        f"Validator{i}" for i in range(len(DEV_ACCOUNT_NAMES) + 1, count + 1)
    ]
    return ["//" + name for name in names[:count]]


def dev_spec() -> ChainSpec:
    """A single-validator development chain: //Alice authors; the dev accounts are funded."""
    return local_spec(
        validators=1, name="XPL Development", chain_id="dev", chain_type="Development"
    )


def local_spec(
    *,
    validators: int = 2,
    name: str = "XPL Local Testnet",
    chain_id: str = "local",
    chain_type: str = "Local",
    slot_duration_ms: int = 1000,
) -> ChainSpec:
    """A local testnet with `validators` development validators (//Alice, //Bob, ...), each
    bonding DEFAULT_GENESIS_BOND of its endowment."""
    if not 1 <= validators <= 100:
        raise ChainSpecError("a local chain has between 1 and 100 validators")
    uris = validator_uris_of(validators)
    endowed = ["//" + n for n in DEV_ACCOUNT_NAMES] + [
        u for u in uris if u[2:] not in DEV_ACCOUNT_NAMES
    ]
    return ChainSpec(
        name=name,
        id=chain_id,
        chain_type=chain_type,
        boot_nodes=(),
        properties=_Properties().model_dump(),
        genesis=GenesisConfig(
            validators=tuple(
                GenesisValidator(keypair_from_suri(u).public, DEFAULT_GENESIS_BOND) for u in uris
            ),
            slot_duration_ms=slot_duration_ms,
            balances=tuple((keypair_from_suri(u).public, DEV_ENDOWMENT) for u in endowed),
        ),
    )


def builtin_spec(name: str) -> ChainSpec:
    """The spec named `dev` or `local`, or the spec file at that path."""
    if name == "dev":
        return dev_spec()
    if name == "local":
        return local_spec()
    return ChainSpec.load(Path(name))


__all__ = ["ChainSpec", "ChainSpecError", "builtin_spec", "dev_keypair", "dev_spec", "local_spec"]
