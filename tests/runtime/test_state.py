"""The block's state overlay: reads see the latest write, layers commit and roll back, and the
block's changes are exactly the writes that survived (against a plain model of stacked dicts)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.state import StateOverlay

KEYS = [bytes([k]) for k in range(6)]
BACKEND = {KEYS[0]: b"\x00zero", KEYS[1]: b"\x00one"}


def _decode(raw: bytes) -> bytes:
    return raw[1:]


def _encode(value: bytes) -> bytes:
    return b"\x00" + value


class Model:
    """The overlay's definition: a stack of layers over the block's writes over the backend."""

    def __init__(self) -> None:
        self.layers: list[dict[bytes, Any]] = [{}]

    def get(self, key: bytes) -> bytes | None:
        for layer in reversed(self.layers):
            if key in layer:
                return layer[key]  # type: ignore[no-any-return]
        raw = BACKEND.get(key)
        return None if raw is None else _decode(raw)

    def changes(self) -> dict[bytes, bytes | None]:
        return {k: None if v is None else _encode(v) for k, v in self.layers[0].items()}


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.binary(max_size=3)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(b"")),
        st.tuples(st.sampled_from(["begin", "commit", "rollback"]), st.just(b""), st.just(b"")),
    ),
    max_size=40,
)


@settings(max_examples=100)
@given(OPS)
def test_the_overlay_reads_and_changes_as_stacked_layers(
    ops: list[tuple[str, bytes, bytes]],
) -> None:
    overlay, model = StateOverlay(BACKEND.get), Model()
    for op, key, value in ops:
        if op == "put":
            overlay.put(key, value, _encode)
            model.layers[-1][key] = value
        elif op == "delete":
            overlay.delete(key)
            model.layers[-1][key] = None
        elif op == "begin":
            overlay.begin()
            model.layers.append({})
        elif len(model.layers) > 1:
            top = model.layers.pop()
            if op == "commit":
                overlay.commit()
                model.layers[-1].update(top)
            else:
                overlay.rollback()
        for k in KEYS:
            assert overlay.get(k, _decode) == model.get(k)
    while len(model.layers) > 1:
        overlay.rollback()
        model.layers.pop()
    assert overlay.changes() == model.changes()
    assert overlay.committed_values() == model.layers[0]
    cache: dict[bytes, Any] = {KEYS[0]: b"cached", KEYS[5]: b"five"}
    carried = dict(cache)
    carried.update(overlay.committed_values())
    overlay.carry_into(cache)
    assert cache == carried


def test_changes_are_refused_while_a_layer_is_open() -> None:
    overlay = StateOverlay(BACKEND.get)
    overlay.begin()
    overlay.put(KEYS[2], b"x", _encode)
    with pytest.raises(RuntimeError):
        overlay.changes()
    with pytest.raises(RuntimeError):
        overlay.committed_values()
    overlay.rollback()
    assert overlay.changes() == {}
