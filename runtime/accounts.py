"""Well-known accounts that no private key controls, named as Substrate names pallet accounts."""

from __future__ import annotations

from typing import Final


def pallet_account(pallet_id: bytes) -> bytes:
    """The account of an 8-byte pallet id: b"modl" ‖ id ‖ zero padding to 32 bytes."""
    if len(pallet_id) != 8:
        raise ValueError("a pallet id is 8 bytes")
    return b"modl" + pallet_id + bytes(20)


TREASURY: Final = pallet_account(b"xpl/trsy")
"""Receives the treasury's share of fees; spent by governance for ecosystem builders."""


def pallet_sub_account(pallet_id: bytes, index: int) -> bytes:
    """The account of item `index` of a pallet (a bounty's, a grant's): b"modl" ‖ the 8-byte
    pallet id ‖ the index as 8 big-endian bytes ‖ zero padding, as Substrate's sub-accounts."""
    if not 0 <= index < 2**64:
        raise ValueError("a sub-account index is a u64")
    return pallet_account(pallet_id)[:12] + index.to_bytes(8, "big") + bytes(12)
