"""Consensus and staking together, on the simulated network: authority sets that change at era
boundaries and finality that follows them, an offline validator penalized, a validator that
equivocates reported, slashed, disabled and left out, and precommits noted for era points."""

from __future__ import annotations

from chain.client.chain import transfer_call
from chain.core.finality import Justification
from chain.core.importer import seal_block
from chain.core.messages import TOPIC_BLOCKS, BlockAnnounce
from chain.spec import ChainSpec, local_spec
from runtime.executive import BlockBuilder
from runtime.pallets import session, staking
from runtime.primitives.keys import Keypair, keypair_from_suri
from runtime.state import StateOverlay
from runtime.transaction import sign_transaction
from sim.network import SimNetwork

NAMES = ("Alice", "Bob", "Charlie", "Dave")
ERA = 12


def key(name: str) -> Keypair:
    return keypair_from_suri("//" + name)


def short_era_spec(**staking_fields: object) -> ChainSpec:
    data = local_spec(validators=4).to_json()
    data["genesis"]["staking"].update({"eraBlocks": ERA, **staking_fields})
    return ChainSpec.from_json(data)


def network(spec: ChainSpec, *, seed: int = 0, equivocator: str | None = None) -> SimNetwork:
    net = SimNetwork(spec, seed=seed, check_invariants=True)
    for name in NAMES:
        net.add_node(name, key(name), equivocate=name == equivocator)
    net.connect_all()
    return net


def state(net: SimNetwork, name: str, at: bytes | None = None) -> StateOverlay:
    core = net.core(name)
    return StateOverlay(core.reader(core.finalized_header.hash if at is None else at))


def test_finality_follows_the_authority_set_through_era_changes():
    # Era rewards are minted to free balances, so backing (the weights) stays as bonded; an
    # offline validator loses some of its bond, which changes the weights and the set.
    net = network(short_era_spec(offlineSlashPpm=100_000), seed=1)
    net.run_for(2 * ERA * 1000)
    net.crash("Dave")
    net.run_for(4 * ERA * 1000)
    alice = net.core("Alice")
    current = session.authority_set(state(net, "Alice"))
    assert current.set_id >= 1
    weights = dict(current.authorities)
    assert weights[key("Dave").public] < weights[key("Alice").public]  # slashed while offline
    # The node's voter follows the set in the finalized state, and finality never stopped.
    assert alice.voter.set.set_id == current.set_id
    assert alice.best_header.number - alice.finalized_header.number <= 3
    # Each set change is finalized by the old set: that block has a justification of its own.
    store = alice.store
    changes = []
    for number in range(1, alice.finalized_header.number + 1):
        block_hash = store.hash_at(number)
        assert block_hash is not None
        before = session.SetId.get(
            state(net, "Alice", store.require_header(block_hash).parent_hash)
        )
        after = session.SetId.get(state(net, "Alice", block_hash))
        if after != before:
            raw = store.justification(block_hash)
            assert raw is not None, f"set change at #{number} has no justification"
            assert Justification.decode(raw).set_id == before
            changes.append(number)
    assert changes
    assert net.conflicting_finality() == []
    # A node that starts now syncs through every set change from genesis.
    net.add_node("Observer")
    net.connect("Observer", "Bob")
    net.run_for(6_000)
    observer = net.core("Observer")
    assert observer.finalized_header.number >= alice.finalized_header.number - 2
    assert observer.voter.set.set_id == alice.voter.set.set_id >= current.set_id


def test_an_equivocating_validator_is_reported_slashed_disabled_and_left_out():
    net = network(short_era_spec(), seed=2, equivocator="Charlie")
    charlie = key("Charlie").public
    bond_before = staking.Ledgers.get(state(net, "Alice"), charlie)
    assert bond_before is not None
    net.run_for(8_000)
    final = state(net, "Alice")
    assert (
        charlie in session.Disabled.get(final) or charlie not in session.authority_set(final).keys
    )
    ledger = staking.Ledgers.get(final, charlie)
    assert ledger is not None and ledger.active < bond_before.active
    assert charlie not in staking.Candidates.get(final)
    # Its slot is skipped while it is disabled, and the next era leaves it out of the set.
    net.run_for(2 * ERA * 1000)
    later = session.authority_set(state(net, "Alice"))
    assert charlie not in later.keys
    alice = net.core("Alice")
    assert alice.best_header.number - alice.finalized_header.number <= 3
    assert net.conflicting_finality() == []


def test_noted_precommits_earn_era_points():
    net = network(short_era_spec(eraBlocks=200), seed=3)
    net.run_for(40_000)
    final = state(net, "Alice")
    activity = {
        name: staking.EraActivity.get(final, key(name).public) or staking.Activity()
        for name in NAMES
    }
    assert all(a.blocks > 0 for a in activity.values())
    assert all(a.precommits > 0 for a in activity.values())
    windows = [staking.NotedWindows.get(final, key(name).public) for name in NAMES]
    assert all(w is not None and w.latest >= 2 for w in windows)


def test_an_authority_that_seals_two_blocks_for_one_slot_is_reported_and_slashed():
    net = network(short_era_spec(), seed=4)
    net.run_for(3_000)
    dave = net.core("Dave")
    # Dave seals a second, different block for a slot it authored: one on the same parent that
    # holds a transfer nobody else has seen.
    for _ in range(12):
        net.run_for(1_000)
        best = dave.best_header
        if best.digest.author == key("Dave").public:
            break
    assert best.digest.author == key("Dave").public
    parent = dave.store.require_header(best.parent_hash)
    tx = sign_transaction(
        key("Ferdie"),
        transfer_call(key("Eve").public, 10**12),
        nonce=0,
        genesis_hash=dave.genesis_hash,
    )
    twin = build_block(dave, parent, slot=best.digest.slot, author=key("Dave"), txs=[tx])
    assert twin.hash != best.hash
    net.gossip_from("Dave", TOPIC_BLOCKS, BlockAnnounce.of(twin).encode())
    net.run_for(6_000)
    final = state(net, "Alice")
    ledger = staking.Ledgers.get(final, key("Dave").public)
    assert ledger is not None and ledger.active < 100_000 * 10**12
    assert key("Dave").public not in staking.Candidates.get(final)
    assert net.conflicting_finality() == []


def build_block(core, parent, *, slot: int, author: Keypair, txs=()):
    """A valid block `author` could have sealed for `slot` on `parent`, holding `txs`."""
    builder = BlockBuilder(
        core.reader(parent.hash),
        parent,
        timestamp=slot * core.slot_duration_ms(),
        slot=slot,
        author=author,
        genesis_hash=core.genesis_hash,
    )
    for tx in txs:
        builder.push(tx)
    return seal_block(
        core.store, parent, builder.finish(), builder.extrinsics, slot=slot, author=author
    ).block
