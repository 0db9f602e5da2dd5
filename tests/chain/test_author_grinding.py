"""A grinding author cannot move audits: real validator processes, seen through RPC and the
grinder's log.

Three `xpl node` validators run a local chain; //Alice runs `--author-behaviour grind
--grind-against //Ferdie`: in each of her slots she builds GRIND_VARIANTS different blocks (other
subsets and orders of the pool's transactions, and a transfer of her own) and publishes the one
that draws the fewest audits of //Ferdie's jobs, in it and in a stand-in next block on top of it
(so that a draw seeded by the block's hash or contents, as audits once were, would show). //Eve
submits sampled jobs that //Ferdie takes and commits, a few in each block, so that their audit
rolls fall in many blocks, some of them Alice's. Then:

- the variants were tried: every block Alice authored was ground over GRIND_VARIANTS distinct
  bodies, some of them in blocks that rolled //Ferdie's audits;
- they changed nothing: within each block every variant drew the same audits of //Ferdie's jobs,
  so the first (the honest block) was kept;
- every header's VRF output is the one its author's key gives on the parent's randomness and
  the slot (what an honest author publishes), and every audit roll of //Ferdie's jobs (its
  block, whether it audits, the leaves) is what the chain randomness recomputed from those
  outputs alone decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import pytest

from chain.client.chain import XplClient, make_call
from chain.localnet import Localnet
from chain.localnet import wait_until as poll
from chain.spec import ChainSpec, local_spec
from runtime.pallets import randomness
from runtime.pallets.compute import DRAW_DELAY, DRAW_JITTER
from runtime.pallets.compute.drawing import draw_leaves
from runtime.pallets.market import PPM
from runtime.pallets.market.constants import MIN_REPUTATION
from runtime.primitives import vrf
from runtime.primitives.address import decode_address
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, dev_keypair

ALICE, BOB, CHARLIE, EVE, FERDIE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Eve", "Ferdie")
)
AUTHORS: Final = {k.public: k for k in (ALICE, BOB, CHARLIE)}
UNIT: Final = 10**12
PRICE: Final = 10**16
PARAMS: Final = ("gemm_i8", [8, 16, 8, 2])
LEAVES: Final = 4
GRIND_VARIANTS: Final = 12
JOBS_PER_BLOCK: Final = 2
COMMIT_BLOCKS: Final = 6
"""Blocks that each commit JOBS_PER_BLOCK jobs: their rolls fall in as many blocks or more."""
MAX_WAVES: Final = 3
"""Waves of commitments, until one of Alice's blocks rolled an audit of Ferdie's."""
CAPACITY: Final = MAX_WAVES * JOBS_PER_BLOCK * COMMIT_BLOCKS
"""Ferdie's capacity: every wave's jobs, however many of the earlier ones are still open."""
GROUND: Final = re.compile(
    r"grinding block #(\d+): (\d+) variants \((\d+) distinct bodies\), audits of the target's "
    r"jobs in each and the next: \[([\d, ]*)\]; kept variant (\d+)"
)


def grinding_spec() -> ChainSpec:
    """The local chain, except that Ferdie keeps taking jobs after audits catch his made-up
    results: every wave's jobs must be his, however many of the last wave's were audited."""
    data = local_spec(validators=3).to_json()
    data["genesis"]["market"]["minMatchReputation"] = MIN_REPUTATION
    return ChainSpec.from_json(data)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    net = Localnet(
        tmp_path_factory.mktemp("grinding") / "net",
        validators=3,
        spec=grinding_spec(),
        node_args=("--verify-device", "numpy"),
    )
    net.node("alice").extra_args = (
        "--author-behaviour", "grind", "--grind-against", "//Ferdie",
        "--grind-variants", str(GRIND_VARIANTS),
    )  # fmt: skip
    net.start()
    try:
        yield net
    finally:
        net.stop()


def submit_all(client: XplClient, txs: list[tuple[Keypair, Any]]) -> int:
    """Submit each (signer, call) with consecutive nonces per signer; the block of the last."""
    nonces: dict[bytes, int] = {}
    signed = []
    for who, made in txs:
        nonce = nonces.get(who.public, client.next_nonce(who.public))
        nonces[who.public] = nonce + 1
        signed.append(client.sign(who, made, nonce=nonce))
    for tx in signed[:-1]:
        client.submit(tx)
    outcome = client.submit_and_watch(signed[-1], until="inBlock", timeout=30)
    assert outcome.success, outcome.error
    return outcome.block_number


def events_from(client: XplClient, first: int, last: int) -> Iterator[tuple[int, dict[str, Any]]]:
    for number in range(first, last + 1):
        block_hash = client.block_hash(number)
        assert block_hash is not None
        for event in client.events(block_hash):
            yield number, event


def ferdie_jobs(client: XplClient, count: int) -> list[int]:
    """Eve submits `count` sampled jobs, all taken by Ferdie; their ids."""
    submit = make_call(
        "market", "submit_job", *PARAMS, ["a", "b"], [b"", b""], 0, PRICE, 20, 20, "sampled"
    )
    first = client.best_number() + 1
    last = submit_all(client, [(EVE, submit)] * count)
    jobs = [
        e["data"]["job"]
        for _, e in events_from(client, first, last)
        if e["event"] == "JobSubmitted"
    ]
    assert len(jobs) == count
    poll(
        lambda: (
            all((view := client.job(j)) and view.job.worker == FERDIE.public for j in jobs) or None
        ),
        timeout=45,
        what="Ferdie to take the jobs",
    )

    return jobs


def digest_of(client: XplClient, job_id: int) -> bytes:
    """The digest that names the job in calls, as the node reports the job."""
    view = client.job(job_id)
    assert view is not None
    return view.digest


def commit_wave(client: XplClient) -> dict[int, int]:
    """Ferdie commits JOBS_PER_BLOCK jobs in each of COMMIT_BLOCKS blocks; job → its block."""
    jobs = ferdie_jobs(client, JOBS_PER_BLOCK * COMMIT_BLOCKS)
    committed: dict[int, int] = {}
    for at in range(0, len(jobs), JOBS_PER_BLOCK):
        group = jobs[at : at + JOBS_PER_BLOCK]
        calls = [
            (
                FERDIE,
                make_call(
                    "compute",
                    "commit_result",
                    j,
                    digest_of(client, j),
                    blake2b_256(bytes(j)),
                    LEAVES,
                ),
            )
            for j in group
        ]
        first = client.best_number() + 1
        last = submit_all(client, calls)
        for number, e in events_from(client, first, last):
            if e["event"] == "ResultCommitted" and e["data"]["job"] in group:
                committed[e["data"]["job"]] = number
    assert sorted(committed) == sorted(jobs)
    return committed


def ground_blocks(net: Localnet) -> dict[int, tuple[int, int, list[int], int]]:
    """Alice's log: block → (variants, distinct bodies, target audits per variant, kept)."""
    found = {}
    for match in GROUND.finditer(net.node("alice").log_path.read_text()):
        number, variants, bodies, audits, kept = match.groups()
        found[int(number)] = (
            int(variants),
            int(bodies),
            [int(a) for a in audits.split(",") if a.strip()],
            int(kept),
        )
    return found


def chain_randomness(client: XplClient, last: int) -> tuple[list[bytes], list[bytes]]:
    """R_0..R_last recomputed from the headers' VRF outputs, each checked to be the output its
    author's key gives on R_{n−1} and the slot; and the authors."""
    r = [client.genesis_hash()]
    authors = [b""]
    for number in range(1, last + 1):
        block_hash = client.block_hash(number)
        assert block_hash is not None
        digest = client.header(block_hash)["digest"]
        author = AUTHORS[decode_address(digest["author"])]
        alpha = randomness.vrf_input(r[-1], digest["slot"])
        honest, _proof = vrf.prove(author, alpha)
        assert bytes.fromhex(digest["vrfOutput"].removeprefix("0x")) == honest, number
        r.append(randomness.mix(r[-1], honest))
        authors.append(author.public)
    return r, authors


@pytest.mark.timeout(120)
def test_a_grinding_author_cannot_move_audits(net: Localnet) -> None:
    with net.node("charlie").client(timeout=30) as client:
        _, params = client.market_params()
        # stake, device, memory, workloads, prices, throughput, endpoint, capacity
        worker = (100 * UNIT, "cpu", 1024, ["gemm_i8"], [PRICE], [1], "", CAPACITY)
        submit_all(client, [(FERDIE, make_call("market", "register_worker", *worker))])
        committed: dict[int, int] = {}
        rolls: dict[int, tuple[int, dict[str, Any]]] = {}
        for _wave in range(MAX_WAVES):
            wave = commit_wave(client)
            committed.update(wave)
            last_roll = max(wave.values()) + DRAW_DELAY + DRAW_JITTER
            poll(
                lambda last=last_roll: client.best_number() >= last or None,
                timeout=20,
                what="the rolls",
            )
            first = min(wave.values())
            for number, e in events_from(client, first, last_roll):
                data = e["data"]
                if e["event"] == "ChallengeDrawn" and data["job"] in wave and data["check"] == 0:
                    rolls[data["job"]] = (number, data)
            ground = ground_blocks(net)
            if any(sum(ground.get(n, (0, 0, [0], 0))[2]) for n, _ in rolls.values()):
                break
        r, authors = chain_randomness(client, client.best_number())
    ground = ground_blocks(net)

    # The variants were tried, over distinct blocks, in every block Alice authored...
    alice_blocks = [n for n in range(1, len(authors)) if authors[n] == ALICE.public]
    assert alice_blocks and set(alice_blocks) <= set(ground)
    for number in alice_blocks:
        variants, bodies, audits, kept = ground[number]
        assert variants == bodies == GRIND_VARIANTS == len(audits)
        # ...and none drew other audits of Ferdie's jobs than the honest block did.
        assert len(set(audits)) == 1 and kept == 0, (number, audits)
    assert any(ground[n][2][0] > 0 for n in alice_blocks), "no Alice block rolled an audit"

    # Every audit roll is what the VRF outputs decide: its block, its verdict, its leaves.
    assert sorted(rolls) == sorted(committed)
    for job_id, at in committed.items():
        jitter = int.from_bytes(blake2b_256(b"xpl-draw-delay" + r[at + 1])[:8], "big")
        roll_at = at + DRAW_DELAY + jitter % DRAW_JITTER
        seed = blake2b_256(b"xpl-compute" + b"audit" + r[roll_at] + job_id.to_bytes(8, "big"))
        audited = int.from_bytes(seed[:8], "big") % PPM < params.audit_ppm
        number, data = rolls[job_id]
        assert (number, data["audited"]) == (roll_at, audited), job_id
        if audited:
            assert data["leaves"] == list(draw_leaves(seed, params.audit_leaves, LEAVES))
        if authors[roll_at] == ALICE.public:
            assert ground[roll_at][2][0] >= int(audited)
