"""Sync's exchanges with peers: the requests `chain.core.sync.Sync` decides on, sent as actions,
and the answers to them, imported (blocks, justifications) or handed on (status, catch-up)."""

from __future__ import annotations

from chain.core.actions import Action, ReportPeer, SendRequest
from chain.core.boundary import NodeInputs
from chain.core.grandpa import GrandpaVoter
from chain.core.importer import AlreadyKnown, BlockRejected, UnknownParent
from chain.core.inbound import COST_BAD_BLOCK, COST_BAD_RESPONSE, COST_USELESS
from chain.core.messages import PROTOCOL_STATUS, PROTOCOL_SYNC, Status, SyncedBlock, decode_blocks
from chain.core.offences import Offences
from chain.core.sync import Pending, Sync
from chain.core.view import CoreView
from chain.core.voter_messages import CatchUp, Neighbour, Verdict
from chain.core.voting import VoterGlue
from runtime.block import Block


class SyncExchange:
    """Sends the requests Sync decides on and takes in their answers."""

    def __init__(
        self,
        view: CoreView,
        *,
        inputs: NodeInputs,
        sync: Sync,
        voter: GrandpaVoter,
        voting: VoterGlue,
        offences: Offences,
    ) -> None:
        self.view = view
        self.inputs = inputs
        """The core's own inputs: synced blocks and justifications are imported through them."""
        self.sync = sync
        self.voter = voter
        self.voting = voting
        self.offences = offences

    def requests(self, now_ms: int) -> list[Action]:
        """The requests Sync wants sent now."""
        store = self.view.store
        best, finalized = store.best_header, store.finalized_header
        actions: list[Action] = []
        for peer, tag, _kind, request in self.sync.next_requests(
            best_number=best.number,
            finalized_number=finalized.number,
            has_block=lambda h: store.header(h) is not None,
            is_final=self.is_final,
            now_ms=now_ms,
        ):
            if request is None:
                actions.append(SendRequest(peer, PROTOCOL_STATUS, b"", tag))
            else:
                actions.append(SendRequest(peer, PROTOCOL_SYNC, request.encode(), tag))
        return actions

    def is_final(self, block_hash: bytes) -> bool:
        """Whether `block_hash` is stored and final."""
        store = self.view.store
        header = store.header(block_hash)
        finalized = store.finalized_header
        return (
            header is not None
            and header.number <= finalized.number
            and store.hash_at(header.number) == block_hash
        )

    def on_answer(self, peer: str, pending: Pending, data: bytes, now_ms: int) -> list[Action]:
        """The answer to one of our requests; raises DecodeError if it cannot be decoded."""
        if pending.kind == "status":
            status = Status.decode(data)
            if status.genesis_hash != self.view.genesis_hash:
                return [ReportPeer(peer, COST_BAD_RESPONSE, "the peer is on another chain")]
            self.sync.on_status(peer, status)
            return []
        if pending.kind == "catchup":
            verdict, outputs = self.voter.on_catch_up(peer, CatchUp.decode(data), now_ms)
            actions = self.voting.actions(outputs, now_ms)
            if verdict is Verdict.REJECT:
                actions.append(ReportPeer(peer, COST_BAD_RESPONSE, "an invalid catch-up"))
            return actions
        if pending.kind == "neighbour":
            verdict, outputs = self.voter.on_neighbour(peer, Neighbour.decode(data), now_ms)
            actions = self.voting.actions(outputs, now_ms)
            if verdict is Verdict.REJECT:
                actions.append(ReportPeer(peer, COST_BAD_RESPONSE, "an impossible round"))
            return actions
        blocks = decode_blocks(data)
        if pending.kind == "justification":
            return self.import_justification(peer, pending, blocks, now_ms)
        if pending.kind == "fetch":
            self.sync.fetched(pending.key)
            blocks.reverse()
        return self.import_synced(peer, pending, blocks, now_ms)

    def import_justification(
        self, peer: str, pending: Pending, blocks: list[SyncedBlock], now_ms: int
    ) -> list[Action]:
        """Finalize the block a peer says is final, with the justification it sent."""
        found = next((b for b in blocks if b.header.hash == pending.key), None)
        if found is None or found.justification is None:
            return [ReportPeer(peer, COST_USELESS, "no justification for its finalized block")]
        try:
            return self.inputs.finalize_block(found.header.hash, found.justification, now_ms)
        except BlockRejected as exc:
            return [ReportPeer(peer, COST_BAD_RESPONSE, str(exc))]

    def import_synced(
        self, peer: str, pending: Pending, blocks: list[SyncedBlock], now_ms: int
    ) -> list[Action]:
        """Import blocks a peer sent, oldest first, with their justifications."""
        actions: list[Action] = []
        imported = 0
        for i, synced in enumerate(blocks):
            header = synced.header
            if synced.body is None:
                return [*actions, ReportPeer(peer, COST_BAD_RESPONSE, "a block without its body")]
            if header.number <= self.view.store.finalized_header.number:
                continue
            try:
                actions.extend(
                    self.inputs.import_block(
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
                self.offences.note_slot_if_sealed(header)
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
