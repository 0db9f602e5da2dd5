"""Strict parameter parsing: one spelling per value, and calls with parameters a method does not
take are refused naming them; every method of the node declares its parameters."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.service.rpc.errors import INVALID_PARAMS, RpcError
from chain.service.rpc.methods import build_methods
from chain.service.rpc.params import block_number, canonical_int, check_signature, hash32
from chain.service.rpc.registry import Method, Subscribe, Unsubscribe


@pytest.mark.parametrize(
    "lenient",
    [
        " 12 ",
        "1_0",
        "+1",
        "-1",
        "012",
        "1.0",
        "1e3",
        "0x012",
        "0X12",
        "0xA",
        "0x",
        "",
        "١٢",
        True,
        12.0,
    ],
    ids=repr,
)
def test_lenient_integers_are_refused(lenient: object) -> None:
    with pytest.raises(ValueError, match="expected an integer"):
        canonical_int(lenient)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_each_block_number_has_its_canonical_spellings(number: int) -> None:
    assert block_number(number) == block_number(str(number)) == block_number(hex(number)) == number


@given(st.text(max_size=12))
def test_a_string_passes_as_an_integer_only_if_canonical(text: str) -> None:
    try:
        value = canonical_int(text)
    except ValueError:
        return
    assert text in (str(value), hex(value))


@pytest.mark.parametrize(
    "text", ["0x" + "ab" * 31 + " a", "0x" + "AB" * 32 + "\n", " 0x" + "00" * 32, "0x" + "0" * 63]
)
def test_lenient_hex_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        hash32(text)


def test_unknown_named_and_extra_positional_parameters_are_refused_by_name() -> None:
    check_signature({"number": 1}, ("number",))
    check_signature([1], ("number",))
    with pytest.raises(RpcError) as unknown:
        check_signature({"number": 1, "nmber": 2}, ("number",))
    assert unknown.value.code == INVALID_PARAMS and "'nmber'" in unknown.value.message
    with pytest.raises(RpcError) as extra:
        check_signature([1, 2], ("number",))
    assert extra.value.code == INVALID_PARAMS and "at most 1" in extra.value.message


def test_every_method_of_the_node_declares_its_parameters() -> None:
    methods = build_methods(MagicMock(), test_rpc=True)
    undeclared = [
        name
        for name in methods.names()
        if not isinstance(entry := methods.lookup(name), Unsubscribe)
        and isinstance(entry, Method | Subscribe)
        and entry.params is None
    ]
    assert undeclared == []
    assert methods.unsafe_names() == ["system_peers", "test_setBlockedPeers"]
