"""Many real node cores on the simulated network: finality, transactions, crashes, partitions,
message loss and reordering, sync from genesis, and determinism."""

from __future__ import annotations

import itertools

import pytest

from chain.client.chain import transfer_call
from chain.core.actions import Action, BlockImported
from chain.core.finality import Justification
from chain.spec import local_spec
from runtime.api import account_info
from runtime.invariants import InvariantsBroken
from runtime.pallets.balances import Balances
from runtime.primitives.keys import Keypair, keypair_from_suri
from runtime.state import PrefixIterator, StateReader
from runtime.transaction import sign_transaction
from sim.network import LinkModel, SimNetwork, SimNode

NAMES = ("Alice", "Bob", "Charlie", "Dave")
SPEC = local_spec(validators=4)
SLOT_MS = SPEC.genesis.slot_duration_ms


def key(name: str) -> Keypair:
    return keypair_from_suri("//" + name)


def network(seed: int = 0, link: LinkModel | None = None) -> SimNetwork:
    net = SimNetwork(SPEC, seed=seed, link=link, check_invariants=True)
    for name in NAMES:
        net.add_node(name, key(name))
    net.connect_all()
    return net


def finalized(net: SimNetwork) -> dict[str, int]:
    return net.finalized_numbers()


def voters_of_latest_justification(net: SimNetwork, name: str) -> set[bytes]:
    core = net.core(name)
    raw = core.store.justification(core.finalized_header.hash)
    assert raw is not None
    return set(Justification.decode(raw).voters)


def test_four_validators_author_in_turn_and_finalize_continuously():
    net = network()
    marks = []
    for _ in range(6):
        net.run_for(5 * SLOT_MS)
        marks.append(min(finalized(net).values()))
    # Finality keeps up with the chain: every 5 slots, about 5 more blocks are final.
    assert all(b - a >= 4 for a, b in itertools.pairwise(marks))
    alice = net.core("Alice")
    best = alice.best_header
    assert best.number - alice.finalized_header.number <= 2
    authors = set()
    number = alice.finalized_header.number
    while number > 0:
        header = alice.store.require_header(alice.store.hash_at(number) or b"")
        authors.add(header.digest.author)
        number -= 1
    assert authors == {key(n).public for n in NAMES}
    assert net.conflicting_finality() == []


def test_a_broken_invariant_stops_the_run_at_the_first_block(monkeypatch: pytest.MonkeyPatch):
    def broken(self: Balances, read: StateReader, iterate: PrefixIterator) -> list[str]:
        return ["one unit too many"]

    net = network()
    monkeypatch.setattr(Balances, "check_invariants", broken)
    with pytest.raises(InvariantsBroken, match=r"block #1 .*balances: one unit too many"):
        net.run_for(3 * SLOT_MS)


def test_a_transfer_sent_to_one_node_is_included_and_finalized_on_all():
    net = network(seed=1)
    net.run_for(3 * SLOT_MS)
    alice = net.core("Alice")
    receiver = Keypair.generate().public
    tx = sign_transaction(
        key("Eve"),
        transfer_call(receiver, 7 * 10**12),
        nonce=0,
        genesis_hash=alice.genesis_hash,
    )
    net.submit("Dave", tx.raw)
    net.run_for(6 * SLOT_MS)
    for name in NAMES:
        core = net.core(name)
        final = core.finalized_header
        assert account_info(core.reader(final.hash), receiver).free == 7 * 10**12, name
        assert tx.hash not in core.pool


def test_finality_continues_with_one_of_four_down_and_stops_with_two():
    net = network(seed=2)
    net.run_for(5 * SLOT_MS)
    net.crash("Dave")
    before = min(finalized(net).values())
    net.run_for(12 * SLOT_MS)
    one_down = min(finalized(net).values())
    assert one_down >= before + 8

    net.crash("Charlie")
    stalled_at = max(finalized(net).values())
    net.run_for(15 * SLOT_MS)
    assert max(finalized(net).values()) <= stalled_at + 1  # a round in flight may still land
    assert net.core("Alice").best_header.number > stalled_at + 5  # blocks go on, finality not

    net.restart("Charlie")
    net.run_for(15 * SLOT_MS)
    resumed = min(finalized(net).values())
    assert resumed > net.core("Alice").best_header.number - 4
    assert key("Charlie").public in voters_of_latest_justification(net, "Alice") | (
        voters_of_latest_justification(net, "Bob")
    )
    assert net.conflicting_finality() == []


def test_a_crashed_validator_restarts_from_its_database_and_votes_again():
    net = network(seed=3)
    net.run_for(6 * SLOT_MS)
    net.crash("Bob")
    net.run_for(10 * SLOT_MS)
    missed_up_to = net.core("Alice").finalized_header.number
    net.restart("Bob")
    bob = net.core("Bob")
    assert bob.finalized_header.number < missed_up_to  # it starts from what it had
    net.run_for(10 * SLOT_MS)
    assert bob.finalized_header.number >= net.core("Alice").finalized_header.number - 1
    # Bob's precommits are in the justifications again (Dave and Charlie alone with Alice would
    # do, so look over several rounds).
    seen_bob = False
    for _ in range(6):
        net.run_for(SLOT_MS)
        for name in ("Alice", "Charlie", "Dave"):
            seen_bob |= key("Bob").public in voters_of_latest_justification(net, name)
    assert seen_bob
    assert net.conflicting_finality() == []


def test_a_two_two_partition_stalls_finality_without_conflict_and_heals():
    net = network(seed=4)
    net.run_for(5 * SLOT_MS)
    net.partition(["Alice", "Bob"], ["Charlie", "Dave"])
    stalled = max(finalized(net).values())
    net.run_for(20 * SLOT_MS)
    assert max(finalized(net).values()) <= stalled + 1
    # Both sides go on authoring in their own slots: two forks above the finalized block.
    assert net.core("Alice").best_header.hash != net.core("Charlie").best_header.hash
    net.heal()
    net.run_for(15 * SLOT_MS)
    numbers = finalized(net)
    assert min(numbers.values()) > stalled + 15
    heads = {net.core(n).finalized_header.hash for n in NAMES}
    assert len(heads) <= 2  # at most one round apart
    assert net.conflicting_finality() == []


@pytest.mark.parametrize("seed", [5, 6])
def test_loss_duplicates_and_reordering_slow_finality_but_never_break_it(seed):
    net = network(seed=seed, link=LinkModel(latency_ms=(5, 600), loss=0.15, duplicate=0.1))
    net.run_for(60 * SLOT_MS)
    assert net.lost > 0
    numbers = finalized(net)
    assert min(numbers.values()) >= 40
    assert net.conflicting_finality() == []


def test_a_fresh_full_node_syncs_from_genesis_to_the_same_state():
    net = network(seed=7)
    net.run_for(40 * SLOT_MS)
    net.add_node("Observer")
    net.connect("Observer", "Charlie")
    net.run_for(5 * SLOT_MS)
    observer, charlie = net.core("Observer"), net.core("Charlie")
    assert observer.finalized_header.number >= charlie.finalized_header.number - 1
    final = observer.finalized_header
    assert charlie.store.hash_at(final.number) == final.hash
    assert final.state_root == charlie.store.require_header(final.hash).state_root
    # It keeps following: it finalizes from the votes it sees, without voting.
    net.run_for(5 * SLOT_MS)
    assert observer.finalized_header.number > final.number
    assert not observer.voter.is_voter


def test_one_seed_gives_one_run():
    def run(seed: int) -> tuple[bytes, int, int]:
        net = network(seed=seed, link=LinkModel(latency_ms=(5, 300), loss=0.05))
        net.run_for(20 * SLOT_MS)
        core = net.core("Alice")
        return core.finalized_header.hash, net.delivered, net.lost

    assert run(11) == run(11)
    assert run(11) != run(12)


# Regions, bandwidth, clock skew, observers, counters and fault windows


def test_observers_see_every_action_and_stats_count_each_topic():
    net = network(seed=21)
    seen: list[tuple[str, str]] = []
    net.add_observer(lambda node, action: seen.append((node.name, type(action).__name__)))
    net.run_for(6 * SLOT_MS)
    kinds = {kind for _, kind in seen}
    assert {"BlockImported", "Finalized", "Gossip", "SetTimer"} <= kinds
    assert {name for name, kind in seen if kind == "BlockImported"} == set(NAMES)
    stats = net.message_stats
    assert stats["block"][0] > 0 and stats["finality"][1] > stats["finality"][0]
    assert sum(m for m, _, _ in stats.values()) >= net.delivered + net.lost
    assert sum(lost for _, _, lost in stats.values()) == net.lost


def placed_network(seed: int, cross_ms: float, jitter_ms: float = 0.0) -> SimNetwork:
    """Alice and Bob in eu, Charlie and Dave in us; 10 ms within a region."""
    net = network(seed=seed)
    net.set_regions(["eu", "us"], [[10, cross_ms], [cross_ms, 10]], jitter_ms)
    for name in NAMES:
        net.place(name, "eu" if name in ("Alice", "Bob") else "us")
    return net


def alices_blocks_delays(net: SimNetwork, slots: int) -> dict[str, list[int]]:
    """How long each of Alice's blocks took to reach each other node."""
    sent: dict[bytes, int] = {}
    delays: dict[str, list[int]] = {name: [] for name in NAMES}

    def watch(node: SimNode, action: Action) -> None:
        if isinstance(action, BlockImported):
            if action.authored and node.name == "Alice":
                sent[action.header.hash] = net.now_ms
            elif action.header.hash in sent:
                delays[node.name].append(net.now_ms - sent[action.header.hash])

    net.add_observer(watch)
    net.run_for(slots * SLOT_MS)
    return delays


def test_placed_nodes_get_the_latency_of_their_regions():
    delays = alices_blocks_delays(placed_network(seed=22, cross_ms=400), 12)
    assert delays["Bob"] and delays["Dave"]
    assert all(d == 10 for d in delays["Bob"])
    assert all(d == 400 for d in delays["Charlie"] + delays["Dave"])
    jittered = alices_blocks_delays(placed_network(seed=22, cross_ms=400, jitter_ms=50), 12)
    across = jittered["Charlie"] + jittered["Dave"]
    assert all(400 <= d <= 450 for d in across) and len(set(across)) > 1


def test_bad_regions_are_refused():
    net = network()
    with pytest.raises(ValueError, match="2x2"):
        net.set_regions(["eu", "us"], [[1, 2]], 0)
    with pytest.raises(ValueError, match="non-negative"):
        net.set_regions(["eu", "us"], [[1, -2], [2, 1]], 0)
    net.set_regions(["eu"], [[1]], 0)
    with pytest.raises(ValueError, match="unknown region 'mars'"):
        net.place("Alice", "mars")
    with pytest.raises(ValueError, match="bandwidth of Bob must be positive"):
        net.set_bandwidth("Bob", 0)


def first_copy_delay(mbps: float | None) -> int:
    """How long after Alice authored it the first of her blocks to arrive anywhere arrived."""
    net = network(seed=23, link=LinkModel(latency_ms=(20, 20)))
    net.set_bandwidth("Alice", mbps)
    delays = alices_blocks_delays(net, 12)
    return min(d for name in ("Bob", "Charlie", "Dave") for d in delays[name])


def test_a_slow_uplink_delays_what_its_node_sends_by_size_over_bandwidth():
    assert first_copy_delay(None) == 20
    # 50 kbit/s sends 6.25 bytes a millisecond: a block of a few hundred bytes takes tens.
    slow = first_copy_delay(0.05)
    assert slow > 40
    # Half the bandwidth: the block waits longer behind what Alice sent before it, and takes
    # twice as long itself.
    assert first_copy_delay(0.025) > 2 * slow - 20


def test_a_node_whose_clock_runs_ahead_has_its_blocks_refused():
    net = network(seed=24)
    net.set_clock_skew("Dave", 20 * SLOT_MS)
    assert net.clock("Dave") == net.now_ms + 20 * SLOT_MS
    net.run_for(20 * SLOT_MS)
    alice = net.core("Alice")
    final = alice.finalized_header
    assert final.number >= 10  # three of four are enough
    authors = set()
    for number in range(1, final.number + 1):
        header = alice.store.require_header(alice.store.hash_at(number) or b"")
        authors.add(header.digest.author)
    assert key("Dave").public not in authors
    assert authors == {key(n).public for n in ("Alice", "Bob", "Charlie")}


def test_a_loss_window_loses_messages_and_closing_it_stops_the_losses():
    net = network(seed=25)
    net.run_for(3 * SLOT_MS)
    assert net.lost == 0
    net.set_link(loss=0.3, duplicate=0.1, reorder_ms=200)
    net.run_for(10 * SLOT_MS)
    lost = net.lost
    assert lost > 0
    assert sum(lost for _, _, lost in net.message_stats.values()) == net.lost
    net.set_link(loss=0.0, duplicate=0.0, reorder_ms=0)
    net.run_for(SLOT_MS)  # messages sent before may still be lost in flight (partitions only)
    settled = net.lost
    net.run_for(10 * SLOT_MS)
    assert net.lost == settled
    assert min(finalized(net).values()) >= 15
    with pytest.raises(ValueError, match="loss"):
        net.set_link(loss=1.0)
