"""An author cannot steer which jobs are audited by trying block variants: the draw depends on the
authors' VRF outputs only. Forfeiting its slot is all it can do, and that is one bit, measured
here: over many jobs, the author of the block that rolls the audits (DRAW_DELAY + j blocks after
the commitment, j from the block after it) that forfeits whenever it helps moves an audit
probability q to about q² (or 1 − (1 − q)²), never further."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from itertools import permutations
from typing import Any, Final

from chain.client.chain import transfer_call
from runtime.block import Block, Digest, Header, extrinsics_root
from runtime.executive import BlockBuilder, BlockResult
from runtime.pallets import compute, randomness
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.compute import DRAW_DELAY, DRAW_JITTER
from runtime.pallets.market import PPM
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.state import StateOverlay
from runtime.transaction import SignedTransaction
from tests.runtime.conftest import apply_changes
from tests.runtime.pallets.market_helpers import (
    AUTHOR,
    CHALLENGER,
    GEMM_LEAVES,
    OUTSIDER,
    REQUESTER,
    REQUESTER2,
    ROOT_HASH,
    SLOT_MS,
    UNIT,
    WORKER,
    WORKER2,
    WORKER3,
    MarketChain,
    hook_events,
    market_chain,
)

ATTACKER: Final = dev_keypair("Mallory")
"""Authors the block whose on_initialize draws (the last of the mixing window)."""
NEXT_AUTHOR: Final = dev_keypair("Ned")
"""Authors the slot after the attacker's: its block is what the attacker's forfeit leaves."""
VARIANTS: Final = 1_000
WORLDS: Final = 64
"""Independent mixing windows in the bias measurement (each with JOBS jobs)."""
JOBS: Final = 32


def fork(chain: MarketChain) -> MarketChain:
    """A copy of the chain that can grow apart from it."""
    other = copy.copy(chain)
    other.state = dict(chain.state)
    other.headers = list(chain.headers)
    other.randomness = dict(chain.randomness)
    return other


def author(
    chain: MarketChain,
    keypair: Keypair,
    *,
    skip: int = 0,
    txs: Sequence[SignedTransaction] = (),
    delay_ms: int = 0,
) -> BlockResult:
    """`keypair` authors the next block, `skip` slots after the head's next one (its `delay_ms`
    late within the slot), with `txs`, seals it and makes it the head. The header's state root is
    left zero: the node checks it, the runtime never reads it, and a trie root per block would
    double this module's time."""
    parent = chain.head
    slot = parent.digest.slot + 1 + skip
    timestamp = slot * SLOT_MS + delay_ms
    builder = BlockBuilder(
        chain.read,
        parent,
        timestamp=timestamp,
        slot=slot,
        author=keypair,
        genesis_hash=chain.genesis_hash,
    )
    for tx in txs:
        builder.push(tx)
    result = builder.finish()
    post = dict(chain.state)
    apply_changes(post, result.changes)
    ctx = result.context
    header = Header(
        parent_hash=parent.hash,
        number=parent.number + 1,
        state_root=ZERO_HASH,
        extrinsics_root=extrinsics_root(builder.extrinsics),
        timestamp=timestamp,
        digest=Digest(slot, keypair.public, b"", ctx.vrf_output, ctx.vrf_proof),
    ).sealed_by(keypair)
    chain.extend(Block(header, tuple(builder.extrinsics)), post)
    return result


def roll_delay_after(chain: MarketChain, job_id: int, first: Keypair) -> int:
    """Blocks from the head's commitment to its audit roll when `first` authors the block after
    it (that block's randomness sets the delay, whatever it contains)."""
    probe = fork(chain)
    author(probe, first)
    roll_at = compute.AuditRolls.get(StateOverlay(probe.read), job_id)
    assert roll_at is not None
    return roll_at - chain.head.number


def draws(result: BlockResult) -> dict[int, tuple[Any, ...]]:
    """The ChallengeDrawn events of a block, by job."""
    return {
        args[0]: args for name, args in hook_events(result, "compute") if name == "ChallengeDrawn"
    }


def committed_jobs(count: int, modes: Sequence[str]) -> tuple[MarketChain, list[int]]:
    """A chain whose head block commits `count` jobs (Wendy, Walter and Wilma work them; Rita and
    Ralph submit them, each job in a block of its own)."""
    chain = market_chain()
    per_worker = -(-count // 3)
    for worker in (WORKER, WORKER2, WORKER3):
        assert chain.register(worker, stake=300 * UNIT, capacity=per_worker).error is None
    for i in range(count):
        requester = (REQUESTER, REQUESTER2)[i % 2]
        out = chain.submit(requester, seed=i, mode=modes[i % len(modes)], deadline=60, wait=60)
        assert out.error is None, out.error
    jobs = sorted(chain.jobs())
    assert len(jobs) == count
    by_worker: dict[bytes, list[int]] = {}
    for j in jobs:
        worker = chain.job(j).worker
        assert worker is not None
        by_worker.setdefault(worker, []).append(j)
    keys = {k.public: k for k in (WORKER, WORKER2, WORKER3)}
    outs = chain.calls(
        *[
            (keys[w], "compute", "commit_result", (j, chain.digest(j), ROOT_HASH, GEMM_LEAVES))
            for w, js in by_worker.items()
            for j in js
        ]
    )
    assert all(out.error is None for out in outs)
    return chain, jobs


def _ordered_subsets(items: Sequence[int]) -> list[tuple[int, ...]]:
    return [p for k in range(len(items) + 1) for p in permutations(items, k)]


def test_a_thousand_block_variants_leave_every_draw_unchanged() -> None:
    chain, jobs = committed_jobs(8, ("always", "sampled"))
    committed_at = chain.head.number
    # What the author may put in its block: a transfer from each of five accounts, in any subset
    # and order (326 bodies), in any of the three blocks of the window, at any time in its slot.
    signers = (CHALLENGER, OUTSIDER, REQUESTER, REQUESTER2, WORKER3)
    txs = [
        chain.sign(k, transfer_call(AUTHOR.public if k != OUTSIDER else CHALLENGER.public, ED))
        for k in signers
    ]
    bodies = _ordered_subsets(range(len(signers)))
    outcomes: set[str] = set()
    varied_blocks: set[bytes] = set()
    window = roll_delay_after(chain, jobs[0], AUTHOR)  # DRAW_DELAY to DRAW_DELAY + 3 blocks
    assert DRAW_DELAY <= window < DRAW_DELAY + DRAW_JITTER
    for i in range(VARIANTS):
        varied = i % window
        body = [txs[t] for t in bodies[(i // window) % len(bodies)]]
        delay_ms = i // (window * len(bodies))
        variant = fork(chain)
        for position in range(window):
            if position == varied:
                result = author(variant, AUTHOR, txs=body, delay_ms=delay_ms)
                varied_blocks.add(variant.head.hash)
            else:
                result = author(variant, AUTHOR)
        assert variant.head.number == committed_at + window
        drawn = draws(result)
        assert sorted(drawn) == sorted(jobs)
        outcomes.add(repr((sorted(drawn.items()), [variant.checks(j) for j in jobs])))
    assert len(varied_blocks) == VARIANTS  # a thousand different blocks (hashes)...
    assert len(outcomes) == 1  # ...and not one changed an audit decision, a leaf or a member

    # Forfeiting the slot of the draw block is what changes the draw: the next slot's author builds
    # it with its own VRF output.
    kept, forfeited = fork(chain), fork(chain)
    for _ in range(window - 1):
        author(kept, AUTHOR)
        author(forfeited, AUTHOR)
    as_published = draws(author(kept, AUTHOR))
    instead = draws(author(forfeited, NEXT_AUTHOR, skip=1))
    assert randomness.current(StateOverlay(kept.read)) != randomness.current(
        StateOverlay(forfeited.read)
    )
    assert repr((sorted(as_published.items()), [kept.checks(j) for j in jobs])) in outcomes
    assert any(args[2] for args in as_published.values())
    assert as_published != instead
    assert sorted(instead) == sorted(jobs)


def _tolerance(p: float, n: int) -> float:
    """Four standard deviations of a frequency of probability p over n samples."""
    return 4 * math.sqrt(p * (1 - p) / n) + 1e-9


def measure_forfeit_bias() -> dict[str, float]:
    """Audit frequencies over WORLDS × JOBS sampled jobs: as drawn, and for an attacker that
    authors the draw block and forfeits its slot whenever that lowers (or raises) its job's
    audit; with the audit probability q and the forfeits it took."""
    chain, jobs = committed_jobs(JOBS, ("sampled",))
    q = chain.compute_params().audit_ppm / PPM
    pairs: list[tuple[bool, bool]] = []
    for w in range(WORLDS):
        world = fork(chain)
        # The honest blocks of the window, with outputs nobody could predict (another author
        # each world), then the draw block: the attacker's, or the next author's if it forfeits.
        window = roll_delay_after(world, jobs[0], dev_keypair(f"Honest{w}"))
        author(world, dev_keypair(f"Honest{w}"))
        for _ in range(window - 2):
            author(world, AUTHOR)
        published = draws(author(fork(world), ATTACKER))
        forfeited = draws(author(fork(world), NEXT_AUTHOR, skip=1))
        pairs += [(bool(published[j][2]), bool(forfeited[j][2])) for j in jobs]
    n = len(pairs)
    return {
        "q": q,
        "samples": n,
        "honest": sum(a for a, _ in pairs) / n,
        "lowered": sum(a and b for a, b in pairs) / n,
        "raised": sum(a or b for a, b in pairs) / n,
        "forfeits_to_lower": sum(a and not b for a, b in pairs) / n,
        "forfeits_to_raise": sum(b and not a for a, b in pairs) / n,
    }


def test_forfeiting_the_draw_block_moves_an_audit_probability_by_one_bit_at_most() -> None:
    m = measure_forfeit_bias()
    q, n = m["q"], int(m["samples"])
    assert abs(m["honest"] - q) <= _tolerance(q, n)
    # Lowered to q², raised to 1 − (1 − q)²: the most that a choice between two draws gives.
    assert abs(m["lowered"] - q * q) <= _tolerance(q * q, n)
    raised = 1 - (1 - q) ** 2
    assert abs(m["raised"] - raised) <= _tolerance(raised, n)
    # Each helpful forfeit costs the attacker its slot's block (its reward and fees): about
    # q(1 − q) of its jobs.
    assert abs(m["forfeits_to_lower"] - q * (1 - q)) <= _tolerance(q * (1 - q), n)
