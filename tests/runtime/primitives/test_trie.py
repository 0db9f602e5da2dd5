"""The state trie against a dict model: reads, roots, node bookkeeping, proofs and encoding."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives import codec
from runtime.primitives.hashing import blake2b_128, blake2b_256
from runtime.primitives.trie import (
    EMPTY_ROOT,
    InvalidProof,
    MemoryNodeStore,
    NodeCache,
    TrieCommit,
    TrieError,
    commit,
    get,
    iter_prefix,
    node_key,
    read_proof,
    root_of,
    verify_proof,
)
from runtime.primitives.trie.nodes import MalformedNode, shape_of
from runtime.primitives.trie.nodes import decode_cached as decode_cached_node
from runtime.primitives.trie.nodes import decode_stored as decode_stored_node

Model = dict[bytes, bytes]
Changes = dict[bytes, bytes | None]

# Keys are joined from a few pieces, so shared paths, keys that are prefixes of other keys, the
# empty key and long common runs (extensions) are all common.
PIECES = [b"\x00", b"\x01", b"\x10", b"\x11", b"\xff", b"\x12\x34", b"\x00\x00\x00\x00"]
trie_keys = st.lists(st.sampled_from(PIECES), max_size=3).map(b"".join)
trie_values = st.binary(max_size=2)  # b"" is a value, distinct from absence
change_sets = st.dictionaries(trie_keys, st.none() | trie_values, max_size=10)
histories = st.lists(change_sets, min_size=1, max_size=6)

PROBES = sorted({b"".join(p) for p in [(), *[(a,) for a in PIECES]]} | {b"\x00\x00", b"\x12"})


def apply_to_model(model: Model, changes: Mapping[bytes, bytes | None]) -> None:
    for key, value in changes.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


def scratch_store(model: Mapping[bytes, bytes]) -> MemoryNodeStore:
    """The node set of the trie holding `model`, built in one commit from the empty trie."""
    store = MemoryNodeStore()
    store.apply(commit(store.get, EMPTY_ROOT, model))
    return store


def commit_and_apply(store: MemoryNodeStore, root: bytes, changes: Changes) -> TrieCommit:
    """Commit, check the bookkeeping against the store's old nodes, and apply."""
    c = commit(store.get, root, changes)
    assert not c.inserted.keys() & store.nodes.keys(), "inserted a node the store already has"
    assert set(c.deleted) <= store.nodes.keys(), "deleted a node the store does not have"
    assert len(set(c.deleted)) == len(c.deleted)
    store.apply(c)
    return c


def expected_prefix(model: Model, prefix: bytes) -> list[tuple[bytes, bytes]]:
    return sorted((k, v) for k, v in model.items() if k.startswith(prefix))


# --- The dict model ------------------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(histories)
def test_reads_and_root_match_dict_model(history: list[Changes]) -> None:
    store = MemoryNodeStore()
    root = EMPTY_ROOT
    model: Model = {}
    for changes in history:
        root = commit_and_apply(store, root, changes).root
        apply_to_model(model, changes)
        assert root == root_of(model), "root depends on history"
        for key in [*PROBES, *model, *changes]:
            assert get(store.get, root, key) == model.get(key)
        for prefix in [*PROBES, *model]:
            assert list(iter_prefix(store.get, root, prefix)) == expected_prefix(model, prefix)


@settings(max_examples=120, deadline=None)
@given(histories)
def test_store_holds_exactly_the_reachable_nodes(history: list[Changes]) -> None:
    store = MemoryNodeStore()
    root = EMPTY_ROOT
    model: Model = {}
    for changes in history:
        root = commit_and_apply(store, root, changes).root
        apply_to_model(model, changes)
        assert store.nodes == scratch_store(model).nodes


@settings(max_examples=120, deadline=None)
@given(histories, st.lists(trie_keys, max_size=6))
def test_proofs_prove_model_values(history: list[Changes], extra: list[bytes]) -> None:
    store = MemoryNodeStore()
    root = EMPTY_ROOT
    model: Model = {}
    for changes in history:
        root = commit_and_apply(store, root, changes).root
        apply_to_model(model, changes)
        keys = [*model, *changes, *extra]
        proof = read_proof(store.get, root, keys)
        assert verify_proof(root, proof, keys) == {k: model.get(k) for k in keys}
        for key in [*model, *extra]:
            one = read_proof(store.get, root, [key])
            assert verify_proof(root, one, [key]) == {key: model.get(key)}


def test_long_keys_with_a_shared_prefix_match_the_model() -> None:
    # Keys shaped like the runtime's (pallet ‖ item ‖ hash ‖ account) under several pallets.
    rng = random.Random(7)
    prefixes = [blake2b_128(b"Balances") + blake2b_128(b"Account"), blake2b_128(b"System") * 2]
    accounts = [rng.randbytes(32) for _ in range(600)]

    def storage_key(i: int) -> bytes:
        return prefixes[i % 2] + blake2b_128(accounts[i]) + accounts[i]

    store = MemoryNodeStore()
    root = EMPTY_ROOT
    model: Model = {}
    for _ in range(8):
        changes: Changes = {}
        for _ in range(150):
            i = rng.randrange(len(accounts))
            changes[storage_key(i)] = None if rng.random() < 0.2 else rng.randbytes(60)
        changes[prefixes[0]] = rng.randbytes(4)  # a key that is a prefix of many others
        root = commit_and_apply(store, root, changes).root
        apply_to_model(model, changes)
        assert root == root_of(model)
        assert store.nodes == scratch_store(model).nodes
        for i in range(0, len(accounts), 7):
            assert get(store.get, root, storage_key(i)) == model.get(storage_key(i))
        assert list(iter_prefix(store.get, root, prefixes[1])) == expected_prefix(
            model, prefixes[1]
        )
    keys = list(model)
    rng.shuffle(keys)
    for key in keys[:150]:
        root = commit_and_apply(store, root, {key: None}).root
        del model[key]
        assert root == root_of(model)
    assert store.nodes == scratch_store(model).nodes
    # Everything under the shared prefixes at once: extensions and branches vanish together.
    root = commit_and_apply(store, root, dict.fromkeys(model)).root
    assert root == EMPTY_ROOT
    assert store.nodes == {}


@pytest.mark.parametrize(
    ("before", "changes"),
    [
        # The root branch loses a child; the one left is a branch, an extension or a leaf,
        # untouched or changed in the same batch.
        ({b"\x10": b"a", b"\x11": b"b", b"\x20": b"c"}, {b"\x20": None}),
        ({b"\x10": b"a", b"\x11": b"b", b"\x20": b"c"}, {b"\x20": None, b"\x11": b"B"}),
        ({b"\x10\x00": b"a", b"\x10\x01": b"b", b"\x20": b"c"}, {b"\x20": None}),
        ({b"\x10": b"a", b"\x20": b"c"}, {b"\x20": None}),
        ({b"\x10": b"a", b"\x20": b"c"}, {b"\x20": None, b"\x10": b"A"}),
        # A branch loses its value and keeps one child.
        ({b"": b"v", b"\x10\x00": b"a", b"\x10\x01": b"b"}, {b"": None}),
        ({b"\x10": b"v", b"\x10\x00": b"a"}, {b"\x10": None}),
        # An extension is split by a key that leaves it part way, and joined back.
        ({b"\x12\x34\x50": b"a", b"\x12\x34\x51": b"b"}, {b"\x12\x00": b"c"}),
        ({b"\x12\x34\x50": b"a", b"\x12\x34\x51": b"b"}, {b"\x12": b"c", b"\x12\x34\x50": None}),
    ],
)
def test_branches_collapse_and_extensions_split(before: Model, changes: Changes) -> None:
    store = scratch_store(before)
    root = commit_and_apply(store, root_of(before), changes).root
    after = dict(before)
    apply_to_model(after, changes)
    assert root == root_of(after)
    assert store.nodes == scratch_store(after).nodes
    assert list(iter_prefix(store.get, root, b"")) == sorted(after.items())


# --- No-op changes -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(trie_keys, trie_values, max_size=12), st.lists(trie_keys, max_size=6))
def test_unchanged_values_and_absent_deletions_commit_nothing(
    model: Model, absent: list[bytes]
) -> None:
    store = scratch_store(model)
    root = root_of(model)
    changes: Changes = dict(model)
    changes.update({k: None for k in absent if k not in model})
    c = commit(store.get, root, changes)
    assert c == TrieCommit(root, {}, [])
    assert commit(store.get, root, {}) == TrieCommit(root, {}, [])


# --- The empty trie ------------------------------------------------------------------------------


def test_empty_trie() -> None:
    store = MemoryNodeStore()
    assert blake2b_256(b"\xc0") == EMPTY_ROOT
    assert root_of({}) == EMPTY_ROOT
    assert get(store.get, EMPTY_ROOT, b"") is None
    assert list(iter_prefix(store.get, EMPTY_ROOT, b"")) == []
    assert read_proof(store.get, EMPTY_ROOT, [b"a"]) == []
    assert verify_proof(EMPTY_ROOT, [], [b"a", b""]) == {b"a": None, b"": None}
    c = commit_and_apply(store, EMPTY_ROOT, {b"a": b"1"})
    c = commit_and_apply(store, c.root, {b"a": None})
    assert c.root == EMPTY_ROOT
    assert store.nodes == {}


# --- Proof tampering -----------------------------------------------------------------------------


def proof_fixture() -> tuple[bytes, list[bytes], list[bytes], Model]:
    rng = random.Random(3)
    model = {rng.randbytes(rng.randrange(1, 4)): rng.randbytes(3) for _ in range(60)}
    model[b""] = b"root value"
    store = scratch_store(model)
    root = root_of(model)
    keys = [*list(model)[:5], b"\x00\x00absent", b""]
    return root, read_proof(store.get, root, keys), keys, model


def test_proof_fixture_is_valid() -> None:
    root, proof, keys, model = proof_fixture()
    assert verify_proof(root, proof, keys) == {k: model.get(k) for k in keys}
    assert len(proof) > 3


def test_proof_with_a_flipped_byte_is_refused() -> None:
    root, proof, keys, _ = proof_fixture()
    for i, node in enumerate(proof):
        for at in {0, 1, len(node) // 2, len(node) - 1}:
            bad = bytearray(node)
            bad[at] ^= 0x01
            tampered = [*proof[:i], bytes(bad), *proof[i + 1 :]]
            with pytest.raises(InvalidProof):
                verify_proof(root, tampered, keys)


def test_proof_missing_a_node_is_refused() -> None:
    root, proof, keys, _ = proof_fixture()
    for i in range(len(proof)):
        with pytest.raises(InvalidProof):
            verify_proof(root, proof[:i] + proof[i + 1 :], keys)


def test_proof_with_an_extra_or_repeated_node_is_refused() -> None:
    root, proof, keys, _ = proof_fixture()
    unrelated = codec.encode([0, b"\x00", b"stray"])
    with pytest.raises(InvalidProof, match="not needed"):
        verify_proof(root, [*proof, unrelated], keys)
    with pytest.raises(InvalidProof, match="twice"):
        verify_proof(root, [*proof, proof[-1]], keys)
    # Nodes that only other keys need are extra too.
    with pytest.raises(InvalidProof, match="not needed"):
        verify_proof(root, proof, keys[:1])


def test_proof_against_another_root_is_refused() -> None:
    _, proof, keys, model = proof_fixture()
    other = root_of({**model, b"\x07": b"changed"})
    with pytest.raises(InvalidProof):
        verify_proof(other, proof, keys)
    with pytest.raises(InvalidProof):
        verify_proof(EMPTY_ROOT, proof, keys)


def test_proof_order_is_deterministic() -> None:
    root, proof, keys, model = proof_fixture()
    store = scratch_store(model)
    assert read_proof(store.get, root, reversed(keys)) == proof
    assert read_proof(store.get, root, keys + keys) == proof


@pytest.mark.parametrize(
    "node",
    [
        [2, 0b100, bytes(32), None],  # a branch with one child and no value
        [2, 0, b"", b"v"],  # a branch without children
        [2, 0b11, bytes(32), None],  # fewer hashes than the bitmap says
        [2, 1 << 16, bytes(32), b"v"],  # bitmap over 16 bits
        [1, b"\x00", bytes(32)],  # an extension with an empty path
        [1, b"\x11", bytes(31)],  # a short child hash
        [0, b"\x20", b"v"],  # an unknown compact-path flag
        [0, b"\x01", b"v"],  # even path flag with a stray low nibble
        [0, b"", b"v"],  # an empty compact path
        [3, b"\x00", b"v"],  # an unknown kind
        [True, b"\x00", b"v"],  # a bool is not a kind
        [0, "text", b"v"],  # a string is not a path
        [],
        b"not an array",
    ],
)
def test_malformed_proof_node_is_refused(node: codec.Value) -> None:
    data = codec.encode(node)
    with pytest.raises(InvalidProof, match=blake2b_256(data).hex()):
        verify_proof(blake2b_256(data), [data], [b"\x12"])


def test_non_canonical_proof_node_is_refused() -> None:
    # The leaf [0, b"\x00", b"v"] with its kind written as a uint8 instead of a fixint.
    data = b"\x93\xcc\x00\xc4\x01\x00\xc4\x01v"
    with pytest.raises(InvalidProof, match="does not decode"):
        verify_proof(blake2b_256(data), [data], [b""])


def test_extension_to_a_leaf_is_refused_in_a_proof() -> None:
    leaf = codec.encode([0, b"\x00", b"v"])
    ext = codec.encode([1, b"\x11", blake2b_256(leaf)])
    with pytest.raises(InvalidProof, match="not a branch"):
        verify_proof(blake2b_256(ext), [ext, leaf], [b"\x10"])


# --- The store -----------------------------------------------------------------------------------


def test_missing_and_corrupt_store_nodes_raise_trie_error() -> None:
    model = {b"\x01": b"a", b"\x02": b"b", b"\x03": b"c"}
    store = scratch_store(model)
    root = root_of(model)
    victim = next(k for k in store.nodes if k != root)
    pruned = MemoryNodeStore(dict(store.nodes))
    del pruned.nodes[victim]
    with pytest.raises(TrieError, match=victim.hex()):
        [get(pruned.get, root, k) for k in model]
    with pytest.raises(TrieError, match=victim.hex()):
        commit(pruned.get, root, {k: b"new" for k in model})
    with pytest.raises(TrieError, match=victim.hex()):
        list(iter_prefix(pruned.get, root, b""))
    corrupt = MemoryNodeStore(dict(store.nodes))
    for garbage in (b"\x93\x07", codec.encode([9, b"", b""])):
        corrupt.nodes[victim] = garbage
        with pytest.raises(TrieError, match=victim.hex()):
            [get(corrupt.get, root, k) for k in model]


def test_stored_nodes_are_canonical_and_keyed_by_position_and_hash() -> None:
    rng = random.Random(11)
    model = {rng.randbytes(rng.randrange(0, 5)): rng.randbytes(2) for _ in range(300)}
    store = scratch_store(model)
    for nk, data in store.nodes.items():
        assert codec.encode(codec.decode(data)) == data
        assert nk[-32:] == blake2b_256(data)
        assert all(n < 16 for n in nk[:-32])
    assert root_of(model) in store.nodes  # the root sits at the empty position


def test_node_key() -> None:
    h = blake2b_256(b"node")
    assert node_key(b"", h) == h
    assert node_key(b"\x01\x0f", h) == b"\x01\x0f" + h
    with pytest.raises(ValueError):
        node_key(b"\x10", h)
    with pytest.raises(ValueError):
        node_key(b"\x01", h[:31])


def test_bad_key_and_value_types_are_refused() -> None:
    with pytest.raises(TypeError):
        commit(MemoryNodeStore().get, EMPTY_ROOT, {"text": b"v"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        commit(MemoryNodeStore().get, EMPTY_ROOT, {b"k": "v"})  # type: ignore[dict-item]


# --- The encoding, as documented -----------------------------------------------------------------


def test_roots_follow_the_documented_encoding() -> None:
    def h(value: codec.Value) -> bytes:
        return blake2b_256(codec.encode(value))

    # One key: a leaf at the root holding all its nibbles (1, 2: even, so a 0x00 flag byte).
    assert root_of({b"\x12": b"v"}) == h([0, b"\x00\x12", b"v"])
    # 0x12 and 0x13 share nibble 1: an extension [1] to a branch with leaves at nibbles 2 and 3
    # whose remaining paths are empty.
    leaf_a, leaf_b = h([0, b"\x00", b"a"]), h([0, b"\x00", b"b"])
    branch = h([2, (1 << 2) | (1 << 3), leaf_a + leaf_b, None])
    assert root_of({b"\x12": b"a", b"\x13": b"b"}) == h([1, b"\x11", branch])
    # The empty key ends at the root branch and is its value; 0xab's leaf keeps nibble b (odd).
    branch = h([2, 1 << 0xA, h([0, b"\x1b", b"x"]), b"root"])
    assert root_of({b"": b"root", b"\xab": b"x"}) == branch


# --- The node cache ------------------------------------------------------------------------------


def cached_nodes_are_right(cache: NodeCache, nodes: Mapping[bytes, bytes]) -> None:
    """Every entry is a well-formed node, under its own node key, as the store has it if it does."""
    entries = cache._nodes
    assert len(entries) == len(cache) <= cache.max_entries
    for nk, data in entries.items():
        assert type(data) is bytes
        assert nk[-32:] == blake2b_256(data)
        assert all(n < 16 for n in nk[:-32])
        decode_stored_node(data, nk)
        assert nodes.get(nk, data) == data


@settings(max_examples=120, deadline=None)
@given(histories, st.sampled_from([0, 1, 3, 12, 500_000]))
def test_commits_through_a_cache_match_commits_without(history: list[Changes], size: int) -> None:
    plain, cached = MemoryNodeStore(), MemoryNodeStore()
    cache = NodeCache(max_entries=size)
    root = EMPTY_ROOT
    model: Model = {}
    for changes in history:
        expected = commit_and_apply(plain, root, changes)
        c = commit(cached.get, root, changes, cache)
        assert c == expected
        cached.apply(c)
        assert not set(c.deleted) & cache._nodes.keys()
        root = c.root
        apply_to_model(model, changes)
        cached_nodes_are_right(cache, cached.nodes)
        for key in [*PROBES, *model, *changes]:
            assert get(cached.get, root, key, cache) == model.get(key)
        for prefix in PROBES:
            assert list(iter_prefix(cached.get, root, prefix, cache)) == expected_prefix(
                model, prefix
            )
        keys = [*model, *changes]
        assert read_proof(cached.get, root, keys, cache) == read_proof(plain.get, root, keys)
        cached_nodes_are_right(cache, cached.nodes)
    assert cached.nodes == plain.nodes


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(trie_keys, trie_values, max_size=12), change_sets, change_sets)
def test_forks_share_a_cache(base: Model, left: Changes, right: Changes) -> None:
    # Two children of one state, committed with one cache, and then one child of each: the
    # first fork's commit drops nodes from the cache that the second one still reads.
    store = scratch_store(base)
    root = root_of(base)
    cache = NodeCache()
    commit(store.get, root, {}, cache)
    for k in [*base, *PROBES]:
        get(store.get, root, k, cache)
    results = []
    for changes in (left, right, left):
        c = commit(store.get, root, changes, cache)
        assert c == commit(store.get, root, changes)
        results.append(c)
    assert results[0] == results[2]
    # Both forks' nodes live in the store at once, as in a node before finality.
    for c in results[:2]:
        store.nodes.update(c.inserted)
    for c, changes in zip(results[:2], (left, right), strict=True):
        after = dict(base)
        apply_to_model(after, changes)
        for k in [*after, *changes]:
            assert get(store.get, c.root, k, cache) == after.get(k)
        more = {k: None for k in list(after)[:2]} | {b"\x12\x34": b"fork"}
        assert commit(store.get, c.root, more, cache) == commit(store.get, c.root, more)
    cached_nodes_are_right(cache, store.nodes)


def test_runtime_shaped_commits_through_a_cache_match_commits_without() -> None:
    # Keys shaped like the runtime's: sets-only blocks (the fast path) and blocks with deletions,
    # new keys, unchanged values and a key that is a prefix of others, over one long-lived cache.
    rng = random.Random(13)
    prefixes = [blake2b_128(b"Balances") + blake2b_128(b"Account"), blake2b_128(b"System") * 2]
    accounts = [rng.randbytes(32) for _ in range(1500)]

    def storage_key(i: int) -> bytes:
        return prefixes[i % 2] + blake2b_128(accounts[i]) + accounts[i]

    plain, cached = MemoryNodeStore(), MemoryNodeStore()
    cache = NodeCache(max_entries=2_000)
    root = EMPTY_ROOT
    model: Model = {}
    for block in range(10):
        changes: Changes = {}
        for _ in range(rng.choice([1, 40, 300])):
            i = rng.randrange(len(accounts) if block else 700)
            key = storage_key(i)
            if block % 3 == 2 and rng.random() < 0.2:
                changes[key] = None
            elif key in model and rng.random() < 0.1:
                changes[key] = model[key]
            else:
                changes[key] = rng.randbytes(60)
        if block % 4 == 3:
            changes[prefixes[1]] = rng.randbytes(4)
        expected = commit_and_apply(plain, root, changes)
        c = commit(cached.get, root, changes, cache)
        assert c == expected
        cached.apply(c)
        root = c.root
        apply_to_model(model, changes)
        assert root == root_of(model)
        for key in list(model)[:: max(1, len(model) // 50)]:
            assert get(cached.get, root, key, cache) == model[key]
        cached_nodes_are_right(cache, cached.nodes)


def test_cache_eviction_keeps_results_and_bound() -> None:
    rng = random.Random(5)
    keys = [rng.randbytes(rng.randrange(1, 6)) for _ in range(400)]
    for size in (0, 7, 100, 1000):
        plain, cached = MemoryNodeStore(), MemoryNodeStore()
        cache = NodeCache(max_entries=size)
        root = EMPTY_ROOT
        for _ in range(12):
            changes: Changes = {}
            for _ in range(60):
                changes[rng.choice(keys)] = None if rng.random() < 0.25 else rng.randbytes(3)
            expected = commit_and_apply(plain, root, changes)
            c = commit(cached.get, root, changes, cache)
            assert c == expected
            cached.apply(c)
            root = c.root
            assert len(cache) <= size
            for key in keys[:50]:
                assert get(cached.get, root, key, cache) == get(plain.get, root, key)
                assert len(cache) <= size
            cached_nodes_are_right(cache, cached.nodes)
        if size == 1000:
            assert len(cache) > 0
    cache = NodeCache(max_entries=10)
    commit(MemoryNodeStore().get, EMPTY_ROOT, {bytes([i]): b"v" for i in range(100)}, cache)
    assert len(cache) == 8  # over the bound: the newest three quarters stay
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        NodeCache(max_entries=-1)


def test_a_cache_survives_a_failed_commit() -> None:
    model = {bytes([i, j]): b"v" for i in range(4) for j in range(4)}
    store = scratch_store(model)
    root = root_of(model)
    victim = next(k for k in store.nodes if k != root)
    pruned = MemoryNodeStore({k: v for k, v in store.nodes.items() if k != victim})
    cache = NodeCache()
    changes: Changes = {k: b"new" for k in model}
    with pytest.raises(TrieError, match=victim.hex()):
        commit(pruned.get, root, changes, cache)
    cached_nodes_are_right(cache, store.nodes)
    assert commit(store.get, root, changes, cache) == commit(store.get, root, changes)


def test_cache_serves_nodes_the_store_no_longer_has() -> None:
    # Entries are keyed by content, so a cached node is right even once the store prunes it.
    model = {b"\x01": b"a", b"\x02": b"b", b"\x03": b"c"}
    store = scratch_store(model)
    root = root_of(model)
    cache = NodeCache()
    assert [get(store.get, root, k, cache) for k in model] == list(model.values())
    empty = MemoryNodeStore()
    assert [get(empty.get, root, k, cache) for k in model] == list(model.values())
    with pytest.raises(TrieError):
        get(empty.get, root, b"\x01")


@pytest.mark.parametrize(
    "node",
    [
        [2, 0b100, bytes(32), None],
        [2, 0, b"", b"v"],
        [2, 0b11, bytes(32), None],
        [2, 1 << 16, bytes(32), b"v"],
        [2, 0b11, bytes(64), 5],
        [1, b"\x00", bytes(32)],
        [1, b"\x11", bytes(31)],
        [0, b"\x20", b"v"],
        [0, b"\x01", b"v"],
        [0, b"", b"v"],
        [0, b"\x00", None],
        [3, b"\x00", b"v"],
        [True, b"\x00", b"v"],
        [0, "text", b"v"],
        [],
        b"not an array",
    ],
)
def test_malformed_store_node_is_refused(node: codec.Value) -> None:
    data = codec.encode(node)
    root = blake2b_256(data)
    store = MemoryNodeStore({root: data})
    for cache in (None, NodeCache()):
        with pytest.raises(TrieError, match=root.hex()):
            get(store.get, root, b"\x12", cache)
        with pytest.raises(TrieError, match=root.hex()):
            commit(store.get, root, {b"\x12": b"v"}, cache)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(trie_keys, trie_values, min_size=1, max_size=12), change_sets)
def test_a_commit_takes_out_what_it_deletes_and_leaves_the_rest(
    model: Model, changes: Changes
) -> None:
    # A cache holding the whole trie: afterwards it holds the new trie's nodes and the old nodes
    # the commit kept, and none it deleted; a no-op commit leaves it as it was.
    store = scratch_store(model)
    root = root_of(model)
    cache = NodeCache()
    assert commit(store.get, root, dict(model), cache) == TrieCommit(root, {}, [])
    cache._nodes.update(store.nodes)
    assert commit(store.get, root, dict(model), cache) == TrieCommit(root, {}, [])
    assert cache._nodes == store.nodes
    c = commit(store.get, root, changes, cache)
    store.apply(c)
    assert cache._nodes == store.nodes


node_fields = st.one_of(
    st.sampled_from([0, 1, 2, 3, 1 << 16, 0b11, 0b100, 0b1011, -1]),
    st.integers(min_value=0, max_value=1 << 17),
    st.booleans(),
    st.none(),
    st.text(max_size=2),
    st.binary(max_size=3),
    st.sampled_from([b"\x00", b"\x12", b"\x1f\x34", b"\x20", b"\x01\x23", b""]),
    st.integers(min_value=0, max_value=4).map(lambda n: bytes(32 * n)),
)


def compact(nibbles: bytes) -> bytes:
    """The documented compact form of a nibble path."""
    if len(nibbles) % 2:
        head, nibbles = bytes([0x10 | nibbles[0]]), nibbles[1:]
    else:
        head = b"\x00"
    return head + bytes(a << 4 | b for a, b in zip(nibbles[::2], nibbles[1::2], strict=True))


nibble_paths = st.lists(st.integers(0, 15), max_size=5).map(bytes)
well_formed_nodes = st.one_of(
    st.tuples(nibble_paths, st.binary(max_size=3)).map(lambda t: [0, compact(t[0]), t[1]]),
    st.tuples(nibble_paths.filter(bool), st.binary(min_size=32, max_size=32)).map(
        lambda t: [1, compact(t[0]), t[1]]
    ),
    st.tuples(st.integers(1, 0xFFFF), st.none() | st.binary(max_size=3))
    .filter(lambda t: t[1] is not None or t[0].bit_count() > 1)
    .map(lambda t: [2, t[0], bytes(32 * t[0].bit_count()), t[1]]),
)
node_values = st.one_of(
    well_formed_nodes,
    # One field replaced: mostly malformed, sometimes still well formed.
    st.tuples(well_formed_nodes, st.integers(0, 3), node_fields).map(
        lambda t: [*t[0][: t[1]], t[2], *t[0][t[1] + 1 :]]
    ),
    st.lists(node_fields, max_size=5),
    node_fields,
)


@settings(max_examples=500, deadline=None)
@given(node_values)
def test_store_nodes_decode_as_the_shape_rules_say(fields: list[codec.Value]) -> None:
    # The store decoder inlines the shape checks for speed: it must accept exactly what `_shape`
    # accepts, and decode it the same way. Whatever it accepts, the cache's decoder reads alike.
    data = codec.encode(fields)
    nk = blake2b_256(data)
    try:
        expected = shape_of(codec.decode(data))
    except MalformedNode:
        with pytest.raises(TrieError, match=nk.hex()):
            decode_stored_node(data, nk)
        return
    assert decode_stored_node(data, nk) == expected
    assert decode_cached_node(data) == expected


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.binary(max_size=3), st.binary(max_size=3), max_size=12),
    st.lists(st.binary(max_size=3), max_size=12),
)
def test_discarding_drops_exactly_the_cached_entries_named(entries, dropped):
    cache = NodeCache(max_entries=100)
    cache._nodes.update(entries)
    cache.discard(iter(dropped))
    assert cache._nodes == {k: v for k, v in entries.items() if k not in set(dropped)}
