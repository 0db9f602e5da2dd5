"""One validator of four whose database fails its writes, on the simulated network: the other
three go on finalizing, the faulted one stays silent (it sends no vote it could not record, so
no one can catch it voting twice), and once its store takes writes again and it resumes, it
catches up and votes again: no two nodes finalize different blocks and nobody is disabled for an
offence.

The failure comes at a chosen write of the validator's store (a block, a finality step or the
voter's record), drawn by hypothesis; the real full disk is in
tests/chain/core/test_storage_faults.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.spec import local_spec
from chain.storage.kv import MemoryStore, StoreWriteFailed, WriteBatch
from runtime.pallets import session
from runtime.primitives.keys import keypair_from_suri
from runtime.state import StateOverlay
from sim.network import SimNetwork

NAMES = ("Alice", "Bob", "Charlie", "Dave")
SPEC = local_spec(validators=4)
SLOT_MS = SPEC.genesis.slot_duration_ms


class FillingStore(MemoryStore):
    """A MemoryStore whose writes fail from a chosen one on until `free`."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        super().__init__()
        self.data = data
        self.writes = 0
        self.fail_at: int | None = None
        self.full = False

    def write(self, batch: WriteBatch) -> None:
        self.writes += 1
        if self.full or (self.fail_at is not None and self.writes >= self.fail_at):
            self.full = True
            raise StoreWriteFailed("cannot write the database at memory: No space left on device")
        super().write(batch)


@settings(max_examples=6, deadline=None)
@given(fail_at=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_a_validator_whose_disk_fills_falls_silent_and_rejoins_without_an_offence(
    fail_at: int, seed: int
) -> None:
    net = SimNetwork(SPEC, seed=seed, check_invariants=True)
    for name in NAMES:
        net.add_node(name, keypair_from_suri("//" + name))
    net.connect_all()
    net.run_for(4 * SLOT_MS)
    # Alice restarts on the same data behind a store that will fill up.
    alice = net.nodes["Alice"]
    disk = FillingStore(alice.kv.data)
    net.crash("Alice")
    alice.kv = disk
    net.restart("Alice")
    disk.fail_at = disk.writes + fail_at
    while not disk.full:
        net.run_for(SLOT_MS)
    core = net.core("Alice")
    assert core.storage_fault is not None
    stalled = core.finalized_header.number
    others_before = min(net.core(n).finalized_header.number for n in NAMES[1:])
    net.run_for(8 * SLOT_MS)
    assert core.finalized_header.number == stalled
    assert min(net.core(n).finalized_header.number for n in NAMES[1:]) > others_before + 3

    disk.full, disk.fail_at = False, None
    core.store.reload()
    net._apply(alice, core.resume(net.now_ms))  # what the node service does after reopening
    net.run_for(12 * SLOT_MS)
    assert core.storage_fault is None
    leader = max(net.core(n).finalized_header.number for n in NAMES)
    assert core.finalized_header.number >= leader - 2
    assert net.conflicting_finality() == []
    for name in NAMES:
        state = StateOverlay(net.core(name).reader())
        assert session.Disabled.get(state) == (), f"{name} sees a validator disabled"
