"""The key-value stores: MemoryStore (tests, simulator) and LevelDBStore (the node) behave the
same: batches apply whole with the last operation per key winning, and prefix iteration is in
key order. LevelDB admits one opener per directory."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.storage.kv import KeyValueStore, LevelDBStore, MemoryStore, StoreError, WriteBatch


@pytest.fixture(params=["memory", "leveldb"])
def kv(request, tmp_path: Path) -> Iterator[KeyValueStore]:
    store: KeyValueStore = (
        MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path / "db")
    )
    yield store
    store.close()


def batch_of(*ops: tuple[bytes, bytes | None]) -> WriteBatch:
    batch = WriteBatch()
    for key, value in ops:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    return batch


def test_get_put_delete(kv):
    assert kv.get(b"k") is None
    kv.write(batch_of((b"k", b"v"), (b"empty", b"")))
    assert (kv.get(b"k"), kv.get(b"empty")) == (b"v", b"")  # an empty value is a value
    kv.write(batch_of((b"k", None), (b"never there", None)))
    assert kv.get(b"k") is None and kv.get(b"empty") == b""


def test_within_a_batch_the_last_operation_on_a_key_wins(kv):
    kv.write(batch_of((b"b", b"old")))
    batch = WriteBatch()
    batch.put(b"a", b"1")
    batch.delete(b"a")
    batch.delete(b"b")
    batch.put(b"b", b"2")
    batch.put(b"c", b"x")
    batch.put(b"c", b"y")
    kv.write(batch)
    assert [kv.get(k) for k in (b"a", b"b", b"c")] == [None, b"2", b"y"]


def test_iteration_is_by_prefix_in_key_order(kv):
    keys = [b"", b"a", b"a\x00", b"ab", b"abc", b"ac", b"b", b"\xff", b"\xff\xff", b"\x00"]
    kv.write(batch_of(*[(k, b"v" + k) for k in reversed(keys)]))
    assert [k for k, _ in kv.iterate(b"")] == sorted(keys)
    assert list(kv.iterate(b"a")) == [(k, b"v" + k) for k in (b"a", b"a\x00", b"ab", b"abc", b"ac")]
    assert [k for k, _ in kv.iterate(b"ab")] == [b"ab", b"abc"]
    assert [k for k, _ in kv.iterate(b"\xff")] == [b"\xff", b"\xff\xff"]
    assert list(kv.iterate(b"abcd")) == [] and list(kv.iterate(b"z")) == []


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("memory"),
        "leveldb",
    ],
)
def test_an_iteration_sees_the_store_as_it_was_when_it_began(kind, tmp_path):
    kv: KeyValueStore = MemoryStore() if kind == "memory" else LevelDBStore(tmp_path / "db")
    kv.write(batch_of((b"p1", b"a"), (b"p2", b"b"), (b"p3", b"c")))
    it = kv.iterate(b"p")
    first = next(it)
    kv.write(batch_of((b"p3", None), (b"p4", b"c"), (b"p2", b"B")))  # move p3 to p4, change p2
    assert [first, *it] == [(b"p1", b"a"), (b"p2", b"b"), (b"p3", b"c")]
    kv.close()


ops = st.lists(st.tuples(st.binary(max_size=3), st.none() | st.binary(max_size=3)), max_size=12)


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(ops, max_size=6), prefixes=st.lists(st.binary(max_size=2), max_size=4))
def test_memory_and_leveldb_agree_with_a_dict(batches, prefixes):
    model: dict[bytes, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[KeyValueStore] = [MemoryStore(), LevelDBStore(Path(tmp) / "db")]
        try:
            for batch_ops in batches:
                for key, value in batch_ops:
                    if value is None:
                        model.pop(key, None)
                    else:
                        model[key] = value
                for store in stores:
                    store.write(batch_of(*batch_ops))
            for store in stores:
                assert list(store.iterate(b"")) == sorted(model.items())
                for prefix in prefixes:
                    assert list(store.iterate(prefix)) == sorted(
                        (k, v) for k, v in model.items() if k.startswith(prefix)
                    )
                for key in {k for batch_ops in batches for k, _ in batch_ops}:
                    assert store.get(key) == model.get(key)
        finally:
            for store in stores:
                store.close()


def test_leveldb_keeps_its_data_across_reopening(tmp_path):
    path = tmp_path / "nested" / "db"  # missing parents are created
    db = LevelDBStore(path)
    db.write(batch_of((b"k", b"v"), (b"gone", b"x")))
    db.write(batch_of((b"gone", None)))
    db.close()
    again = LevelDBStore(path)
    assert list(again.iterate(b"")) == [(b"k", b"v")]
    again.close()


def test_a_database_written_compressed_reads_back_uncompressed_and_the_reverse(tmp_path):
    """The store writes uncompressed blocks; a database an older node wrote with snappy still
    opens and reads, and one written now opens with snappy."""
    value = b"compressible " * 400
    for first, second in (("snappy", None), (None, "snappy")):
        path = tmp_path / str(first)
        writer = LevelDBStore(path, compression=first)
        batch = WriteBatch()
        for i in range(200):
            batch.put(i.to_bytes(2, "big"), value + i.to_bytes(2, "big"))
        writer.write(batch)
        writer.compact()
        writer.close()
        reader = LevelDBStore(path, compression=second)
        assert [reader.get(i.to_bytes(2, "big")) for i in (0, 199)] == [
            value + b"\x00\x00",
            value + b"\x00\xc7",
        ]
        reader.close()


def test_leveldb_refuses_a_second_opener_of_the_same_directory(tmp_path):
    first = LevelDBStore(tmp_path / "db")
    try:
        with pytest.raises(StoreError, match="cannot open"):
            LevelDBStore(tmp_path / "db")
    finally:
        first.close()
    LevelDBStore(tmp_path / "db").close()  # free again once closed


@settings(max_examples=50)
@given(st.dictionaries(st.binary(max_size=4), st.one_of(st.none(), st.binary(max_size=4))))
def test_a_batch_update_is_a_put_or_delete_of_each_prefixed_key(changes):
    one_by_one, at_once = WriteBatch(), WriteBatch()
    for key, value in changes.items():
        if value is None:
            one_by_one.delete(b"p" + key)
        else:
            one_by_one.put(b"p" + key, value)
    at_once.update(b"p", changes)
    assert at_once.ops == one_by_one.ops


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=3), st.lists(st.binary(max_size=4), max_size=20))
def test_deleting_many_keys_equals_deleting_them_one_by_one(prefix, keys):
    many, one_by_one = WriteBatch(), WriteBatch()
    many.put(b"k", b"v")
    one_by_one.put(b"k", b"v")
    many.delete_all(prefix, iter(keys))
    for key in keys:
        one_by_one.delete(prefix + key)
    assert many.ops == one_by_one.ops
