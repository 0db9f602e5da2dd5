"""The ECVRF: a proof verifies to its output; any changed bit fails; the output is a function of
the key and the input alone, whatever proof a prover builds."""

from __future__ import annotations

import hashlib

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_is_valid_point,
    crypto_core_ed25519_scalar_add,
    crypto_core_ed25519_scalar_mul,
    crypto_core_ed25519_scalar_reduce,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)

from runtime.primitives import vrf
from runtime.primitives.keys import Keypair, dev_keypair

seeds = st.binary(min_size=32, max_size=32)
alphas = st.binary(max_size=80)
ALICE, BOB = dev_keypair("Alice"), dev_keypair("Bob")
# A point of order 8 (RFC 8032's torsion): Gamma plus it has the same cofactor-cleared output.
TORSION = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _secret_scalar(keypair: Keypair) -> bytes:
    """The secret scalar recomputed from RFC 8032's rule (not from vrf.py's code)."""
    h = bytearray(hashlib.sha512(keypair.seed).digest()[:32])
    h[0] &= 248
    h[31] = (h[31] & 127) | 64
    return crypto_core_ed25519_scalar_reduce(bytes(h) + bytes(32))


def _proof_with_nonce(keypair: Keypair, alpha: bytes, k: bytes) -> bytes:
    """An honest prover's proof with the nonce `k` of its choice instead of the derived one."""
    x = _secret_scalar(keypair)
    h = vrf._encode_to_curve(keypair.public, alpha)
    gamma = crypto_scalarmult_ed25519_noclamp(x, h)
    u = crypto_scalarmult_ed25519_base_noclamp(k)
    v = crypto_scalarmult_ed25519_noclamp(k, h)
    c = vrf._challenge(keypair.public, h, gamma, u, v)
    s = crypto_core_ed25519_scalar_add(k, crypto_core_ed25519_scalar_mul(c, x))
    return gamma + c[: vrf.CHALLENGE_LEN] + s


def test_the_secret_scalar_is_the_ed25519_key() -> None:
    assert crypto_scalarmult_ed25519_base_noclamp(_secret_scalar(ALICE)) == ALICE.public


@settings(max_examples=40, deadline=None)
@given(seeds, alphas)
def test_a_proof_verifies_to_its_output(seed: bytes, alpha: bytes) -> None:
    keypair = Keypair.from_seed(seed)
    output, proof = vrf.prove(keypair, alpha)
    assert len(output) == vrf.OUTPUT_LEN and len(proof) == vrf.PROOF_LEN
    assert vrf.verify(keypair.public, alpha, proof) == output
    # Deterministic: the same key and input give the same proof.
    assert vrf.prove(keypair, alpha) == (output, proof)


@settings(max_examples=60, deadline=None)
@given(seeds, alphas, st.integers(0, vrf.PROOF_LEN * 8 - 1))
def test_any_flipped_bit_of_the_proof_fails(seed: bytes, alpha: bytes, bit: int) -> None:
    keypair = Keypair.from_seed(seed)
    _, proof = vrf.prove(keypair, alpha)
    assert vrf.verify(keypair.public, alpha, _flip(proof, bit)) is None


@settings(max_examples=40, deadline=None)
@given(seeds, alphas, st.integers(0, 255))
def test_any_flipped_bit_of_the_key_fails(seed: bytes, alpha: bytes, bit: int) -> None:
    keypair = Keypair.from_seed(seed)
    _, proof = vrf.prove(keypair, alpha)
    assert vrf.verify(_flip(keypair.public, bit), alpha, proof) is None


@settings(max_examples=40, deadline=None)
@given(seeds, st.binary(min_size=1, max_size=80), st.data())
def test_any_flipped_bit_of_the_input_fails(seed: bytes, alpha: bytes, data: st.DataObject) -> None:
    keypair = Keypair.from_seed(seed)
    _, proof = vrf.prove(keypair, alpha)
    bit = data.draw(st.integers(0, len(alpha) * 8 - 1))
    assert vrf.verify(keypair.public, _flip(alpha, bit), proof) is None
    assert vrf.verify(keypair.public, alpha + b"\x00", proof) is None


@settings(max_examples=30, deadline=None)
@given(seeds, alphas)
def test_another_keys_proof_fails(seed: bytes, alpha: bytes) -> None:
    keypair = Keypair.from_seed(seed)
    _, proof = vrf.prove(keypair, alpha)
    assert vrf.verify(BOB.public if keypair != BOB else ALICE.public, alpha, proof) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120), st.binary(max_size=120), alphas)
def test_garbage_never_verifies_and_never_raises(public: bytes, proof: bytes, alpha: bytes) -> None:
    assert vrf.verify(public, alpha, proof) is None


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=80, max_size=80))
def test_garbage_of_the_right_lengths_never_verifies(public: bytes, proof: bytes) -> None:
    assert vrf.verify(public, b"alpha", proof) is None


def test_wrong_types_are_refused_without_raising() -> None:
    _, proof = vrf.prove(ALICE, b"x")
    for bad in (None, "x", bytearray(b"x"), 3):
        assert vrf.verify(bad, b"x", proof) is None  # type: ignore[arg-type]
        assert vrf.verify(ALICE.public, bad, proof) is None  # type: ignore[arg-type]
        assert vrf.verify(ALICE.public, b"x", bad) is None  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(seeds, alphas, st.binary(min_size=64, max_size=64))
def test_a_re_randomized_nonce_gives_another_proof_of_the_same_output(
    seed: bytes, alpha: bytes, wide: bytes
) -> None:
    keypair = Keypair.from_seed(seed)
    output, proof = vrf.prove(keypair, alpha)
    k = crypto_core_ed25519_scalar_reduce(wide)
    assume(k != bytes(32))
    other = _proof_with_nonce(keypair, alpha, k)
    assert other != proof
    assert vrf.verify(keypair.public, alpha, other) == output


@settings(max_examples=30, deadline=None)
@given(seeds, alphas, st.binary(min_size=64, max_size=64))
def test_no_proof_for_another_gamma_is_accepted(seed: bytes, alpha: bytes, wide: bytes) -> None:
    # A prover that knows x and tries another Gamma' = y·H (y ≠ x), with a consistent-looking
    # Chaum–Pedersen transcript built from y instead of x, is refused: the relation to Y fails.
    keypair = Keypair.from_seed(seed)
    y = crypto_core_ed25519_scalar_reduce(wide)
    assume(y not in (bytes(32), _secret_scalar(keypair)))
    h = vrf._encode_to_curve(keypair.public, alpha)
    gamma = crypto_scalarmult_ed25519_noclamp(y, h)
    k = crypto_core_ed25519_scalar_reduce(hashlib.sha512(wide).digest())
    u = crypto_scalarmult_ed25519_base_noclamp(k)
    v = crypto_scalarmult_ed25519_noclamp(k, h)
    c = vrf._challenge(keypair.public, h, gamma, u, v)
    s = crypto_core_ed25519_scalar_add(k, crypto_core_ed25519_scalar_mul(c, y))
    assert vrf.verify(keypair.public, alpha, gamma + c[: vrf.CHALLENGE_LEN] + s) is None


@settings(max_examples=30, deadline=None)
@given(seeds, alphas)
def test_gamma_plus_a_small_order_point_is_refused(seed: bytes, alpha: bytes) -> None:
    keypair = Keypair.from_seed(seed)
    _, proof = vrf.prove(keypair, alpha)
    shifted = crypto_core_ed25519_add(proof[:32], TORSION)
    assert not crypto_core_ed25519_is_valid_point(shifted)
    assert vrf.verify(keypair.public, alpha, shifted + proof[32:]) is None


def test_an_unreduced_s_is_refused() -> None:
    # s + L is the same scalar mod L: accepting it would make proofs malleable.
    _, proof = vrf.prove(ALICE, b"x")
    s = int.from_bytes(proof[48:], "little") + vrf.L
    if s < 2**256:
        assert vrf.verify(ALICE.public, b"x", proof[:48] + s.to_bytes(32, "little")) is None


def test_outputs_differ_by_key_and_input() -> None:
    outputs = {vrf.prove(k, a)[0] for k in (ALICE, BOB) for a in (b"", b"a", b"b")}
    assert len(outputs) == 6
