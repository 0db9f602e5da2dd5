"""The verification service on an in-process node core that authors its own blocks: it commits
in each check's commit phase and reveals in its reveal phase, recomputes after a restart, sends
again what left the pool, gives up after a bounded number of errors, and follows its behaviour.

The node is a dev chain with the one validator Alice, so every committee is Alice alone; the
worker's response is made here with the worker daemon's own call.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Final

import pytest
import trio

from chain.client.chain import make_call
from chain.core.node import NodeCore
from chain.service import recomputation
from chain.service.metrics import NodeMetrics
from chain.service.node import NodeService
from chain.service.recomputation import select_device
from chain.service.verification import VerificationService, phase_mortality
from chain.spec import ChainSpec, dev_spec
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.worker.responding import response_call
from runtime.block import Header
from runtime.executive import CALLS
from runtime.pallets import compute, market
from runtime.pallets.compute import ComputeParams
from runtime.pallets.market import PPM
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import leaf_hash, merkle_root
from runtime.state import StateOverlay
from runtime.transaction import MAX_MORTAL_PERIOD, Mortality, sign_transaction
from runtime.workloads import WORKLOADS

UNIT: Final = 10**12
ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))
PRICE: Final = 10**16
STAKE: Final = 200 * UNIT
PARAMS: Final = ComputeParams(
    audit_ppm=PPM,
    audit_leaves=4,
    committee_size=1,
    commit_window=4,
    reveal_window=3,
    dispute_window=16,
    fraud_bond=UNIT,
)
"""Every job audited on (up to) 4 leaves by the one validator."""
GEMM: Final = JobSpec("gemm_i8", (8, 16, 8, 2), seed=7)
"""4 leaves, all of them audited."""
SLOT_MS: Final = 1_000


def _node_spec() -> ChainSpec:
    spec = dev_spec()
    return dataclasses.replace(spec, genesis=dataclasses.replace(spec.genesis, compute=PARAMS))


NODE_SPEC: Final = _node_spec()


def honest_leaves(spec: JobSpec) -> list[bytes]:
    return compute_leaves(
        spec, generate_inputs(spec.workload, spec.params, spec.seed), device="numpy"
    )


def flipped(leaf: bytes) -> bytes:
    return bytes([leaf[0] ^ 1]) + leaf[1:]


class LocalNode:
    """A dev node's core and service over `kv`, authoring when told; a new one over the same
    `kv` is a restart."""

    def __init__(self, kv: MemoryStore, now_ms: int = 1_000 * SLOT_MS) -> None:
        store = ChainStore(kv)
        if store.is_initialized():
            store.open()
        else:
            store.initialize(NODE_SPEC.genesis_header(), NODE_SPEC.genesis_state())
        self.now_ms = now_ms
        self.core = NodeCore(store, authority=ALICE)
        self.metrics = NodeMetrics()
        self.service = NodeService(
            self.core, NODE_SPEC, name="test", metrics=self.metrics, clock=lambda: self.now_ms
        )
        self.leaves: dict[int, Sequence[bytes]] = {}

    @property
    def best(self) -> int:
        return self.core.store.best_header.number

    def author(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.now_ms += SLOT_MS
            self.service.apply(self.core.on_timer("slot", self.now_ms))

    def author_until(self, number: int) -> None:
        while self.best < number:
            self.author()

    def submit(self, who: Keypair, pallet: str, name: str, *args: object) -> None:
        tx = sign_transaction(
            who,
            make_call(pallet, name, *args),
            nonce=self.core.next_nonce(who.public),
            genesis_hash=self.core.genesis_hash,
        )
        self.service.submit(tx.raw)

    def pooled(self) -> list[tuple[str, tuple[object, ...]]]:
        """The attestations waiting in the pool, as (call name, arguments)."""
        return [
            (tx.call.name, CALLS[("compute", tx.call.name)].decode_args(tx.call.args))
            for tx in self.core.pool.pending()
            if tx.call.pallet == "compute" and tx.call.name.startswith("attest_")
        ]

    def check(self, job_id: int, index: int = 0) -> compute.Check:
        return (compute.Checks.get(StateOverlay(self.core.reader()), job_id) or ())[index]

    def job(self, job_id: int) -> market.Job:
        found = market.Jobs.get(StateOverlay(self.core.reader()), job_id)
        assert found is not None
        return found

    def commit_job(self, spec: JobSpec, leaves: Sequence[bytes]) -> int:
        """Bob registers (once), Charlie submits, Bob commits `leaves`; the audit is drawn."""
        if market.Workers.get(StateOverlay(self.core.reader()), BOB.public) is None:
            workloads = sorted(WORKLOADS)
            self.submit(
                BOB, "market", "register_worker", STAKE, "cpu", 1024, workloads,
                [PRICE] * len(workloads), [1] * len(workloads), "", 8,
            )  # fmt: skip
            self.author()
        job_id = market.NextJobId.get(StateOverlay(self.core.reader()))
        names = [s.name for s in spec.shape.inputs]
        self.submit(
            CHARLIE, "market", "submit_job", spec.workload, list(spec.params), names,
            [b""] * len(names), spec.seed, PRICE, 20, 20, "sampled",
        )  # fmt: skip
        self.author()
        self.service.blobs.store_leaves(leaves)
        digest = market.job_digest(job_id, self.job(job_id))
        self.submit(
            BOB, "compute", "commit_result", job_id, digest, merkle_root(leaves), len(leaves)
        )
        self.author(2)  # the commitment, then the block that sets when its audit is rolled
        roll_at = compute.AuditRolls.get(StateOverlay(self.core.reader()), job_id)
        assert roll_at is not None
        self.author_until(roll_at)
        assert self.check(job_id).committee == (ALICE.public,)
        self.leaves[job_id] = leaves
        return job_id

    def respond(self, job_id: int, index: int = 0) -> None:
        """Bob responds once the commit phase is over, as the worker daemon does."""
        check = self.check(job_id, index)
        self.author_until(check.commit_deadline)
        call = response_call(job_id, index, check, self.leaves[job_id])
        tx = sign_transaction(
            BOB, call, nonce=self.core.next_nonce(BOB.public), genesis_hash=self.core.genesis_hash
        )
        self.service.submit(tx.raw)


def commitment(job_id: int, hashes: Sequence[bytes], witness: bytes) -> bytes:
    return compute.attestation_commitment(job_id, 0, ALICE.public, hashes, witness, salt(job_id))


def witness_of(node: LocalNode, spec: JobSpec, job_id: int) -> bytes:
    """The witness an honest member's recomputation of check 0 reaches."""
    check = node.check(job_id)
    material = recomputation.Material(spec, {}, check.leaves, {})
    return recomputation.recompute_answer(material, check.mask, device="numpy")[1]


def salt(job_id: int) -> bytes:
    """Alice's salt for check 0 of the job, derived from her key as the service derives it."""
    return compute.attestation_salt(ALICE.seed, job_id, 0)


def verifications(node: LocalNode, label: str) -> float | None:
    return node.metrics.registry.get_sample_value("xpl_verifications_total", {"verdict": label})


def test_the_service_commits_then_reveals_and_recomputes_after_a_restart() -> None:
    kv = MemoryStore()
    node = LocalNode(kv)
    verifier = VerificationService(node.service, ALICE, device="numpy")
    trio.run(verifier.step)  # nothing open yet: a full scan of the state finds nothing
    assert node.pooled() == []

    leaves = honest_leaves(GEMM)
    job_id = node.commit_job(GEMM, leaves)
    check = node.check(job_id)
    hashes = tuple(leaf_hash(leaves[i]) for i in check.leaves)
    witness = witness_of(node, GEMM, job_id)
    trio.run(verifier.step)
    trio.run(verifier.step)  # pooled already: nothing sent twice
    made = commitment(job_id, hashes, witness)
    digest = compute.check_digest(job_id, node.job(job_id), 0, node.check(job_id))
    assert node.pooled() == [("attest_commit", (job_id, digest, 0, made))]
    assert verifier.attested == {(job_id, 0)}
    node.author()
    assert node.check(job_id).commits == ((ALICE.public, made),)

    # Nothing to reveal before the reveal phase: the worker responds once it begins.
    trio.run(verifier.step)
    assert node.pooled() == []
    node.respond(job_id)
    node.author()
    assert node.check(job_id).response == hashes

    # The node restarts: its cache is gone, the check is still open in the state, and the new
    # service recomputes the same hashes, which open its commitment.
    restarted = LocalNode(kv, node.now_ms)
    again = VerificationService(restarted.service, ALICE, device="numpy")
    trio.run(again.step)
    reveal = (job_id, 0, list(hashes), witness, salt(job_id))
    assert restarted.pooled() == [("attest_reveal", reveal)]
    assert verifications(restarted, "recomputed") == 1.0

    restarted.author()
    assert restarted.check(job_id).reveals == ((ALICE.public, hashes),)
    assert restarted.check(job_id).witnesses == ((ALICE.public, witness),)
    restarted.author_until(check.reveal_deadline + 1)
    assert restarted.check(job_id).outcome == "pass"
    trio.run(again.step)
    assert restarted.pooled() == [] and again.attested == frozenset()
    restarted.author_until(restarted.job(job_id).committed_at + PARAMS.dispute_window)
    assert restarted.job(job_id).state == "settled"


def test_a_corrupted_result_is_revealed_against_and_fails() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy")
    leaves = [flipped(leaf) for leaf in honest_leaves(GEMM)]
    job_id = node.commit_job(GEMM, leaves)
    trio.run(verifier.step)
    node.author()
    node.respond(job_id)
    trio.run(verifier.step)
    node.author()
    (reveal,) = node.check(job_id).reveals
    assert reveal[1] != node.check(job_id).response
    node.author_until(node.check(job_id).reveal_deadline + 1)
    assert node.check(job_id).outcome == "fail"
    assert node.job(job_id).state == "failed"


@pytest.mark.parametrize("behaviour", ["lazy", "unavailable"])
def test_a_lazy_or_unavailable_member_commits_to_what_it_did_not_compute(behaviour: str) -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy", behaviour=behaviour)
    leaves = honest_leaves(GEMM)
    job_id = node.commit_job(GEMM, leaves)
    trio.run(verifier.step)
    # "lazy" copies the hashes of the published result, with a witness it made up.
    lazy = behaviour == "lazy"
    copied = tuple(leaf_hash(leaves[i]) for i in node.check(job_id).leaves) if lazy else ()
    witness = recomputation.made_up_witness(job_id, 0) if lazy else compute.NO_WITNESS
    assert witness != witness_of(node, GEMM, job_id)
    made = commitment(job_id, copied, witness)
    digest = compute.check_digest(job_id, node.job(job_id), 0, node.check(job_id))
    assert node.pooled() == [("attest_commit", (job_id, digest, 0, made))]
    node.author()
    node.respond(job_id)
    trio.run(verifier.step)
    assert node.pooled() == [("attest_reveal", (job_id, 0, list(copied), witness, salt(job_id)))]
    assert verifications(node, behaviour) == 1.0
    assert verifications(node, "recomputed") is None


def test_a_silent_member_never_attests() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy", behaviour="silent")
    job_id = node.commit_job(GEMM, honest_leaves(GEMM))
    for _ in range(PARAMS.commit_window + PARAMS.reveal_window):
        trio.run(verifier.step)
        assert node.pooled() == []
        node.author()
    assert node.check(job_id).commits == ()
    with pytest.raises(ValueError, match="behaviour"):
        VerificationService(node.service, ALICE, behaviour="greedy")


def test_an_error_while_recomputing_is_no_answer_and_is_retried_a_bounded_number_of_times() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy", max_attempts=2)
    verifier.device = "tpu"  # a device that cannot run: every recomputation raises
    job_id = node.commit_job(GEMM, honest_leaves(GEMM))

    for _ in range(4):
        trio.run(verifier.step)
        node.author()
    assert node.pooled() == []
    assert node.check(job_id).commits == ()
    registry = node.metrics.registry
    assert registry.get_sample_value("xpl_verification_errors_total") == 2.0
    assert verifications(node, "recomputed") is None


def test_an_attestation_that_leaves_the_pool_unincluded_is_sent_again() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy")
    job_id = node.commit_job(GEMM, honest_leaves(GEMM))
    trio.run(verifier.step)
    (sent,) = node.pooled()

    (tx,) = node.core.pool.pending()
    node.core.pool.remove(tx.hash)  # dropped, as a full pool or an expiry would
    trio.run(verifier.step)
    assert node.pooled() == [sent]
    # Sent again from the cached answer: the leaves were recomputed once.
    assert verifications(node, "recomputed") == 1.0
    node.author()
    assert len(node.check(job_id).commits) == 1


def test_an_answer_ready_after_its_phase_is_not_sent() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy")
    job_id = node.commit_job(GEMM, honest_leaves(GEMM))
    node.author_until(node.check(job_id).commit_deadline)  # the commit phase is over
    trio.run(verifier.step)
    assert node.pooled() == []
    assert verifications(node, "recomputed") is None


def _chain(length: int, fork: int = 0) -> dict[int, Header]:
    """Headers 0..length-1, each the child of the one before; `fork` makes another chain from
    the same genesis (different hashes at every height above 0)."""
    headers = {0: NODE_SPEC.genesis_header()}
    for number in range(1, length):
        headers[number] = dataclasses.replace(
            headers[number - 1],
            number=number,
            parent_hash=headers[number - 1].hash,
            extrinsics_root=bytes([fork]) * 32,
        )
    return headers


def _reads(*chains: dict[int, Header]) -> dict[bytes, Header]:
    return {h.hash: h for chain in chains for h in chain.values()}


def test_an_attestation_expires_with_its_phase() -> None:
    chain = _chain(1_000)
    header_of = _reads(chain).get
    # the draw is final: born at the finalized head, ending with the phase
    timing = phase_mortality(14, chain[11], chain[9], drawn_at=8, header_of=header_of)
    mortality, birth = timing or (None, None)
    assert mortality == Mortality(5, 9) and birth == chain[9]
    assert not mortality.expired_at(14) and mortality.expired_at(15)
    # Finality far behind, the draw near: born at the draw block.
    near = phase_mortality(1_000, chain[990], chain[10], drawn_at=985, header_of=header_of)
    assert near is not None and near == (Mortality(15, 985), chain[985])
    # Finality and the draw far behind: born at the best block, still ending with the phase.
    far = phase_mortality(1_000, chain[990], chain[10], drawn_at=700, header_of=header_of)
    assert far is not None and far[0] == Mortality(10, 990)
    assert phase_mortality(14, chain[14], chain[9], drawn_at=8, header_of=header_of) is None
    assert MAX_MORTAL_PERIOD >= 10


def test_an_attestation_is_born_at_its_checks_draw_so_no_other_fork_takes_it() -> None:
    """A check drawn above finality is drawn again (another mask) on a fork that differs at the
    draw block: the attestation, born at this side's draw block, is refused there outright
    instead of failing at its signer's fee and nonce."""
    here, there = _chain(20), _chain(20, fork=1)
    header_of = _reads(here, there).get
    timing = phase_mortality(16, here[13], here[9], drawn_at=11, header_of=header_of)
    assert timing is not None
    mortality, birth = timing
    assert birth == here[11] and mortality == Mortality(5, 11)
    assert birth.hash != there[11].hash  # the other side's block 11: its signature fails there
    # a draw whose block is not known (a gap in the headers): the finalized head, as before
    gap = phase_mortality(16, here[13], here[9], drawn_at=11, header_of=lambda _h: None)
    assert gap is not None and gap[1] == here[9]


def test_a_failing_device_falls_back_to_the_reference_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disagree(device: str) -> None:
        raise ValueError(f"{device} disagrees with NumPy")

    monkeypatch.setattr(recomputation, "_self_test", disagree)
    with caplog.at_level(logging.WARNING, logger="xpl.verify"):
        assert select_device("cpu") == "numpy"
    assert "verification falls back to the NumPy reference: cpu: cpu disagrees" in caplog.text
