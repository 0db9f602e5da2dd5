"""Headers and blocks: encoding, the author's seal, strict decoding, and the JSON form."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.block import (
    MAX_HEADER_SIZE,
    Block,
    Digest,
    Header,
    decode_body,
    encode_body,
    extrinsics_root,
)
from runtime.primitives import codec
from runtime.primitives.address import encode_address
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import dev_keypair, verify
from runtime.primitives.merkle import merkle_root
from runtime.primitives.vrf import prove

ALICE = dev_keypair("Alice")
BOB = dev_keypair("Bob")
EXTRINSICS = (b"first extrinsic", b"second", b"")
VRF_OUTPUT, VRF_PROOF = prove(ALICE, b"alpha")


def header(**changes: Any) -> Header:
    base = Header(
        parent_hash=blake2b_256(b"parent"),
        number=42,
        state_root=blake2b_256(b"state"),
        extrinsics_root=extrinsics_root(EXTRINSICS),
        timestamp=1_700_000_000_000,
        digest=Digest(
            slot=283_333_333,
            author=ALICE.public,
            seal=b"",
            vrf_output=VRF_OUTPUT,
            vrf_proof=VRF_PROOF,
        ),
    )
    return replace(base, **changes)


hashes = st.binary(min_size=32, max_size=32)
headers = st.builds(
    Header,
    parent_hash=hashes,
    number=st.integers(0, codec.U32_MAX),
    state_root=hashes,
    extrinsics_root=hashes,
    timestamp=st.integers(0, codec.U64_MAX),
    digest=st.builds(
        Digest,
        slot=st.integers(0, codec.U64_MAX),
        author=hashes,
        seal=st.just(b"") | st.binary(min_size=64, max_size=64),
        vrf_output=st.just(b"") | hashes,
        vrf_proof=st.just(b"") | st.binary(min_size=80, max_size=80),
    ),
)


@settings(max_examples=80, deadline=None)
@given(headers, st.lists(st.binary(max_size=64), max_size=6))
def test_decode_inverts_encode(head: Header, extrinsics: list[bytes]) -> None:
    assert Header.decode(head.encode()) == head
    block = Block(head, tuple(extrinsics))
    decoded = Block.decode(block.encode())
    assert decoded == block
    assert decoded.encode() == block.encode()
    assert decoded.hash == head.hash == blake2b_256(head.encode())
    assert decode_body(encode_body(extrinsics)) == tuple(extrinsics)


class _Bytes(bytes):
    """A bytes subclass: the stored body's fast path takes exact bytes only."""


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.binary(max_size=40).map(_Bytes),
            st.text(max_size=8),
            st.integers(-5, 5),
            st.floats(allow_nan=False),
        ),
        max_size=6,
    )
)
def test_a_stored_body_is_the_checked_encoding_or_its_refusal(items: list[Any]) -> None:
    try:
        expected: bytes | type[Exception] = codec.encode(list(items))
    except codec.CodecError:
        expected = codec.CodecError
    if expected is codec.CodecError:
        with pytest.raises(codec.CodecError):
            encode_body(items)
    else:
        assert encode_body(items) == expected
        assert encode_body(tuple(items)) == expected


def test_the_encoding_is_the_documented_array() -> None:
    head = header().sealed_by(ALICE)
    d = head.digest
    assert codec.decode(head.encode()) == [
        head.parent_hash,
        42,
        head.state_root,
        head.extrinsics_root,
        head.timestamp,
        [d.slot, ALICE.public, VRF_OUTPUT, VRF_PROOF, d.seal],
    ]
    assert codec.decode(Block(head, EXTRINSICS).encode()) == [
        codec.decode(head.encode()),
        list(EXTRINSICS),
    ]


def test_extrinsics_root_is_the_merkle_root_of_the_bytes() -> None:
    assert extrinsics_root(EXTRINSICS) == merkle_root(list(EXTRINSICS))
    assert extrinsics_root(EXTRINSICS) != extrinsics_root(EXTRINSICS[::-1])


# The seal


def test_seal_is_the_author_signature_over_the_pre_seal_hash() -> None:
    unsealed = header()
    assert not unsealed.seal_is_valid()
    sealed = unsealed.sealed_by(ALICE)
    assert sealed.seal_is_valid()
    # Recomputed from the docstring: H(b"xpl-seal" ‖ the header encoded with an empty seal).
    pre_seal = blake2b_256(b"xpl-seal" + unsealed.encode())
    assert sealed.pre_seal_hash() == unsealed.pre_seal_hash() == pre_seal
    assert verify(ALICE.public, pre_seal, sealed.digest.seal)
    # The block hash covers the seal.
    assert sealed.hash != unsealed.hash


def test_only_the_author_can_seal() -> None:
    with pytest.raises(ValueError, match="author"):
        header().sealed_by(BOB)


@pytest.mark.parametrize(
    "change",
    [
        {"parent_hash": blake2b_256(b"other parent")},
        {"number": 43},
        {"state_root": blake2b_256(b"other state")},
        {"extrinsics_root": extrinsics_root(EXTRINSICS[:2])},
        {"timestamp": 1_700_000_000_001},
        {"slot": 283_333_334},
        {"author": BOB.public},
        {"vrf_output": bytes(32)},
        {"vrf_proof": bytes(80)},
        {"seal": bytes(64)},
    ],
    ids=lambda c: next(iter(c)),
)
def test_any_header_change_breaks_the_seal(change: dict[str, Any]) -> None:
    sealed = header().sealed_by(ALICE)
    (name,) = change
    if name in ("slot", "author", "vrf_output", "vrf_proof", "seal"):
        changed = replace(sealed, digest=replace(sealed.digest, **change))
    else:
        changed = replace(sealed, **change)
    assert changed.hash != sealed.hash
    assert not changed.seal_is_valid()


def test_a_resealed_header_by_another_author_is_valid_only_for_that_author() -> None:
    by_bob = replace(header(), digest=replace(header().digest, author=BOB.public)).sealed_by(BOB)
    assert by_bob.seal_is_valid()
    forged = replace(by_bob, digest=replace(by_bob.digest, author=ALICE.public))
    assert not forged.seal_is_valid()


# Strict decoding


def reencoded(head: Header, edit: Any) -> bytes:
    fields = codec.decode(head.encode())
    edit(fields)
    return codec.encode(fields)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        pytest.param(lambda f: f.pop(), "header", id="five-fields"),
        pytest.param(lambda f: f.append(0), "header", id="seven-fields"),
        pytest.param(lambda f: f.__setitem__(0, f[0][:31]), "parent_hash", id="parent-short"),
        pytest.param(lambda f: f.__setitem__(1, 2**32), "number", id="number-over-u32"),
        pytest.param(lambda f: f.__setitem__(1, True), "number", id="number-bool"),
        pytest.param(lambda f: f.__setitem__(2, "root"), "state_root", id="state-root-str"),
        pytest.param(lambda f: f.__setitem__(3, None), "extrinsics_root", id="ext-root-none"),
        pytest.param(lambda f: f.__setitem__(4, -1), "timestamp", id="timestamp-negative"),
        pytest.param(lambda f: f.__setitem__(5, [0, f[5][1]]), "digest", id="digest-two-fields"),
        pytest.param(lambda f: f[5].__setitem__(1, b"x"), "author", id="author-short"),
        pytest.param(lambda f: f[5].__setitem__(4, bytes(63)), "seal", id="seal-63"),
        pytest.param(lambda f: f[5].__setitem__(4, ""), "seal", id="seal-str"),
        pytest.param(lambda f: f[5].__setitem__(4, None), "seal", id="seal-none"),
        pytest.param(lambda f: f[5].pop(2), "digest", id="digest-four-fields"),
        pytest.param(lambda f: f[5].__setitem__(2, bytes(31)), "vrf_output", id="vrf-output-31"),
        pytest.param(lambda f: f[5].__setitem__(2, None), "vrf_output", id="vrf-output-none"),
        pytest.param(lambda f: f[5].__setitem__(3, bytes(79)), "vrf_proof", id="vrf-proof-79"),
        pytest.param(lambda f: f[5].__setitem__(3, 80), "vrf_proof", id="vrf-proof-int"),
    ],
)
def test_header_decode_refuses_malformed_fields(edit: Any, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        Header.decode(reencoded(header().sealed_by(ALICE), edit))


def test_header_decode_refuses_oversize_input() -> None:
    fields = codec.decode(header().encode())
    fields[0] = b"\x00" * MAX_HEADER_SIZE
    with pytest.raises(DecodeError, match="over the limit"):
        Header.decode(codec.encode(fields))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([b"ok", "not bytes"], id="str"),
        pytest.param([b"ok", 5], id="int"),
        pytest.param([[b"nested"]], id="array"),
        pytest.param([None], id="none"),
        pytest.param([True], id="bool"),
    ],
)
def test_block_decode_refuses_non_bytes_extrinsics(body: list[Any]) -> None:
    raw = codec.encode([header().to_value(), body])
    with pytest.raises(DecodeError, match="extrinsics"):
        Block.decode(raw)
    with pytest.raises(DecodeError, match="body"):
        decode_body(codec.encode(body))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda h: [h], id="one-field"),
        pytest.param(lambda h: [h, [], 0], id="three-fields"),
        pytest.param(lambda h: [h, b"body"], id="body-bytes"),
        pytest.param(lambda h: [[*h, 0], []], id="bad-header"),
    ],
)
def test_block_decode_refuses_wrong_shapes(value: Any) -> None:
    with pytest.raises(DecodeError):
        Block.decode(codec.encode(value(header().to_value())))


def test_block_decode_refuses_trailing_bytes() -> None:
    raw = Block(header(), EXTRINSICS).encode()
    with pytest.raises(DecodeError):
        Block.decode(raw + b"\xc0")


# JSON


def test_header_json_is_substrate_style() -> None:
    sealed = header(number=255).sealed_by(ALICE)
    j = sealed.to_json()
    assert j["number"] == "0xff"
    assert int(j["number"], 16) == 255
    assert j["parentHash"] == "0x" + sealed.parent_hash.hex()
    assert j["stateRoot"] == "0x" + sealed.state_root.hex()
    assert j["extrinsicsRoot"] == "0x" + sealed.extrinsics_root.hex()
    assert j["hash"] == "0x" + sealed.hash.hex()
    assert j["timestamp"] == sealed.timestamp
    assert j["digest"] == {
        "slot": sealed.digest.slot,
        "author": encode_address(ALICE.public),
        "vrfOutput": "0x" + VRF_OUTPUT.hex(),
        "vrfProof": "0x" + VRF_PROOF.hex(),
        "seal": "0x" + sealed.digest.seal.hex(),
    }
    assert header(number=0).to_json()["number"] == "0x0"
