"""Sudo: the key, and only the key, dispatches calls as Root; a chain without a key refuses every
sudo call; the key can be handed on or removed for good. Driven through signed transactions in
authored blocks, as a dev chain's users make them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime import dispatch
from runtime.api import decode_events, make_call
from runtime.executive import BlockResult
from runtime.pallets import compute, scheduler, sudo, system
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.state import StateOverlay
from runtime.transaction import Call
from tests.runtime.conftest import DevChain, dev_genesis_config
from tests.runtime.pallets.scheduler_helpers import (
    SAFE_PARAMS,
    UNSAFE_PARAMS,
    set_params_call,
)

ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))


def sudo_chain(key: Keypair | None = ALICE) -> DevChain:
    """The dev chain of the runtime tests, with `key` as its sudo key (None: no sudo)."""
    config = replace(dev_genesis_config(), sudo=None if key is None else key.public)
    return DevChain(config, ALICE)


def submit(chain: DevChain, signer: Keypair, call: Call) -> BlockResult:
    """Author a block with one transaction of `signer`'s."""
    _, result = chain.produce([chain.sign(signer, call)])
    return result


def events(result: BlockResult) -> list[tuple[str, tuple[Any, ...]]]:
    """The block's events other than fee payments, as `pallet.Event` and fields."""
    return [
        (f"{r.event.pallet}.{r.event.name}", r.args)
        for r in result.context.events
        if r.event.pallet not in ("transaction_payment", "balances")
    ]


def failure(result: BlockResult) -> tuple[str, str] | None:
    """The (pallet, error) the block's transaction failed with, or None."""
    for name, args in events(result):
        if name == "system.ExtrinsicFailed":
            return args[0], args[1]
    return None


def params(chain: DevChain) -> compute.ComputeParams:
    return compute.Params.get(StateOverlay(chain.read))


def sudo_call(raw: bytes) -> Call:
    return make_call("sudo", "sudo", raw)


def test_the_key_dispatches_a_call_as_root() -> None:
    chain = sudo_chain()
    result = submit(chain, ALICE, sudo_call(set_params_call(SAFE_PARAMS)))
    assert failure(result) is None
    assert ("sudo.Sudid", ("compute.set_params", True, "", "")) in events(result)
    assert params(chain) == SAFE_PARAMS
    assert chain.problems() == []


def test_a_refused_call_under_sudo_says_why_and_changes_nothing() -> None:
    chain = sudo_chain()
    before = params(chain)
    result = submit(chain, ALICE, sudo_call(set_params_call(UNSAFE_PARAMS)))
    assert failure(result) is None  # sudo itself succeeded: its fee is paid, the call refused
    [(_, (call_name, ok, error, reason))] = [e for e in events(result) if e[0] == "sudo.Sudid"]
    assert (call_name, ok, error) == ("compute.set_params", False, "compute.BadParams")
    assert reason.startswith("faking results pays")
    assert params(chain) == before


def test_any_signer_but_the_key_is_refused() -> None:
    chain = sudo_chain()
    before = params(chain)
    for signer in (BOB, CHARLIE):
        result = submit(chain, signer, sudo_call(set_params_call(SAFE_PARAMS)))
        assert failure(result) == ("sudo", "RequireSudo")
        assert failure(submit(chain, signer, make_call("sudo", "set_key", signer.public))) == (
            "sudo",
            "RequireSudo",
        )
        assert sudo.key(StateOverlay(chain.read)) == ALICE.public
        assert failure(submit(chain, signer, make_call("sudo", "remove_key"))) == (
            "sudo",
            "RequireSudo",
        )
    assert params(chain) == before


def test_a_chain_without_a_key_refuses_every_sudo_call() -> None:
    chain = sudo_chain(key=None)
    before = params(chain)
    for call in (
        sudo_call(set_params_call(SAFE_PARAMS)),
        make_call("sudo", "set_key", ALICE.public),
        make_call("sudo", "remove_key"),
    ):
        assert failure(submit(chain, ALICE, call)) == ("sudo", "RequireSudo")
    assert sudo.key(StateOverlay(chain.read)) is None
    assert params(chain) == before


def test_the_key_can_be_handed_on_and_then_removed_for_good() -> None:
    chain = sudo_chain()
    result = submit(chain, ALICE, make_call("sudo", "set_key", BOB.public))
    assert ("sudo.KeyChanged", (ALICE.public, BOB.public)) in events(result)
    assert failure(submit(chain, ALICE, sudo_call(set_params_call(SAFE_PARAMS)))) == (
        "sudo",
        "RequireSudo",
    )
    assert failure(submit(chain, BOB, sudo_call(set_params_call(SAFE_PARAMS)))) is None
    assert params(chain) == SAFE_PARAMS
    # Removed through sudo itself, as Root: a referendum on the root track could do the same.
    result = submit(chain, BOB, sudo_call(dispatch.encode_call("sudo", "remove_key", ())))
    assert ("sudo.Sudid", ("sudo.remove_key", True, "", "")) in events(result)
    assert sudo.key(StateOverlay(chain.read)) is None
    assert failure(submit(chain, BOB, sudo_call(set_params_call(SAFE_PARAMS)))) == (
        "sudo",
        "RequireSudo",
    )


def test_a_scheduled_unsafe_parameter_change_fails_at_its_block_in_the_chain() -> None:
    # Through the executive: sudo schedules the change as Root; at its block the scheduler's
    # hook dispatches it, compute refuses it, and the block's events say why.
    chain = sudo_chain()
    before = params(chain)
    when = chain.head.number + 3
    schedule = dispatch.encode_call("scheduler", "schedule", (when, set_params_call(UNSAFE_PARAMS)))
    result = submit(chain, ALICE, sudo_call(schedule))
    assert ("scheduler.Scheduled", (when, 0)) in events(result)
    while chain.head.number < when - 1:
        _, result = chain.produce()
        assert [e for e in events(result) if e[0] == "scheduler.Dispatched"] == []
    _, result = chain.produce()
    [(_, fields)] = [e for e in events(result) if e[0] == "scheduler.Dispatched"]
    assert fields[:5] == (when, 0, "compute.set_params", False, "compute.BadParams")
    assert "audit_ppm 1000" in fields[5]
    assert result.context.mandatory_weight >= scheduler.TASK_WEIGHT + compute.SET_PARAMS_WEIGHT
    assert params(chain) == before
    assert chain.problems() == []
    # As RPC clients read it: the stored events decode, the reason included.
    [stored] = [
        e for e in decode_events(chain.read(system.EVENTS_KEY) or b"") if e["event"] == "Dispatched"
    ]
    assert stored["data"]["error"] == "compute.BadParams"
    assert stored["data"]["reason"] == fields[5]
