"""Addresses shown to people: SS58, as Substrate writes them.

An address is base58(prefix ‖ public key ‖ checksum), where the checksum is the first 2 bytes of
BLAKE2b-512(b"SS58PRE" ‖ prefix ‖ public key). Prefixes below 64 take one byte; prefixes 64 to
16383 take Substrate's two-byte form. The prefix names the network, so an address copied from
another chain is refused rather than silently paying a key nobody on XPL controls; the checksum
catches a mistyped address (all but about one in 65536 random errors).

XPL's prefix is 47. In Substrate's SS58 registry 47 is marked reserved and belongs to no network,
so no registered chain writes addresses that XPL would take as its own. Some Substrate tools
refuse reserved prefixes; XPL's own CLI and client read them. XPL addresses are 48 characters and
begin with 5, as generic Substrate (prefix 42) ones do: the prefix check, not the look, tells them
apart.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Final

import base58

from runtime.primitives.hashing import from_hex
from runtime.primitives.keys import DEV_ACCOUNT_NAMES, PUBLIC_KEY_LEN, keypair_from_suri

XPL_ADDRESS_PREFIX: Final = 47
"""XPL's SS58 network prefix (reserved in Substrate's registry, so used by no other network)."""

MAX_PREFIX: Final = 16383
CHECKSUM_LEN: Final = 2
_CHECKSUM_DOMAIN: Final = b"SS58PRE"
_ALPHABET: Final = base58.BITCOIN_ALPHABET.decode()
_MAX_ADDRESS_CHARS: Final = 64  # a 32-byte account address is at most 50 characters
_KNOWN_NETWORKS: Final = {0: "Polkadot", 2: "Kusama", 42: "generic Substrate"}


class InvalidAddress(ValueError):
    """Text that is not an address (or account) of the expected network."""


def encode_address(public: bytes, prefix: int = XPL_ADDRESS_PREFIX) -> str:
    """The SS58 address of a 32-byte public key under a network prefix."""
    if len(public) != PUBLIC_KEY_LEN:
        raise ValueError(f"a public key is {PUBLIC_KEY_LEN} bytes, got {len(public)}")
    payload = _prefix_bytes(prefix) + bytes(public)
    return base58.b58encode(payload + _checksum(payload)).decode()


def decode_address(text: str, prefix: int = XPL_ADDRESS_PREFIX) -> bytes:
    """The 32-byte public key of an address, which must carry `prefix` and a valid checksum."""
    _prefix_bytes(prefix)  # reject a bad expected prefix before judging the text
    if not isinstance(text, str):
        raise InvalidAddress(f"expected an address as text, got {type(text).__name__}")
    if not text:
        raise InvalidAddress("empty address")
    if len(text) > _MAX_ADDRESS_CHARS:
        raise InvalidAddress(
            f"address {_shorten(text)!r}: {len(text)} characters is too long for an address"
        )
    for position, char in enumerate(text, start=1):
        if char not in _ALPHABET:
            raise InvalidAddress(
                f"address {text!r}: {char!r} at position {position} is not a base58 character "
                "(base58 has no 0, O, I or l)"
            )
    data = base58.b58decode(text)
    expected_len = len(_prefix_bytes(prefix)) + PUBLIC_KEY_LEN + CHECKSUM_LEN
    if len(data) not in (1 + PUBLIC_KEY_LEN + CHECKSUM_LEN, 2 + PUBLIC_KEY_LEN + CHECKSUM_LEN):
        raise _wrong_length(text, len(data), expected_len)
    got_prefix, prefix_len = _read_prefix(text, data)
    if len(data) != prefix_len + PUBLIC_KEY_LEN + CHECKSUM_LEN:
        raise _wrong_length(text, len(data), expected_len)
    payload, checksum = data[:-CHECKSUM_LEN], data[-CHECKSUM_LEN:]
    if _checksum(payload) != checksum:
        raise InvalidAddress(f"address {text!r}: checksum mismatch: the address is mistyped")
    if got_prefix != prefix:
        raise InvalidAddress(
            f"address {text!r} belongs to network prefix {_network(got_prefix)}, "
            f"not {_network(prefix)}"
        )
    return payload[prefix_len:]


def parse_account(text: str) -> bytes:
    """An account id from an XPL address, a 0x-prefixed 32-byte public key or a dev URI."""
    if not isinstance(text, str):
        raise InvalidAddress(f"expected an account as text, got {type(text).__name__}")
    if text.startswith("//"):
        try:
            return keypair_from_suri(text).public
        except ValueError as exc:
            raise InvalidAddress(str(exc)) from exc
    if text.startswith("0x"):
        try:
            return from_hex(text, length=PUBLIC_KEY_LEN, what=f"public key {_shorten(text)!r}")
        except ValueError as exc:
            raise InvalidAddress(str(exc)) from exc
    if text in DEV_ACCOUNT_NAMES or text.capitalize() in DEV_ACCOUNT_NAMES:
        raise InvalidAddress(
            f"account {text!r}: did you mean the development account //{text.capitalize()}?"
        )
    try:
        return decode_address(text)
    except InvalidAddress as exc:
        raise InvalidAddress(
            f"{exc}; an account is an XPL address, a 0x-prefixed 32-byte public key, "
            "or a development URI such as //Alice"
        ) from exc


def _checksum(payload: bytes) -> bytes:
    return blake2b(_CHECKSUM_DOMAIN + payload, digest_size=64).digest()[:CHECKSUM_LEN]


def _prefix_bytes(prefix: int) -> bytes:
    """Substrate's encoding of a network prefix: one byte below 64, two bytes up to 16383."""
    if isinstance(prefix, bool) or not isinstance(prefix, int) or not 0 <= prefix <= MAX_PREFIX:
        raise ValueError(f"an SS58 network prefix is an integer from 0 to {MAX_PREFIX}")
    if prefix < 64:
        return bytes([prefix])
    first = ((prefix & 0b1111_1100) >> 2) | 0b0100_0000
    second = (prefix >> 8) | ((prefix & 0b0000_0011) << 6)
    return bytes([first, second])


def _read_prefix(text: str, data: bytes) -> tuple[int, int]:
    """The network prefix at the start of decoded address bytes, and how many bytes it takes."""
    if data[0] < 64:
        return data[0], 1
    if data[0] < 128:
        lower = ((data[0] << 2) | (data[1] >> 6)) & 0xFF
        return lower | ((data[1] & 0b0011_1111) << 8), 2
    raise InvalidAddress(
        f"address {text!r}: not an SS58 account address (its first byte {data[0]} "
        "is no network prefix)"
    )


def _wrong_length(text: str, got: int, expected: int) -> InvalidAddress:
    unit = "byte" if got == 1 else "bytes"
    return InvalidAddress(
        f"address {text!r}: wrong length: it decodes to {got} {unit} where an account address "
        f"has {expected} (is a character missing or extra?)"
    )


def _network(prefix: int) -> str:
    name = "XPL" if prefix == XPL_ADDRESS_PREFIX else _KNOWN_NETWORKS.get(prefix)
    return f"{prefix} ({name})" if name else str(prefix)


def _shorten(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
