"""Sync's exchanges with peers: the requests `chain.core.sync.Sync` decides on, sent as actions,
and the answers to them, imported (blocks, justifications) or handed on (status, catch-up).

What an answer costs its peer: a status claiming a best block that could not have been authored
by now (allowing for CLOCK_SKEW_MS), COST_IMPOSSIBLE_BEST; a range answer of blocks that bring
nothing above our best (blocks we hold, or blocks that do not attach even from our finalized
block), COST_USELESS; a bad block, COST_BAD_BLOCK. An empty range answer costs nothing (an honest
peer gives one when its best moved to a shorter chain, or when it relayed a block it does not hold
yet), but like any answer that brings nothing it makes sync forget the peer's claim and doubt it
(`chain.core.sync`). A fetch by hash answered with the block's true ancestry costs nothing even if
it does not reach our chain: we asked for too few ancestors; one that is not that ancestry costs
COST_BAD_RESPONSE.
"""

from __future__ import annotations

import itertools
from typing import Final

from chain.core.actions import Action, ReportPeer, SendRequest
from chain.core.boundary import NodeInputs
from chain.core.grandpa import GrandpaVoter
from chain.core.importer import AlreadyKnown, BlockRejected, UnknownParent, consensus_params
from chain.core.inbound import COST_BAD_BLOCK, COST_BAD_RESPONSE, COST_USELESS
from chain.core.messages import (
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    SYNC_RESPONSE_BYTES,
    Status,
    SyncedBlock,
    decode_blocks,
)
from chain.core.offences import Offences
from chain.core.sync import Pending, Sync, highest_possible_block
from chain.core.view import CoreView
from chain.core.voter_messages import CatchUp, Neighbour, Verdict
from chain.core.voting import VoterGlue
from runtime.block import Block

COST_IMPOSSIBLE_BEST: Final = 50
"""A status whose best block is above `highest_possible_block` even with CLOCK_SKEW_MS more on our
clock. Status is asked every STATUS_INTERVAL_MS, so a peer that keeps claiming one is banned after
its second."""
CLOCK_SKEW_MS: Final = 60_000
"""How far ahead of ours a peer's clock may run before a best block that only its clock allows is
charged as a lie (above `highest_possible_block` it is capped either way): our own clock running
late must not make us charge every honest peer."""


def is_ancestry(blocks: list[SyncedBlock], block_hash: bytes) -> bool:
    """Whether `blocks` (oldest first) are the block `block_hash` and its parents, in order."""
    if not blocks or blocks[-1].header.hash != block_hash:
        return False
    return all(
        older.header.hash == newer.header.parent_hash for older, newer in itertools.pairwise(blocks)
    )


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

    def highest_possible_block(self, now_ms: int) -> int:
        """The highest block a peer's chain can have reached by now (`sync.highest_possible_block`),
        with the shorter of the slot durations at our finalized and best blocks."""
        store = self.view.store
        finalized = store.finalized_header
        slot_ms = min(
            consensus_params(store, finalized.hash).slot_duration_ms,
            consensus_params(store, store.best_hash).slot_duration_ms,
        )
        return highest_possible_block(finalized.number, finalized.digest.slot, now_ms, slot_ms)

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
            cap = self.highest_possible_block(now_ms)
            capped = self.sync.on_status(peer, status, cap=cap, now_ms=now_ms)
            if capped and status.best_number > self.highest_possible_block(now_ms + CLOCK_SKEW_MS):
                return [
                    ReportPeer(
                        peer,
                        COST_IMPOSSIBLE_BEST,
                        f"a best block #{status.best_number} above #{cap}, the highest possible",
                    )
                ]
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
            if blocks and not is_ancestry(blocks, pending.key):
                return [ReportPeer(peer, COST_BAD_RESPONSE, "not the ancestry of the block asked")]
        cut_for_size = len(data) >= SYNC_RESPONSE_BYTES // 2
        return self.import_synced(peer, pending, blocks, now_ms, cut_for_size=cut_for_size)

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
        self,
        peer: str,
        pending: Pending,
        blocks: list[SyncedBlock],
        now_ms: int,
        *,
        cut_for_size: bool = False,
    ) -> list[Action]:
        """Import blocks a peer sent, oldest first, with their justifications.

        A range answer must bring something: a block imported, or one above our best when we
        asked (held by now: it came another way meanwhile); else the peer's claim is forgotten,
        and blocks that bring nothing are charged. An answer short of what was asked, and too
        small to have been cut for its size (`cut_for_size`: the serving node's estimate of the
        size is rough), tells where the peer's chain ends. (A bad block or a block without its
        body costs more, enough to have the peer banned.)
        """
        actions: list[Action] = []
        imported = 0
        highest = 0  # the highest block of the answer that is now held here
        is_range = pending.kind == "range"
        for i, synced in enumerate(blocks):
            header = synced.header
            if synced.body is None:
                return [*actions, ReportPeer(peer, COST_BAD_RESPONSE, "a block without its body")]
            if header.number <= self.view.store.finalized_header.number:
                if self.view.store.header(header.hash) is not None:
                    highest = max(highest, header.number)  # it came another way meanwhile
                continue
            after = blocks[i + 1] if i + 1 < len(blocks) else None
            try:
                actions.extend(
                    self.inputs.import_block(
                        Block(header, synced.body),
                        now_ms,
                        justification=synced.justification,
                        next_block=(
                            None
                            if after is None or after.body is None
                            else Block(after.header, after.body)
                        ),
                    )
                )
                imported += 1
                highest = max(highest, header.number)
            except AlreadyKnown:
                highest = max(highest, header.number)
                continue
            except UnknownParent:
                if is_range:
                    if i == 0 and self.sync.forked(peer):
                        return actions
                    self.sync.range_failed(peer, now_ms)
                elif i == 0:
                    return actions  # its true ancestry, but we asked for too few: the gap is ours
                return [*actions, ReportPeer(peer, COST_USELESS, "blocks that do not attach")]
            except BlockRejected as exc:
                self.offences.note_slot_if_sealed(header)
                return [
                    *actions,
                    ReportPeer(peer, COST_BAD_BLOCK, f"block #{header.number}: {exc}"),
                ]
        if is_range:
            if imported:
                self.sync.attached(peer)
            if imported or highest > pending.best_then:
                self.sync.range_backed(peer, highest, round_trip_ms=now_ms - pending.sent_ms)
                if highest < pending.up_to and not cut_for_size:
                    self.sync.range_ended(peer, highest)
            else:
                self.sync.range_failed(peer, now_ms)
                if blocks:
                    actions.append(ReportPeer(peer, COST_USELESS, "a range answer of old blocks"))
        return actions
