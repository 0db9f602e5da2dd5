"""Calls built from JSON against the runtime's metadata: what the CLI signs is what the runtime
decodes, and any other input is refused with one CallCheckError naming the problem."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.metadata import CallCheckError, Metadata
from runtime import api
from runtime.dispatch import decode_call
from runtime.executive import CALLS
from runtime.primitives import codec
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import dev_keypair

METADATA = Metadata(api.metadata())
ALICE = dev_keypair("Alice").public


def test_named_and_ordered_arguments_build_the_call_the_runtime_declares() -> None:
    by_name = METADATA.build_call("balances", "transfer", {"dest": "//Alice", "value": "1.5XPL"})
    in_order = METADATA.build_call(
        "balances", "transfer", [encode_address(ALICE), 1_500_000_000_000]
    )
    assert by_name == in_order == api.make_call("balances", "transfer", ALICE, 1_500_000_000_000)
    validate = METADATA.build_call("staking", "validate", [50_000, to_hex(ALICE)])
    assert validate == api.make_call("staking", "validate", 50_000, ALICE)


def test_a_call_argument_is_itself_checked_and_encoded() -> None:
    inner = {"pallet": "balances", "call": "transfer", "args": ["//Alice", "1XPL"]}
    raw = METADATA.encode_call("balances", "transfer", inner["args"])
    call_type = METADATA.field_type("call", "proposal")
    assert call_type.from_json(inner, "proposal") == raw
    assert call_type.from_json(to_hex(raw), "proposal") == raw
    with pytest.raises(CallCheckError, match="balances has no call 'steal'"):
        call_type.from_json({"pallet": "balances", "call": "steal", "args": []}, "proposal")
    with pytest.raises(CallCheckError, match="takes 2 arguments, the encoded call has 0"):
        call_type.from_json(to_hex(codec.encode(["balances", "transfer", []])), "proposal")


@pytest.mark.parametrize(
    ("pallet", "name", "args", "message"),
    [
        ("nope", "x", [], "unknown pallet 'nope' (the node's pallets: balances,"),
        ("balances", "mint", [], "balances has no call 'mint' (its calls: transfer,"),
        ("balances", "transfer", {"dest": "//Alice"}, "missing argument 'value'"),
        ("balances", "transfer", {"dest": "//Alice", "value": 1, "memo": ""}, "argument 'memo'"),
        ("balances", "transfer", ["//Alice", 1, 2], "expected 2 arguments ['dest', 'value']"),
        ("balances", "transfer", ["//Alice", 1.5], "balances.transfer.value: expected an integer"),
        ("balances", "transfer", ["Alice", 1], "balances.transfer.dest"),
        ("balances", "transfer", "//Alice", "expected the arguments as an object or a list"),
        ("staking", "nominate", [["//Bob"] * 65], "staking.nominate.targets: 65 items, over"),
    ],
)
def test_arguments_that_do_not_match_are_refused_naming_them(
    pallet: str, name: str, args: Any, message: str
) -> None:
    with pytest.raises(CallCheckError) as refused:
        METADATA.build_call(pallet, name, args)
    assert message in str(refused.value)


def test_a_type_this_program_cannot_read_is_named() -> None:
    document = api.metadata()
    document["pallets"][0]["calls"].append({"name": "new", "args": [["x", "matrix<u8>"]]})
    with pytest.raises(CallCheckError, match="cannot read the node's type 'matrix<u8>'"):
        Metadata(document).build_call(document["pallets"][0]["name"], "new", [1])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**130), 2**130) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(sorted(CALLS)), JSON)
def test_any_json_builds_a_call_the_runtime_decodes_or_is_refused_cleanly(
    key: tuple[str, str], args: Any
) -> None:
    try:
        call = METADATA.build_call(*key, args)
    except CallCheckError:
        return
    call_def, _ = decode_call(codec.encode(call.to_value()))
    assert (call_def.pallet, call_def.name) == key


@pytest.mark.parametrize(
    "document",
    [{}, {"pallets": 3}, {"pallets": [{"name": "x"}]}, {"pallets": [{"name": "x", "calls": [1]}]}],
)
def test_a_node_answering_something_else_than_metadata_is_named(document: Any) -> None:
    with pytest.raises(CallCheckError, match="the node's metadata does not read as metadata"):
        Metadata(document)
