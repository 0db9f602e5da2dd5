"""SS58 addresses: round trips, Substrate's known answer, and refusal of mistyped input."""

from __future__ import annotations

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.primitives.address import (
    MAX_PREFIX,
    XPL_ADDRESS_PREFIX,
    InvalidAddress,
    decode_address,
    encode_address,
    parse_account,
)
from runtime.primitives.keys import DEV_ACCOUNT_NAMES, dev_keypair

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
public_keys = st.binary(min_size=32, max_size=32)


def dev_addresses() -> list[str]:
    return [encode_address(dev_keypair(name).public) for name in DEV_ACCOUNT_NAMES]


@given(public_keys)
def test_round_trip_with_xpl_prefix(public: bytes) -> None:
    assert decode_address(encode_address(public)) == public


@given(public_keys, st.integers(0, MAX_PREFIX))
def test_round_trip_with_any_prefix(public: bytes, prefix: int) -> None:
    assert decode_address(encode_address(public, prefix), prefix) == public


def test_substrate_known_answer() -> None:
    # Substrate's documented //Alice sr25519 public key and its address under prefix 42.
    public = bytes.fromhex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
    address = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    assert encode_address(public, 42) == address
    assert decode_address(address, 42) == public


def test_xpl_prefix_is_47() -> None:
    assert XPL_ADDRESS_PREFIX == 47


def test_alice_address_is_stable() -> None:
    # Computed once from the documented dev derivation (keys.py) and the SS58 rule; a change here
    # means every tool and document naming Alice's address is wrong.
    alice = dev_keypair("Alice").public
    assert encode_address(alice) == "5m97dmEkfYBouPoCJgxH3E68qy4rDEKLqUVVVhxAZ7AHY5ED"


@pytest.mark.parametrize("address", dev_addresses())
def test_every_single_character_substitution_is_refused(address: str) -> None:
    for position in range(len(address)):
        for char in BASE58:
            if char == address[position]:
                continue
            typo = address[:position] + char + address[position + 1 :]
            with pytest.raises(InvalidAddress):
                decode_address(typo)


@pytest.mark.parametrize("address", dev_addresses())
def test_every_adjacent_swap_and_deletion_is_refused(address: str) -> None:
    for position in range(len(address) - 1):
        swapped = (
            address[:position] + address[position + 1] + address[position] + address[position + 2 :]
        )
        if swapped != address:
            with pytest.raises(InvalidAddress):
                decode_address(swapped)
    for position in range(len(address)):
        with pytest.raises(InvalidAddress):
            decode_address(address[:position] + address[position + 1 :])


def test_mistyped_address_says_checksum_mismatch() -> None:
    address = encode_address(dev_keypair("Alice").public)
    typo = address[:10] + ("a" if address[10] != "a" else "b") + address[11:]
    with pytest.raises(InvalidAddress, match="checksum mismatch: the address is mistyped") as info:
        decode_address(typo)
    assert typo in str(info.value)


@pytest.mark.parametrize("char", ["0", "O", "I", "l", " ", "-", "é"])
def test_non_base58_character_is_named_with_its_position(char: str) -> None:
    address = encode_address(dev_keypair("Bob").public)
    bad = address[:4] + char + address[5:]
    with pytest.raises(InvalidAddress) as info:
        decode_address(bad)
    message = str(info.value)
    assert repr(char) in message
    assert "position 5" in message
    assert "not a base58 character" in message


def test_address_of_another_network_names_both_prefixes() -> None:
    public = dev_keypair("Alice").public
    with pytest.raises(InvalidAddress) as info:
        decode_address(encode_address(public, 42))
    assert "42" in str(info.value)
    assert "47" in str(info.value)
    with pytest.raises(InvalidAddress, match=r"network prefix 47 .* not 2\b"):
        decode_address(encode_address(public), 2)


def test_two_byte_prefix_of_another_network_is_named() -> None:
    with pytest.raises(InvalidAddress, match=r"network prefix 137, not 47"):
        decode_address(encode_address(dev_keypair("Alice").public, 137))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty address"),
        ("2", "wrong length"),
        ("5m97dmEkfYBouPoCJgxH3E68qy4rDEKLqUVVVhxAZ7AHY5E", "wrong length"),
        ("5m97dmEkfYBouPoCJgxH3E68qy4rDEKLqUVVVhxAZ7AHY5EDD", "wrong length"),
        ("1" * 35, "checksum mismatch"),
        (base58.b58encode(bytes([200]) + bytes(34)).decode(), "not an SS58 account address"),
        ("5" * 500, "too long"),
    ],
)
def test_malformed_addresses_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidAddress, match=fragment):
        decode_address(text)


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidAddress, match="as text"):
        decode_address(b"5m97" * 12)  # type: ignore[arg-type]


def test_encode_refuses_bad_public_key_and_prefix() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encode_address(bytes(31))
    for prefix in (-1, MAX_PREFIX + 1):
        with pytest.raises(ValueError, match="prefix"):
            encode_address(bytes(32), prefix)


def test_parse_account_accepts_address_public_key_and_dev_uri() -> None:
    alice = dev_keypair("Alice").public
    assert parse_account(encode_address(alice)) == alice
    assert parse_account("0x" + alice.hex()) == alice
    assert parse_account("//Alice") == alice


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0x1234", "expected 32 bytes"),
        ("0xzz", "not valid hex"),
        ("//", "expected //Name"),
        ("Alice", "did you mean the development account //Alice"),
        ("bob", "did you mean the development account //Bob"),
        ("hello", "an account is an XPL address, a 0x-prefixed 32-byte public key"),
        (encode_address(bytes(32), 42), "not 47"),
    ],
)
def test_parse_account_refuses_other_text(text: str, fragment: str) -> None:
    with pytest.raises(InvalidAddress, match=fragment):
        parse_account(text)
