"""The invariants of a whole state: every pallet's, total issuance among them, in one call."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from chain.client.chain import transfer_call
from runtime import framework
from runtime.invariants import InvariantsBroken, check_invariants, ensure_invariants
from runtime.pallets import balances, market, staking
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import apply_changes

if TYPE_CHECKING:
    from tests.runtime.conftest import DevChain

BOB, CHARLIE = dev_keypair("Bob"), dev_keypair("Charlie")


def test_a_chain_built_by_its_rules_keeps_every_invariant(chain: DevChain) -> None:
    assert check_invariants(chain.read, chain.iterate) == []
    chain.produce([chain.sign(BOB, transfer_call(CHARLIE.public, balances.EXISTENTIAL_DEPOSIT))])
    assert check_invariants(chain.read, chain.iterate) == []
    ensure_invariants(chain.read, chain.iterate, where="the head")


def test_issuance_that_the_balances_do_not_add_up_to_is_reported(chain: DevChain) -> None:
    issuance = chain.issuance()
    # Written behind the pallet's back: one unit minted that no account holds.
    overlay = StateOverlay(chain.read)
    balances.TotalIssuance.put(overlay, issuance + 1)
    apply_changes(chain.state, overlay.changes())
    assert check_invariants(chain.read, chain.iterate) == [
        f"balances: sum of balances {issuance} != total issuance {issuance + 1}"
    ]
    with pytest.raises(InvariantsBroken, match="block #7") as broken:
        ensure_invariants(chain.read, chain.iterate, where="block #7")
    assert broken.value.problems == tuple(check_invariants(chain.read, chain.iterate))


def test_every_pallets_invariants_are_checked(chain: DevChain) -> None:
    # Written behind the pallet's back: the validator is no longer listed as a candidate.
    overlay = StateOverlay(chain.read)
    staking.Candidates.put(overlay, ())
    apply_changes(chain.state, overlay.changes())
    problems = check_invariants(chain.read, chain.iterate)
    assert problems and all(p.startswith("staking: ") for p in problems)


def _settled_job(job_id: int) -> market.Job:
    return market.Job(
        requester=BOB.public,
        workload="gemm_i8",
        params=(8, 16, 8, 2),
        inputs=(),
        seed=job_id,
        max_price=10**12,
        cost_units=5,
        leaves=4,
        escrow=0,
        mode="sampled",
        deadline_blocks=10,
        expires_at=20,
        submitted_at=3,
        state="settled",
    )


def test_each_check_decodes_only_the_jobs_that_changed_since_the_last(
    chain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settled jobs stay in the state for good: a check that decoded every one of them after
    # every block would cost more the longer a chain runs.
    ids = range(10**9, 10**9 + 40)
    overlay = StateOverlay(chain.read)
    for job_id in ids:
        market.Jobs.insert(overlay, job_id, _settled_job(job_id))
    apply_changes(chain.state, overlay.changes())
    decoded: list[bytes] = []
    codec = market.Jobs._codec

    def counting(raw: bytes) -> market.Job:
        decoded.append(raw)
        return codec.decode(raw)

    monkeypatch.setattr(market.Jobs, "_codec", framework.ValueCodec(codec.encode, counting))
    assert check_invariants(chain.read, chain.iterate) == []
    assert len(decoded) <= len(ids)
    decoded.clear()
    assert check_invariants(chain.read, chain.iterate) == []
    assert decoded == []
    overlay = StateOverlay(chain.read)
    changed = replace(_settled_job(10**9 + 7), escrow=1)  # escrow that no hold explains
    market.Jobs.insert(overlay, 10**9 + 7, replace(changed, state="matched"))
    apply_changes(chain.state, overlay.changes())
    problems = check_invariants(chain.read, chain.iterate)
    assert len(decoded) == 1
    assert any("escrow" in p for p in problems)


def test_the_decoded_jobs_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    bound = market.Jobs.decoded_entries() + 16
    monkeypatch.setattr(framework, "DECODED_ENTRIES", bound)
    encode = framework.record_codec(market.Job).encode
    for job_id in range(2 * 10**9, 2 * 10**9 + 40):
        job = _settled_job(job_id)
        assert market.Jobs.decode_at(market.Jobs.key(job_id), encode(job)) == job
        assert market.Jobs.decoded_entries() <= bound
    # A key kept takes its new version; one beyond the bound is still decoded right.
    for job_id in (2 * 10**9, 2 * 10**9 + 39):
        job = replace(_settled_job(job_id), seed=1)
        assert market.Jobs.decode_at(market.Jobs.key(job_id), encode(job)) == job
    assert market.Jobs.decoded_entries() == bound
