"""Who may hold what in the blob store: per-account upload slots and reserved bytes, stalled
reservations giving way to uploads that wait, per-account stored quotas, the node's limit, and the
accounting behind them (a hypothesis invariant)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.storage.blob_ledger import charge_of
from chain.storage.blob_uploads import (
    MAX_ACCOUNT_UPLOADS,
    MAX_UPLOADS,
    MIN_UPLOAD_BYTES_PER_S,
    STALL_GRACE_MS,
    STALL_IDLE_MS,
    UploadLimits,
)
from chain.storage.blobs import (
    AccountLimit,
    BlobError,
    BlobStore,
    QuotaExceeded,
    RootMismatch,
    StorageFull,
    UploadsBusy,
)
from chain.storage.kv import MemoryStore
from runtime.primitives.merkle import merkle_root

MIB = 1024 * 1024
HUGE = 256 * MIB
ATTACKERS = [bytes([i]) * 32 for i in range(1, 9)]
HONEST = b"\xaa" * 32


def begin_any(blobs: BlobStore, account: bytes, size: int, *, now_ms: int, leaves: int = 1) -> str:
    """Begin an upload that is never finished (any root)."""
    return blobs.begin(leaves, size, account=account, root=bytes(32), now_ms=now_ms)


def upload(blobs: BlobStore, account: bytes, leaves: list[bytes], *, now_ms: int = 0) -> bytes:
    """A whole upload by `account`; the blob's root."""
    root = merkle_root(leaves)
    upload_id = blobs.begin(
        len(leaves), sum(map(len, leaves)), account=account, root=root, now_ms=now_ms
    )
    blobs.put(upload_id, 0, leaves, now_ms=now_ms)
    return blobs.finish(upload_id, now_ms=now_ms).root


# ---------------------------------------------------------------------------------------------
# Slots and reservations


def test_one_account_takes_at_most_its_share_of_the_upload_slots() -> None:
    blobs = BlobStore(MemoryStore())
    attacker = ATTACKERS[0]
    for _ in range(MAX_ACCOUNT_UPLOADS):
        begin_any(blobs, attacker, 1, now_ms=0)
    refused = 0
    for _ in range(MAX_UPLOADS - MAX_ACCOUNT_UPLOADS):  # the sixteen begin(1, 1)
        with pytest.raises(AccountLimit, match="4 uploads in progress, as many as one account"):
            begin_any(blobs, attacker, 1, now_ms=0)
        refused += 1
    assert refused == 12 and blobs.uploads_in_progress == MAX_ACCOUNT_UPLOADS
    # Everyone else still has twelve slots, at once and without waiting.
    begin_any(blobs, HONEST, 1, now_ms=0)


def test_an_accounts_own_stalled_uploads_give_way_to_its_new_one() -> None:
    """A client that crashed mid-upload is not locked out by its leftovers for ten minutes."""
    blobs = BlobStore(MemoryStore())
    for _ in range(MAX_ACCOUNT_UPLOADS):
        begin_any(blobs, HONEST, 1, now_ms=0)
    with pytest.raises(AccountLimit):
        begin_any(blobs, HONEST, 1, now_ms=STALL_GRACE_MS)
    upload(blobs, HONEST, [b"again"], now_ms=STALL_GRACE_MS + 1)
    assert blobs.uploads.count_of(HONEST) == MAX_ACCOUNT_UPLOADS - 1


def test_one_account_reserves_at_most_one_largest_blob() -> None:
    blobs = BlobStore(MemoryStore())
    begin_any(blobs, ATTACKERS[0], HUGE, now_ms=0, leaves=64)
    with pytest.raises(AccountLimit, match="pass the limit of 268435456 per account"):
        begin_any(blobs, ATTACKERS[0], 1, now_ms=0)


def test_two_huge_reservations_give_way_to_an_honest_upload_after_the_grace() -> None:
    """The issue's attack: two begin(64, 256 MiB) take the whole buffer and send nothing."""
    blobs = BlobStore(MemoryStore())
    first = begin_any(blobs, ATTACKERS[0], HUGE, now_ms=0, leaves=64)
    begin_any(blobs, ATTACKERS[1], HUGE, now_ms=0, leaves=64)
    with pytest.raises(UploadsBusy, match="still sending: try again shortly"):
        upload(blobs, HONEST, [b"honest"], now_ms=STALL_GRACE_MS)  # still in their grace
    # One second into the schedule each is 1 MiB behind: the honest upload takes one's room.
    root = upload(blobs, HONEST, [b"honest"], now_ms=STALL_GRACE_MS + 1_000)
    assert blobs.read_all(root) == b"honest"
    assert blobs.uploads.dropped_stalled == 1 and blobs.uploads_in_progress == 1
    with pytest.raises(BlobError, match="dropped after it stalled") as e:
        blobs.put(first, 0, [b"x"], now_ms=STALL_GRACE_MS + 1_000)
    assert e.value.kind == "unknown_upload"
    # Without anyone waiting, the other stalled reservation is left alone (until it idles out).
    assert blobs.uploads_in_progress == 1


def test_sixteen_tiny_reservations_from_four_accounts_give_way_after_the_grace() -> None:
    blobs = BlobStore(MemoryStore())
    for account in ATTACKERS[:4]:
        for _ in range(MAX_ACCOUNT_UPLOADS):
            begin_any(blobs, account, 1, now_ms=0)
    assert blobs.uploads_in_progress == MAX_UPLOADS
    with pytest.raises(UploadsBusy, match=r"upload slots \(16 of 16\)"):
        upload(blobs, HONEST, [b"honest"], now_ms=1_000)
    upload(blobs, HONEST, [b"honest"], now_ms=STALL_GRACE_MS + 1_000)
    assert blobs.uploads.dropped_stalled == 1  # only as many as the new upload needed


def test_an_upload_that_keeps_the_minimum_rate_keeps_its_reservation() -> None:
    blobs = BlobStore(MemoryStore())
    steady = begin_any(blobs, ATTACKERS[0], HUGE, now_ms=0, leaves=64)
    begin_any(blobs, ATTACKERS[1], HUGE, now_ms=0, leaves=64)  # sends nothing
    leaf = b"\x00" * (4 * MIB)
    now = 0
    for index in range(6):  # 4 MiB every 4 s from the start: ahead of 1 MiB/s after the grace
        now = index * 4_000
        blobs.put(steady, index, [leaf], now_ms=now)
    assert blobs.uploads.behind_by(blobs.uploads.get(steady), now) == 0
    upload(blobs, HONEST, [b"honest"], now_ms=STALL_GRACE_MS + 5_000)
    assert blobs.uploads.get(steady) is not None  # the silent one made the room


def test_a_complete_upload_never_finished_is_stalled_past_its_deadline() -> None:
    blobs = BlobStore(MemoryStore(), uploads=UploadLimits(max_uploads=1))
    upload_id = begin_any(blobs, ATTACKERS[0], 1, now_ms=0)
    blobs.put(upload_id, 0, [b"x"], now_ms=0)  # all its bytes, then never finished
    pending = blobs.uploads.get(upload_id)
    assert pending is not None and pending.deadline_ms == STALL_GRACE_MS + 1
    assert blobs.uploads.behind_by(pending, pending.deadline_ms) == 0
    with pytest.raises(UploadsBusy):
        upload(blobs, HONEST, [b"h"], now_ms=pending.deadline_ms)
    upload(blobs, HONEST, [b"h"], now_ms=pending.deadline_ms + 1)


def test_an_upload_without_new_bytes_is_stalled_after_the_idle_limit() -> None:
    blobs = BlobStore(MemoryStore(), uploads=UploadLimits(max_uploads=1))
    upload_id = begin_any(blobs, ATTACKERS[0], HUGE, now_ms=0, leaves=64)
    blobs.put(upload_id, 0, [b"\x00" * (4 * MIB)], now_ms=0)  # ahead of the rate until 74 s
    for now in range(5_000, STALL_IDLE_MS + 1, 5_000):  # the same leaf again: no new bytes
        blobs.put(upload_id, 0, [b"\x00" * (4 * MIB)], now_ms=now)
    with pytest.raises(UploadsBusy):
        upload(blobs, HONEST, [b"h"], now_ms=STALL_IDLE_MS)
    upload(blobs, HONEST, [b"h"], now_ms=STALL_IDLE_MS + 1)


def test_the_schedule_is_the_minimum_rate_after_the_grace() -> None:
    blobs = BlobStore(MemoryStore())
    upload_id = begin_any(blobs, ATTACKERS[0], 10 * MIB, now_ms=0, leaves=2)
    upload = blobs.uploads.get(upload_id)
    assert upload is not None
    assert blobs.uploads.behind_by(upload, STALL_GRACE_MS) == 0
    assert blobs.uploads.behind_by(upload, STALL_GRACE_MS + 2_000) == 2 * MIN_UPLOAD_BYTES_PER_S
    blobs.put(upload_id, 0, [b"\x00" * (3 * MIB)], now_ms=STALL_GRACE_MS + 2_000)
    assert blobs.uploads.behind_by(upload, STALL_GRACE_MS + 3_000) == 0


# ---------------------------------------------------------------------------------------------
# Stored quota and the node's limit


def test_an_account_cannot_store_past_its_quota_and_others_are_unaffected() -> None:
    leaf_bytes = 1_000
    quota = 5 * charge_of(1, leaf_bytes)
    blobs = BlobStore(MemoryStore(), account_quota_bytes=quota)
    roots = [upload(blobs, ATTACKERS[0], [bytes([i]) * leaf_bytes]) for i in range(5)]
    assert blobs.ledger.unbound_bytes_of(ATTACKERS[0]) == quota
    with pytest.raises(QuotaExceeded, match="would pass its quota") as e:
        upload(blobs, ATTACKERS[0], [b"\xff" * leaf_bytes])
    assert e.value.kind == "quota"
    with pytest.raises(QuotaExceeded):  # the reservation counts too, not only stored blobs
        begin_any(blobs, ATTACKERS[0], 1, now_ms=0)
    upload(blobs, HONEST, [b"\xff" * leaf_bytes])
    # A blob a job references is paid for on chain: it no longer counts against the quota.
    blobs.sweep(1, [roots[0]])
    assert blobs.ledger.unbound_bytes_of(ATTACKERS[0]) == quota - charge_of(1, leaf_bytes)
    upload(blobs, ATTACKERS[0], [b"\xfe" * leaf_bytes], now_ms=1)


def test_uploads_and_fetched_blobs_stop_at_the_node_limit() -> None:
    blobs = BlobStore(MemoryStore(), max_stored_bytes=3 * charge_of(1, 1_000))
    upload(blobs, ATTACKERS[0], [b"a" * 1_000])
    blobs.store_leaves([b"b" * 1_000])  # fetched from a peer: charges the node only
    upload_id = begin_any(blobs, ATTACKERS[1], 1_000, now_ms=0)
    with pytest.raises(StorageFull, match=r"blob storage is full.*\(--blob-max-bytes\)") as e:
        begin_any(blobs, HONEST, 1, now_ms=0)
    assert e.value.kind == "storage_full"
    with pytest.raises(StorageFull):
        blobs.store_leaves([b"c"])
    assert blobs.stored_bytes + blobs.uploads.reserved_charge == blobs.max_stored_bytes
    assert blobs.abort(upload_id)
    upload(blobs, HONEST, [b"c" * 1_000])


def test_the_leaves_must_have_the_declared_root() -> None:
    blobs = BlobStore(MemoryStore())
    upload_id = blobs.begin(1, 3, account=HONEST, root=merkle_root([b"abc"]), now_ms=0)
    blobs.put(upload_id, 0, [b"xyz"], now_ms=0)
    with pytest.raises(RootMismatch, match=r"not the 0x.* that the upload declared"):
        blobs.finish(upload_id, now_ms=0)
    assert blobs.uploads_in_progress == 0 and blobs.stored_bytes == 0


def test_a_second_uploader_takes_the_charge_over() -> None:
    blobs = BlobStore(MemoryStore())
    root = upload(blobs, ATTACKERS[0], [b"shared"])
    upload(blobs, HONEST, [b"shared"], now_ms=5)
    assert blobs.ledger.unbound_bytes_of(ATTACKERS[0]) == 0
    assert blobs.ledger.unbound_bytes_of(HONEST) == charge_of(1, 6)
    record = blobs.ledger.get(root)
    assert record is not None and record.owner == HONEST and record.released_ms == 5


# ---------------------------------------------------------------------------------------------
# The accounting invariant


ACCOUNTS = ATTACKERS[:3]


def check_accounting(blobs: BlobStore) -> None:
    """The ledger's totals are what its records add up to, in memory and in the store."""
    ledger = blobs.ledger
    reloaded = BlobStore(blobs.kv).ledger
    for view in (ledger, reloaded):
        records = [view.get(root) for root in view.roots()]
        assert view.stored_bytes == sum(r.charge for r in records if r is not None)
        for account in ACCOUNTS:
            assert view.unbound_bytes_of(account) == sum(
                r.charge for r in records if r is not None and r.owner == account and not r.bound
            )
    assert reloaded.stored_bytes == ledger.stored_bytes
    for root in ledger.roots():
        assert blobs.info(root) is not None  # every record has its blob, and back
    assert {k[1:] for k, _ in blobs.kv.iterate(b"x")} == set(ledger.roots())
    uploads = list(blobs.uploads)
    assert blobs.uploads.reserved_bytes == sum(u.size for u in uploads)
    assert blobs.uploads.reserved_bytes <= blobs.uploads.limits.max_buffered_bytes
    assert len(uploads) <= blobs.uploads.limits.max_uploads
    assert blobs.stored_bytes + blobs.uploads.reserved_charge <= blobs.max_stored_bytes
    for account in ACCOUNTS:
        mine = [u for u in uploads if u.account == account]
        assert len(mine) <= blobs.uploads.limits.max_account_uploads
        assert sum(u.size for u in mine) <= blobs.uploads.limits.max_account_buffered_bytes


operations = st.lists(
    st.one_of(
        st.tuples(st.just("upload"), st.integers(0, 2), st.binary(max_size=300)),
        st.tuples(st.just("begin"), st.integers(0, 2), st.integers(0, 400)),
        st.tuples(st.just("abort"), st.integers(0, 20)),
        st.tuples(st.just("sweep"), st.integers(0, 20)),
        st.tuples(st.just("wait"), st.integers(1, 40_000)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_quota_accounting_holds_under_any_sequence_of_uploads_sweeps_and_waits(
    ops: list[tuple[object, ...]],
) -> None:
    quota = 3 * charge_of(1, 300)
    blobs = BlobStore(
        MemoryStore(),
        account_quota_bytes=quota,
        max_stored_bytes=6 * charge_of(1, 300),
        retention_ms=60_000,
        uploads=UploadLimits(max_uploads=4, max_account_uploads=2, max_buffered_bytes=700),
    )
    now = 0
    stored: list[bytes] = []
    open_ids: list[str] = []
    for op in ops:
        try:
            if op[0] == "upload":
                account, data = ACCOUNTS[op[1]], op[2]
                stored.append(upload(blobs, account, [data], now_ms=now))
                assert blobs.ledger.unbound_bytes_of(account) <= quota
            elif op[0] == "begin":
                account = ACCOUNTS[op[1]]
                open_ids.append(begin_any(blobs, account, op[2], now_ms=now))
                held = blobs.ledger.unbound_bytes_of(account) + blobs.uploads.charge_of_uploads(
                    account
                )
                assert held <= quota
            elif op[0] == "abort" and open_ids:
                blobs.abort(open_ids[op[1] % len(open_ids)])
            elif op[0] == "sweep":
                referenced = stored[: op[1]]
                result = blobs.sweep(now, referenced)
                assert not set(result.deleted) & set(referenced)
                assert all(blobs.info(root) is not None for root in referenced)
            elif op[0] == "wait":
                now += op[1]
        except BlobError:
            pass
        check_accounting(blobs)
