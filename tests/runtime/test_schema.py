"""Declared records: the codec, range checks and call arguments derived from one declaration keep
the bytes of the hand-written codecs they replaced, and refuse what does not fit by name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import fields
from runtime.pallets import compute, market, staking
from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, Job, MarketParams, Worker
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, Exposure, Ledger, StakingParams
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.schema import Record, param, schema_of

PARAMS_RECORDS = (StakingParams, MarketParams, ComputeParams)


def _encoded(record: Record) -> bytes:
    return codec.encode(record.to_value())


def _decoded(cls: type[Record], raw: bytes) -> Any:
    return cls.from_value(codec.decode(raw))


# The bytes stay what the hand-written codecs wrote (state roots and genesis hashes depend on them)

GOLDEN = {
    StakingParams: "9c646401c410000000000000000000005af3107a4000c4100000000000000000"
    "000009184e72a00007c410000000000000000000005af3107a400010ce000186a0cd03e8"
    "ce000186a006",
    MarketParams: "dc0010ce002dc6c0c4100000000000000000000000e8d4a51000cd4e20cdc350"
    "c4100000000000000000000000003b9aca00ce000186a0c410000000000000000000005af3"
    "107a400003cd1388ce001e848002ec0ac4100000000000000000000000012a05f200c410"
    "000000000000000000000000000f424007",
    ComputeParams: "9cce0009eb1010030828c4100000000000000000000000174876e8000403c410"
    "000000000000000000000002540be400ce0003d090ce0003d090ce0003d090",
}


@pytest.mark.parametrize("cls", PARAMS_RECORDS)
def test_default_params_encode_as_before(cls: type[Record]) -> None:
    default = cls()
    assert _encoded(default).hex() == GOLDEN[cls]
    assert _decoded(cls, bytes.fromhex(GOLDEN[cls])) == default


def test_the_defaults_are_the_declared_ones() -> None:
    assert StakingParams() == DEFAULT_STAKING_PARAMS
    assert MarketParams() == DEFAULT_MARKET_PARAMS
    assert ComputeParams() == DEFAULT_COMPUTE_PARAMS
    assert DEFAULT_STAKING_PARAMS.equivocation_slash_ppm == 100_000


def test_a_record_encodes_its_fields_in_declaration_order() -> None:
    ledger = Ledger(active=5, unlocking=((3, 2),))
    assert ledger.to_value() == [(5).to_bytes(16, "big"), [[3, (2).to_bytes(16, "big")]]]
    exposure = Exposure(bytes(32), 9, 4, ((b"\x01" * 32, 5),), 10)
    assert exposure.to_value() == [
        bytes(32),
        (9).to_bytes(16, "big"),
        (4).to_bytes(16, "big"),
        [[b"\x01" * 32, (5).to_bytes(16, "big")]],
        10,
    ]


# Round trips


def _in_range(cls: type[Record]) -> st.SearchStrategy[Any]:
    """Any record of an integer-only record class, each field within its declared range."""
    schema = schema_of(cls)
    assert all(f.lo is not None and f.hi is not None for f in schema.fields)
    return st.builds(cls, *(st.integers(f.lo, f.hi) for f in schema.fields))


@given(st.one_of(*(_in_range(cls) for cls in PARAMS_RECORDS)))
def test_params_round_trip(record: Any) -> None:
    assert _decoded(type(record), _encoded(record)) == record


@given(
    st.builds(
        Ledger,
        st.integers(0, codec.U128_MAX),
        st.lists(
            st.tuples(st.integers(0, codec.U64_MAX), st.integers(0, codec.U128_MAX)), max_size=4
        ).map(tuple),
    )
)
def test_a_ledger_round_trips(ledger: Ledger) -> None:
    assert _decoded(Ledger, _encoded(ledger)) == ledger


def _job(**changes: Any) -> Job:
    job = Job(
        requester=bytes(32),
        workload="gemm_i8",
        params=(64, 64, 64),
        inputs=(("a", b""), ("b", b"\x02" * 32)),
        seed=7,
        max_price=10**12,
        cost_units=5,
        leaves=4,
        escrow=2 * 10**12,
        mode="sampled",
        deadline_blocks=10,
        expires_at=20,
        submitted_at=3,
        state="pending",
    )
    return replace(job, **changes)


@pytest.mark.parametrize(
    "record",
    [
        _job(),
        _job(worker=b"\x05" * 32, price=3, slash=4, result_root=b"\x06" * 32, state="committed"),
        _job(past_matches=(market.PastMatch(b"\x07" * 32, 3, 9, 10, "missed", 3 * 10**11),)),
        Worker(10**14, 0, "rtx", 24_000, (("gemm_i8", 9),), (("gemm_i8", 5),), "", 2, 0, -7, True),
        compute.Check(
            "audit",
            (1, 2),
            (bytes(32),),
            draw_at=7,
            drawn_at=7,
            commit_deadline=9,
            reveal_deadline=11,
            commits=((bytes(32), b"\x01" * 32),),
            reveals=((bytes(32), (b"\x02" * 32, b"\x03" * 32)), (b"\x04" * 32, ())),
            response=(b"\x02" * 32, b"\x03" * 32),
        ),
    ],
)
def test_nested_records_round_trip(record: Record) -> None:
    assert _decoded(type(record), _encoded(record)) == record


# Refusals


@pytest.mark.parametrize(
    ("cls", "index", "value", "fragment"),
    [
        (StakingParams, 0, 0, r"staking params\.era_blocks: 0 is outside \[1, 1000000\]"),
        (StakingParams, 3, (0).to_bytes(16, "big"), r"staking params\.min_validator_bond: 0 is"),
        (StakingParams, 8, staking.PPM + 1, r"staking params\.equivocation_slash_ppm"),
        (MarketParams, 0, 100 * market.PPM + 1, r"market params\.slash_ppm"),
        (MarketParams, 1, 5, r"market params\.min_slash: expected a 16-byte"),
        (ComputeParams, 3, 0, r"compute params\.commit_window: 0 is outside"),
        (ComputeParams, 1, True, r"compute params\.audit_leaves: expected an integer, got bool"),
    ],
)
def test_decoding_refuses_a_field_out_of_range_by_name(
    cls: type[Record], index: int, value: Any, fragment: str
) -> None:
    values = cls().to_value()
    values[index] = value
    with pytest.raises(DecodeError, match=fragment):
        cls.from_value(values)


@pytest.mark.parametrize("cls", PARAMS_RECORDS)
def test_decoding_refuses_a_wrong_field_count(cls: type[Record]) -> None:
    with pytest.raises(DecodeError, match=r"expected \d+ fields"):
        cls.from_value(cls().to_value()[:-1])
    with pytest.raises(DecodeError, match="expected an array"):
        cls.from_value(5)


def test_a_worker_reputation_may_be_negative_but_within_its_range() -> None:
    worker = Worker(1, 0, "d", 1, (), (), "", 1, 0, -1_000, False)
    values = worker.to_value()
    assert Worker.from_value(values) == worker
    values[9] = -1_001
    with pytest.raises(DecodeError, match=r"worker\.reputation"):
        Worker.from_value(values)


# Range checks


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (replace(DEFAULT_STAKING_PARAMS, era_blocks=0), "era_blocks must be 1 to 1000000"),
        (
            replace(DEFAULT_STAKING_PARAMS, min_validator_bond=0),
            "min_validator_bond must be positive (a validator's weight is its stake)",
        ),
        (
            replace(DEFAULT_STAKING_PARAMS, min_validators=5, validator_count=4),
            "min_validators must be 1 to validator_count",
        ),
        (replace(DEFAULT_MARKET_PARAMS, protocol_fee_ppm=market.PPM + 1), "protocol_fee_ppm"),
        (replace(DEFAULT_MARKET_PARAMS, min_stake=-1), "min_stake"),
        (
            replace(DEFAULT_COMPUTE_PARAMS, commit_window=0),
            "commit_window must be at least 1 block",
        ),
        (
            replace(DEFAULT_COMPUTE_PARAMS, dispute_window=12),
            "the dispute window must outlast the longest draw delay",
        ),
        (replace(DEFAULT_COMPUTE_PARAMS, committee_size=True), "committee_size"),
    ],
)
def test_check_names_the_first_field_out_of_range(record: Record, message: str) -> None:
    with pytest.raises(ValueError) as info:
        record.check()
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("cls", PARAMS_RECORDS)
def test_the_defaults_pass_their_checks(cls: type[Record]) -> None:
    cls().check()


# Call arguments and JSON names


def test_set_params_takes_the_declared_fields_in_order() -> None:
    for pallet, cls in ((staking.Staking(), StakingParams), (compute.Compute(), ComputeParams)):
        set_params = pallet.calls()["set_params"]
        assert set_params.args == cls.call_args()
        assert [name for name, _ in set_params.args] == [f.name for f in dataclasses.fields(cls)]
        assert pallet.PARAMS is cls
    assert dict(StakingParams.call_args())["min_validator_bond"] is fields.BALANCE
    assert dict(StakingParams.call_args())["era_blocks"] is fields.U32


def test_set_params_has_its_own_weight() -> None:
    assert staking.SET_PARAMS_WEIGHT == staking.BOND_WEIGHT  # the same figure, now named for it
    set_params = staking.Staking().calls()["set_params"]
    assert set_params.weight(StakingParams().to_value()) == staking.SET_PARAMS_WEIGHT


def test_json_names_are_camel_case() -> None:
    names = {f.name: f.camel_name for f in StakingParams.schema().fields}
    assert names["equivocation_slash_ppm"] == "equivocationSlashPpm"
    assert names["era_blocks"] == "eraBlocks"
    spec_bounds = {f.name: f.json_max for f in ComputeParams.schema().fields}
    assert spec_bounds["commit_window"] == 100_000


def test_every_field_must_be_declared_with_param() -> None:
    @dataclass(frozen=True, slots=True)
    class Half(Record):
        declared: int = param(fields.U8)
        plain: int = 0

    with pytest.raises(TypeError, match=r"Half\.plain is not declared with param\(\)"):
        Half.schema()
