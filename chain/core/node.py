"""The node core: a state machine over the chain store, driven by its caller.

Inputs: the start, a timer firing, a transaction submitted, a block received, and from the
network: a peer connecting or leaving, a gossip message, a request, a response. Outputs: a list
of actions (`chain.core.actions`) for the driver: timers, notifications, messages to send. Time
comes in as `now_ms` on every input; the core reads no clock, opens no socket and starts no task,
so the node process, the simulator and tests all run exactly this code. Its one side effect is
writing the chain store. `chain.core.boundary` writes all of this down as typed interfaces.

This module is the input API; the work is done by the parts `NodeCore` composes:

    chain.core.authoring      authoring in this node's Aura slots
    chain.core.inbound        peers' gossip (blocks, transactions, finality) and requests
    chain.core.sync_exchange  sync's requests (`chain.core.sync` decides them) and their answers
    chain.core.voting         the GRANDPA voter's outputs (`chain.core.voter_messages`) as actions
    chain.core.offences       equivocations caught and reported, votes noted on chain
    chain.core.chain_updates  blocks and finality written to the store, and what follows
    chain.core.pool_upkeep    the transaction pool admitted to and repaired after each new best
    chain.core.tx_gossip      this node's transactions gossiped in batches
    chain.core.view           the store with the core's caches, read by all of them

What the core tells peers and what it accepts from them is in `chain.core.messages`; every
message from a peer is checked, and one that breaks the rules is refused and costs the peer its
score.

A store that fails (`chain.storage.kv.StoreError`: no space left, an I/O error) halts the core:
the step that hit it ends there, with nothing of it announced but what was written before the
failure (a block whose write failed is neither imported nor gossiped, a vote whose record failed
is not sent), and until `resume` every input is a no-op that writes nothing (blocks and votes
from peers are ignored, not relayed; local transactions and imports are refused with
StoreUnavailable). The store advances its own memory only after a write succeeds, so it never
runs ahead of the disk; `resume` rebuilds the other parts (the voter, the caches, the offences)
from the store, as a restart would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, NoReturn, TypeVar

from chain.core.actions import Action, ReportPeer, SetTimer
from chain.core.authoring import Authoring
from chain.core.boundary import (
    GOSSIP_TIMER,
    SLOT_TIMER,
    TICK_TIMER,
    NodeInputs,
    NodeView,
    RequestRefused,
)
from chain.core.chain_updates import ChainUpdates
from chain.core.checks_ahead import check_ahead
from chain.core.finality import InvalidJustification, Justification, decode_and_verify
from chain.core.gc_pause import collection_paused
from chain.core.grandpa import GrandpaVoter
from chain.core.grinding import Grinding
from chain.core.importer import BadJustification, BlockExecutor, verify_and_execute
from chain.core.inbound import COST_BAD_RESPONSE, COST_UNDECODABLE, Inbound
from chain.core.messages import (
    TOPIC_BLOCKS,
    TOPIC_FINALITY,
    TOPIC_TRANSACTIONS,
    BlockAnnounce,
    Status,
    decode_transactions,
)
from chain.core.offences import Offences
from chain.core.pool import PoolError, TransactionPool
from chain.core.pool_upkeep import PoolUpkeep
from chain.core.sync import Sync
from chain.core.sync_exchange import SyncExchange
from chain.core.tx_gossip import TransactionOutbox
from chain.core.view import CoreView
from chain.core.voter_messages import Verdict, VoterOutput
from chain.core.voting import VoterGlue
from chain.storage.chain_store import ChainStore
from chain.storage.kv import StoreError, StoreUnavailable
from runtime.block import Block, Header
from runtime.consensus import SignatureCheck
from runtime.executive import CheckedAhead, CheckedSignatures, SignatureVerifier, SkipChecked
from runtime.pallets import system
from runtime.pallets.session import AuthoritySet
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import Keypair, verify
from runtime.state import StateOverlay, StateReader
from runtime.transaction import DecodedTransactions, SignedTransaction

log = logging.getLogger("xpl.core")

TICK_MS: Final = 500
"""Upkeep: votes sent again, sync requests, peers' status."""

T = TypeVar("T")


class NodeCore(NodeInputs, NodeView):
    """One node's consensus, import, authoring, finality, sync and transaction pool, without I/O."""

    def __init__(
        self,
        store: ChainStore,
        *,
        authority: Keypair | None = None,
        pool: TransactionPool | None = None,
        verifier: SignatureVerifier | None = None,
        equivocate: bool = False,
        grinding: Grinding | None = None,
        executor: BlockExecutor | None = None,
        check_signature: SignatureCheck = verify,
    ) -> None:
        self.store = store
        self.authority = authority
        self.pool = TransactionPool() if pool is None else pool
        self.verifier = verifier
        self.checked_signatures = CheckedSignatures()
        """Signatures the pool found valid: a block holding them does not have them checked
        again (keyed by the exact triple checked; see `CheckedSignatures` for why that is safe)."""
        self.decoded_transactions = DecodedTransactions()
        """Transactions the pool decoded: a block holding them does not decode them again."""
        self.executor = executor
        """Executes imported blocks (None: `importer.execute_and_commit`, here)."""
        self.check_signature = check_signature
        """Checks the finality votes' signatures (a simulator's nodes share what they checked)."""
        self._equivocate = equivocate
        self._grinding = grinding
        self._now_ms = 0
        self.storage_fault: StoreError | None = None
        """The store failure that halted the core; None while the store works."""
        self._depth = 0
        """How many inputs are running (inputs call each other; the outermost catches a fault)."""
        self._outbox = TransactionOutbox()
        self._ahead: CheckedAhead | None = None
        """The next block's signature checks, submitted while the last block imported."""
        self.sync = Sync()
        self._assemble(0)

    def _assemble(self, now_ms: int) -> None:
        """Build the parts that keep state beside the store (the voter from its saved state)."""
        store, authority = self.store, self.authority
        self._view = CoreView(store)
        self._upkeep = PoolUpkeep(
            self._view, self.pool, self.checked_signatures, self.decoded_transactions
        )
        self._updates = ChainUpdates(self._view, store, self._upkeep)
        self._offences = Offences(
            self._view, authority, submit=self.submit_transaction, next_nonce=self.next_nonce
        )
        self._voting = VoterGlue(self._updates, self._offences, self.sync)
        self.voter = GrandpaVoter(
            self,
            key=authority,
            now_ms=now_ms,
            saved=store.voter_state(),
            finalize=self._finalize_by_voter,
            persist=store.save_voter_state,
            equivocate=self._equivocate,
            check_signature=self.check_signature,
        )
        self._authoring = Authoring(
            self._view,
            self.pool,
            authority,
            updates=self._updates,
            offences=self._offences,
            after_import=self._after_import,
            grinding=self._grinding,
        )
        self._inbound = Inbound(
            self._view,
            inputs=self,
            status=self.status,
            sync=self.sync,
            voter=self.voter,
            voting=self._voting,
            offences=self._offences,
            upkeep=self._upkeep,
        )
        self._sync_exchange = SyncExchange(
            self._view,
            inputs=self,
            sync=self.sync,
            voter=self.voter,
            voting=self._voting,
            offences=self._offences,
        )

    # Reading

    @property
    def genesis_hash(self) -> bytes:
        return self._view.genesis_hash

    @property
    def best_header(self) -> Header:
        return self._view.best_header

    @property
    def finalized_header(self) -> Header:
        return self._view.finalized_header

    def header(self, block_hash: bytes) -> Header | None:
        """The header of a block this node stores, or None."""
        return self._view.header(block_hash)

    def reader(self, block_hash: bytes | None = None) -> StateReader:
        """Read the state after `block_hash` (default: the best block)."""
        return self._view.reader(block_hash)

    def authority_set_after(self, block_hash: bytes) -> AuthoritySet:
        """The authority set in the state after `block_hash` (it authors and finalizes children)."""
        return self._view.authority_set_after(block_hash)

    def slot_duration_ms(self) -> int:
        """The Aura slot length (ms) that the best block's state sets for its children."""
        return self._authoring.slot_duration_ms()

    def validators(self) -> tuple[bytes, ...]:
        """The session keys of the authorities that author the best block's children."""
        return self.authority_set_after(self.store.best_hash).keys

    def next_nonce(self, who: bytes) -> int:
        """The nonce for a new transaction from `who`: its account nonce plus its pooled ones."""
        state = StateOverlay(self.reader(), self._view.best_cache())
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
        return self._guarded(lambda: self._start(now_ms), self._halted_actions)

    def _start(self, now_ms: int) -> list[Action]:
        actions: list[Action] = [
            self._authoring.next_slot_timer(now_ms),
            SetTimer(TICK_TIMER, now_ms + TICK_MS),
        ]
        actions.extend(self._voter_actions(self.voter.on_block_imported(now_ms)))
        return self._with_pending(actions)

    def on_timer(self, name: str, now_ms: int) -> list[Action]:
        """A timer armed by SetTimer fired: a slot, the upkeep tick, or the transaction batch.

        While halted the slot and tick timers are not armed again (`resume` arms them); the
        transaction batch still goes out, as it reads and writes nothing of the store."""
        self._now_ms = now_ms
        if name == GOSSIP_TIMER:
            return self._outbox.on_timer()
        return self._guarded(lambda: self._on_timer(name, now_ms), self._halted_actions)

    def _on_timer(self, name: str, now_ms: int) -> list[Action]:
        if name == SLOT_TIMER:
            return self._with_pending(self._authoring.on_slot(now_ms))
        if name == TICK_TIMER:
            actions = self._voter_actions(self.voter.on_timer(now_ms))
            actions.extend(self._sync_exchange.requests(now_ms))
            actions.append(SetTimer(TICK_TIMER, now_ms + TICK_MS))
            return self._with_pending(actions)
        raise ValueError(f"unknown timer {name!r}")

    def submit_transaction(self, raw: bytes, now_ms: int) -> tuple[SignedTransaction, list[Action]]:
        """Admit a local transaction to the pool and gossip it; raises DecodeError,
        InvalidTransaction or PoolError (StoreUnavailable while halted)."""
        self._now_ms = now_ms
        return self._guarded(lambda: self._submit_transaction(raw, now_ms), self._refuse)

    def _submit_transaction(
        self, raw: bytes, now_ms: int
    ) -> tuple[SignedTransaction, list[Action]]:
        tx, actions = self._upkeep.admit(raw, now_ms)
        actions.extend(self._outbox.add(tx.raw, now_ms))
        return tx, actions

    @collection_paused()
    def import_block(
        self,
        block: Block,
        now_ms: int,
        *,
        justification: bytes | None = None,
        next_block: Block | None = None,
    ) -> list[Action]:
        """Import a block from elsewhere; raises BlockRejected (or a subclass) if it is refused,
        StoreUnavailable while halted.

        With a justification (a block served by sync, say) the block is also made final, once
        the justification is checked against the authority set. `next_block`: the block to be
        imported after this one (the next of a sync range), whose signature checks the
        verification workers then start while this one imports (`chain.core.checks_ahead`).
        """
        self._now_ms = now_ms
        return self._guarded(
            lambda: self._import_block(block, now_ms, justification, next_block), self._refuse
        )

    def _import_block(
        self, block: Block, now_ms: int, justification: bytes | None, next_block: Block | None
    ) -> list[Action]:
        parent_hash = block.header.parent_hash
        # Checks submitted ahead for another block than this are dropped here (a no-op once used).
        ahead, self._ahead = self._ahead, None
        try:
            if justification is not None and self.store.header(block.hash) is not None:
                return self.finalize_block(block.hash, justification, now_ms)
            cache = self._view.best_cache() if parent_hash == self.store.best_hash else None
            verifier = SkipChecked(self.checked_signatures, self.verifier)

            def submit_next() -> None:
                if next_block is not None and self.verifier is not None:
                    try:
                        self._ahead = check_ahead(
                            self.store, next_block, block, verifier, self.decoded_transactions
                        )
                    except Exception:  # the next block's trouble must not refuse this one
                        log.exception("could not check block #%d ahead", next_block.header.number)

            executed = verify_and_execute(
                self.store,
                block,
                now_ms=now_ms,
                verifier=verifier,
                cache=cache,
                executor=self.executor,
                decoded=self.decoded_transactions,
                ahead=ahead,
                after_submit=submit_next,
            )
        finally:
            if ahead is not None:
                ahead.pending.cancel()
        self._offences.note_slot(block.header)
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
        actions = self._updates.persist(
            executed, authored=False, now_ms=now_ms, cache=cache, justification=justification
        )
        if justification is not None:
            actions.extend(self._voter_actions(self.voter.on_finalized(block.header, now_ms)))
        actions.extend(self._voter_actions(self.voter.on_block_imported(now_ms)))
        return self._with_pending(actions)

    def finalize_block(self, block_hash: bytes, justification: bytes, now_ms: int) -> list[Action]:
        """Finalize a stored block given its justification; raises BlockRejected if it is bad."""
        self._now_ms = now_ms
        return self._guarded(
            lambda: self._finalize_block(block_hash, justification, now_ms), self._refuse
        )

    def _finalize_block(self, block_hash: bytes, justification: bytes, now_ms: int) -> list[Action]:
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
        actions = self._updates.finalize_stored(header, justification, now_ms)
        actions.extend(self._voter_actions(self.voter.on_finalized(header, now_ms)))
        return self._with_pending(actions)

    def on_peer_connected(self, peer: str, now_ms: int) -> list[Action]:
        """A peer connected: learn its chain (once resumed, if halted)."""
        self._now_ms = now_ms
        self.sync.add_peer(peer)
        return self._guarded(lambda: self._on_peer_connected(peer, now_ms), self._halted_actions)

    def _on_peer_connected(self, peer: str, now_ms: int) -> list[Action]:
        actions = self._voter_actions(self.voter.on_peer_connected(peer, now_ms))
        return actions + self._sync_exchange.requests(now_ms)

    def on_peer_disconnected(self, peer: str) -> None:
        """A peer left: forget its chain and the requests in flight to it."""
        self.sync.remove_peer(peer)
        self.voter.on_peer_disconnected(peer)

    def on_gossip(
        self, peer: str, topic: str, data: bytes, now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        """A gossip message from `peer`, checked before the network relays it (ACCEPT only);
        ignored while halted."""
        self._now_ms = now_ms
        return self._guarded(
            lambda: self._on_gossip(peer, topic, data, now_ms),
            lambda: (Verdict.IGNORE, self._halted_actions()),
        )

    def _on_gossip(
        self, peer: str, topic: str, data: bytes, now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        inbound = self._inbound
        try:
            if topic == TOPIC_BLOCKS:
                verdict, actions = inbound.on_block(peer, BlockAnnounce.decode(data), now_ms)
            elif topic == TOPIC_TRANSACTIONS:
                verdict, actions = inbound.on_transactions(peer, decode_transactions(data), now_ms)
            elif topic == TOPIC_FINALITY:
                verdict, actions = inbound.on_finality(peer, data, now_ms)
            else:
                return Verdict.REJECT, [
                    ReportPeer(peer, COST_UNDECODABLE, f"unknown topic {topic}")
                ]
        except DecodeError as exc:
            return Verdict.REJECT, [ReportPeer(peer, COST_UNDECODABLE, f"{topic}: {exc}")]
        actions.extend(self._sync_exchange.requests(now_ms))
        return verdict, self._with_pending(actions)

    def on_request(self, peer: str, protocol: str, data: bytes, now_ms: int) -> bytes:
        """Answer a peer's request; RequestRefused (or DecodeError) if it cannot be answered."""
        self._now_ms = now_ms
        return self._guarded(lambda: self._inbound.answer(peer, protocol, data), self._busy)

    def on_response(self, peer: str, tag: int, data: bytes | None, now_ms: int) -> list[Action]:
        """The answer to request `tag` (None: it failed or timed out); dropped while halted."""
        self._now_ms = now_ms
        return self._guarded(
            lambda: self._on_response(peer, tag, data, now_ms),
            lambda: self._drop_response(tag),
        )

    def _on_response(self, peer: str, tag: int, data: bytes | None, now_ms: int) -> list[Action]:
        pending = self.sync.finish(tag)
        if pending is None:
            return []
        actions: list[Action] = []
        if data is None:
            log.debug("%s request to %s failed", pending.kind, peer)
            self.voter.on_request_failed(peer, pending.kind, now_ms)
            self.sync.unanswered(pending, now_ms)
        else:
            try:
                actions.extend(self._sync_exchange.on_answer(peer, pending, data, now_ms))
            except DecodeError as exc:
                actions.append(ReportPeer(peer, COST_BAD_RESPONSE, f"{pending.kind}: {exc}"))
        actions.extend(self._sync_exchange.requests(now_ms))
        return self._with_pending(actions)

    # Storage faults

    def halt(self, fault: StoreError) -> None:
        """Stop writing: the store failed (here, or where the caller wrote to it)."""
        if self.storage_fault is None:
            self.storage_fault = fault

    def resume(self, now_ms: int) -> list[Action]:
        """Carry on after a halt, once the store was reopened and reloaded
        (`ChainStore.reload`): rebuild what may have run ahead of the disk from it, repair the
        pool against the best state, and start again as a restart does."""
        self._now_ms = now_ms
        self.storage_fault = None
        self._voting.take_pending()

        def restart() -> list[Action]:
            self._assemble(now_ms)
            actions = self._start(now_ms)
            for peer in list(self.sync.peers):
                actions.extend(self._voter_actions(self.voter.on_peer_connected(peer, now_ms)))
            best = self.store.best_header
            actions.extend(self._upkeep.update_pool(best, None, set(), now_ms))
            return self._with_pending(actions)

        return self._guarded(restart, self._halted_actions)

    def _guarded(self, step: Callable[[], T], halted: Callable[[], T]) -> T:
        """Run an input's `step`, or `halted` if the store failed before or during it."""
        if self.storage_fault is not None:
            return halted()
        if self._depth:
            return step()
        self._depth += 1
        try:
            return step()
        except StoreError as exc:
            self.halt(exc)
            return halted()
        finally:
            self._depth -= 1

    def _halted_actions(self) -> list[Action]:
        """While halted: only what finalizations written before the failure still owe."""
        return self._voting.take_pending()

    def _refuse(self) -> NoReturn:
        raise StoreUnavailable(
            f"the node's database failed and is being recovered: {self.storage_fault}"
        )

    def _busy(self) -> NoReturn:
        raise RequestRefused("the node's database failed and is being recovered")

    def _drop_response(self, tag: int) -> list[Action]:
        self.sync.finish(tag)
        return self._halted_actions()

    # What every input ends with

    def _voter_actions(self, outputs: list[VoterOutput]) -> list[Action]:
        return self._voting.actions(outputs, self._now_ms)

    def _after_import(self, now_ms: int) -> list[Action]:
        """What the voter makes of a block just imported (or authored)."""
        return self._voter_actions(self.voter.on_block_imported(now_ms))

    def _finalize_by_voter(self, header: Header, justification: Justification) -> None:
        """The voter's callback: its round proved `header` final."""
        self._voting.finalized(header, justification, self._now_ms)

    def _with_pending(self, actions: list[Action]) -> list[Action]:
        """`actions`, then the reports of offences noticed while they were computed.

        What the voter's callback did is normally carried by `_voter_actions` right after the
        step that caused it; anything still waiting (a step cut short by an error) goes first.
        """
        pending = self._voting.take_pending()
        if pending:
            actions = pending + actions
        if self._offences.pending:
            actions = actions + self._offences.report_pending(self._now_ms)
        return actions


__all__ = ["NodeCore", "PoolError", "RequestRefused"]
