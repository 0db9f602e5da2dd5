"""The verification service's decisions against real runtime states and a real blob store.

Jobs are submitted, matched and committed by signed transactions in blocks the runtime executes;
the worker's result goes into a `BlobStore(MemoryStore())` as the node keeps it. Which checks
await a validator, and the verdict on a check's leaves, are read from that state and that store.
The trio part runs against an in-process node core that authors its own blocks.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Final

import numpy as np
import pytest
import trio

from chain.client.blobs import chunk_file
from chain.client.chain import make_call
from chain.core.node import NodeCore
from chain.service import verification
from chain.service.metrics import NodeMetrics
from chain.service.node import NodeService
from chain.service.verification import (
    OpenCheck,
    VerificationService,
    awaits_vote,
    checks_opened,
    my_open_checks,
    read_open_check,
    select_device,
    verify_leaves,
)
from chain.spec import ChainSpec, dev_spec
from chain.storage.blobs import BlobStore
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from gpu_worker import devices, reference
from gpu_worker.devices import DeviceError
from gpu_worker.inputs import generate_inputs, parse_model, seed_stream
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_dependencies, recompute_leaf
from runtime.api import decode_events
from runtime.executive import CALLS
from runtime.genesis import GenesisConfig
from runtime.pallets import compute, market
from runtime.pallets.compute import ComputeParams
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM, MarketParams
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import merkle_root
from runtime.state import StateOverlay
from runtime.transaction import sign_transaction
from runtime.workloads import WORKLOADS
from tests.runtime.conftest import DevChain

UNIT: Final = 10**12
ALICE, BOB, CHARLIE, DAVE, EVE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve")
)
VALIDATORS: Final = (ALICE, DAVE, EVE)
PRICE: Final = 10**16
"""Per 10^9 cost units: high enough that these small jobs escrow more than the deposit."""
STAKE: Final = 200 * UNIT
PARAMS: Final = ComputeParams(
    audit_ppm=PPM,
    audit_leaves=4,
    committee_size=2,
    audit_window=4,
    dispute_window=10,
    fraud_bond=UNIT,
)
"""Every job audited on (up to) 4 leaves by 2 of the 3 validators."""

GEMM: Final = JobSpec("gemm_i8", (8, 16, 8, 2), seed=7)
"""4 leaves, all of them audited."""
QMLP: Final = JobSpec("qmlp_i8", (8, 4, 16, 8, 4), seed=5)
"""Two layers of two row blocks: leaves 2 and 3 (layer 2) build on leaves 0 and 1."""
SGD: Final = JobSpec("sgd_fxp", (32, 8, 2, 4, 5, 8, 6), seed=6)
"""Five steps: leaf t builds on leaf t - 1."""


def flipped(leaf: bytes) -> bytes:
    """The leaf with one bit of its first byte flipped."""
    return bytes([leaf[0] ^ 1]) + leaf[1:]


class Market:
    """A dev chain with validators Alice, Dave and Eve, Bob registered as a worker for every
    workload, Charlie as requester, and the node's blob store."""

    def __init__(
        self, params: ComputeParams = PARAMS, market_params: MarketParams = DEFAULT_MARKET_PARAMS
    ) -> None:
        config = GenesisConfig(
            validators=tuple(GenesisValidator(v.public, 100 * UNIT) for v in VALIDATORS),
            slot_duration_ms=6_000,
            balances=tuple((k.public, 1_000 * UNIT) for k in (ALICE, BOB, CHARLIE, DAVE, EVE)),
            market=market_params,
            compute=params,
        )
        self.chain = DevChain(config, ALICE)
        self.blobs = BlobStore(MemoryStore())
        workloads = sorted(WORKLOADS)
        self.call(
            BOB,
            "market",
            "register_worker",
            STAKE,
            "cpu",
            1024,
            workloads,
            [PRICE] * len(workloads),
            [1] * len(workloads),
            "",
            8,
        )

    @property
    def best_number(self) -> int:
        return self.chain.head.number

    def state(self) -> StateOverlay:
        return StateOverlay(self.chain.read)

    def call(self, who: Keypair, pallet: str, name: str, *args: object) -> None:
        """`who` calls pallet.name in a new block; the call must succeed."""
        builder = self.chain.builder()
        ok = builder.push(self.chain.sign(who, make_call(pallet, name, *args)))
        self.chain.seal(builder)
        assert ok, f"{pallet}.{name} failed"

    def submit(self, spec: JobSpec, roots: dict[str, bytes] | None = None) -> int:
        """Charlie submits the job (inputs from the seed unless a root is given); Bob takes it."""
        names = [s.name for s in spec.shape.inputs]
        roots = roots or {}
        job_id = market.NextJobId.get(self.state())
        self.call(
            CHARLIE,
            "market",
            "submit_job",
            spec.workload,
            list(spec.params),
            names,
            [roots.get(name, b"") for name in names],
            spec.seed,
            PRICE,
            20,
            20,
            "sampled",
        )
        assert self.job(job_id).state == "matched"
        return job_id

    def commit(self, job_id: int, leaves: Sequence[bytes], *, upload: bool = True) -> None:
        """Bob commits these leaves (kept in the blob store unless not `upload`); the audit is
        drawn DRAW_DELAY blocks later."""
        if upload:
            self.blobs.store_leaves(leaves)
        self.call(BOB, "compute", "commit_result", job_id, merkle_root(leaves), len(leaves))
        for _ in range(compute.DRAW_DELAY):
            self.chain.produce()
        assert self.checks(job_id), "no audit was drawn"

    def run_job(
        self, spec: JobSpec, leaves: Sequence[bytes] | None = None, *, upload: bool = True
    ) -> int:
        """A job with generated inputs, committed with `leaves` (default: the honest result)."""
        job_id = self.submit(spec)
        if leaves is None:
            leaves = honest_leaves(spec)
        self.commit(job_id, leaves, upload=upload)
        return job_id

    def job(self, job_id: int) -> market.Job:
        found = market.Jobs.get(self.state(), job_id)
        assert found is not None
        return found

    def checks(self, job_id: int) -> tuple[compute.Check, ...]:
        return compute.Checks.get(self.state(), job_id) or ()

    def verdict(self, job_id: int, leaves: Sequence[int] | None = None) -> tuple[str, str]:
        """(verdict, reason) on `leaves` (default: the audited ones) of the job."""
        if leaves is None:
            leaves = self.checks(job_id)[0].leaves
        result = verify_leaves(self.job(job_id), leaves, self.blobs, device="numpy")
        return result.verdict, result.reason

    def awaiting(self, member: Keypair) -> list[tuple[int, int]]:
        found = my_open_checks(self.chain.read, self.chain.iterate, member.public, self.best_number)
        return [check.key for check in found]


def honest_leaves(spec: JobSpec) -> list[bytes]:
    return compute_leaves(
        spec, generate_inputs(spec.workload, spec.params, spec.seed), device="numpy"
    )


# Verdicts


def test_an_honest_result_passes() -> None:
    m = Market()
    job_id = m.run_job(GEMM)

    (check,) = m.checks(job_id)
    assert check.kind == "audit" and sorted(check.leaves) == [0, 1, 2, 3]
    assert m.verdict(job_id) == ("pass", "4 leaves recomputed equal")


def test_a_corrupted_leaf_fails() -> None:
    m = Market()
    leaves = honest_leaves(GEMM)
    leaves[2] = flipped(leaves[2])
    job_id = m.run_job(GEMM, leaves)

    verdict, reason = m.verdict(job_id)
    assert verdict == "fail"
    assert "leaf 2" in reason
    # The other leaves, checked alone, are right.
    assert m.verdict(job_id, [0, 1, 3])[0] == "pass"


def test_a_result_cut_short_fails() -> None:
    m = Market()
    leaves = honest_leaves(GEMM)
    leaves[1] = leaves[1][:-4]
    job_id = m.run_job(GEMM, leaves)

    assert m.verdict(job_id, [1])[0] == "fail"


def test_a_missing_result_blob_is_unavailable() -> None:
    m = Market()
    job_id = m.run_job(GEMM, upload=False)

    verdict, reason = m.verdict(job_id)
    assert verdict == "unavailable"
    assert "unknown blob" in reason


def test_a_result_blob_under_another_root_is_unavailable() -> None:
    """The store holds a result, but not the one committed: nothing proves against its root."""
    m = Market()
    leaves = honest_leaves(GEMM)
    job_id = m.run_job(GEMM, [flipped(leaf) for leaf in leaves], upload=False)
    m.blobs.store_leaves(leaves)

    assert m.verdict(job_id)[0] == "unavailable"


def _damage(blobs: BlobStore, root: bytes, index: int) -> None:
    """Flip a bit of a stored leaf in the database under the blob store, as a bad disk would."""
    kv = blobs.kv
    assert isinstance(kv, MemoryStore)
    key = b"y" + root + index.to_bytes(4, "big")
    kv.data[key] = flipped(kv.data[key])


def test_a_result_leaf_damaged_in_the_store_is_unavailable() -> None:
    """The store is not trusted: a leaf that does not prove against the root is no evidence."""
    m = Market()
    job_id = m.run_job(GEMM)
    _damage(m.blobs, m.job(job_id).result_root, 3)

    verdict, reason = m.verdict(job_id)
    assert verdict == "unavailable"
    assert "result leaf 3 does not prove" in reason
    assert m.verdict(job_id, [0, 1, 2])[0] == "pass"


def _blob_job(m: Market, spec: JobSpec, stored: dict[str, bytes]) -> int:
    """A job whose inputs are blobs of the generated bytes; `stored` says which the node has."""
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    roots = {name: merkle_root(chunk_file(data)) for name, data in inputs.items()}
    for data in stored.values():
        m.blobs.store_leaves(chunk_file(data))
    job_id = m.submit(spec, roots)
    m.commit(job_id, compute_leaves(spec, inputs, device="numpy"))
    return job_id


BLOB_GEMM: Final = JobSpec("gemm_i8", (64, 1100, 8, 16), seed=11)
"""Input "a" is 70,400 bytes: two 64 KiB chunks."""


def test_inputs_read_from_blobs_pass() -> None:
    m = Market()
    inputs = generate_inputs(BLOB_GEMM.workload, BLOB_GEMM.params, BLOB_GEMM.seed)
    assert len(chunk_file(inputs["a"])) == 2
    job_id = _blob_job(m, BLOB_GEMM, inputs)

    assert all(root for _, root in m.job(job_id).inputs)
    assert m.verdict(job_id)[0] == "pass"


def test_a_missing_input_blob_is_unavailable() -> None:
    m = Market()
    inputs = generate_inputs(BLOB_GEMM.workload, BLOB_GEMM.params, BLOB_GEMM.seed)
    job_id = _blob_job(m, BLOB_GEMM, {"a": inputs["a"]})

    verdict, reason = m.verdict(job_id)
    assert verdict == "unavailable"
    assert "not in the local blob store" in reason


def test_an_input_blob_damaged_in_the_store_is_unavailable() -> None:
    m = Market()
    inputs = generate_inputs(BLOB_GEMM.workload, BLOB_GEMM.params, BLOB_GEMM.seed)
    job_id = _blob_job(m, BLOB_GEMM, inputs)
    _damage(m.blobs, dict(m.job(job_id).inputs)["a"], 1)

    verdict, reason = m.verdict(job_id)
    assert verdict == "unavailable"
    assert "does not match its root" in reason


def test_an_input_blob_of_the_wrong_size_is_unavailable() -> None:
    m = Market()
    spec = GEMM
    short = seed_stream(1, "test", "b", 100)
    m.blobs.store_leaves(chunk_file(short))
    job_id = m.submit(spec, {"b": merkle_root(chunk_file(short))})
    m.commit(job_id, honest_leaves(spec))

    verdict, reason = m.verdict(job_id)
    assert verdict == "unavailable"
    assert "holds 100 bytes" in reason


def test_a_qmlp_leaf_is_recomputed_from_x_through_every_layer_up_to_its_own() -> None:
    """A worker that zeroes a layer-0 leaf and computes the next layer on from its fake is
    caught on both leaves: the later one no longer trusts the committed leaf before it."""
    spec = QMLP  # 8 rows in blocks of 4, layers 16→8→4: leaves 0, 1 are layer 0; 2, 3 layer 1
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    honest = compute_leaves(spec, inputs, device="numpy")
    assert leaf_dependencies(spec, 2) == ()
    layers = parse_model(spec.params[2:], inputs["model"])
    fake_acc = np.zeros((4, 8), np.int32)
    faked = list(honest)
    faked[0] = fake_acc.tobytes()
    faked[2] = (
        reference.qmlp_layer(reference.requantize(fake_acc, layers[0]), layers[1])
        .astype("<i4")
        .tobytes()
    )
    assert faked[2] != honest[2]
    m = Market()
    job_id = m.run_job(spec, faked)
    assert m.verdict(job_id, [0])[0] == "fail"
    assert m.verdict(job_id, [2])[0] == "fail"  # it passed while checked from leaf 0
    assert m.verdict(job_id, [1, 3])[0] == "pass"


@pytest.mark.parametrize(("spec", "leaf"), [(SGD, 3)], ids=["sgd_fxp"])
def test_a_leaf_is_recomputed_from_the_committed_leaf_it_builds_on(
    spec: JobSpec, leaf: int
) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    honest = compute_leaves(spec, inputs, device="numpy")
    (dep,) = leaf_dependencies(spec, leaf)
    wrong_dep = bytes(len(honest[dep]))

    # The worker got the dependency wrong and computed on from it: the leaf is consistent with
    # what it committed before it, so it passes; the dependency, checked itself, fails.
    consistent = list(honest)
    consistent[dep] = wrong_dep
    consistent[leaf] = recompute_leaf(spec, inputs, leaf, {dep: wrong_dep}, device="numpy")
    assert consistent[leaf] != honest[leaf]
    m = Market()
    job_id = m.run_job(spec, consistent)
    assert m.verdict(job_id, [leaf])[0] == "pass"
    assert m.verdict(job_id, [dep])[0] == "fail"

    # A right leaf on a wrong committed dependency does not follow from it: it fails.
    inconsistent = list(honest)
    inconsistent[dep] = wrong_dep
    job_id = m.run_job(spec, inconsistent)
    assert m.verdict(job_id, [leaf])[0] == "fail"

    # A dependency of the wrong size cannot be built on: the result is wrong.
    cut = list(honest)
    cut[dep] = honest[dep][:-4]
    job_id = m.run_job(spec, cut)
    verdict, reason = m.verdict(job_id, [leaf])
    assert verdict == "fail"
    assert f"committed leaf {dep}" in reason

    # And the honest result passes on every leaf.
    job_id = m.run_job(spec, honest)
    assert m.verdict(job_id, range(len(honest)))[0] == "pass"


# Which checks are mine


def test_a_check_awaits_only_members_that_have_not_voted() -> None:
    m = Market()
    job_id = m.run_job(GEMM)
    (check,) = m.checks(job_id)
    first, second = (next(v for v in VALIDATORS if v.public == p) for p in check.committee)
    (outsider,) = (v for v in VALIDATORS if v.public not in check.committee)

    assert m.awaiting(first) == m.awaiting(second) == [(job_id, 0)]
    assert m.awaiting(outsider) == []
    assert m.awaiting(BOB) == []

    m.call(first, "compute", "attest", job_id, 0, "pass")
    check = m.checks(job_id)[0]
    assert not check.outcome  # one vote of two decides nothing
    assert m.awaiting(first) == []
    assert m.awaiting(second) == [(job_id, 0)]

    current = read_open_check(m.chain.read, job_id, 0)
    assert current == OpenCheck(job_id, 0, m.job(job_id), check)
    assert not awaits_vote(check, first.public, m.best_number)
    assert awaits_vote(check, second.public, m.best_number)

    # Once the next block is past the deadline an attestation would come too late.
    while m.best_number < check.deadline:
        m.chain.produce()
    assert m.awaiting(second) == []


def test_closed_checks_and_ended_jobs_await_no_one() -> None:
    m = Market()
    job_id = m.run_job(GEMM)
    (check,) = m.checks(job_id)
    for member in check.committee:
        voter = next(v for v in VALIDATORS if v.public == member)
        m.call(voter, "compute", "attest", job_id, 0, "fail")

    assert m.checks(job_id)[0].outcome == "fail"
    assert m.job(job_id).state == "failed"
    assert read_open_check(m.chain.read, job_id, 0) is None
    assert all(m.awaiting(v) == [] for v in VALIDATORS)


def test_the_events_of_a_block_name_the_checks_it_opened() -> None:
    m = Market()
    job_id = m.run_job(GEMM)
    assert checks_opened(m.chain.read(EVENTS_KEY)) == [(job_id, 0)]

    m.chain.produce()
    assert checks_opened(m.chain.read(EVENTS_KEY)) == []

    m.call(CHARLIE, "compute", "dispute", job_id, 1)
    assert checks_opened(m.chain.read(EVENTS_KEY)) == [(job_id, 1)]
    dispute = m.checks(job_id)[1]
    assert dispute.kind == "dispute" and dispute.leaves == (1,)
    member = next(v for v in VALIDATORS if v.public == dispute.committee[0])
    assert (job_id, 1) in m.awaiting(member)
    assert m.verdict(job_id, dispute.leaves)[0] == "pass"


def test_a_draw_without_an_audit_opens_no_check() -> None:
    # About the least audit probability the incentive guard allows with a slash of 100×: 3%.
    m = Market(
        dataclasses.replace(PARAMS, audit_ppm=30_000),
        dataclasses.replace(DEFAULT_MARKET_PARAMS, slash_ppm=100 * PPM),
    )
    job_id = m.submit(GEMM)
    m.blobs.store_leaves(honest_leaves(GEMM))
    m.call(BOB, "compute", "commit_result", job_id, merkle_root(honest_leaves(GEMM)), 4)
    for _ in range(compute.DRAW_DELAY):
        m.chain.produce()

    raw = m.chain.read(EVENTS_KEY)
    assert raw is not None
    drawn = [e for e in decode_events(raw) if e["event"] == "ChallengeDrawn"]
    assert [(e["data"]["job"], e["data"]["audited"]) for e in drawn] == [(job_id, False)]
    assert m.checks(job_id) == ()
    assert checks_opened(raw) == []


# The device


def test_the_numpy_reference_needs_no_kernels() -> None:
    assert select_device("numpy") == "numpy"
    with pytest.raises(DeviceError, match="unknown device"):
        select_device("tpu")


@pytest.mark.skipif(devices.cuda_available(), reason="this machine has a GPU")
def test_cuda_is_refused_without_a_gpu() -> None:
    with pytest.raises(DeviceError):
        select_device("cuda")


# The service, on an in-process node


SLOT_MS: Final = 1_000


def _node_spec() -> ChainSpec:
    spec = dev_spec()
    params = dataclasses.replace(PARAMS, committee_size=1)
    return dataclasses.replace(spec, genesis=dataclasses.replace(spec.genesis, compute=params))


NODE_SPEC: Final = _node_spec()


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

    def author(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.now_ms += SLOT_MS
            self.service.apply(self.core.on_timer("slot", self.now_ms))

    def submit(self, who: Keypair, pallet: str, name: str, *args: object) -> None:
        tx = sign_transaction(
            who,
            make_call(pallet, name, *args),
            nonce=self.core.next_nonce(who.public),
            genesis_hash=self.core.genesis_hash,
        )
        self.service.submit(tx.raw)

    def attestations(self) -> list[tuple[object, ...]]:
        """The attestations waiting in the pool, as (job, check, verdict)."""
        attest = CALLS[("compute", "attest")]
        return [
            attest.decode_args(tx.call.args)
            for tx in self.core.pool.pending()
            if (tx.call.pallet, tx.call.name) == ("compute", "attest")
        ]

    def check(self, job_id: int, index: int = 0) -> compute.Check:
        return (compute.Checks.get(StateOverlay(self.core.reader()), job_id) or ())[index]

    def job(self, job_id: int) -> market.Job:
        found = market.Jobs.get(StateOverlay(self.core.reader()), job_id)
        assert found is not None
        return found

    def commit_job(self, spec: JobSpec, leaves: Sequence[bytes]) -> int:
        """Bob registers (once), Charlie submits, Bob commits `leaves`; blocks are authored."""
        if market.Workers.get(StateOverlay(self.core.reader()), BOB.public) is None:
            workloads = sorted(WORKLOADS)
            self.submit(
                BOB,
                "market",
                "register_worker",
                STAKE,
                "cpu",
                1024,
                workloads,
                [PRICE] * len(workloads),
                [1] * len(workloads),
                "",
                8,
            )
            self.author()
        job_id = market.NextJobId.get(StateOverlay(self.core.reader()))
        names = [s.name for s in spec.shape.inputs]
        self.submit(
            CHARLIE,
            "market",
            "submit_job",
            spec.workload,
            list(spec.params),
            names,
            [b""] * len(names),
            spec.seed,
            PRICE,
            20,
            20,
            "sampled",
        )
        self.author()
        self.service.blobs.store_leaves(leaves)
        self.submit(BOB, "compute", "commit_result", job_id, merkle_root(leaves), len(leaves))
        self.author()
        return job_id


def test_the_service_attests_once_and_finds_open_checks_again_after_a_restart() -> None:
    kv = MemoryStore()
    node = LocalNode(kv)
    verifier = VerificationService(node.service, ALICE, device="numpy")
    trio.run(verifier.step)  # nothing open yet: a full scan of the state finds nothing
    assert node.attestations() == []

    job_id = node.commit_job(GEMM, honest_leaves(GEMM))
    # The audit is drawn; the service learns of it from the block's events.
    node.author(compute.DRAW_DELAY)
    assert node.check(job_id).committee == (ALICE.public,)
    trio.run(verifier.step)
    trio.run(verifier.step)
    assert node.attestations() == [(job_id, 0, "pass")]
    assert verifier.attested == {(job_id, 0)}

    # The node restarts before its attestation is in a block: its pool is gone, the check is
    # still open in the state, and the new service finds it there.
    restarted = LocalNode(kv, node.now_ms)
    again = VerificationService(restarted.service, ALICE, device="numpy")
    trio.run(again.step)
    assert restarted.attestations() == [(job_id, 0, "pass")]

    restarted.author()
    assert restarted.check(job_id).votes == ((ALICE.public, "pass"),)
    assert restarted.check(job_id).outcome == "pass"
    trio.run(again.step)
    assert restarted.attestations() == []
    assert again.attested == frozenset()
    registry = restarted.metrics.registry
    assert registry.get_sample_value("xpl_verifications_total", {"verdict": "pass"}) == 1.0
    assert registry.get_sample_value("xpl_verification_seconds_count") == 1.0

    # The job settles once its dispute window is over.
    restarted.author(PARAMS.dispute_window)
    assert restarted.job(job_id).state == "settled"


def test_the_service_attests_fail_on_a_corrupted_result() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy")
    leaves = [flipped(leaf) for leaf in honest_leaves(GEMM)]
    job_id = node.commit_job(GEMM, leaves)
    node.author(compute.DRAW_DELAY)
    trio.run(verifier.step)
    assert node.attestations() == [(job_id, 0, "fail")]

    node.author()
    assert node.check(job_id).outcome == "fail"
    assert node.job(job_id).state == "failed"


def test_an_error_while_verifying_is_no_verdict_and_is_retried_a_bounded_number_of_times() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy", max_attempts=2)
    verifier.device = "tpu"  # a device that cannot run: every recomputation raises
    job_id = node.commit_job(GEMM, honest_leaves(GEMM))
    node.author(compute.DRAW_DELAY)

    for _ in range(4):
        trio.run(verifier.step)
        node.author()
    assert node.attestations() == []
    assert node.check(job_id).votes == ()
    registry = node.metrics.registry
    assert registry.get_sample_value("xpl_verification_errors_total") == 2.0
    assert registry.get_sample_value("xpl_verifications_total", {"verdict": "pass"}) is None


def test_an_attestation_that_leaves_the_pool_unincluded_is_sent_again() -> None:
    node = LocalNode(MemoryStore())
    verifier = VerificationService(node.service, ALICE, device="numpy")
    job_id = node.commit_job(GEMM, honest_leaves(GEMM))
    node.author(compute.DRAW_DELAY)
    trio.run(verifier.step)
    assert node.attestations() == [(job_id, 0, "pass")]
    trio.run(verifier.step)  # still pooled: nothing sent again
    assert node.attestations() == [(job_id, 0, "pass")]

    (tx,) = node.core.pool.pending()
    node.core.pool.remove(tx.hash)  # dropped, as a full pool or an expiry would
    trio.run(verifier.step)
    assert node.attestations() == [(job_id, 0, "pass")]
    registry = node.metrics.registry
    # Sent again from the verdict it had: the leaves were recomputed once.
    assert registry.get_sample_value("xpl_verifications_total", {"verdict": "pass"}) == 1.0
    node.author()
    assert node.check(job_id).outcome == "pass"


def test_a_failing_device_falls_back_to_the_reference_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disagree(device: str) -> None:
        raise ValueError(f"{device} disagrees with NumPy")

    monkeypatch.setattr(verification, "_self_test", disagree)
    with caplog.at_level(logging.WARNING, logger="xpl.verify"):
        assert select_device("cpu") == "numpy"
    assert "verification falls back to the NumPy reference: cpu: cpu disagrees" in caplog.text
