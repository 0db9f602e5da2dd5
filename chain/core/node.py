"""The node core: a state machine over the chain store, driven by its caller.

Inputs: the start, a timer firing, a transaction submitted, a block received, and from the
network: a peer connecting or leaving, a gossip message, a request, a response. Outputs: a list
of actions (`chain.core.actions`) for the driver: timers, notifications, messages to send. Time
comes in as `now_ms` on every input; the core reads no clock, opens no socket and starts no task,
so the node process, the simulator and tests all run exactly this code. Storage is the one
dependency it calls directly, through the key-value store protocol.

The core authors in its Aura slots, imports what it receives, finalizes with its GRANDPA voter
(`chain.core.grandpa`), and syncs from its peers (`chain.core.sync`). What it tells peers and what
it accepts from them is in `chain.core.messages`; every message from a peer is checked, and one
that breaks the rules is refused and costs the peer its score.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from chain.core import aura
from chain.core.actions import (
    Action,
    BlockImported,
    Finalized,
    Gossip,
    ReportPeer,
    Retracted,
    SendRequest,
    SetTimer,
    TxDropped,
)
from chain.core.finality import InvalidJustification, Justification, decode_and_verify
from chain.core.grandpa import (
    BroadcastCommit,
    BroadcastVotes,
    CatchUp,
    FetchBlock,
    GrandpaVoter,
    NoteVotes,
    ReportEquivocation,
    RequestCatchUp,
    Verdict,
    VoterOutput,
)
from chain.core.importer import (
    AlreadyKnown,
    BadJustification,
    BlockRejected,
    ExecutedBlock,
    UnknownParent,
    consensus_params,
    seal_block,
    verify_and_execute,
)
from chain.core.messages import (
    MAX_TX_BATCH,
    PROTOCOL_CATCH_UP,
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    TOPIC_BLOCKS,
    TOPIC_FINALITY,
    TOPIC_TRANSACTIONS,
    TX_BATCH_BYTES,
    BlockAnnounce,
    BlockRequest,
    Status,
    SyncedBlock,
    decode_blocks,
    decode_catch_up_request,
    decode_finality,
    decode_transactions,
    encode_blocks,
    encode_catch_up_request,
    encode_finality,
    encode_transactions,
)
from chain.core.pool import PoolError, Removed, TransactionPool
from chain.core.serving import serve_blocks
from chain.core.sync import Pending, Sync
from chain.storage.chain_store import ChainStore
from runtime.api import make_call
from runtime.block import Block, Header
from runtime.consensus import SignedVote, SlotEquivocation, encode_equivocation
from runtime.executive import (
    BlockBuilder,
    InvalidTransaction,
    SignatureVerifier,
    validate_transaction,
)
from runtime.pallets import session, system
from runtime.pallets.session import AuthoritySet
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair
from runtime.state import StateOverlay, StateReader
from runtime.transaction import Mortality, SignedTransaction, sign_transaction

log = logging.getLogger("xpl.core")

SLOT_TIMER: Final = "slot"
TICK_TIMER: Final = "tick"
GOSSIP_TIMER: Final = "gossip"
TICK_MS: Final = 500
"""Upkeep: votes sent again, sync requests, peers' status."""
TX_GOSSIP_DELAY_MS: Final = 100
"""Transactions submitted here wait this long to be gossiped together in one batch."""
MAX_FULL_BLOCK_MISSES: Final = 64
"""Authoring stops after this many transactions in a row did not fit: the block is full."""
_WARM_CACHE_LIMIT: Final = 1_000_000
_AUTHORITY_SET_CACHE: Final = 4_096
_SEEN_SLOTS: Final = 4_096
OWN_TX_MORTALITY: Final = 64
"""Blocks the node's own transactions (offence reports, noted votes) stay valid for."""

# What a peer's bad message costs it (the network bans a peer whose score falls far enough).
COST_UNDECODABLE: Final = 100
COST_BAD_BLOCK: Final = 200
COST_BAD_TRANSACTION: Final = 50
COST_BAD_VOTE: Final = 100
COST_BAD_RESPONSE: Final = 100
COST_USELESS: Final = 10
COST_STALE_BLOCK: Final = 10


class RequestRefused(Exception):
    """A peer's request this node will not answer; the message says why."""


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Hold off cyclic garbage collection while a block is executed and stored.

    A block's decoded transactions, events and state values live until the block is done, so a
    collection in the middle of it frees nothing, while each one that reaches the oldest
    generation walks the whole heap: together they took a tenth of an import. What the block
    leaves behind is freed by reference counting once it is done, and any cycles by the next
    collection after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class NodeCore:
    """One node's consensus, import, authoring, finality, sync and transaction pool, without I/O."""

    def __init__(
        self,
        store: ChainStore,
        *,
        authority: Keypair | None = None,
        pool: TransactionPool | None = None,
        verifier: SignatureVerifier | None = None,
        equivocate: bool = False,
    ) -> None:
        self.store = store
        self.authority = authority
        self.pool = pool or TransactionPool()
        self.verifier = verifier
        # Decoded values of the best block's state, carried from block to block (see StateOverlay).
        self._warm: dict[bytes, Any] = {}
        self._warm_hash = b""
        self._authority_sets: dict[bytes, AuthoritySet] = {}
        self._now_ms = 0
        self._pending_actions: list[Action] = []
        self._tx_outbox: list[bytes] = []
        self._tx_outbox_bytes = 0
        self._gossip_armed = False
        self._seen_slots: dict[tuple[int, bytes], Header] = {}
        self._offences: list[SlotEquivocation] = []
        self._reported: set[bytes] = set()
        self.sync = Sync()
        self.voter = GrandpaVoter(
            self,
            key=authority,
            now_ms=0,
            saved=store.voter_state(),
            finalize=self._finalize_by_voter,
            persist=store.save_voter_state,
            equivocate=equivocate,
        )

    # Reading

    @property
    def genesis_hash(self) -> bytes:
        return self.store.genesis_hash

    @property
    def best_header(self) -> Header:
        return self.store.best_header

    @property
    def finalized_header(self) -> Header:
        return self.store.finalized_header

    def header(self, block_hash: bytes) -> Header | None:
        return self.store.header(block_hash)

    def reader(self, block_hash: bytes | None = None) -> StateReader:
        """Read the state after `block_hash` (default: the best block)."""
        return self.store.reader(self.store.best_hash if block_hash is None else block_hash)

    def authority_set_after(self, block_hash: bytes) -> AuthoritySet:
        """The authority set in the state after `block_hash` (it authors and finalizes children)."""
        found = self._authority_sets.get(block_hash)
        if found is None:
            found = session.authority_set(StateOverlay(self.store.reader(block_hash)))
            if len(self._authority_sets) >= _AUTHORITY_SET_CACHE:
                self._authority_sets.clear()
            self._authority_sets[block_hash] = found
        return found

    def _best_cache(self) -> dict[bytes, Any]:
        if self._warm_hash != self.store.best_hash or len(self._warm) > _WARM_CACHE_LIMIT:
            self._warm = {}
            self._warm_hash = self.store.best_hash
        return self._warm

    def slot_duration_ms(self) -> int:
        return consensus_params(self.store, self.store.best_hash).slot_duration_ms

    def validators(self) -> tuple[bytes, ...]:
        """The session keys of the authorities that author the best block's children."""
        return self.authority_set_after(self.store.best_hash).keys

    def next_nonce(self, who: bytes) -> int:
        """The nonce for a new transaction from `who`: its account nonce plus its pooled ones."""
        state = StateOverlay(self.reader(), self._best_cache())
        return self.pool.next_nonce(who, system.nonce_of_state(state, who))

    def status(self) -> Status:
        """What this node tells a peer about its chain."""
        best, finalized = self.store.best_header, self.store.finalized_header
        return Status(
            self.genesis_hash,
            best.number,
            best.hash,
            finalized.number,
            finalized.hash,
            self.voter.is_voter,
        )

    # Inputs

    def start(self, now_ms: int) -> list[Action]:
        """Resume after a (re)start: arm the timers, and vote on what is not final yet."""
        self._now_ms = now_ms
        actions: list[Action] = [
            self._next_slot_timer(now_ms),
            SetTimer(TICK_TIMER, now_ms + TICK_MS),
        ]
        actions.extend(self._voter_actions(self.voter.on_block_imported(now_ms)))
        return self._with_pending(actions)

    def on_timer(self, name: str, now_ms: int) -> list[Action]:
        self._now_ms = now_ms
        if name == SLOT_TIMER:
            return self._with_pending(self._on_slot(now_ms))
        if name == TICK_TIMER:
            actions = self._voter_actions(self.voter.on_timer(now_ms))
            actions.extend(self._sync_requests(now_ms))
            actions.append(SetTimer(TICK_TIMER, now_ms + TICK_MS))
            return self._with_pending(actions)
        if name == GOSSIP_TIMER:
            self._gossip_armed = False
            return self._flush_transactions()
        raise ValueError(f"unknown timer {name!r}")

    def _on_slot(self, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        slot_ms = self.slot_duration_ms()
        slot = aura.slot_at(now_ms, slot_ms)
        best = self.store.best_header
        author = self.authority
        params = consensus_params(self.store, best.hash)
        if (
            author is not None
            and slot > best.digest.slot
            and aura.slot_author(params.authorities.keys, slot) == author.public
            and author.public not in params.disabled
        ):
            actions.extend(self._author(best, slot, slot_ms, author, now_ms))
        actions.append(self._next_slot_timer(now_ms))
        return actions

    def submit_transaction(self, raw: bytes, now_ms: int) -> tuple[SignedTransaction, list[Action]]:
        """Admit a local transaction to the pool and gossip it; raises DecodeError,
        InvalidTransaction or PoolError."""
        self._now_ms = now_ms
        tx, actions = self._admit(raw, now_ms)
        self._tx_outbox.append(tx.raw)
        self._tx_outbox_bytes += len(tx.raw)
        if self._tx_outbox_bytes >= TX_BATCH_BYTES or len(self._tx_outbox) >= MAX_TX_BATCH:
            actions.extend(self._flush_transactions())
        elif not self._gossip_armed:
            self._gossip_armed = True
            actions.append(SetTimer(GOSSIP_TIMER, now_ms + TX_GOSSIP_DELAY_MS))
        return tx, actions

    def _admit(self, raw: bytes, now_ms: int) -> tuple[SignedTransaction, list[Action]]:
        tx = SignedTransaction.decode(raw)
        self.pool.check_admissible(tx, now_ms)
        best = self.store.best_header
        try:
            valid = validate_transaction(
                self.reader(),
                best,
                tx,
                genesis_hash=self.genesis_hash,
                cache=self._best_cache(),
            )
        except InvalidTransaction as exc:
            if exc.kind == "bad_signature":
                self.pool.ban(tx.hash, now_ms)
            raise
        removed = self.pool.add(tx, valid, now_ms)
        return tx, self._dropped(removed)

    def _flush_transactions(self) -> list[Action]:
        if not self._tx_outbox:
            return []
        batch, self._tx_outbox, self._tx_outbox_bytes = self._tx_outbox, [], 0
        return [Gossip(TOPIC_TRANSACTIONS, encode_transactions(batch))]

    @_collection_paused()
    def import_block(
        self, block: Block, now_ms: int, *, justification: bytes | None = None
    ) -> list[Action]:
        """Import a block from elsewhere; raises BlockRejected (or a subclass) if it is refused.

        With a justification (a block served by sync, say) the block is also made final, once
        the justification is checked against the authority set.
        """
        self._now_ms = now_ms
        parent_hash = block.header.parent_hash
        if justification is not None and self.store.header(block.hash) is not None:
            return self.finalize_block(block.hash, justification, now_ms)
        cache = self._best_cache() if parent_hash == self.store.best_hash else None
        executed = verify_and_execute(
            self.store, block, now_ms=now_ms, verifier=self.verifier, cache=cache
        )
        self._note_slot(block.header)
        if justification is not None:
            try:
                decode_and_verify(
                    justification,
                    self.authority_set_after(parent_hash),
                    block_hash=block.header.hash,
                    number=block.header.number,
                )
            except InvalidJustification as exc:
                raise BadJustification(f"bad justification: {exc}") from exc
        actions = self._persist(
            executed, authored=False, now_ms=now_ms, cache=cache, justification=justification
        )
        if justification is not None:
            actions.extend(self._voter_actions(self.voter.on_finalized(block.header, now_ms)))
        actions.extend(self._voter_actions(self.voter.on_block_imported(now_ms)))
        return self._with_pending(actions)

    def finalize_block(self, block_hash: bytes, justification: bytes, now_ms: int) -> list[Action]:
        """Finalize a stored block given its justification; raises BlockRejected if it is bad."""
        self._now_ms = now_ms
        header = self.store.require_header(block_hash)
        if header.number <= self.store.finalized_header.number:
            return []
        try:
            decode_and_verify(
                justification,
                self.authority_set_after(header.parent_hash),
                block_hash=block_hash,
                number=header.number,
            )
        except InvalidJustification as exc:
            raise BadJustification(f"bad justification: {exc}") from exc
        actions = self._finalize_stored(header, justification, now_ms)
        actions.extend(self._voter_actions(self.voter.on_finalized(header, now_ms)))
        return self._with_pending(actions)

    def _finalize_stored(self, header: Header, justification: bytes, now_ms: int) -> list[Action]:
        if header.number <= self.store.finalized_header.number:
            return []
        old_best = self.store.best_header
        old_segment = self._unfinalized_best_chain()
        newly_final = self.store.finalize(header.hash, justification)
        return self._follow(old_best, old_segment, newly_final, now_ms)

    def _finalize_by_voter(self, header: Header, justification: Justification) -> None:
        """The voter's callback: its round proved `header` final."""
        self._pending_actions.extend(
            self._finalize_stored(header, justification.encode(), self._now_ms)
        )

    def _with_pending(self, actions: list[Action]) -> list[Action]:
        """`actions`, then the reports of offences noticed while they were computed.

        What the voter's callback did is normally carried by `_voter_actions` right after the
        step that caused it; anything still waiting (a step cut short by an error) goes first.
        """
        if self._pending_actions:
            actions, self._pending_actions = self._pending_actions + actions, []
        if self._offences:
            actions = actions + self._offence_actions()
        return actions

    # Peers

    def on_peer_connected(self, peer: str, now_ms: int) -> list[Action]:
        """A peer connected: learn its chain."""
        self._now_ms = now_ms
        self.sync.add_peer(peer)
        return self._sync_requests(now_ms)

    def on_peer_disconnected(self, peer: str) -> None:
        self.sync.remove_peer(peer)

    def on_gossip(
        self, peer: str, topic: str, data: bytes, now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        """A gossip message from `peer`, checked before the network relays it (ACCEPT only)."""
        self._now_ms = now_ms
        try:
            if topic == TOPIC_BLOCKS:
                verdict, actions = self._on_block_gossip(peer, BlockAnnounce.decode(data), now_ms)
            elif topic == TOPIC_TRANSACTIONS:
                verdict, actions = self._on_transactions(peer, decode_transactions(data), now_ms)
            elif topic == TOPIC_FINALITY:
                verdict, actions = self._on_finality(peer, data, now_ms)
            else:
                return Verdict.REJECT, [
                    ReportPeer(peer, COST_UNDECODABLE, f"unknown topic {topic}")
                ]
        except DecodeError as exc:
            return Verdict.REJECT, [ReportPeer(peer, COST_UNDECODABLE, f"{topic}: {exc}")]
        actions.extend(self._sync_requests(now_ms))
        return verdict, self._with_pending(actions)

    def on_request(self, peer: str, protocol: str, data: bytes, now_ms: int) -> bytes:
        """Answer a peer's request; RequestRefused (or DecodeError) if it cannot be answered."""
        self._now_ms = now_ms
        if protocol == PROTOCOL_STATUS:
            return self.status().encode()
        if protocol == PROTOCOL_SYNC:
            return encode_blocks(serve_blocks(self.store, BlockRequest.decode(data)))
        if protocol == PROTOCOL_CATCH_UP:
            set_id, round_ = decode_catch_up_request(data)
            catch_up = self.voter.catch_up_for(set_id, round_)
            if catch_up is None:
                raise RequestRefused(f"no completed round at or after {round_} of set {set_id}")
            return catch_up.encode()
        raise RequestRefused(f"unknown protocol {protocol}")

    def on_response(self, peer: str, tag: int, data: bytes | None, now_ms: int) -> list[Action]:
        """The answer to request `tag` (None: it failed or timed out)."""
        self._now_ms = now_ms
        pending = self.sync.finish(tag)
        if pending is None:
            return []
        actions: list[Action] = []
        if data is None:
            log.debug("%s request to %s failed", pending.kind, peer)
        else:
            try:
                actions.extend(self._on_answer(peer, pending, data, now_ms))
            except DecodeError as exc:
                actions.append(ReportPeer(peer, COST_BAD_RESPONSE, f"{pending.kind}: {exc}"))
        actions.extend(self._sync_requests(now_ms))
        return self._with_pending(actions)

    # Gossip

    def _on_block_gossip(
        self, peer: str, announce: BlockAnnounce, now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        header = announce.header
        finalized = self.store.finalized_header
        if self.store.header(header.hash) is not None:
            return Verdict.IGNORE, []
        if header.number <= finalized.number:
            # Refused and charged, a little: a node that fell behind on finality may still build
            # on an abandoned fork until it syncs. Its seal still counts as evidence.
            self._note_slot_if_sealed(header)
            return Verdict.IGNORE, [
                ReportPeer(
                    peer, COST_STALE_BLOCK, "a block that conflicts with the finalized chain"
                )
            ]
        parent = self.store.header(header.parent_hash)
        if parent is None:
            # Its author cannot be checked against its slot yet: check what can be.
            if header.digest.author not in self.authority_set_after(finalized.hash).keys:
                return Verdict.REJECT, [
                    ReportPeer(peer, COST_BAD_BLOCK, "a block by an unknown author")
                ]
            if not header.seal_is_valid():
                return Verdict.REJECT, [ReportPeer(peer, COST_BAD_BLOCK, "a block with a bad seal")]
            self._note_slot(header)
            self.sync.note_block(peer, header.number, header.hash)
            self.sync.want_block(peer, header.hash, header.number)
            return Verdict.ACCEPT, []
        self.sync.note_block(peer, header.number, header.hash)
        if announce.body is None:
            self.sync.want_block(peer, header.hash, header.number)
            return Verdict.ACCEPT, []
        try:
            actions = self.import_block(Block(header, announce.body), now_ms)
        except AlreadyKnown:
            return Verdict.IGNORE, []
        except BlockRejected as exc:
            self._note_slot_if_sealed(header)
            return Verdict.REJECT, [
                ReportPeer(peer, COST_BAD_BLOCK, f"block #{header.number}: {exc}")
            ]
        return Verdict.ACCEPT, actions

    def _on_transactions(
        self, peer: str, extrinsics: tuple[bytes, ...], now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        actions: list[Action] = []
        added = 0
        for raw in extrinsics:
            try:
                _tx, dropped = self._admit(raw, now_ms)
            except DecodeError as exc:
                return Verdict.REJECT, [ReportPeer(peer, COST_BAD_TRANSACTION, str(exc))]
            except InvalidTransaction as exc:
                if exc.kind == "bad_signature":
                    return Verdict.REJECT, [
                        ReportPeer(peer, COST_BAD_TRANSACTION, "a transaction with a bad signature")
                    ]
                continue  # stale, or not payable here and now: not the relayer's fault
            except PoolError:
                continue
            added += 1
            actions.extend(dropped)
        return (Verdict.ACCEPT if added else Verdict.IGNORE), actions

    def _on_finality(self, peer: str, data: bytes, now_ms: int) -> tuple[Verdict, list[Action]]:
        kind, payload = decode_finality(data)
        if kind == "votes":
            votes = [
                SignedVote.from_value(v)
                for v in codec.expect_array(payload, 2 * session.MAX_AUTHORITIES, "votes")
            ]
            verdict, outputs = self.voter.on_votes(peer, votes, now_ms)
        else:
            justification = Justification.from_value(payload)
            verdict, outputs = self.voter.on_commit(peer, justification, now_ms)
        actions = self._voter_actions(outputs)
        if verdict is Verdict.REJECT:
            actions.append(ReportPeer(peer, COST_BAD_VOTE, f"invalid finality {kind}"))
        return verdict, actions

    # Answers to our requests

    def _on_answer(self, peer: str, pending: Pending, data: bytes, now_ms: int) -> list[Action]:
        if pending.kind == "status":
            status = Status.decode(data)
            if status.genesis_hash != self.genesis_hash:
                return [ReportPeer(peer, COST_BAD_RESPONSE, "the peer is on another chain")]
            self.sync.on_status(peer, status)
            return []
        if pending.kind == "catchup":
            verdict, outputs = self.voter.on_catch_up(peer, CatchUp.decode(data), now_ms)
            actions = self._voter_actions(outputs)
            if verdict is Verdict.REJECT:
                actions.append(ReportPeer(peer, COST_BAD_RESPONSE, "an invalid catch-up"))
            return actions
        blocks = decode_blocks(data)
        if pending.kind == "justification":
            return self._import_justification(peer, pending, blocks, now_ms)
        if pending.kind == "fetch":
            self.sync.fetched(pending.key)
            blocks.reverse()
        return self._import_synced(peer, pending, blocks, now_ms)

    def _import_justification(
        self, peer: str, pending: Pending, blocks: list[SyncedBlock], now_ms: int
    ) -> list[Action]:
        found = next((b for b in blocks if b.header.hash == pending.key), None)
        if found is None or found.justification is None:
            return [ReportPeer(peer, COST_USELESS, "no justification for its finalized block")]
        try:
            return self.finalize_block(found.header.hash, found.justification, now_ms)
        except BlockRejected as exc:
            return [ReportPeer(peer, COST_BAD_RESPONSE, str(exc))]

    def _import_synced(
        self, peer: str, pending: Pending, blocks: list[SyncedBlock], now_ms: int
    ) -> list[Action]:
        """Import blocks a peer sent, oldest first, with their justifications."""
        actions: list[Action] = []
        imported = 0
        for i, synced in enumerate(blocks):
            header = synced.header
            if synced.body is None:
                return [*actions, ReportPeer(peer, COST_BAD_RESPONSE, "a block without its body")]
            if header.number <= self.store.finalized_header.number:
                continue
            try:
                actions.extend(
                    self.import_block(
                        Block(header, synced.body), now_ms, justification=synced.justification
                    )
                )
                imported += 1
            except AlreadyKnown:
                continue
            except UnknownParent:
                if i == 0 and pending.kind == "range" and self.sync.forked(peer):
                    return actions
                return [*actions, ReportPeer(peer, COST_USELESS, "blocks that do not attach")]
            except BlockRejected as exc:
                self._note_slot_if_sealed(header)
                return [
                    *actions,
                    ReportPeer(peer, COST_BAD_BLOCK, f"block #{header.number}: {exc}"),
                ]
        if pending.kind == "range":
            if imported:
                self.sync.attached(peer)
            elif not blocks:
                actions.append(ReportPeer(peer, COST_USELESS, "an empty answer to a range"))
        return actions

    def _sync_requests(self, now_ms: int) -> list[Action]:
        best, finalized = self.store.best_header, self.store.finalized_header
        actions: list[Action] = []
        for peer, tag, _kind, request in self.sync.next_requests(
            best_number=best.number,
            finalized_number=finalized.number,
            has_block=lambda h: self.store.header(h) is not None,
            is_final=lambda h: self._is_final(h),
            now_ms=now_ms,
        ):
            if request is None:
                actions.append(SendRequest(peer, PROTOCOL_STATUS, b"", tag))
            else:
                actions.append(SendRequest(peer, PROTOCOL_SYNC, request.encode(), tag))
        return actions

    def _is_final(self, block_hash: bytes) -> bool:
        header = self.store.header(block_hash)
        finalized = self.store.finalized_header
        return (
            header is not None
            and header.number <= finalized.number
            and self.store.hash_at(header.number) == block_hash
        )

    # Finality votes and offences

    def _voter_actions(self, outputs: Sequence[VoterOutput]) -> list[Action]:
        """What the voter's last step means: what its finalize callback did (in order, right
        after what came before the step), then its messages."""
        actions, self._pending_actions = self._pending_actions, []
        votes: list[SignedVote] = []
        for out in outputs:
            if isinstance(out, BroadcastVotes):
                votes.extend(out.votes)
            elif isinstance(out, BroadcastCommit):
                actions.append(
                    Gossip(TOPIC_FINALITY, encode_finality("commit", out.justification.to_value()))
                )
            elif isinstance(out, ReportEquivocation):
                proof = out.proof
                if self._first_report(proof.offence_key + proof.first.voter):
                    actions.extend(
                        self._submit_own("report_equivocation", encode_equivocation(proof))
                    )
            elif isinstance(out, NoteVotes):
                j = out.justification
                actions.extend(
                    self._submit_own("note_votes", j.set_id, j.round, list(j.precommits))
                )
            elif isinstance(out, RequestCatchUp):
                tag = self.sync.track(out.peer, "catchup", self._now_ms)
                request = encode_catch_up_request(out.set_id, out.round)
                actions.append(SendRequest(out.peer, PROTOCOL_CATCH_UP, request, tag))
            elif isinstance(out, FetchBlock):
                self.sync.want_block(out.peer, out.block_hash, out.number)
        if votes:
            actions.append(
                Gossip(TOPIC_FINALITY, encode_finality("votes", [v.to_value() for v in votes]))
            )
        return actions

    def _note_slot(self, header: Header) -> None:
        """Remember who sealed which slot, to catch an author sealing two blocks for one."""
        key = (header.digest.slot, header.digest.author)
        seen = self._seen_slots.get(key)
        if seen is None:
            if len(self._seen_slots) >= _SEEN_SLOTS:
                del self._seen_slots[next(iter(self._seen_slots))]
            self._seen_slots[key] = header
        elif seen.hash != header.hash:
            self._offences.append(SlotEquivocation(seen, header))

    def _note_slot_if_sealed(self, header: Header) -> None:
        if (
            header.digest.author in self.authority_set_after(self.store.finalized_hash).keys
            and header.seal_is_valid()
        ):
            self._note_slot(header)

    def _offence_actions(self) -> list[Action]:
        actions: list[Action] = []
        offences, self._offences = self._offences, []
        for proof in offences:
            log.warning(
                "authority 0x%s sealed two blocks for slot %d",
                proof.first.digest.author.hex()[:16],
                proof.slot,
            )
            if self._first_report(proof.offence_key + proof.first.digest.author):
                actions.extend(self._submit_own("report_equivocation", encode_equivocation(proof)))
        return actions

    def _first_report(self, key: bytes) -> bool:
        """Whether offence `key` is new here (each is reported once)."""
        if key in self._reported:
            return False
        self._reported.add(key)
        return True

    def _submit_own(self, name: str, *args: Any) -> list[Action]:
        """Sign `staking.<name>(args)` with the authority key and pool it, as this node's own."""
        if self.authority is None:
            return []
        finalized = self.store.finalized_header
        try:
            tx = sign_transaction(
                self.authority,
                make_call("staking", name, *args),
                nonce=self.next_nonce(self.authority.public),
                genesis_hash=self.genesis_hash,
                mortality=Mortality(OWN_TX_MORTALITY, finalized.number),
                birth_hash=finalized.hash,
            )
            _tx, actions = self.submit_transaction(tx.raw, self._now_ms)
        except (ValueError, DecodeError, InvalidTransaction, PoolError) as exc:
            log.warning("staking.%s could not be pooled: %s", name, exc)
            return []
        log.debug("pooled staking.%s in transaction 0x%s", name, tx.hash.hex())
        return actions

    # Authoring

    @_collection_paused()
    def _author(
        self, parent: Header, slot: int, slot_ms: int, author: Keypair, now_ms: int
    ) -> list[Action]:
        cache = self._best_cache()
        builder = BlockBuilder(
            self.reader(parent.hash),
            parent,
            timestamp=slot * slot_ms,
            author=author.public,
            genesis_hash=self.genesis_hash,
            cache=cache,
        )
        dropped: list[Removed] = []
        ready = self.pool.ready()
        misses = 0
        for item in ready:
            try:
                builder.push(item.tx)
                misses = 0
            except InvalidTransaction as exc:
                ready.skip_account(item.valid.signer)
                if exc.kind == "exhausts_resources":
                    misses += 1
                    if misses >= MAX_FULL_BLOCK_MISSES:
                        break
                    continue
                self.pool.remove(item.tx.hash)
                self.pool.ban(item.tx.hash, now_ms)
                dropped.append(Removed(item.tx, "invalid", str(exc)))
            except Exception:  # a runtime bug must cost one transaction, not the node
                log.exception("transaction 0x%s broke the runtime", item.tx.hash.hex())
                ready.skip_account(item.valid.signer)
                self.pool.remove(item.tx.hash)
                self.pool.ban(item.tx.hash, now_ms)
                dropped.append(Removed(item.tx, "invalid", "the runtime failed on it"))
        executed = seal_block(
            self.store, parent, builder.finish(), builder.extrinsics, slot=slot, author=author
        )
        actions = self._dropped(dropped)
        actions.append(Gossip(TOPIC_BLOCKS, BlockAnnounce.of(executed.block).encode()))
        self._note_slot(executed.block.header)
        actions.extend(self._persist(executed, authored=True, now_ms=now_ms, cache=cache))
        actions.extend(self._voter_actions(self.voter.on_block_imported(now_ms)))
        log.info(
            "authored block #%d with %d transactions",
            executed.block.header.number,
            len(executed.block.extrinsics),
        )
        return actions

    # Persisting and what follows

    def _persist(
        self,
        executed: ExecutedBlock,
        *,
        authored: bool,
        now_ms: int,
        cache: dict[bytes, Any] | None,
        justification: bytes | None = None,
    ) -> list[Action]:
        block = executed.block
        header = block.header
        old_best = self.store.best_header
        # Only a block off the best chain, or finality, can retract blocks: read what they held
        # now, since finality may delete abandoned blocks.
        reorg_possible = header.parent_hash != old_best.hash or justification is not None
        old_segment = self._unfinalized_best_chain() if reorg_possible else []
        newly_final = self.store.import_block(
            block,
            executed.result.changes,
            executed.commit,
            make_best=header.number > old_best.number,
            justification=justification,
        )
        return self._follow(
            old_best,
            old_segment,
            newly_final,
            now_ms,
            imported=executed,
            authored=authored,
            cache=cache,
        )

    def _follow(
        self,
        old_best: Header,
        old_segment: list[tuple[int, bytes, tuple[bytes, ...]]],
        newly_final: list[bytes],
        now_ms: int,
        *,
        imported: ExecutedBlock | None = None,
        authored: bool = False,
        cache: dict[bytes, Any] | None = None,
    ) -> list[Action]:
        """The actions after the store changed: new best, reorg, finality, pool upkeep."""
        new_best = self.store.best_header
        actions: list[Action] = []
        retracted: list[tuple[bytes, tuple[bytes, ...]]] = []
        enacted: list[tuple[Header, tuple[bytes, ...]]] = []
        if new_best.hash != old_best.hash:
            if new_best.parent_hash == old_best.hash:
                enacted = [(new_best, self._extrinsics_of(new_best.hash, imported))]
            else:
                retracted, enacted = self._reorg_route(old_segment, new_best)
            if imported is not None and new_best.hash == imported.block.hash and cache is not None:
                cache.update(imported.result.context.state.committed_values())
                self._warm_hash = new_best.hash

        def hashes_of(block_hash: bytes, extrinsics: tuple[bytes, ...]) -> tuple[bytes, ...]:
            if imported is not None and imported.block.hash == block_hash:
                return imported.result.tx_hashes
            return tuple(blake2b_256(raw) for raw in extrinsics)

        if imported is not None and all(h.hash != imported.block.hash for h, _ in enacted):
            header = imported.block.header
            hashes = imported.result.tx_hashes
            actions.append(BlockImported(header, hashes, best=False, authored=authored))
        for retracted_hash, extrinsics in retracted:
            actions.append(Retracted(retracted_hash, hashes_of(retracted_hash, extrinsics)))
        included: set[bytes] = set()
        for enacted_header, extrinsics in enacted:
            hashes = hashes_of(enacted_header.hash, extrinsics)
            included.update(hashes)
            mine = authored and imported is not None and enacted_header.hash == imported.block.hash
            actions.append(BlockImported(enacted_header, hashes, best=True, authored=mine))
        if newly_final:
            actions.append(Finalized(tuple(self.store.require_header(h) for h in newly_final)))
        if new_best.hash != old_best.hash:
            simple = (
                imported is not None
                and new_best.hash == imported.block.hash
                and new_best.parent_hash == old_best.hash
            )
            changes = imported.result.changes if simple and imported is not None else None
            actions.extend(self._update_pool(new_best, changes, included, now_ms))
            for _, extrinsics in retracted:
                self._resubmit(extrinsics, now_ms)
        return actions

    def _extrinsics_of(
        self, block_hash: bytes, imported: ExecutedBlock | None
    ) -> tuple[bytes, ...]:
        if imported is not None and imported.block.hash == block_hash:
            return imported.block.extrinsics
        return self.store.body(block_hash) or ()

    def _unfinalized_best_chain(self) -> list[tuple[int, bytes, tuple[bytes, ...]]]:
        """(number, hash, extrinsics) of the best chain's unfinalized blocks, oldest first."""
        segment = []
        header = self.store.best_header
        finalized = self.store.finalized_hash
        while header.hash != finalized and header.number > 0:
            segment.append((header.number, header.hash, self.store.body(header.hash) or ()))
            header = self.store.require_header(header.parent_hash)
        segment.reverse()
        return segment

    def _reorg_route(
        self, old_segment: list[tuple[int, bytes, tuple[bytes, ...]]], new_best: Header
    ) -> tuple[list[tuple[bytes, tuple[bytes, ...]]], list[tuple[Header, tuple[bytes, ...]]]]:
        """Blocks that left the best chain and blocks that joined it, oldest first."""
        retracted = [(h, body) for n, h, body in old_segment if self.store.hash_at(n) != h]
        first_new = min((n for n, h, _ in old_segment if self.store.hash_at(n) != h), default=None)
        if first_new is None:
            first_new = old_segment[-1][0] + 1 if old_segment else new_best.number
        enacted = []
        for number in range(first_new, new_best.number + 1):
            h = self.store.hash_at(number)
            if h is None:
                continue
            enacted.append((self.store.require_header(h), self.store.body(h) or ()))
        return retracted, enacted

    def _resubmit(self, extrinsics: Sequence[bytes], now_ms: int) -> None:
        """Put a retracted block's transactions back in the pool, quietly skipping invalid ones."""
        for raw in extrinsics:
            try:
                tx = SignedTransaction.decode(raw)
                self.pool.check_admissible(tx, now_ms)
                valid = validate_transaction(
                    self.reader(),
                    self.store.best_header,
                    tx,
                    genesis_hash=self.genesis_hash,
                    check_signature=False,
                    cache=self._best_cache(),
                )
                self.pool.add(tx, valid, now_ms)
            except (DecodeError, InvalidTransaction, PoolError):
                continue

    def _update_pool(
        self,
        header: Header,
        changes: dict[bytes, bytes | None] | None,
        included: set[bytes],
        now_ms: int,
    ) -> list[Action]:
        """Tell the pool about a new best block; `changes` are its state changes when it simply
        extends the old best (otherwise every pooled account is revalidated)."""
        state = StateOverlay(self.reader(header.hash), self._best_cache())
        if changes is not None:
            touched = {
                signer for signer in self.pool.signers() if system.Account.key(signer) in changes
            }
        else:
            touched = set(self.pool.signers())

        def revalidate(tx: SignedTransaction) -> Any:
            try:
                return validate_transaction(
                    self.reader(header.hash),
                    header,
                    tx,
                    genesis_hash=self.genesis_hash,
                    check_signature=False,
                    cache=self._best_cache(),
                )
            except InvalidTransaction as exc:
                return str(exc)

        removed = self.pool.update_for_block(
            included=included,
            nonce_of=lambda who: system.nonce_of_state(state, who),
            next_number=header.number + 1,
            touched=touched,
            revalidate=revalidate,
            now_ms=now_ms,
        )
        return self._dropped(removed)

    def _next_slot_timer(self, now_ms: int) -> SetTimer:
        slot_ms = self.slot_duration_ms()
        return SetTimer(SLOT_TIMER, (aura.slot_at(now_ms, slot_ms) + 1) * slot_ms)

    @staticmethod
    def _dropped(removed: Sequence[Removed]) -> list[Action]:
        return [TxDropped(r.tx.hash, r.status, r.reason) for r in removed]


__all__ = ["NodeCore", "PoolError"]
