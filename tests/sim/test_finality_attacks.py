"""Strangers and rogue authorities against finality, on the simulated network of four real node
cores: forged commits that once moved every voter to a round nobody else was in, round numbers at
the end of u64, vote floods, lying neighbour packets. Each must cost its sender and leave finality
going."""

from __future__ import annotations

from chain.core.finality import Justification
from chain.core.messages import PROTOCOL_NEIGHBOUR, TOPIC_FINALITY, encode_finality
from chain.core.voter_messages import MAX_ROUND, CatchUp, Neighbour
from chain.spec import local_spec
from runtime.consensus import PREVOTE, SignedVote
from runtime.primitives.keys import Keypair, keypair_from_suri
from sim.network import SimNetwork

NAMES = ("Alice", "Bob", "Charlie", "Dave")
SPEC = local_spec(validators=4)
SLOT_MS = SPEC.genesis.slot_duration_ms


def key(name: str) -> Keypair:
    return keypair_from_suri("//" + name)


def network_with_stranger(seed: int = 0) -> SimNetwork:
    """The four validators and Mallory, a node without a key, connected to each of them."""
    net = SimNetwork(SPEC, seed=seed, check_invariants=False)
    for name in NAMES:
        net.add_node(name, key(name))
    net.add_node("Mallory")
    net.connect_all()
    return net


def finalized(net: SimNetwork) -> dict[str, int]:
    return {n: net.core(n).finalized_header.number for n in NAMES}


def empty_commit(net: SimNetwork, round_: int) -> bytes:
    """A commit for Alice's finalized block with no precommits at all."""
    final = net.core("Alice").finalized_header
    j = Justification(0, round_, final.hash, final.number, ())
    return encode_finality("commit", j.to_value())


def test_unsigned_commits_for_the_finalized_block_move_no_voter_and_cost_their_sender():
    net = network_with_stranger(seed=1)
    net.run_for(6 * SLOT_MS)
    before = finalized(net)
    # A different huge round for each validator, up to the last u64, sent again and again.
    for i, round_ in enumerate((10**9, 2**40 + 7, 2**63, 2**64 - 1)):
        for _ in range(3):
            net.gossip_from("Mallory", TOPIC_FINALITY, empty_commit(net, round_ - i))
            net.run_for(SLOT_MS // 2)
    net.run_for(20 * SLOT_MS)
    after = finalized(net)
    best = net.core("Alice").best_header.number
    assert all(after[n] > before[n] + 15 for n in NAMES), (before, after)
    assert min(after.values()) >= best - 3
    assert all(net.core(n).voter.round_number < 1_000 for n in NAMES)
    # Each validator that heard a forged commit charged Mallory for it.
    assert all(net.nodes[n].scores.get("Mallory", 0) < 0 for n in NAMES)
    assert net.conflicting_finality() == []


def test_votes_and_neighbour_packets_at_the_last_round_are_refused_without_overflow():
    net = network_with_stranger(seed=2)
    net.run_for(4 * SLOT_MS)
    best = net.core("Alice").best_header
    # Dave's key in rogue hands: a validly signed prevote for round 2^64 - 1.
    rogue = SignedVote.sign(
        key("Dave"),
        phase=PREVOTE,
        set_id=0,
        round_=2**64 - 1,
        block_hash=best.hash,
        number=best.number,
    )
    net.gossip_from("Mallory", TOPIC_FINALITY, encode_finality("votes", [rogue.to_value()]))
    alice = net.core("Alice")
    # A neighbour packet claiming the last round is refused, and so is a catch-up for it.
    assert not alice.voter.note_neighbour("Mallory", Neighbour(0, 2**64 - 1, 0))
    last = CatchUp(0, MAX_ROUND + 1, (), ())
    assert alice.voter.on_catch_up("Mallory", last, net.now_ms)[0].value == "reject"
    before = finalized(net)
    net.run_for(15 * SLOT_MS)
    after = finalized(net)
    assert all(after[n] > before[n] + 10 for n in NAMES)
    assert all(net.core(n).voter.round_number < 1_000 for n in NAMES)
    assert net.nodes["Alice"].scores.get("Mallory", 0) < 0


def test_a_neighbour_that_lies_about_its_round_is_asked_less_and_less_and_moves_nobody():
    net = network_with_stranger(seed=3)
    lies = {"count": 0}
    mallory = net.nodes["Mallory"]
    real_core = mallory.require_core()
    original = real_core.on_request

    def lying(peer: str, protocol: str, data: bytes, now_ms: int) -> bytes:
        lies["count"] += protocol == "catchup"
        if protocol == PROTOCOL_NEIGHBOUR:
            return Neighbour(0, 10**12, 10**6).encode()
        return original(peer, protocol, data, now_ms)

    real_core.on_request = lying  # type: ignore[method-assign]
    net.run_for(60 * SLOT_MS)
    best = net.core("Alice").best_header.number
    assert min(finalized(net).values()) >= best - 3
    assert all(net.core(n).voter.round_number < 1_000 for n in NAMES)
    # Four validators over 60 s with a back-off doubling to 32 s: a handful of catch-ups each,
    # not one per tick.
    assert 1 <= lies["count"] <= 4 * 6


def lose_the_first_catch_up(net: SimNetwork, name: str, lost: dict[str, int]) -> None:
    """`name` answers requests with its core, but the first catch-up it is asked goes unanswered
    (by it, or by any node given the same `lost` counter)."""
    core = net.core(name)

    def respond(requester: str, protocol: str, data: bytes) -> bytes | None:
        if protocol == "catchup" and lost["n"] == 0:
            lost["n"] += 1
            return None
        return core.on_request(requester, protocol, data, net.now_ms)

    net.set_responder(name, respond)


def test_a_lost_catch_up_request_does_not_stall_finality_for_good():
    """Dave, cut off, falls rounds behind; after the heal the first catch-up request he sends
    is lost. The stuck round's votes he saw while too far behind must still reach him (gossip
    drops a message it has seen, so votes sent again must be new messages)."""
    for seed in range(3):
        net = SimNetwork(SPEC, seed=seed)
        for name in NAMES:
            net.add_node(name, key(name))
        net.connect_all()
        lost = {"n": 0}
        net.run_for(4 * SLOT_MS)
        net.partition({"Alice", "Bob", "Charlie"}, {"Dave"})
        net.run_for(15 * SLOT_MS)
        net.crash("Charlie")
        for name in ("Alice", "Bob"):
            lose_the_first_catch_up(net, name, lost)
        net.heal()
        at_heal = net.core("Alice").finalized_header.number
        net.run_for(30 * SLOT_MS)
        assert lost["n"] == 1
        up = ("Alice", "Bob", "Dave")
        assert all(net.core(n).finalized_header.number > at_heal + 20 for n in up), seed


def test_strangers_that_claim_far_rounds_and_never_answer_are_not_asked_before_honest_peers():
    net = SimNetwork(SPEC, seed=4)
    for name in NAMES:
        net.add_node(name, key(name))
    for liar in ("Mallory", "Trudy"):
        net.add_node(liar)
        net.connect(liar, "Dave")
        net.set_responder(
            liar,
            lambda _r, protocol, _d: (
                Neighbour(0, 10**12, 10**6).encode() if protocol == PROTOCOL_NEIGHBOUR else None
            ),
        )
    for i, a in enumerate(NAMES):
        for b in NAMES[i + 1 :]:
            net.connect(a, b)
    net.run_for(4 * SLOT_MS)
    net.partition({"Alice", "Bob", "Charlie", "Mallory", "Trudy"}, {"Dave"})
    net.run_for(15 * SLOT_MS)
    net.crash("Charlie")
    net.heal()
    at_heal = net.core("Alice").finalized_header.number
    net.run_for(30 * SLOT_MS)
    assert all(net.core(n).finalized_header.number > at_heal + 20 for n in ("Alice", "Bob", "Dave"))
