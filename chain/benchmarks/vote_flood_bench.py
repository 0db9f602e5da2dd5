"""What a flood of finality votes from a rogue authority costs a node.

Four validators of the local spec run on the simulated network until they finalize. Then one
authority's key, in an attacker's hands, signs `votes` prevotes and precommits for distinct blocks
nobody has, in this round and the next (the votes a node must keep while it fetches their
blocks), and a peer sends them to Alice's core: once as one message, and once, on a fresh
network, cut into the largest messages the set allows (four votes per authority). The CPU time of
each is measured, and what the node charged the peer is summed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from chain.core.actions import ReportPeer
from chain.core.grandpa import VOTES_PER_AUTHORITY_PER_MESSAGE
from chain.core.messages import TOPIC_FINALITY, encode_finality
from chain.spec import local_spec
from runtime.consensus import SignedVote
from runtime.primitives.keys import keypair_from_suri
from sim.network import SimNetwork

NAMES = ("Alice", "Bob", "Charlie", "Dave")
PEER = "flooding-peer"


@dataclass(frozen=True)
class VoteFloodFigures:
    """CPU milliseconds the flood cost Alice's core, and what she charged the sender."""

    votes: int
    one_message_ms: float
    one_message_charged: int
    messages: int
    small_messages_ms: float
    small_messages_charged: int

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


def _network() -> SimNetwork:
    spec = local_spec(validators=len(NAMES))
    net = SimNetwork(spec, seed=1)
    for name in NAMES:
        net.add_node(name, keypair_from_suri("//" + name))
    net.connect_all()
    net.run_for(5 * spec.genesis.slot_duration_ms)
    return net


def _send(net: SimNetwork, messages: list[bytes]) -> tuple[float, int]:
    core = net.core("Alice")
    charged = 0
    start = time.process_time()
    for message in messages:
        _verdict, actions = core.on_gossip(PEER, TOPIC_FINALITY, message, net.now_ms)
        charged += sum(a.cost for a in actions if isinstance(a, ReportPeer) and a.peer == PEER)
    return (time.process_time() - start) * 1000, charged


def run_vote_flood_benchmark(
    votes: int = 2_000, progress: Callable[[str], None] = lambda _m: None
) -> VoteFloodFigures:
    """Measure the flood of `votes` votes; ValueError if there are none."""
    if votes < 1:
        raise ValueError("--votes must be at least 1")
    progress("running four validators until they finalize")
    net = _network()
    alice = net.core("Alice")
    rogue = keypair_from_suri("//Dave")
    first_round, number = alice.voter.round_number, alice.best_header.number + 1
    signed = [
        SignedVote.sign(
            rogue,
            phase=i % 2,
            set_id=alice.voter.set.set_id,
            round_=first_round + (i // 2) % 2,
            block_hash=os.urandom(32),
            number=number,
        ).to_value()
        for i in range(votes)
    ]
    progress(f"sending {votes} votes as one message")
    one_ms, one_charged = _send(net, [encode_finality("votes", signed)])
    size = VOTES_PER_AUTHORITY_PER_MESSAGE * len(NAMES)
    small = [encode_finality("votes", signed[i : i + size]) for i in range(0, votes, size)]
    progress(f"sending them again as {len(small)} messages, on a fresh network")
    small_ms, small_charged = _send(_network(), small)
    return VoteFloodFigures(votes, one_ms, one_charged, len(small), small_ms, small_charged)
