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
        "staking": {"eraBlocks": 100, "validatorCount": 100, "eraReward": "100XPL", ...},
        "governance": {"tracks": [{"id": 0, "name": "root", "maxDeciding": 1,
                                   "submissionDeposit": "100XPL", ...}, ...]},
        "sudo": "<address>",
        "treasury": {"spendPeriod": 14400, "burnPpm": 10000, "payoutPeriod": 100800,
                     "inflationSharePpm": 0}
      }
    }

A validator is its stash account, the session key its node signs blocks and votes with (default:
the account), the bond held out of the account's genesis balance, and its commission in parts per
million; a plain address also does, for a validator bonding DEFAULT_GENESIS_BOND with no
commission. The genesis authority set is the validators, each weighing its backing (its bond plus
the genesis nominators' shares). `nominators`, `market`, `compute`, `staking` and `treasury` are
optional, and so is each parameter: what is left out takes the runtime's default
(runtime.pallets.market.DEFAULT_MARKET_PARAMS, runtime.pallets.compute.DEFAULT_COMPUTE_PARAMS,
runtime.pallets.staking.DEFAULT_STAKING_PARAMS, runtime.pallets.treasury.DEFAULT_TREASURY_PARAMS).
The parameters must keep cheating unprofitable
(q·(1 + slash) ≥ 1); a spec that breaks that is refused.

`governance.tracks` lists the referenda tracks, each with every field of
`runtime.pallets.governance.tracks.TrackInfo` in camelCase (deposits as amounts); left out, the
chain has DEFAULT_TRACKS; `"tracks": "fast"` asks for `referenda.fast_tracks()`, the same tracks
with periods of a few blocks, which the dev and local specs use. A set of tracks that breaks a
rule of `referenda.check_tracks` (one named root, the time-out after the prepare period, curves
that never rise, ...) is refused.
`sudo` names the account that may dispatch any call as Root (`xpl sudo`); left out or null, the
chain has no sudo and Root is reached only through the `root` track's referenda. The dev spec
names //Alice; the local spec names none.

Amounts are written like the CLI's (`1000000XPL` or `1500u`). The genesis hash is computed from the
genesis config; a node refuses a database that holds another chain.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, Self, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from runtime import fields
from runtime.block import Header
from runtime.genesis import GenesisConfig, build_genesis_state, genesis_header
from runtime.pallets.compute import ComputeParams
from runtime.pallets.governance.tracks import DEFAULT_TRACKS, MAX_TRACKS, TrackInfo
from runtime.pallets.market import PPM, MarketParams
from runtime.pallets.referenda import check_tracks, fast_tracks
from runtime.pallets.session import MAX_AUTHORITIES
from runtime.pallets.staking import (
    MAX_NOMINATIONS,
    MAX_NOMINATORS,
    GenesisNominator,
    GenesisValidator,
    StakingParams,
)
from runtime.pallets.treasury import TreasuryParams
from runtime.primitives import trie
from runtime.primitives.address import XPL_ADDRESS_PREFIX, decode_address, encode_address
from runtime.primitives.amount import format_amount, parse_amount
from runtime.primitives.keys import DEV_ACCOUNT_NAMES, dev_keypair, keypair_from_suri
from runtime.schema import Record

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


class _Params(BaseModel):
    """A pallet's parameters in a chain spec, derived from the pallet's declared record: each
    field under its camelCase key, integers within their declared bounds, balances as amounts,
    and what is left out taking the record's default."""

    model_config = ConfigDict(extra="forbid")

    RECORD: ClassVar[type[Record]]
    CHECKED: ClassVar[str] = ""
    """Where set, the record's own `check()` runs on the spec and its errors start with this."""

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.CHECKED:
            try:
                self.params().check()
            except ValueError as exc:
                raise ValueError(f"{self.CHECKED}: {exc}") from exc
        return self

    def params(self) -> Any:
        """The pallet's parameter record."""
        values = []
        for f in self.RECORD.schema().fields:
            value = getattr(self, f.camel_name)
            values.append(parse_amount(value) if f.ftype is fields.BALANCE else value)
        return self.RECORD(*values)

    @classmethod
    def of(cls, record: Record) -> Self:
        values: dict[str, Any] = {}
        for f in record.schema().fields:
            value = getattr(record, f.name)
            values[f.camel_name] = format_amount(value) if f.ftype is fields.BALANCE else value
        return cls(**values)


def _params_model(record: type[Record], checked: str = "") -> type[_Params]:
    """The chain spec model of a pallet's parameter record (a field without a default, as a
    track's, is required)."""
    definitions: dict[str, Any] = {}
    for f in record.schema().fields:
        required = f.default is dataclasses.MISSING
        if f.ftype is fields.BALANCE:
            definitions[f.camel_name] = (
                Annotated[str, AfterValidator(_amount)],
                ... if required else format_amount(f.default),
            )
        elif f.lo is None:  # a string (a track's name)
            definitions[f.camel_name] = (Annotated[str, Field(max_length=64)], ...)
        else:
            hi = f.hi if f.json_max is None else f.json_max
            definitions[f.camel_name] = (
                Annotated[int, Field(ge=f.lo, le=hi)],
                ... if required else f.default,
            )
    model = create_model(
        "_" + record.__name__.removesuffix("Params"), __base__=_Params, **definitions
    )
    model.RECORD = record
    model.CHECKED = checked
    return model


if TYPE_CHECKING:
    _Market: TypeAlias = _Params
    _Compute: TypeAlias = _Params
    _Staking: TypeAlias = _Params
    _Treasury: TypeAlias = _Params
else:
    _Market = _params_model(MarketParams)
    _Compute = _params_model(ComputeParams)
    _Staking = _params_model(StakingParams, "staking parameters")
    _Treasury = _params_model(TreasuryParams, "treasury parameters")


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


if TYPE_CHECKING:
    _Track: TypeAlias = _Params
else:
    _Track = _params_model(TrackInfo)


class _Governance(BaseModel):
    """The referenda tracks: a list of track objects, or "fast" for `fast_tracks()`."""

    model_config = ConfigDict(extra="forbid")

    tracks: list[_Track] = Field(
        default_factory=lambda: [_Track.of(t) for t in DEFAULT_TRACKS], max_length=MAX_TRACKS
    )

    @field_validator("tracks", mode="before")
    @classmethod
    def _fast(cls, value: Any) -> Any:
        """`"fast"` stands for `fast_tracks()`."""
        if value == "fast":
            return [_Track.of(t).model_dump() for t in fast_tracks()]
        return value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        try:
            check_tracks(self.track_infos())
        except ValueError as exc:
            raise ValueError(f"governance tracks: {exc}") from exc
        return self

    def track_infos(self) -> tuple[TrackInfo, ...]:
        """The tracks as the runtime's records."""
        return tuple(t.params() for t in self.tracks)


class _Genesis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slotDurationMs: int = Field(ge=100, le=3_600_000)
    validators: list[_Validator] = Field(min_length=1, max_length=MAX_AUTHORITIES)
    nominators: list[_Nominator] = Field(default_factory=list, max_length=MAX_NOMINATORS)
    balances: list[tuple[str, str]] = Field(max_length=1_000_000)
    market: _Market = Field(default_factory=lambda: _Market())
    compute: _Compute = Field(default_factory=lambda: _Compute())
    staking: _Staking = Field(default_factory=lambda: _Staking())
    governance: _Governance = Field(default_factory=lambda: _Governance())
    sudo: str | None = None

    _sudo = field_validator("sudo")(lambda v: v if v is None else _address(v))
    treasury: _Treasury = Field(default_factory=lambda: _Treasury())

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
        """The genesis state this spec defines, as key-value pairs."""
        return build_genesis_state(self.genesis)

    def genesis_header(self) -> Header:
        """Block 0 of the chain this spec defines."""
        return genesis_header(trie.root_of(self.genesis_state()))

    def to_json(self) -> dict[str, Any]:
        """The spec as chain-spec JSON (camelCase, addresses and amounts as text)."""
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
                "governance": {"tracks": [_Track.of(t).model_dump() for t in self.genesis.tracks]},
                "sudo": None if self.genesis.sudo is None else encode_address(self.genesis.sudo),
                "treasury": _Treasury.of(self.genesis.treasury).model_dump(),
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> ChainSpec:
        """Parse and check chain-spec JSON and its genesis; ChainSpecError names what is wrong."""
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
            tracks=g.governance.track_infos(),
            sudo=None if g.sudo is None else decode_address(g.sudo),
            treasury=g.treasury.params(),
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
    """A single-validator development chain: //Alice authors and holds the sudo key; the dev
    accounts are funded."""
    return local_spec(
        validators=1,
        name="XPL Development",
        chain_id="dev",
        chain_type="Development",
        sudo=keypair_from_suri("//Alice").public,
    )


def local_spec(
    *,
    validators: int = 2,
    name: str = "XPL Local Testnet",
    chain_id: str = "local",
    chain_type: str = "Local",
    slot_duration_ms: int = 1000,
    tracks: tuple[TrackInfo, ...] | None = None,
    sudo: bytes | None = None,
) -> ChainSpec:
    """A local testnet with `validators` development validators (//Alice, //Bob, ...), each
    bonding DEFAULT_GENESIS_BOND of its endowment; its governance tracks are `tracks`, by default
    `fast_tracks()` (referenda decided within a minute, for tests and the demo); no sudo key
    unless `sudo` names one."""
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
            tracks=fast_tracks() if tracks is None else tracks,
            sudo=sudo,
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
