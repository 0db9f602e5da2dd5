"""The models' records and a job's model reference as stored: decode(encode(r)) == r, and a
stored byte string that is not exactly a record's encoding is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.framework import record_codec
from runtime.pallets import market, models
from runtime.primitives.codec import DecodeError

ACCOUNT = st.binary(min_size=32, max_size=32)
TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=16)
BALANCE = st.integers(0, 2**128 - 1)
U32 = st.integers(0, 2**32 - 1)

VERSIONS = st.builds(
    models.ModelVersion,
    family=st.sampled_from(models.FAMILIES),
    descriptor=st.binary(max_size=models.MAX_DESCRIPTOR_BYTES),
    weights_root=st.binary(min_size=32, max_size=32),
    weights_size=st.integers(0, 2**64 - 1),
    quantization=TEXT,
    licence=TEXT,
    fee_per_use=BALANCE,
    registered_at=U32,
    deposit=BALANCE,
    weights_deposit=BALANCE,
    retired_at=U32,
)
MODELS = st.builds(
    models.Model,
    owner=ACCOUNT,
    name=TEXT,
    created_at=U32,
    deposit=BALANCE,
    versions=st.lists(U32, max_size=models.MAX_VERSIONS).map(tuple),
)
PUBLICATIONS = st.builds(models.Publication, model_id=st.integers(0, 2**64 - 1), version=U32)
USES = st.builds(
    market.ModelUse, model_id=st.integers(0, 2**64 - 1), version=U32, owner=ACCOUNT, fee=BALANCE
)


@settings(max_examples=40)
@given(VERSIONS, MODELS, PUBLICATIONS, st.none() | USES)
def test_records_round_trip(
    version: models.ModelVersion,
    model: models.Model,
    first: models.Publication,
    use: market.ModelUse | None,
) -> None:
    for record in (version, model, first):
        codec = record_codec(type(record))
        assert codec.decode(codec.encode(record)) == record
    job = market.Job(
        requester=bytes(32), workload="qmlp_i8", params=(1, 1, 2, 2), inputs=(), seed=0,
        max_price=1, cost_units=8, leaves=1, escrow=1, mode="always", deadline_blocks=1,
        expires_at=1, submitted_at=0, state="pending", model=use,
    )  # fmt: skip
    jobs = record_codec(market.Job)
    assert jobs.decode(jobs.encode(job)) == job


@settings(max_examples=30)
@given(VERSIONS, st.integers(0, 200), st.binary(min_size=1, max_size=3))
def test_a_damaged_version_record_is_refused(
    version: models.ModelVersion, at: int, junk: bytes
) -> None:
    codec = record_codec(models.ModelVersion)
    raw = codec.encode(version)
    with pytest.raises(DecodeError):
        codec.decode(raw + junk)  # trailing bytes
    with pytest.raises(DecodeError):
        codec.decode(raw[: at % len(raw)])  # truncated
