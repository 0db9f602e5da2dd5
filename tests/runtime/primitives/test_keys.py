"""Ed25519 keys: the documented development derivation, secret URIs, signing and verifying."""

from __future__ import annotations

from hashlib import blake2b

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from runtime.primitives.keys import (
    DEV_ACCOUNT_NAMES,
    InvalidKey,
    Keypair,
    dev_keypair,
    dev_seed,
    keypair_from_suri,
    verify,
)

seeds = st.binary(min_size=32, max_size=32)


@pytest.mark.parametrize("name", DEV_ACCOUNT_NAMES)
def test_dev_keys_follow_the_documented_derivation(name: str) -> None:
    # Recomputed here from the rule in keys.py's docstring, not from keys.py's code.
    seed = blake2b(b"xpl-dev-account://" + name.encode(), digest_size=32).digest()
    public = bytes(SigningKey(seed).verify_key)
    keypair = dev_keypair(name)
    assert keypair.seed == seed
    assert keypair.public == public
    assert keypair_from_suri("//" + name) == keypair
    assert dev_seed("//" + name) == seed


def test_dev_accounts_are_distinct() -> None:
    publics = {dev_keypair(name).public for name in DEV_ACCOUNT_NAMES}
    assert len(publics) == len(DEV_ACCOUNT_NAMES)


@given(seeds)
def test_hex_seed_uri_gives_the_seed_key(seed: bytes) -> None:
    keypair = keypair_from_suri("0x" + seed.hex())
    assert keypair == Keypair.from_seed(seed)
    assert keypair.public == bytes(SigningKey(seed).verify_key)


@given(seeds, st.binary(max_size=256))
def test_signatures_verify(seed: bytes, message: bytes) -> None:
    keypair = Keypair.from_seed(seed)
    signature = keypair.sign(message)
    assert len(signature) == 64
    assert verify(keypair.public, message, signature)
    assert not verify(keypair.public, message + b"x", signature)
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify(keypair.public, message, tampered)


def test_verify_is_false_for_malformed_input() -> None:
    keypair = dev_keypair("Alice")
    signature = keypair.sign(b"m")
    assert not verify(keypair.public[:31], b"m", signature)
    assert not verify(keypair.public, b"m", signature[:63])
    assert not verify(dev_keypair("Bob").public, b"m", signature)


def test_generated_keys_are_random() -> None:
    assert Keypair.generate().public != Keypair.generate().public


def test_seed_is_not_in_repr() -> None:
    keypair = dev_keypair("Alice")
    assert keypair.seed.hex() not in repr(keypair)
    assert repr(keypair.seed) not in repr(keypair)


@pytest.mark.parametrize(
    "suri", ["Alice", "//", "//Al/ice", "0x1234", "0xzz", "", "//\n", "0X" + "00" * 32]
)
def test_bad_secret_uris_are_refused(suri: str) -> None:
    with pytest.raises(InvalidKey):
        keypair_from_suri(suri)


def test_seed_length_is_checked() -> None:
    with pytest.raises(InvalidKey, match="32 bytes"):
        Keypair.from_seed(bytes(31))
