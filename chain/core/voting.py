"""The GRANDPA voter's side of the node: what the voter's outputs become, and its finalizations.

The voter (`chain.core.grandpa`) finalizes through a callback while it steps; the actions of that
finalization wait here and go out right after what came before the step, then the voter's
messages follow.
"""

from __future__ import annotations

from collections.abc import Sequence

from chain.core.actions import Action, Gossip, SendRequest
from chain.core.chain_updates import ChainUpdates
from chain.core.finality import Justification
from chain.core.grandpa import VOTES_PER_AUTHORITY_PER_MESSAGE
from chain.core.left_out_votes import LeftOutVotes
from chain.core.messages import (
    PROTOCOL_CATCH_UP,
    PROTOCOL_NEIGHBOUR,
    TOPIC_FINALITY,
    encode_catch_up_request,
    encode_finality,
)
from chain.core.offences import Offences
from chain.core.sync import Sync
from chain.core.voter_messages import (
    AskNeighbour,
    BroadcastCommit,
    BroadcastPrimary,
    BroadcastVotes,
    FetchBlock,
    NoteVotes,
    ReportEquivocation,
    RequestCatchUp,
    VoterOutput,
)
from runtime.block import Header
from runtime.consensus import SignedVote, encode_equivocation
from runtime.state import StateOverlay


class VoterGlue:
    """Turns the voter's outputs into actions, and carries out the finalizations it decides."""

    def __init__(self, updates: ChainUpdates, offences: Offences, sync: Sync) -> None:
        self.updates = updates
        self.offences = offences
        self.sync = sync
        self._pending: list[Action] = []
        self.left_out = LeftOutVotes()

    def finalized(self, header: Header, justification: Justification, now_ms: int) -> None:
        """The voter's round proved `header` final: store it as final now, act on it later; and
        note again the rounds whose window's note left this voter's precommit out."""
        view = self.offences.view
        voter = None if self.offences.authority is None else self.offences.authority.public
        was_final = view.finalized_header.number
        self._pending.extend(self.updates.finalize_stored(header, justification.encode(), now_ms))
        self.left_out.finalized(voter, was_final, justification)
        state = StateOverlay(view.store.reader(view.store.finalized_hash))
        for j in self.left_out.to_note(voter, view.finalized_header.number, state):
            self._pending.extend(
                self.offences.submit_own(
                    now_ms, "note_votes", j.set_id, j.round, list(j.precommits)
                )
            )

    def take_pending(self) -> list[Action]:
        """What the voter's finalizations did and no step has carried yet (oldest first)."""
        pending, self._pending = self._pending, []
        return pending

    def actions(self, outputs: Sequence[VoterOutput], now_ms: int) -> list[Action]:
        """What the voter's last step means: what its finalize callback did (in order, right
        after what came before the step), then its messages."""
        actions = self.take_pending()
        votes: list[SignedVote] = []
        resent: int | None = None
        for out in outputs:
            if isinstance(out, BroadcastVotes):
                votes.extend(out.votes)
                resent = out.resent_at_ms if out.resent_at_ms is not None else resent
            elif isinstance(out, BroadcastCommit):
                actions.append(
                    Gossip(TOPIC_FINALITY, encode_finality("commit", out.justification.to_value()))
                )
            elif isinstance(out, ReportEquivocation):
                proof = out.proof
                if self.offences.first_report(proof.offence_key + proof.first.voter):
                    actions.extend(
                        self.offences.submit_own(
                            now_ms, "report_equivocation", encode_equivocation(proof)
                        )
                    )
            elif isinstance(out, NoteVotes):
                j = out.justification
                actions.extend(
                    self.offences.submit_own(
                        now_ms, "note_votes", j.set_id, j.round, list(j.precommits)
                    )
                )
            elif isinstance(out, RequestCatchUp):
                tag = self.sync.track(out.peer, "catchup", now_ms)
                request = encode_catch_up_request(out.set_id, out.round)
                actions.append(SendRequest(out.peer, PROTOCOL_CATCH_UP, request, tag))
            elif isinstance(out, BroadcastPrimary):
                actions.append(
                    Gossip(TOPIC_FINALITY, encode_finality("primary", out.proposal.to_value()))
                )
            elif isinstance(out, AskNeighbour):
                tag = self.sync.track(out.peer, "neighbour", now_ms)
                actions.append(SendRequest(out.peer, PROTOCOL_NEIGHBOUR, out.packet.encode(), tag))
            elif isinstance(out, FetchBlock):
                self.sync.want_block(out.peer, out.block_hash, out.number)
        # A step that moves through several rounds casts more votes than one message may carry
        # for a small set (peers refuse more than VOTES_PER_AUTHORITY_PER_MESSAGE per authority).
        for i in range(0, len(votes), VOTES_PER_AUTHORITY_PER_MESSAGE):
            chunk = [v.to_value() for v in votes[i : i + VOTES_PER_AUTHORITY_PER_MESSAGE]]
            actions.append(Gossip(TOPIC_FINALITY, encode_finality("votes", chunk, nonce=resent)))
        return actions
