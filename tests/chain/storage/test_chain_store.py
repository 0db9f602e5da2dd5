"""The chain store: blocks, unfinalized journals, finality, and pruning with death rows.

The centre is a property test. Random trees of real blocks (transfers that create accounts and
reap them, so keys are added and deleted) are imported on random retained parents, random
descendants of the finalized block are finalized, and the store is reopened now and then. After
every step the store is held to a model: each retained state reads back completely and hashes to
its header's root, pruned states raise StatePruned, the trie nodes in the database are exactly
those of the retained finalized states, the flat copy is the finalized state, and abandoned forks
are gone.

Fixture `dev` (conftest) builds blocks on any parent with the runtime's BlockBuilder and seals
them as the author does (`chain.core.importer.seal_block`).
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from chain.core.view import CoreView
from chain.storage import chain_store
from chain.storage.chain_store import ChainStore, ChainStoreError, StatePruned, UnknownBlock
from chain.storage.kv import LevelDBStore, MemoryStore, StoreError, WriteBatch
from runtime.invariants import InvariantsBroken
from runtime.pallets.balances import Balances
from runtime.primitives import trie

# Pays create and grow recipients' accounts, drains reap them (their state keys are deleted);
# siblings with the same moves have the same state, so their journals share trie nodes.
moves = st.lists(
    st.tuples(st.sampled_from(["pay", "drain", "idle"]), st.integers(0, 2), st.integers(2, 4)),
    min_size=1,
    max_size=3,
).map(lambda ms: [m for m in ms if m[0] != "idle"])


def stored(kv, prefix: bytes) -> dict[bytes, bytes]:
    return {key[1:]: value for key, value in kv.iterate(prefix)}


def nodes_of(state) -> dict[bytes, bytes]:
    """Every node of the trie holding exactly `state`, built from scratch."""
    return dict(trie.commit(lambda _key: None, trie.EMPTY_ROOT, state).inserted)


class StoreModel:
    """What the store must hold: the finalized chain, the unfinalized tree, what was abandoned."""

    def __init__(self, genesis, keep: int | None) -> None:
        self.keep = keep
        self.blocks = {genesis.hash: genesis}
        self.finalized = [genesis.hash]
        self.unfinalized: set[bytes] = set()
        self.discarded: set[bytes] = set()
        self.justified: set[bytes] = set()
        self.keys: set[bytes] = set(genesis.state)

    def parent(self, x: bytes) -> bytes:
        return self.blocks[x].header.parent_hash

    def number(self, x: bytes) -> int:
        return self.blocks[x].header.number

    def descends(self, x: bytes, ancestor: bytes) -> bool:
        while x in self.blocks and self.number(x) > self.number(ancestor):
            x = self.parent(x)
        return x == ancestor

    def heads(self) -> list[bytes]:
        """Blocks a child may be imported on: the finalized block and the unfinalized ones."""
        return [self.finalized[-1], *sorted(self.unfinalized, key=lambda x: (self.number(x), x))]

    def add(self, built) -> None:
        self.blocks[built.hash] = built
        self.unfinalized.add(built.hash)
        self.keys |= set(built.state)

    def finalize(self, target: bytes) -> list[bytes]:
        route = []
        x = target
        while x != self.finalized[-1]:
            route.append(x)
            x = self.parent(x)
        route.reverse()
        if not route:
            return []
        self.finalized += route
        self.justified.add(target)
        keep = {u for u in self.unfinalized - set(route) if self.descends(u, target)}
        self.discarded |= self.unfinalized - set(route) - keep
        self.unfinalized = keep
        return route

    def retained_finalized(self) -> list[bytes]:
        return self.finalized if self.keep is None else self.finalized[-self.keep :]

    def pruned(self) -> list[bytes]:
        return [] if self.keep is None else self.finalized[: -self.keep]


def check_store(store: ChainStore, model: StoreModel) -> None:
    """Hold the store and its database to the model (see the module docstring)."""
    kv = store.kv
    assert store.finalized_hash == model.finalized[-1]
    assert store.genesis_hash == model.finalized[0]

    # Blocks: every finalized one and every unfinalized one; nothing of abandoned forks.
    kept = set(model.finalized) | model.unfinalized
    assert set(stored(kv, b"h")) == kept
    assert set(stored(kv, b"b")) == kept
    assert set(stored(kv, b"u")) == model.unfinalized
    assert set(stored(kv, b"j")) == model.justified
    for x in model.discarded:
        assert store.header(x) is None and store.block(x) is None
        with pytest.raises(UnknownBlock):
            store.iterate_state(x, b"")
    for x in kept:
        assert store.is_unfinalized(x) == (x in model.unfinalized)

    # States: retained ones read back completely, by iteration and by key; pruned ones refuse.
    probes = sorted(model.keys)
    for x in [*model.unfinalized, *model.retained_finalized()]:
        block = model.blocks[x]
        assert dict(store.iterate_state(x, b"")) == block.state
        assert trie.root_of(block.state) == block.header.state_root
        read = store.reader(x)
        assert [read(k) for k in probes] == [block.state.get(k) for k in probes]
    for x in model.pruned():
        with pytest.raises(StatePruned):
            store.iterate_state(x, b"")
        with pytest.raises(StatePruned):
            store.reader(x)

    # The database holds exactly the trie nodes of the retained finalized states, and the flat
    # copy of the finalized state.
    expected: dict[bytes, bytes] = {}
    for x in model.retained_finalized():
        expected.update(nodes_of(model.blocks[x].state))
    actual = stored(kv, b"t")
    assert actual.keys() - expected.keys() == set(), "garbage trie nodes"
    assert expected.keys() - actual.keys() == set(), "missing trie nodes"
    assert actual == expected
    assert stored(kv, b"s") == model.blocks[model.finalized[-1]].state

    # Best: a kept block on a chain through the finalized block, indexed by number.
    best = store.best_hash
    assert best in kept and model.descends(best, model.finalized[-1])
    x = best
    while True:
        assert store.hash_at(model.number(x)) == x
        if model.number(x) == 0:
            break
        x = model.parent(x)
    assert store.hash_at(model.number(best) + 1) is None


def run_random_tree(dev, keep: int | None, data) -> None:
    kv = MemoryStore()
    store = dev.store(kv, keep_states=keep)
    model = StoreModel(dev.genesis, keep)
    check_store(store, model)
    for _ in range(data.draw(st.integers(3, 20), label="steps")):
        op = data.draw(st.sampled_from(["import"] * 6 + ["finalize"] * 2 + ["reopen"]))
        if op == "import":
            parent = model.blocks[data.draw(st.sampled_from(model.heads()), label="parent")]
            slot = parent.header.digest.slot + data.draw(st.integers(1, 2), label="slot")
            built = dev.build(store, parent, data.draw(moves, label="moves"), slot=slot)
            if store.header(built.hash) is not None:
                continue  # the same block again: the importer refuses it before the store
            make_best = built.header.number > store.best_header.number
            # A justification may come with any block: sync serves them with old blocks.
            justify = data.draw(st.integers(0, 3), label="justify") == 3
            newly = dev.put(
                store, built, make_best=make_best, justification=b"j" if justify else None
            )
            model.add(built)
            assert newly == (model.finalize(built.hash) if justify else [])
        elif op == "finalize":
            target = data.draw(st.sampled_from(model.heads()), label="finalize")
            assert store.finalize(target, b"j") == model.finalize(target)
        else:
            store = ChainStore(kv, keep_states=keep)
            store.open()
        check_store(store, model)


@pytest.mark.parametrize("keep", [1, 2, 3])
@settings(max_examples=80, deadline=None, derandomize=True)
@given(data=st.data())
def test_random_block_trees_keep_exactly_the_retained_states(dev, keep, data):
    run_random_tree(dev, keep, data)


@settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate])
@given(data=st.data())
def test_random_block_trees_in_an_archive_keep_every_state(dev, data):
    run_random_tree(dev, None, data)


# ---------------------------------------------------------------------------------------------
# Pruning, finality and fork choice, case by case


def test_an_archive_keeps_old_finalized_states(dev):
    store = dev.store(keep_states=None)
    blocks = dev.chain(store, dev.genesis, [[("pay", 0, 2)], [], [("pay", 1, 1)]])
    for b in blocks:
        store.finalize(b.hash, b"j")
    for old in (dev.genesis, *blocks):
        assert dict(store.iterate_state(old.hash, b"")) == old.state


def test_states_leave_the_window_one_by_one(dev):
    store = dev.store(keep_states=2)
    blocks = dev.chain(store, dev.genesis, [[("pay", 0, 2)], [("pay", 1, 1)], [("drain", 0, 0)]])
    assert dev.account_key(0) in blocks[1].state and dev.account_key(0) not in blocks[2].state
    everything = [dev.genesis, *blocks]
    for i, b in enumerate(blocks, start=1):
        store.finalize(b.hash, b"j")
        for j, old in enumerate(everything[: i + 1]):
            if j > i - 2:
                assert dict(store.iterate_state(old.hash, b"")) == old.state
            else:
                with pytest.raises(StatePruned, match="--pruning archive"):
                    store.reader(old.hash)


def test_finality_discards_abandoned_forks(dev):
    store = dev.store(keep_states=3)
    trunk = dev.chain(store, dev.genesis, [[("pay", 0, 1)], []])
    side = dev.build(store, dev.genesis, [("pay", 1, 2)], slot=5)  # a fork below the target
    dev.put(store, side)
    twig = dev.build(store, trunk[0], [("pay", 2, 1)], slot=9)  # a fork off the route
    dev.put(store, twig)
    assert store.finalize(trunk[1].hash, b"j") == [trunk[0].hash, trunk[1].hash]
    for gone in (side, twig):
        assert store.header(gone.hash) is None and store.body(gone.hash) is None
        assert not store.is_unfinalized(gone.hash)
    assert stored(store.kv, b"u") == {}


def test_finality_on_a_shorter_fork_moves_best_to_it(dev):
    store = dev.store()
    long_fork = dev.chain(store, dev.genesis, [[], [], []])
    short = dev.build(store, dev.genesis, [("pay", 0, 1)], slot=7)
    dev.put(store, short)
    assert store.best_hash == long_fork[-1].hash
    store.finalize(short.hash, b"j")
    assert store.best_hash == short.hash
    assert [store.hash_at(n) for n in (0, 1, 2)] == [dev.genesis.hash, short.hash, None]


def test_finality_on_a_shorter_fork_moves_best_to_its_longest_descendant(dev):
    store = dev.store()
    dev.chain(store, dev.genesis, [[], [], []])
    first = dev.build(store, dev.genesis, [("pay", 0, 1)], slot=7)
    dev.put(store, first)
    second = dev.build(store, first, [])
    dev.put(store, second)
    store.finalize(first.hash, b"j")
    assert store.best_hash == second.hash
    assert [store.hash_at(n) for n in (1, 2, 3)] == [first.hash, second.hash, None]


def test_hash_at_follows_the_best_chain_through_reorgs(dev):
    store = dev.store()
    a = dev.chain(store, dev.genesis, [[], []])
    b1 = dev.build(store, dev.genesis, [("pay", 0, 1)], slot=5)
    dev.put(store, b1)
    b = [b1, *dev.chain(store, b1, [[], []])]
    assert [store.hash_at(n) for n in range(1, 5)] == [x.hash for x in b] + [None]
    a += dev.chain(store, a[-1], [[], []])
    assert [store.hash_at(n) for n in range(1, 6)] == [x.hash for x in a] + [None]
    # Told to, the store makes a shorter block best, and the index shrinks with it.
    dev.put(store, dev.build(store, b[0], [("pay", 1, 1)], slot=20), make_best=True)
    assert store.hash_at(1) == b[0].hash and store.hash_at(3) is None


def test_a_justified_import_finalizes_the_unfinalized_ancestors_too(dev):
    store = dev.store(keep_states=2)
    first, second = dev.chain(store, dev.genesis, [[("pay", 0, 1)], []])
    third = dev.build(store, second, [("pay", 1, 1)])
    assert dev.put(store, third, justification=b"j3") == [first.hash, second.hash, third.hash]
    assert store.justification(third.hash) == b"j3"
    assert store.finalized_hash == third.hash and not store.is_unfinalized(second.hash)


def test_read_proofs_of_retained_states_verify_against_their_roots(dev):
    store = dev.store(keep_states=2)
    blocks = dev.chain(store, dev.genesis, [[("pay", 0, 1)], [("pay", 1, 2)], []])
    store.finalize(blocks[0].hash, b"j")
    keys = [*sorted(blocks[-1].state)[:4], b"absent key"]
    for b in blocks:  # finalized and unfinalized alike
        proof = store.read_proof(b.hash, keys)
        assert trie.verify_proof(b.header.state_root, proof, keys) == {
            k: b.state.get(k) for k in keys
        }


# ---------------------------------------------------------------------------------------------
# Refusals


def test_initialize_twice_is_refused(dev):
    store = dev.store()
    with pytest.raises(ChainStoreError, match="already holds a chain"):
        store.initialize(dev.genesis.header, dev.genesis.state)


def test_initialize_refuses_a_header_that_does_not_commit_to_the_state(dev):
    state = dict(dev.genesis.state)
    state[b"extra"] = b"value"
    store = ChainStore(MemoryStore())
    with pytest.raises(ChainStoreError, match="does not commit"):
        store.initialize(dev.genesis.header, state)
    assert not store.is_initialized()


def test_opening_an_empty_database_is_refused():
    with pytest.raises(ChainStoreError, match="holds no chain"):
        ChainStore(MemoryStore()).open()
    with pytest.raises(ValueError):
        ChainStore(MemoryStore(), keep_states=0)


def test_imports_and_finality_outside_the_retained_tree_are_refused(dev):
    store = dev.store()
    first, _ = dev.chain(store, dev.genesis, [[], []])
    store.finalize(first.hash, b"j")
    with pytest.raises(ChainStoreError, match="does not descend"):
        store.finalize(dev.genesis.hash, b"j")
    assert store.finalize(first.hash, b"j") == []  # already final: nothing to do
    other = dev.store()
    orphan = dev.build(other, dev.genesis, [("pay", 0, 1)], slot=3)
    with pytest.raises(ChainStoreError, match="not a retained head"):
        dev.put(store, orphan)


# ---------------------------------------------------------------------------------------------
# Reopening


def test_reopening_from_disk_restores_heads_journals_and_pruning(dev, tmp_path):
    path = tmp_path / "db"
    store = dev.store(LevelDBStore(path), keep_states=2)
    model = StoreModel(dev.genesis, 2)
    trunk = dev.chain(store, dev.genesis, [[("pay", 0, 2)], [("pay", 1, 1)], [("drain", 0, 0)]])
    assert dev.account_key(0) not in trunk[2].state  # reaped: a key deleted
    for b in trunk:
        model.add(b)
    model.finalize(trunk[1].hash)
    store.finalize(trunk[1].hash, b"j")
    fork = dev.build(store, trunk[1], [("pay", 2, 3)], slot=30)
    dev.put(store, fork)
    model.add(fork)
    best, finalized = store.best_hash, store.finalized_hash
    check_store(store, model)
    store.close()

    store = ChainStore(LevelDBStore(path), keep_states=2)
    store.open()
    assert (store.best_hash, store.finalized_hash) == (best, finalized)
    assert store.is_unfinalized(trunk[2].hash) and store.is_unfinalized(fork.hash)
    check_store(store, model)

    # It goes on importing and finalizing, pruning across the restart.
    child = dev.build(store, fork, [("drain", 2, 0)])
    dev.put(store, child)
    model.add(child)
    assert store.finalize(child.hash, b"j") == model.finalize(child.hash) == [fork.hash, child.hash]
    check_store(store, model)
    store.close()


# ---------------------------------------------------------------------------------------------
# A write that fails


class FailingStore(MemoryStore):
    """A MemoryStore whose next write fails, as LevelDB's does when the disk is full."""

    fail_next = False

    def write(self, batch: WriteBatch) -> None:
        if self.fail_next:
            self.fail_next = False
            raise StoreError("database write failed: no space left on device")
        super().write(batch)


def test_a_failed_finalizing_write_leaves_the_store_as_it_was(dev):
    kv = FailingStore()
    store = dev.store(kv, keep_states=2)
    model = StoreModel(dev.genesis, 2)
    lost = dev.build(store, dev.genesis, [("pay", 0, 3)])
    kv.fail_next = True
    with pytest.raises(StoreError):
        dev.put(store, lost, justification=b"j")
    check_store(store, model)
    # The author tries again in its next slot with another block; the chain goes on.
    on = dev.genesis
    for slot in (2, 3, 4):
        built = dev.build(store, on, [], slot=slot)
        dev.put(store, built, justification=b"j")
        model.add(built)
        model.finalize(built.hash)
        on = built
    check_store(store, model)


class CountingStore(MemoryStore):
    """A MemoryStore that counts its write batches."""

    writes = 0

    def write(self, batch: WriteBatch) -> None:
        self.writes += 1
        super().write(batch)


def test_each_import_and_each_finalization_is_one_write(dev):
    kv = CountingStore()
    store = dev.store(kv)
    kv.writes = 0
    second = dev.chain(store, dev.genesis, [[("pay", 0, 2)], []])[-1]
    assert kv.writes == 2
    store.finalize(second.hash, b"j")
    assert kv.writes == 3
    dev.put(store, dev.build(store, second, [("pay", 1, 2)]), justification=b"j")
    assert kv.writes == 4


def test_a_justified_import_is_one_atomic_write(dev):
    kv = CountingStore()
    store = dev.store(kv)
    first = dev.chain(store, dev.genesis, [[]])[0]
    second = dev.build(store, first, [("pay", 0, 2)])
    kv.writes = 0
    dev.put(store, second, justification=b"j")
    assert store.finalized_hash == second.hash
    assert kv.writes == 1


def test_invariants_are_checked_on_a_kept_state_and_refused_on_one_that_is_gone(dev, monkeypatch):
    store = dev.store(keep_states=3)
    trunk = dev.chain(store, dev.genesis, [[("pay", 0, 1)], []])
    side = dev.build(store, dev.genesis, [("pay", 1, 2)], slot=5)
    dev.put(store, side)
    for kept in (dev.genesis, *trunk, side):
        store.check_invariants(kept.hash)  # nothing broken: no exception
    store.finalize(trunk[1].hash, b"j")
    with pytest.raises(UnknownBlock):  # a fork that finality abandoned
        store.check_invariants(side.hash)
    monkeypatch.setattr(Balances, "check_invariants", lambda self, read, iterate: ["issuance"])
    with pytest.raises(
        InvariantsBroken, match=f"block #2 0x{trunk[1].hash.hex()}: balances: issuance"
    ):
        store.check_invariants(trunk[1].hash)


def test_pruned_states_leave_the_node_cache(dev):
    """A state's trie nodes that pruning deletes from the database leave the node cache too:
    otherwise a long-running node's cache fills with one block's replaced nodes a block."""
    store = dev.store(keep_states=2)
    blocks = dev.chain(store, dev.genesis, [[("pay", i % 3, 2)] for i in range(6)])
    for b in blocks:
        store.read_proof(b.hash, sorted(b.state))  # every node of every state in the cache
    every_node = {k for b in (dev.genesis, *blocks) for k in nodes_of(b.state)}
    assert sum(k in store.node_cache for k in every_node) > len(nodes_of(blocks[-1].state))
    for b in blocks:
        store.finalize(b.hash, b"j")
    pruned = every_node - set(stored(store.kv, b"t"))
    assert pruned
    assert [k for k in pruned if k in store.node_cache] == []


def test_the_header_cache_stays_within_its_bound(dev, monkeypatch):
    monkeypatch.setattr(chain_store, "HEADER_CACHE_SIZE", 4)
    store = dev.store()
    blocks = dev.chain(store, dev.genesis, [[] for _ in range(9)])
    reopened = ChainStore(store.kv)
    reopened.open()
    for b in blocks:
        assert reopened.header(b.hash) == b.header
        assert len(reopened._headers) <= 4


def test_blocks_of_one_authority_set_share_one_cached_set(dev):
    """The core's view caches an authority set per block: the blocks of one set share one
    object, so that the cache's memory does not grow with the number of authorities."""
    store = dev.store()
    blocks = dev.chain(store, dev.genesis, [[] for _ in range(5)])
    view = CoreView(store)
    sets = [view.authority_set_after(b.hash) for b in (dev.genesis, *blocks)]
    assert all(s is sets[0] for s in sets)
