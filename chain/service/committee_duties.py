"""Which checks await a committee member, and what it owes each: a commitment, then a reveal.

A check (an audit, or a dispute of one leaf) runs in phases once its committee is drawn
(DESIGN 8): blocks `drawn_at + 1 .. commit_deadline` take each member's `compute.attest_commit`
(a hash binding its recomputed leaf hashes to the job, the check and itself), blocks
`commit_deadline + 1 .. reveal_deadline` take its `compute.attest_reveal` (the hashes
themselves) and the worker's `compute.respond`. A transaction counts only if it lands in its
phase, so a duty is due when the NEXT block still lies in the phase.

`chain.client.checks.phase` says which phase a block falls in. Everything here is a plain
function over a state reader or hand-built `compute.Check` records; the verification service
(`chain.service.verification`) acts on what they return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from chain.client.checks import phase
from chain.storage.chain_store import ChainStore, ChainStoreError
from runtime.block import Header
from runtime.pallets import compute, market
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives import codec
from runtime.primitives.keys import Keypair
from runtime.primitives.trie import TrieError
from runtime.state import PrefixIterator, StateOverlay, StateReader
from runtime.transaction import MAX_MORTAL_PERIOD, Mortality

MAX_EVENT_WALK: Final = 64
"""New blocks read for opened checks at one step; more than this, and the state is scanned."""

CheckKey = tuple[int, int]
"""(job id, check index)."""

COMMIT: Final = "commit"
REVEAL: Final = "reveal"


@dataclass(frozen=True, slots=True)
class OpenCheck:
    """An open check of a committed job, as read from the state."""

    job_id: int
    index: int
    job: market.Job
    check: compute.Check

    @property
    def key(self) -> CheckKey:
        return (self.job_id, self.index)

    @property
    def digest(self) -> bytes:
        """The round's digest (`compute.check_digest`: the job, its result, the round's leaves
        and mask), which a commitment carries and an answer is cached under."""
        return compute.check_digest(self.job_id, self.job, self.index, self.check)


def committed(check: compute.Check, member: bytes) -> bool:
    """Whether `member` has a commitment on `check`."""
    return any(who == member for who, _ in check.commits)


def revealed(check: compute.Check, member: bytes) -> bool:
    """Whether `member` has revealed on `check`."""
    return any(who == member for who, _ in check.reveals)


def duty(check: compute.Check, member: bytes, best_number: int) -> str | None:
    """What `member` owes `check` in the block after `best_number`: COMMIT, REVEAL or None.

    COMMIT while the next block is in the commit phase and the member has not committed; REVEAL
    while it is in the reveal phase and the member committed and has not revealed (a member that
    missed its commitment cannot reveal: the chain would refuse the reveal)."""
    if member not in check.committee:
        return None
    next_phase = phase(check, best_number + 1)
    if next_phase == "commit" and not committed(check, member):
        return COMMIT
    if next_phase == "reveal" and committed(check, member) and not revealed(check, member):
        return REVEAL
    return None


def may_owe(check: compute.Check, member: bytes, best_number: int) -> bool:
    """Whether `member` owes `check` something now or later: it is open and not yet drawn, or
    names the member and a phase the member has not done is still ahead."""
    next_phase = phase(check, best_number + 1)
    if next_phase == "drawing":
        return True
    if member not in check.committee or next_phase in ("closed", "deciding"):
        return False
    return not revealed(check, member) and (next_phase == "commit" or committed(check, member))


def read_open_check(read: StateReader, job_id: int, index: int) -> OpenCheck | None:
    """Check `index` of job `job_id` if the job is committed and the check still open."""
    state = StateOverlay(read)
    job = market.Jobs.get(state, job_id)
    if job is None or job.state != "committed":
        return None
    checks = compute.Checks.get(state, job_id) or ()
    if not 0 <= index < len(checks) or checks[index].outcome:
        return None
    return OpenCheck(job_id, index, job, checks[index])


def later_open_checks(read: StateReader, job_id: int, index: int) -> list[CheckKey]:
    """The open checks of job `job_id` after check `index`: a fresh round that an inconclusive
    one started, or a dispute opened since, whichever events announced them or not."""
    checks = compute.Checks.get(StateOverlay(read), job_id) or ()
    return [(job_id, i) for i in range(index + 1, len(checks)) if not checks[i].outcome]


def my_open_checks(
    read: StateReader, iterate: PrefixIterator, member: bytes, best_number: int
) -> list[OpenCheck]:
    """Every open check in the state that `member` may owe something, by job id then index."""
    state = StateOverlay(read)
    found: list[OpenCheck] = []
    for key, raw in iterate(compute.Checks.prefix):
        job_id = int.from_bytes(compute.Checks.key_suffix(key), "big")
        waiting = [
            (index, check)
            for index, check in enumerate(compute.Checks.decode(raw))
            if may_owe(check, member, best_number)
        ]
        if not waiting:
            continue
        job = market.Jobs.get(state, job_id)
        if job is None or job.state != "committed":
            continue
        found.extend(OpenCheck(job_id, index, job, check) for index, check in waiting)
    return found


def phase_mortality(
    phase_end: int,
    best: Header,
    finalized: Header,
    *,
    drawn_at: int,
    header_of: Callable[[bytes], Header | None],
) -> tuple[Mortality, Header] | None:
    """A mortality (and its birth block) that lets a transaction land only up to `phase_end`,
    and only on a chain holding the block the check was drawn in (number `drawn_at`, an
    ancestor of `best`, whose headers `header_of` reads); None if the phase is over.

    Born at that draw block (or at the finalized head, if the draw is final), the transaction
    is refused on a fork that drew the check in another block: there its round has another
    mask and leaves, so an attestation or response made for this draw would only fail there,
    at its signer's fee and nonce. Born at the best block when the phase ends more than
    `MAX_MORTAL_PERIOD` after the draw (the best block descends from the draw too)."""
    if phase_end <= best.number:
        return None
    floor = finalized
    if drawn_at > finalized.number:
        drawn: Header | None = best
        while drawn is not None and drawn.number > drawn_at:
            drawn = header_of(drawn.parent_hash)
        if drawn is not None and drawn.number == drawn_at:
            floor = drawn
    birth = floor if phase_end - floor.number <= MAX_MORTAL_PERIOD else best
    return Mortality(min(phase_end - birth.number, MAX_MORTAL_PERIOD), birth.number), birth


def attestation_call(
    key: CheckKey,
    what: str,
    member: Keypair,
    hashes: Sequence[bytes],
    witness: bytes,
    *,
    digest: bytes,
) -> tuple[str, str, tuple[object, ...]]:
    """The call a member makes for `what` (COMMIT or REVEAL) with its recomputed `hashes` and
    `witness`, salted with a secret derived from its key (the same after a restart); a
    commitment names the round it recomputed by its `digest` (`compute.check_digest`)."""
    job_id, index = key
    salt = compute.attestation_salt(member.seed, job_id, index)
    if what == COMMIT:
        commitment = compute.attestation_commitment(
            job_id, index, member.public, hashes, witness, salt
        )
        return ("compute", "attest_commit", (job_id, digest, index, commitment))
    return ("compute", "attest_reveal", (job_id, index, list(hashes), witness, salt))


_OPENING_EVENTS: Final = {
    (compute.ChallengeDrawn.pallet, compute.ChallengeDrawn.name): len(
        compute.ChallengeDrawn.fields
    ),
    (compute.DisputeOpened.pallet, compute.DisputeOpened.name): len(compute.DisputeOpened.fields),
}


def checks_opened(raw_events: bytes | None) -> list[CheckKey]:
    """The checks a block opened or drew (audits and later rounds drawn, disputes opened), from
    its stored events."""
    if raw_events is None:
        return []
    opened: list[CheckKey] = []
    for i, value in enumerate(codec.expect_array(codec.decode_raw(raw_events), 10**6, "events")):
        record = codec.expect_list(value, 4, f"events[{i}]")
        count = _OPENING_EVENTS.get((record[1], record[2]))
        if count is None:
            continue
        args = codec.expect_list(record[3], count, f"events[{i}].args")
        if record[2] == compute.ChallengeDrawn.name and args[2] is not True:
            continue  # drawn, but not audited: no check
        opened.append(
            (codec.expect_u64(args[0], "event.job"), codec.expect_u32(args[1], "event.check"))
        )
    return opened


def checks_opened_since(
    store: ChainStore, best_hash: bytes, known_hash: bytes, *, limit: int = MAX_EVENT_WALK
) -> list[CheckKey] | None:
    """Checks opened in the blocks after `known_hash` up to `best_hash`, newest first; None if
    `known_hash` is not an ancestor of `best_hash` within `limit` blocks (a reorg, a long gap) or
    a block's state is gone, so that the caller scans the whole state instead."""
    known = store.header(known_hash)
    if known is None:
        return None
    opened: list[CheckKey] = []
    block_hash = best_hash
    for _ in range(limit + 1):
        if block_hash == known_hash:
            return opened
        header = store.header(block_hash)
        if header is None or header.number <= known.number:
            return None
        try:
            raw = store.reader(block_hash)(EVENTS_KEY)
        except (ChainStoreError, TrieError):
            return None
        opened.extend(checks_opened(raw))
        block_hash = header.parent_hash
    return None


def checks_to_watch(
    store: ChainStore, member: bytes, known_hash: bytes | None
) -> tuple[list[CheckKey], bytes]:
    """The checks `member` may owe something that opened in the best chain since block
    `known_hash` (every open one after a start, a reorg or a long gap), sorted; and the best
    block's hash, the `known_hash` of the next call."""
    best = store.best_header
    if best.hash == known_hash:
        return [], best.hash
    opened = None
    if known_hash is not None:
        opened = checks_opened_since(store, best.hash, known_hash)
    if opened is None:
        found = my_open_checks(
            store.reader(best.hash),
            lambda prefix: store.iterate_state(best.hash, prefix),
            member,
            best.number,
        )
        opened = [check.key for check in found]
    return sorted(opened), best.hash


__all__ = [
    "COMMIT",
    "MAX_EVENT_WALK",
    "REVEAL",
    "CheckKey",
    "OpenCheck",
    "attestation_call",
    "checks_opened",
    "checks_opened_since",
    "checks_to_watch",
    "committed",
    "duty",
    "later_open_checks",
    "may_owe",
    "my_open_checks",
    "phase_mortality",
    "read_open_check",
    "revealed",
]
