"""Every parameter-changing call, and every other call only Root may make, refuses a signed origin
and every governance track's origin but root's with BadOrigin: on a live chain only a referendum
on the `root` track (or, on a dev chain, the sudo key) reaches them.

The calls are found, not listed: every call of `dispatch.calls()` whose name starts with `set_`
(a pallet that adds one is covered at once), and the other Root-only calls of the runtime that
exist in it. A call that checks its arguments before its origin fails here too: a stranger must
learn nothing from a Root-only call but BadOrigin, and pay for nothing else.
"""

from __future__ import annotations

from typing import Any, Final

import pytest

import runtime.executive
from runtime import dispatch
from runtime.framework import ROOT, BlockContext, CallDef, DispatchError, Origin
from runtime.genesis import build_genesis_state
from runtime.pallets.governance import tracks
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError, Value
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import dev_genesis_config

STRANGER: Final = dev_keypair("Bob").public
"""A funded account that holds no office (not the sudo key)."""

OTHER_ROOT_ONLY: Final = frozenset(
    {
        ("referenda", "cancel"),
        ("referenda", "kill"),
        ("treasury", "void_spend"),
    }
)
"""Root-only calls whose names do not start with `set_` (those the runtime has are tested).
`bounties.close_bounty` is not one: a track covering the bounty's value may close it, and anyone
may withdraw an undecided proposal after its period."""

NOT_ROOT_ONLY: Final = frozenset({("sudo", "set_key")})
"""`set_` calls made by an office rather than Root: sudo's key hands itself on (refused to
anyone else, which sudo's own tests check, as they check `remove_key`)."""


def root_only_calls() -> list[CallDef]:
    """The runtime's Root-only calls, in a stable order."""
    found = [
        c
        for key, c in dispatch.calls().items()
        if (c.name.startswith("set_") and key not in NOT_ROOT_ONLY) or key in OTHER_ROOT_ONLY
    ]
    return sorted(found, key=lambda c: (c.pallet, c.name))


_CONFIG: Final = dev_genesis_config()
_GENESIS: Final = build_genesis_state(_CONFIG)


def context() -> BlockContext:
    return BlockContext(
        state=StateOverlay(_GENESIS.get),
        number=1,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=dev_keypair("Alice").public,
        genesis_hash=ZERO_HASH,
    )


def _candidates() -> list[Value]:
    some_call = dispatch.encode_call("balances", "transfer", (STRANGER, 1))
    return [0, 1, bytes(32), "root", "", b"", [], None, False, some_call]


def params_in_force(call_def: CallDef) -> Any:
    """The parameters the dev genesis gives the call's pallet, if the call takes that pallet's
    parameter record (as every `set_params` does); else None."""
    for pallet in runtime.executive.PALLETS:
        record = pallet.PARAMS
        if call_def.pallet != pallet.NAME or record is None or call_def.args != record.call_args():
            continue
        configured = getattr(_CONFIG, pallet.NAME, None)
        return configured if isinstance(configured, record) else record()
    return None


def sample_args(call_def: CallDef) -> tuple[Any, ...]:
    """Arguments the call decodes: its pallet's parameters in force for a `set_params`, else for
    each field the first of a few plain values that decodes (None where none does: the origin
    must be refused before the arguments are looked at)."""
    params = params_in_force(call_def)
    if params is not None:
        return tuple(getattr(params, n) for n, _ in call_def.args)
    args: list[Any] = []
    for name, ftype in call_def.args:
        value: Any = None
        for candidate in _candidates():
            try:
                value = ftype.from_value(candidate, name)
                break
            except (DecodeError, ValueError, TypeError):
                continue
        args.append(value)
    return tuple(args)


def attempt(call_def: CallDef, origin: Origin) -> tuple[DispatchError | None, dict[bytes, Any]]:
    """Run the call with `origin` as dispatch does (in a layer, undone if it fails); the error
    and the state's changes."""
    ctx = context()
    args = sample_args(call_def)
    ctx.state.begin()
    try:
        call_def.function(ctx, origin, *args)
    except DispatchError as exc:
        ctx.state.rollback()
        return exc, ctx.state.changes()
    ctx.state.commit()
    return None, ctx.state.changes()


def non_root_track_origins() -> list[Origin]:
    names = {t.name for t in tracks.DEFAULT_TRACKS} | {
        t.name for t in tracks.tracks(context().state)
    }
    return [Origin(track=name) for name in sorted(names - {"root"})]


def test_the_root_only_calls_include_every_pallet_s_parameters() -> None:
    names = {(c.pallet, c.name) for c in root_only_calls()}
    assert {
        ("compute", "set_params"),
        ("market", "set_params"),
        ("staking", "set_params"),
        ("transaction_payment", "set_params"),
    } <= names
    assert len(non_root_track_origins()) >= 2  # treasurer and small_spender at least


@pytest.mark.parametrize("call_def", root_only_calls(), ids=lambda c: f"{c.pallet}.{c.name}")
def test_a_signed_origin_and_every_other_track_are_refused_with_bad_origin(
    call_def: CallDef,
) -> None:
    for origin in (Origin(signer=STRANGER), *non_root_track_origins()):
        error, changes = attempt(call_def, origin)
        assert error is not None and error.error_name() == "BadOrigin", (origin, error)
        assert changes == {}


@pytest.mark.parametrize(
    "call_def",
    [c for c in root_only_calls() if c.name == "set_params"],
    ids=lambda c: f"{c.pallet}.{c.name}",
)
def test_root_passes_the_origin_check(call_def: CallDef) -> None:
    """The other side: Root setting the parameters in force is accepted (so the refusals above
    are the origin's, not the arguments')."""
    error, _ = attempt(call_def, ROOT)
    assert error is None, error.reason() if error else None


def test_the_calls_refuse_through_dispatch_too() -> None:
    """An encoded set_params, as a proposal or a scheduled task holds it, dispatched with a
    track origin: BadOrigin, and nothing written."""
    call_def = dispatch.calls()[("market", "set_params")]
    raw = dispatch.encode_call("market", "set_params", sample_args(call_def))
    assert codec.decode(raw)[1] == "set_params"
    ctx = context()
    with pytest.raises(DispatchError) as refused:
        dispatch.dispatch(ctx, Origin(track="treasurer"), raw)
    assert refused.value.error_name() == "BadOrigin"
    assert ctx.state.changes() == {} and ctx.events == []
