"""What peers send this node unasked: gossip of blocks, transactions and finality (votes and
commits), and requests. Every message is checked; one that breaks the rules is refused and costs
the peer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from chain.core.actions import Action, ReportPeer
from chain.core.boundary import NodeInputs, RequestRefused
from chain.core.finality import Justification
from chain.core.grandpa import GrandpaVoter
from chain.core.importer import AlreadyKnown, BlockRejected
from chain.core.messages import (
    PROTOCOL_CATCH_UP,
    PROTOCOL_NEIGHBOUR,
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    BlockAnnounce,
    BlockRequest,
    Status,
    decode_catch_up_request,
    decode_finality,
    encode_blocks,
)
from chain.core.offences import Offences
from chain.core.pool_upkeep import PoolUpkeep
from chain.core.serving import serve_blocks
from chain.core.sync import Sync
from chain.core.tx_gossip import take_batch
from chain.core.view import CoreView
from chain.core.voter_messages import Neighbour, PrimaryProposal, Verdict, votes_from_value
from chain.core.voting import VoterGlue
from runtime.block import Block

# What a peer's bad message costs it (the network bans a peer whose score falls far enough).
COST_UNDECODABLE: Final = 100
COST_BAD_BLOCK: Final = 200
COST_BAD_VOTE: Final = 100
COST_BAD_RESPONSE: Final = 100
COST_USELESS: Final = 10
COST_STALE_BLOCK: Final = 10


class Inbound:
    """Checks and takes in peers' gossip, and answers their requests."""

    def __init__(
        self,
        view: CoreView,
        *,
        inputs: NodeInputs,
        status: Callable[[], Status],
        sync: Sync,
        voter: GrandpaVoter,
        voting: VoterGlue,
        offences: Offences,
        upkeep: PoolUpkeep,
    ) -> None:
        self.view = view
        self.inputs = inputs
        """The core's own inputs: a gossiped block is imported as any other block is."""
        self.status = status
        self.sync = sync
        self.voter = voter
        self.voting = voting
        self.offences = offences
        self.upkeep = upkeep

    def on_block(
        self, peer: str, announce: BlockAnnounce, now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        """A gossiped block: import it, or fetch it (or its ancestors) if it cannot be yet."""
        header = announce.header
        store = self.view.store
        finalized = store.finalized_header
        if store.header(header.hash) is not None:
            return Verdict.IGNORE, []
        if header.number <= finalized.number:
            # Refused and charged, a little: a node that fell behind on finality may still build
            # on an abandoned fork until it syncs. Its seal still counts as evidence.
            self.offences.note_slot_if_sealed(header)
            return Verdict.IGNORE, [
                ReportPeer(
                    peer, COST_STALE_BLOCK, "a block that conflicts with the finalized chain"
                )
            ]
        parent = store.header(header.parent_hash)
        if parent is None:
            # Its author cannot be checked against its slot yet: check what can be.
            if header.digest.author not in self.view.authority_set_after(finalized.hash).keys:
                return Verdict.REJECT, [
                    ReportPeer(peer, COST_BAD_BLOCK, "a block by an unknown author")
                ]
            if not header.seal_is_valid():
                return Verdict.REJECT, [ReportPeer(peer, COST_BAD_BLOCK, "a block with a bad seal")]
            self.offences.note_slot(header)
            self.sync.note_block(peer, header.number, header.hash)
            self.sync.want_block(peer, header.hash, header.number)
            return Verdict.ACCEPT, []
        self.sync.note_block(peer, header.number, header.hash)
        if announce.body is None:
            self.sync.want_block(peer, header.hash, header.number)
            return Verdict.ACCEPT, []
        try:
            actions = self.inputs.import_block(Block(header, announce.body), now_ms)
        except AlreadyKnown:
            return Verdict.IGNORE, []
        except BlockRejected as exc:
            self.offences.note_slot_if_sealed(header)
            return Verdict.REJECT, [
                ReportPeer(peer, COST_BAD_BLOCK, f"block #{header.number}: {exc}")
            ]
        return Verdict.ACCEPT, actions

    def on_transactions(
        self, peer: str, extrinsics: tuple[bytes, ...], now_ms: int
    ) -> tuple[Verdict, list[Action]]:
        """A gossiped batch of transactions: pool the valid ones, relay the batch if any was new,
        and charge the sender for what was refused (see `chain.core.tx_gossip`)."""
        taken = take_batch(self.upkeep, peer, extrinsics, now_ms)
        if taken.bad:
            return Verdict.REJECT, taken.actions
        return (Verdict.ACCEPT if taken.admitted else Verdict.IGNORE), taken.actions

    def on_finality(self, peer: str, data: bytes, now_ms: int) -> tuple[Verdict, list[Action]]:
        """Gossiped finality votes or a commit, for the voter."""
        kind, payload = decode_finality(data)
        if kind == "votes":
            verdict, outputs = self.voter.on_votes(peer, votes_from_value(payload), now_ms)
        elif kind == "primary":
            proposal = PrimaryProposal.from_value(payload)
            verdict, outputs = self.voter.on_primary(peer, proposal, now_ms)
        else:
            justification = Justification.from_value(payload)
            verdict, outputs = self.voter.on_commit(peer, justification, now_ms)
        actions = self.voting.actions(outputs, now_ms)
        if verdict is Verdict.REJECT:
            actions.append(ReportPeer(peer, COST_BAD_VOTE, f"invalid finality {kind}"))
        return verdict, actions

    def answer(self, peer: str, protocol: str, data: bytes) -> bytes:
        """Answer `peer`'s request; RequestRefused (or DecodeError) if it cannot be answered."""
        if protocol == PROTOCOL_STATUS:
            return self.status().encode()
        if protocol == PROTOCOL_SYNC:
            return encode_blocks(serve_blocks(self.view.store, BlockRequest.decode(data)))
        if protocol == PROTOCOL_CATCH_UP:
            set_id, round_ = decode_catch_up_request(data)
            catch_up = self.voter.catch_up_for(set_id, round_)
            if catch_up is None:
                raise RequestRefused(f"no completed round at or after {round_} of set {set_id}")
            return catch_up.encode()
        if protocol == PROTOCOL_NEIGHBOUR:
            if not self.voter.note_neighbour(peer, Neighbour.decode(data)):
                raise RequestRefused("a neighbour packet past the last round")
            return self.voter.neighbour_packet().encode()
        raise RequestRefused(f"unknown protocol {protocol}")
