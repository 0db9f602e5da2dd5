"""A committee member's decisions against real runtime states and a real blob store, and over
hand-built checks.

Jobs are submitted, matched and committed by signed transactions in blocks the runtime executes;
the worker's result goes into a `BlobStore(MemoryStore())` as the node keeps it. The leaf hashes
a member recomputes for a check, and what it owes each check when, are read from that state and
that store. The service itself, on an in-process node, is in `test_verification_service`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.client.blobs import chunk_file
from chain.client.chain import make_call
from chain.client.checks import phase, reveal_vote
from chain.service.committee_duties import (
    COMMIT,
    REVEAL,
    OpenCheck,
    checks_opened,
    duty,
    later_open_checks,
    may_owe,
    my_open_checks,
    read_open_check,
)
from chain.service.recomputation import (
    UNBUILDABLE,
    ResultWithheld,
    Unavailable,
    gather_material,
    made_up_hashes,
    recompute_answer,
    recompute_hashes,
    select_device,
)
from chain.storage.blobs import BlobStore
from chain.storage.kv import MemoryStore
from gpu_worker import devices
from gpu_worker.devices import DeviceError
from gpu_worker.inputs import generate_inputs, seed_stream
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_dependencies, recompute_leaf
from gpu_worker.worker.responding import awaits_response, response, response_call
from runtime.api import decode_events
from runtime.genesis import GenesisConfig
from runtime.pallets import compute, market
from runtime.pallets.compute import ComputeParams
from runtime.pallets.compute.guard import least_audit_ppm
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM, MarketParams
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import leaf_hash, merkle_root
from runtime.state import StateOverlay
from runtime.transaction import Call
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
    commit_window=4,
    reveal_window=3,
    dispute_window=16,
    fraud_bond=UNIT,
)
"""Every job audited on (up to) 4 leaves by 2 of the 3 validators."""

GEMM: Final = JobSpec("gemm_i8", (8, 16, 8, 2), seed=7)
"""4 leaves, all of them audited."""
QMLP: Final = JobSpec("qmlp_i8", (8, 4, 16, 8, 4), seed=5)
"""Two layers of two row blocks: leaves 2 and 3 (layer 2) are recomputed from x through both."""
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
        assert self.push(who, make_call(pallet, name, *args)), f"{pallet}.{name} failed"

    def push(self, who: Keypair, call: Call) -> bool:
        """`who` makes `call` in a new block; whether it succeeded."""
        builder = self.chain.builder()
        ok = builder.push(self.chain.sign(who, call))
        self.chain.seal(builder)
        return bool(ok)

    def produce_until(self, number: int) -> None:
        while self.best_number < number:
            self.chain.produce()

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
        rolled (`compute.roll_delay`) and drawn some blocks later."""
        if upload:
            self.blobs.store_leaves(leaves)
        digest = market.job_digest(job_id, self.job(job_id))
        self.call(BOB, "compute", "commit_result", job_id, digest, merkle_root(leaves), len(leaves))
        self.produce_until(self.roll_block(job_id))
        assert self.checks(job_id), "no audit was drawn"

    def roll_block(self, job_id: int) -> int:
        """The block that rolls the audit of the job committed in the best block: set in the
        block after it."""
        self.chain.produce()
        roll_at = compute.AuditRolls.get(self.state(), job_id)
        assert roll_at is not None, "no audit roll was scheduled"
        return roll_at

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

    def answer(self, job_id: int, leaves: Sequence[int] | None = None) -> tuple[bytes, ...] | str:
        """The leaf hashes a member recomputes for `leaves` (default: the audited ones) of the
        job, or why its data is unavailable."""
        if leaves is None:
            leaves = self.checks(job_id)[0].leaves
        try:
            material = gather_material(self.job(job_id), leaves, self.blobs)
        except Unavailable as exc:
            return str(exc)
        return recompute_hashes(material, device="numpy")

    def awaiting(self, member: Keypair) -> list[tuple[int, int]]:
        found = my_open_checks(self.chain.read, self.chain.iterate, member.public, self.best_number)
        return [check.key for check in found]


def honest_leaves(spec: JobSpec) -> list[bytes]:
    return compute_leaves(
        spec, generate_inputs(spec.workload, spec.params, spec.seed), device="numpy"
    )


def hashes_of(leaves: Sequence[bytes], named: Sequence[int]) -> tuple[bytes, ...]:
    """The leaf hashes of the `named` leaves of `leaves`."""
    return tuple(leaf_hash(leaves[i]) for i in named)


# Recomputed leaf hashes


def test_an_honest_result_is_recomputed_to_its_committed_leaf_hashes() -> None:
    m = Market()
    job_id = m.run_job(GEMM)

    (check,) = m.checks(job_id)
    assert check.kind == "audit" and sorted(check.leaves) == [0, 1, 2, 3]
    assert m.answer(job_id) == hashes_of(honest_leaves(GEMM), check.leaves)


def test_a_corrupted_leaf_is_recomputed_to_the_right_hash_not_the_committed_one() -> None:
    m = Market()
    leaves = honest_leaves(GEMM)
    leaves[2] = flipped(leaves[2])
    job_id = m.run_job(GEMM, leaves)

    answer = m.answer(job_id, [0, 1, 2, 3])
    assert answer == hashes_of(honest_leaves(GEMM), [0, 1, 2, 3])
    assert answer != hashes_of(leaves, [0, 1, 2, 3])
    assert answer[:2] + answer[3:] == hashes_of(leaves, [0, 1, 3])


def test_a_leaf_that_builds_on_nothing_needs_only_the_inputs() -> None:
    """The worker's leaves are never read: a gemm check is recomputed with no result blob."""
    m = Market()
    job_id = m.run_job(GEMM, upload=False)

    assert m.answer(job_id) == hashes_of(honest_leaves(GEMM), m.checks(job_id)[0].leaves)


def test_a_missing_committed_predecessor_is_withheld() -> None:
    """Serving the result is the worker's duty: a member that cannot have the committed step a
    checked step builds on reveals RESULT_WITHHELD, not "unavailable" (which would let an sgd_fxp
    cheater that serves nothing go free, round after round, until its job is void)."""
    m = Market()
    job_id = m.run_job(SGD, upload=False)

    answer = m.answer(job_id, [3])
    assert isinstance(answer, str) and "unknown blob" in answer
    with pytest.raises(ResultWithheld):
        gather_material(m.job(job_id), [3], m.blobs)
    assert m.answer(job_id, [0]) == hashes_of(honest_leaves(SGD), [0])  # builds on nothing


def _damage(blobs: BlobStore, root: bytes, index: int) -> None:
    """Flip a bit of a stored leaf in the database under the blob store, as a bad disk would."""
    kv = blobs.kv
    assert isinstance(kv, MemoryStore)
    key = b"y" + root + index.to_bytes(4, "big")
    kv.data[key] = flipped(kv.data[key])


def test_a_predecessor_damaged_in_the_store_is_unavailable() -> None:
    """The store is not trusted: a leaf that does not prove against the root is no evidence."""
    m = Market()
    job_id = m.run_job(SGD)
    _damage(m.blobs, m.job(job_id).result_root, 2)

    answer = m.answer(job_id, [3])
    assert isinstance(answer, str) and "result leaf 2 does not prove" in answer
    with pytest.raises(ResultWithheld):
        gather_material(m.job(job_id), [3], m.blobs)
    assert m.answer(job_id, [2]) == hashes_of(honest_leaves(SGD), [2])


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


def test_inputs_read_from_blobs_are_recomputed() -> None:
    m = Market()
    inputs = generate_inputs(BLOB_GEMM.workload, BLOB_GEMM.params, BLOB_GEMM.seed)
    assert len(chunk_file(inputs["a"])) == 2
    job_id = _blob_job(m, BLOB_GEMM, inputs)

    assert all(root for _, root in m.job(job_id).inputs)
    leaves = compute_leaves(BLOB_GEMM, inputs, device="numpy")
    assert m.answer(job_id) == hashes_of(leaves, m.checks(job_id)[0].leaves)


def test_a_missing_input_blob_is_unavailable() -> None:
    m = Market()
    inputs = generate_inputs(BLOB_GEMM.workload, BLOB_GEMM.params, BLOB_GEMM.seed)
    job_id = _blob_job(m, BLOB_GEMM, {"a": inputs["a"]})

    answer = m.answer(job_id)
    assert isinstance(answer, str) and "not in the local blob store" in answer


def test_an_input_blob_damaged_in_the_store_is_unavailable() -> None:
    m = Market()
    inputs = generate_inputs(BLOB_GEMM.workload, BLOB_GEMM.params, BLOB_GEMM.seed)
    job_id = _blob_job(m, BLOB_GEMM, inputs)
    _damage(m.blobs, dict(m.job(job_id).inputs)["a"], 1)

    answer = m.answer(job_id)
    assert isinstance(answer, str) and "does not match its root" in answer


def test_an_input_blob_of_the_wrong_size_is_unavailable() -> None:
    m = Market()
    short = seed_stream(1, "test", "b", 100)
    m.blobs.store_leaves(chunk_file(short))
    job_id = m.submit(GEMM, {"b": merkle_root(chunk_file(short))})
    m.commit(job_id, honest_leaves(GEMM))

    answer = m.answer(job_id)
    assert isinstance(answer, str) and "holds 100 bytes" in answer


def test_a_leaf_is_recomputed_from_the_committed_leaf_it_builds_on() -> None:
    spec, leaf = SGD, 3
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    honest = compute_leaves(spec, inputs, device="numpy")
    (dep,) = leaf_dependencies(spec, leaf)
    wrong_dep = bytes(len(honest[dep]))

    # The worker got the dependency wrong and computed on from it: the leaf is consistent with
    # what it committed before it, so its hash matches; the dependency, checked itself, does not.
    consistent = list(honest)
    consistent[dep] = wrong_dep
    consistent[leaf] = recompute_leaf(spec, inputs, leaf, {dep: wrong_dep}, device="numpy")
    assert consistent[leaf] != honest[leaf]
    m = Market()
    job_id = m.run_job(spec, consistent)
    assert m.answer(job_id, [leaf]) == hashes_of(consistent, [leaf])
    assert m.answer(job_id, [dep]) != hashes_of(consistent, [dep])

    # A right leaf on a wrong committed dependency does not follow from it.
    inconsistent = list(honest)
    inconsistent[dep] = wrong_dep
    job_id = m.run_job(spec, inconsistent)
    assert m.answer(job_id, [leaf]) != hashes_of(inconsistent, [leaf])

    # A dependency of the wrong size cannot be built on: every member reveals the same marker,
    # which no worker's leaf hash equals.
    cut = list(honest)
    cut[dep] = honest[dep][:-4]
    job_id = m.run_job(spec, cut)
    assert m.answer(job_id, [leaf]) == (UNBUILDABLE,)

    # And the honest result is recomputed to its own hashes on every leaf.
    job_id = m.run_job(spec, honest)
    assert m.answer(job_id, range(len(honest))) == hashes_of(honest, range(len(honest)))


def test_a_qmlp_leaf_is_recomputed_from_x_whatever_the_committed_layer_before_it() -> None:
    """A later layer's leaf built on a wrong earlier layer fails on its own: the member does not
    take the committed layer before it on trust (what let zeroed layer-0 leaves pass)."""
    spec, leaf, before = QMLP, 2, 0
    assert leaf_dependencies(spec, leaf) == ()
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    honest = compute_leaves(spec, inputs, device="numpy")
    consistent = list(honest)
    consistent[before] = bytes(len(honest[before]))
    consistent[leaf] = bytes(len(honest[leaf]))
    m = Market()
    job_id = m.run_job(spec, consistent)
    assert m.answer(job_id, [leaf]) == hashes_of(honest, [leaf]) != hashes_of(consistent, [leaf])
    # Without its earlier layers in the store, the leaf is still recomputed, from x.
    job_id = m.run_job(spec, honest, upload=False)
    assert m.answer(job_id, [leaf, 3]) == hashes_of(honest, [leaf, 3])


def test_made_up_hashes_cost_nothing_and_match_no_result() -> None:
    made_up = made_up_hashes(3, 0, 4)
    assert made_up == made_up_hashes(3, 0, 4) and len(set(made_up)) == 4
    assert made_up != made_up_hashes(3, 1, 4)
    assert not set(made_up) & set(hashes_of(honest_leaves(GEMM), range(4)))


# What a member owes a check, when


def _check(**changes: object) -> compute.Check:
    """An audit drawn in block 10 on committee A, B: commits in 11..14, reveals in 15..18."""
    fields: dict[str, object] = {
        "kind": "audit",
        "leaves": (0, 1),
        "committee": (ALICE.public, DAVE.public),
        "draw_at": 10,
        "drawn_at": 10,
        "commit_deadline": 14,
        "reveal_deadline": 18,
    }
    fields.update(changes)
    return compute.Check(**fields)  # type: ignore[arg-type]


def test_a_member_commits_in_the_commit_phase_and_reveals_in_the_reveal_phase() -> None:
    a = ALICE.public
    fresh = _check()
    assert [duty(fresh, a, best) for best in range(10, 19)] == [COMMIT] * 4 + [None] * 5
    # A member that missed its commitment owes nothing more: the chain would refuse its reveal.
    assert not may_owe(fresh, a, 14)

    done = _check(commits=((a, bytes(32)),))
    assert [duty(done, a, best) for best in range(10, 19)] == [None] * 4 + [REVEAL] * 4 + [None]
    assert may_owe(done, a, 13) and may_owe(done, a, 17) and not may_owe(done, a, 18)

    revealed = _check(commits=((a, bytes(32)),), reveals=((a, ()),))
    assert all(duty(revealed, a, best) is None for best in range(10, 19))
    assert not may_owe(revealed, a, 15)

    assert all(duty(fresh, EVE.public, best) is None for best in range(10, 19))
    assert not may_owe(fresh, EVE.public, 11)
    assert not may_owe(_check(outcome="pass"), a, 11)


def test_a_check_not_yet_drawn_is_kept_but_owes_nothing() -> None:
    undrawn = _check(committee=(), drawn_at=0, commit_deadline=0, reveal_deadline=0)
    assert phase(undrawn, 12) == "drawing"
    assert duty(undrawn, ALICE.public, 11) is None
    assert may_owe(undrawn, ALICE.public, 11)


@given(
    drawn=st.integers(0, 50),
    commit=st.integers(1, 10),
    reveal=st.integers(1, 10),
    best=st.integers(0, 80),
    committed=st.booleans(),
    revealed=st.booleans(),
)
def test_a_duty_is_only_ever_due_when_the_next_block_is_in_its_phase(
    drawn: int, commit: int, reveal: int, best: int, committed: bool, revealed: bool
) -> None:
    a = ALICE.public
    check = _check(
        drawn_at=drawn,
        commit_deadline=drawn + commit,
        reveal_deadline=drawn + commit + reveal,
        commits=((a, bytes(32)),) if committed or revealed else (),
        reveals=((a, ()),) if revealed else (),
    )
    owed = duty(check, a, best)
    if owed is not None:
        assert may_owe(check, a, best)
    if owed == COMMIT:
        assert drawn < best + 1 <= check.commit_deadline and not committed
    if owed == REVEAL:
        assert check.commit_deadline < best + 1 <= check.reveal_deadline
        assert committed and not revealed
    assert owed is None or phase(check, best + 1) == owed
    # The worker's response is due exactly in the reveal phase, once.
    assert awaits_response(check, best) == (phase(check, best + 1) == "reveal")


def test_a_reveal_counts_against_the_worker_response() -> None:
    a, d = ALICE.public, DAVE.public
    right, wrong = (leaf_hash(b"x"), leaf_hash(b"y")), (leaf_hash(b"x"), leaf_hash(b"z"))
    check = _check(reveals=((a, right), (d, ())))
    assert [reveal_vote(check, h) for _, h in check.reveals] == ["pending", "unavailable"]
    check = _check(response=right)
    assert [reveal_vote(check, h) for h in (right, wrong, ())] == [
        "match",
        "differs",
        "unavailable",
    ]


# Which checks are mine, on the chain


def _member(public: bytes) -> Keypair:
    return next(v for v in VALIDATORS if v.public == public)


def test_members_commit_reveal_and_the_worker_responds_on_chain() -> None:
    m = Market()
    leaves = honest_leaves(GEMM)
    job_id = m.run_job(GEMM, leaves)
    (check,) = m.checks(job_id)
    first, second = (_member(p) for p in check.committee)
    (outsider,) = (v for v in VALIDATORS if v.public not in check.committee)
    assert m.awaiting(first) == m.awaiting(second) == [(job_id, 0)]
    assert m.awaiting(outsider) == [] and m.awaiting(BOB) == []

    answer = m.answer(job_id)
    assert isinstance(answer, tuple)
    material = gather_material(m.job(job_id), check.leaves, m.blobs)
    recomputed, witness = recompute_answer(material, check.mask, device="numpy")
    assert recomputed == answer and witness != compute.NO_WITNESS
    for member in (first, second):
        salt = compute.attestation_salt(member.seed, job_id, 0)
        commitment = compute.attestation_commitment(job_id, 0, member.public, answer, witness, salt)
        assert duty(m.checks(job_id)[0], member.public, m.best_number) == COMMIT
        digest = compute.check_digest(job_id, m.job(job_id), 0, m.checks(job_id)[0])
        m.call(member, "compute", "attest_commit", job_id, digest, 0, commitment)
        assert duty(m.checks(job_id)[0], member.public, m.best_number) is None
    # The worker may not respond while members still commit: none could copy its hashes.
    assert not m.push(BOB, response_call(job_id, 0, m.checks(job_id)[0], leaves))

    m.produce_until(check.commit_deadline)
    check = m.checks(job_id)[0]
    assert awaits_response(check, m.best_number)
    assert m.push(BOB, response_call(job_id, 0, check, leaves))
    assert m.checks(job_id)[0].response == answer
    for member in (first, second):
        assert duty(m.checks(job_id)[0], member.public, m.best_number) == REVEAL
        salt = compute.attestation_salt(member.seed, job_id, 0)
        m.call(member, "compute", "attest_reveal", job_id, 0, list(answer), witness, salt)

    current = read_open_check(m.chain.read, job_id, 0)
    assert current == OpenCheck(job_id, 0, m.job(job_id), m.checks(job_id)[0])
    assert all(m.awaiting(v) == [] for v in VALIDATORS)
    m.produce_until(check.reveal_deadline + 1)
    assert m.checks(job_id)[0].outcome == "pass"


def test_a_response_proves_each_leaf_hash_against_the_root() -> None:
    leaves = honest_leaves(SGD)
    hashes, proofs = response(leaves, [4, 0])
    assert hashes == [leaf_hash(leaves[4]), leaf_hash(leaves[0])]
    m = Market()
    job_id = m.run_job(SGD, leaves)
    check = m.checks(job_id)[0]
    m.produce_until(check.commit_deadline)
    # Proofs of other leaves than the check names do not prove its leaves.
    wrong = dataclasses.replace(check, leaves=tuple(reversed(check.leaves)))
    assert not m.push(BOB, response_call(job_id, 0, wrong, leaves))
    assert m.push(BOB, response_call(job_id, 0, check, leaves))
    assert len(proofs) == 2


def test_the_events_of_a_block_name_the_checks_it_opened() -> None:
    m = Market()
    job_id = m.run_job(GEMM)
    assert checks_opened(m.chain.read(EVENTS_KEY)) == [(job_id, 0)]

    m.chain.produce()
    assert checks_opened(m.chain.read(EVENTS_KEY)) == []

    m.call(CHARLIE, "compute", "dispute", job_id, compute.result_digest(job_id, m.job(job_id)), 1)
    assert (job_id, 1) in checks_opened(m.chain.read(EVENTS_KEY))
    dispute = m.checks(job_id)[1]
    assert dispute.kind == "dispute" and dispute.leaves == (1,)
    if dispute.committee:
        assert (job_id, 1) in m.awaiting(_member(dispute.committee[0]))


def test_a_draw_without_an_audit_opens_no_check() -> None:
    # The least audit probability the incentive guard allows with a slash of 100×.
    market_params = dataclasses.replace(DEFAULT_MARKET_PARAMS, slash_ppm=100 * PPM)
    low = least_audit_ppm(market_params, PARAMS)
    m = Market(dataclasses.replace(PARAMS, audit_ppm=low), market_params)
    job_id = m.submit(GEMM)
    m.blobs.store_leaves(honest_leaves(GEMM))
    digest = market.job_digest(job_id, m.job(job_id))
    m.call(BOB, "compute", "commit_result", job_id, digest, merkle_root(honest_leaves(GEMM)), 4)
    m.produce_until(m.roll_block(job_id))

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


def test_a_fresh_round_after_an_inconclusive_check_is_found_from_the_closed_one() -> None:
    m = Market()
    leaves = honest_leaves(GEMM)
    job_id = m.run_job(GEMM, leaves)
    check = m.checks(job_id)[0]
    m.produce_until(check.commit_deadline)
    assert m.push(BOB, response_call(job_id, 0, check, leaves))
    m.produce_until(check.reveal_deadline + 1)  # nobody committed: no majority

    first, fresh = m.checks(job_id)
    assert first.outcome == "inconclusive" and not fresh.outcome and fresh.round == 1
    assert read_open_check(m.chain.read, job_id, 0) is None
    assert later_open_checks(m.chain.read, job_id, 0) == [(job_id, 1)]
    assert later_open_checks(m.chain.read, job_id, 1) == []
    assert all((job_id, 1) in m.awaiting(_member(p)) for p in fresh.committee)


def test_a_check_drawn_again_under_its_key_is_another_round_to_a_member() -> None:
    """A reorg may draw the same job's check again, same index and round, with another mask or
    leaves: the digest that keys a member's cached answer and that its commitment carries
    differs, so an answer recomputed for one draw is never committed for the other."""
    m = Market()
    job_id = m.run_job(GEMM, honest_leaves(GEMM))
    current = read_open_check(m.chain.read, job_id, 0)
    assert current is not None
    assert current.digest == compute.check_digest(job_id, m.job(job_id), 0, current.check)
    check = current.check
    for redrawn in (
        dataclasses.replace(check, mask=check.mask ^ (1 << 5)),
        dataclasses.replace(check, leaves=tuple(reversed(check.leaves))),
        dataclasses.replace(check, drawn_at=check.drawn_at + 1),
    ):
        again = dataclasses.replace(current, check=redrawn)
        assert (again.key, again.check.round) == (current.key, check.round)
        assert again.digest != current.digest
