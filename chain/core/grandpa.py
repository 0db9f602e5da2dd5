"""GRANDPA-style finality: rounds of prevotes and precommits over chains, without I/O.

The authorities of one set (`runtime.pallets.session`) vote in numbered rounds. Round r starts
(at time t_r) as soon as round r − 1 is completable, whether or not a new block arrived. With E
the estimate of round r − 1 (the last finalized block for the first round of a set) and T the
gossip duration (GOSSIP_DURATION_MS):

    primary     the authority at (set id + r) mod n proposes E if E is above the last finalized
                block, so that prevoters who saw different votes of round r − 1 agree on it.
    prevote     for the best chain containing the primary's block if it lies between E and the
                prevote-GHOST of r − 1, else the best chain containing E; never past the block
                that changes the authority set (the last block this set may finalize). Cast at
                t_r + 2T, or at once if the round is completable, or as soon as there is a new
                block and the primary's proposal is in (or none is due).
    precommit   for the prevote-GHOST g (the highest block that prevotes of more than 2/3 of the
                weight support), once g contains E and: t_r + 4T passed, every authority
                prevoted, or the round is completable.
    finalize    the highest block that precommits of more than 2/3 of the weight support; the
                signed precommits are its justification.
    complete    once precommits of more than 2/3 arrived and the round's estimate is known: the
                highest ancestor of g that could still get more than 2/3 of the precommits.

A vote for a block supports every ancestor of that block. A voter that votes twice in one phase
of one round equivocates: both votes count for it (as GRANDPA counts them), and the two signed
votes are the proof that the node reports on chain (also when they wait for blocks not imported
yet). The voter persists its own votes before it sends them, and its round and the votes of the
last round it completed whenever it moves on, so a restarted node never votes twice in a round
and can still prove to a peer where it is.

A voter moves to a later round only on proof: a round it completed, or a catch-up (a peer's
completed round: more than 2/3 of the prevotes and precommits, signed, and completable on this
node's chain). Commits (justifications gossiped by the round's announcer) finalize their block
once verified but move no round. Where the others are comes from neighbour packets (each peer's
set id and round, asked on connect and while a round is stuck) and from votes of later rounds;
the voter asks a catch-up of a peer whose packet puts it ahead, one at a time, with a back-off
that doubles for a peer whose answer does not back its claim (`chain.core.neighbours`). Every
voter in round r > 1 holds the completed round r − 1 it can answer with, so a voter behind
always has a way forward. Full nodes that are not authorities run the same state machine as
observers: they finalize from the votes they see.

Nothing a peer sends moves the voter unverified, and what it can make the voter keep is bounded
by the authority set: at most two votes per authority, phase and round (four waiting for blocks
per round), rounds up to MAX_ROUND, message sizes from the set's size.

The voter reads the chain through `ChainView` (`chain.core.boundary`), finalizes through the
`finalize` callback it is given (the node stores the block as final at once, so the voter's next
step sees it), and returns what it wants sent as `VoterOutput`s (`chain.core.voter_messages`).
A round's votes and what they decide (the GHOSTs, the estimate) are `chain.core.rounds`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from chain.core.boundary import ChainView
from chain.core.finality import (
    InvalidJustification,
    Justification,
    build_justification,
    verify_justification,
)
from chain.core.neighbours import Neighbours
from chain.core.round_duties import announces_commit, notes_votes, primary_of
from chain.core.rounds import Round, Target, decide
from chain.core.vote_targets import contains, prevote_target
from chain.core.voter_messages import (
    MAX_ROUND,
    AskNeighbour,
    BroadcastCommit,
    BroadcastPrimary,
    BroadcastVotes,
    CatchUp,
    FetchBlock,
    Neighbour,
    NoteVotes,
    PrimaryProposal,
    ReportEquivocation,
    RequestCatchUp,
    Verdict,
    VoterOutput,
)
from chain.core.voter_state import VoterState
from chain.core.votes_ahead import ROUNDS_AHEAD, VotesAhead
from runtime.block import Header
from runtime.consensus import PRECOMMIT, PREVOTE, SignatureCheck, SignedVote, VoteEquivocation
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import Keypair, verify

log = logging.getLogger("xpl.grandpa")

GOSSIP_DURATION_MS: Final = 250
"""T: how long a vote takes to reach every voter on a healthy network."""
PREVOTE_WAIT_MS: Final = 2 * GOSSIP_DURATION_MS
"""A voter prevotes at the latest this long after its round started."""
PRECOMMIT_WAIT_MS: Final = 4 * GOSSIP_DURATION_MS
"""A voter with a prevote-GHOST precommits at the latest this long after its round started."""
ROUND_STUCK_MS: Final = 4 * GOSSIP_DURATION_MS
"""A round not completable by then is stuck: the voter asks its peers where they are, and asks a
peer only one round ahead for a catch-up too (two rounds ahead, it asks at once)."""
REBROADCAST_MS: Final = 1_500
"""A stuck round has its votes sent again this often (gossip can lose them)."""
CATCH_UP_TIMEOUT_MS: Final = 12_000
"""A catch-up request not answered by then no longer holds back the next one."""
LATER_REFRESH_MS: Final = 1_000
"""With more than 1/3 of the weight seen in later rounds, peers' positions are asked this often."""
OLD_COMMIT_DEPTH: Final = 64
"""A commit for a block this far below the finalized one is dropped unchecked: checking it walks
the chain down to it, and an honest node re-sends only the last round's commit."""
MAX_VOTE_AHEAD: Final = 256
"""Votes for blocks further above the best block than this are refused as implausible."""
VOTES_PER_AUTHORITY_PER_MESSAGE: Final = 4
"""A finality message carries at most this many votes per authority of the set (two rounds'
prevote and precommit: what an honest voter re-sends); more is refused and its sender charged."""


class GrandpaVoter:
    """One node's view of finality: the current authority set, its rounds, and its own votes."""

    def __init__(
        self,
        chain: ChainView,
        *,
        key: Keypair | None,
        now_ms: int,
        saved: bytes | None = None,
        finalize: Callable[[Header, Justification], None],
        persist: Callable[[bytes], None] = lambda _raw: None,
        equivocate: bool = False,
        check_signature: SignatureCheck = verify,
    ) -> None:
        self.chain, self._check_signature = chain, check_signature
        self.key = key
        self._finalize = finalize
        self._persist = persist
        self._equivocate = equivocate
        """Test-only: vote twice in each prevote phase, to exercise equivocation handling."""
        self._ahead = VotesAhead()
        self._abstains_in_set: int | None = None
        """The saved state did not read, so the rounds this voter already voted in are unknown:
        it votes in no round of this set (it follows them as an observer) rather than risk
        voting twice in one."""
        self._neighbours = Neighbours()
        self._catch_up_from: str | None = None
        self._catch_up_until_ms = 0
        self._last_commit: Justification | None = None
        self._equivocations: dict[tuple[bytes, int, int], VoteEquivocation] = {}
        self._completed: CatchUp | None = None
        """The last round this voter completed (or caught up with): what it answers catch-ups
        with while its current round is not completable."""
        self.set = chain.authority_set_after(chain.finalized_header.hash)
        self.previous: Round | None = None
        self.current = self._new_round(1, now_ms)
        if saved is not None:
            self._restore(saved, now_ms)

    # Reading

    @property
    def is_voter(self) -> bool:
        if self.key is None or self.set.weight_of(self.key.public) == 0:
            return False
        # A sole authority has nobody to contradict: it votes even after losing its state.
        return self._abstains_in_set != self.set.set_id or len(self.set.authorities) == 1

    @property
    def round_number(self) -> int:
        return self.current.number

    def neighbour_packet(self) -> Neighbour:
        """Where this voter stands, as the neighbour protocol tells it."""
        return Neighbour(self.set.set_id, self.current.number, self.chain.finalized_header.number)

    # Inputs: votes, proposals and commits

    def on_votes(
        self, peer: str, votes: list[SignedVote], now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """Votes gossiped by `peer` (a batch; each is checked on its own)."""
        if len(votes) > VOTES_PER_AUTHORITY_PER_MESSAGE * len(self.set.authorities):
            return Verdict.REJECT, []
        outputs: list[VoterOutput] = []
        verdict = Verdict.IGNORE
        for vote in votes:
            result = self._on_vote(peer, vote, now_ms, outputs)
            if result is Verdict.REJECT:
                return Verdict.REJECT, outputs
            if result is Verdict.ACCEPT:
                verdict = Verdict.ACCEPT
        outputs.extend(self._progress(now_ms))
        return verdict, outputs

    def on_primary(
        self, peer: str, proposal: PrimaryProposal, now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """A round's primary proposal, gossiped by `peer`."""
        p = proposal
        if p.set_id != self.set.set_id:
            return Verdict.IGNORE, []
        if p.round > MAX_ROUND or p.voter != primary_of(self.set, p.round):
            return Verdict.REJECT, []
        current = self.current
        if p.round == current.number:
            if current.primary is not None:
                return Verdict.IGNORE, []
        elif current.number < p.round <= current.number + ROUNDS_AHEAD:
            if self._ahead.has_primary(p.round):
                return Verdict.IGNORE, []
        else:
            return Verdict.IGNORE, []
        if not p.signature_is_valid():
            return Verdict.REJECT, []
        outputs: list[VoterOutput] = []
        if p.round == current.number:
            current.primary = (p.block_hash, p.number)
        else:
            self._ahead.keep_primary(p)
        if self.chain.header(p.block_hash) is None and p.number > self._finalized_number():
            outputs.append(FetchBlock(peer, p.block_hash, p.number))
        outputs.extend(self._progress(now_ms))
        return Verdict.ACCEPT, outputs

    def on_commit(
        self, peer: str, justification: Justification, now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """A justification gossiped for a round of this set: finalize its block once verified.

        A commit moves no round (a catch-up does): it carries the precommits but not the prevotes
        that would give this voter the round's estimate to build on.
        """
        j = justification
        if j.set_id != self.set.set_id:
            return Verdict.IGNORE, []
        if j.round > MAX_ROUND:
            return Verdict.REJECT, []
        if j.number <= self._finalized_number():
            return self._on_old_commit(peer, j), []
        try:
            # Checked before anything is fetched for it: a forged commit costs its sender, and
            # names no block for sync to chase.
            verify_justification(j, self.set, block_hash=j.block_hash, number=j.number)
        except InvalidJustification as exc:
            log.debug("commit from %s refused: %s", peer, exc)
            return Verdict.REJECT, []
        header = self.chain.header(j.block_hash)
        if header is None:
            if j.number > self.chain.best_header.number + MAX_VOTE_AHEAD:
                return Verdict.IGNORE, []  # range sync brings it
            return Verdict.IGNORE, [FetchBlock(peer, j.block_hash, j.number)]
        if header.number != j.number or not self._descends_from_finalized(
            (header.hash, header.number)
        ):
            return Verdict.REJECT, []
        self._finalize(header, j)
        self._last_commit = j
        self._follow_set_change(header, now_ms)
        return Verdict.ACCEPT, self._progress(now_ms)

    def _on_old_commit(self, peer: str, j: Justification) -> Verdict:
        """A commit for a block at or below the finalized one: nothing new, and not relayed; but
        checked all the same, so that a forged one costs its sender."""
        finalized = self.chain.finalized_header
        if finalized.number - j.number > OLD_COMMIT_DEPTH:
            return Verdict.IGNORE
        if not contains(self.chain, (finalized.hash, finalized.number), (j.block_hash, j.number)):
            return Verdict.REJECT  # not on the finalized chain: no honest node signs that
        try:
            verify_justification(j, self.set, block_hash=j.block_hash, number=j.number)
        except InvalidJustification as exc:
            log.debug("old commit from %s refused: %s", peer, exc)
            return Verdict.REJECT
        return Verdict.IGNORE

    # Inputs: the chain and the clock

    def on_block_imported(self, now_ms: int) -> list[VoterOutput]:
        """A block was imported: votes waiting for it can count, and a new round may start."""
        outputs: list[VoterOutput] = []
        for round_ in self._live_rounds():
            for vote in round_.take_pending():
                self._on_vote("", vote, now_ms, outputs, checked=True)
        outputs.extend(self._progress(now_ms))
        return outputs

    def on_finalized(self, header: Header, now_ms: int) -> list[VoterOutput]:
        """A block became final by a justification from elsewhere (sync)."""
        self._follow_set_change(header, now_ms)
        return self._progress(now_ms)

    def on_timer(self, now_ms: int) -> list[VoterOutput]:
        """Vote when a wait ran out; while the round is stuck, send this voter's votes again, ask
        the peers where they are, and ask one that is ahead for a catch-up."""
        outputs = self._progress(now_ms)
        current = self.current
        if not current.completable and now_ms - current.started_ms >= ROUND_STUCK_MS:
            if now_ms >= current.last_broadcast_ms + REBROADCAST_MS:
                current.last_broadcast_ms = now_ms
                votes = [*self._mine(self.previous), *self._mine(current)]
                if votes:
                    outputs.append(BroadcastVotes(tuple(votes), resent_at_ms=now_ms))
                # A peer that missed the last round's result can finalize with it.
                if self._last_commit is not None and self.is_voter:
                    outputs.append(BroadcastCommit(self._last_commit))
                outputs.extend(self._fetch_pending_blocks(now_ms))
            packet = self.neighbour_packet()
            for peer in self._neighbours.to_refresh(now_ms):
                outputs.append(AskNeighbour(peer, packet))
        outputs.extend(self._maybe_catch_up(now_ms))
        return outputs

    def _fetch_pending_blocks(self, now_ms: int) -> list[VoterOutput]:
        """Ask again for the blocks that votes wait for, each time of another peer: the first
        peer asked may have left, or lost the fork (a block gossip lost in a partition is on
        no best chain, so sync alone would never fetch it)."""
        peers = self._neighbours.peers()
        if not peers:
            return []
        peer = peers[(now_ms // REBROADCAST_MS) % len(peers)]
        wanted: dict[bytes, int] = {}
        for round_ in self._live_rounds():
            for votes in round_.pending.values():
                for vote in votes:
                    wanted[vote.block_hash] = vote.number
        return [FetchBlock(peer, h, n) for h, n in sorted(wanted.items())]

    # Inputs: peers

    def on_peer_connected(self, peer: str, now_ms: int) -> list[VoterOutput]:
        """A peer connected: tell it where this voter stands, and learn where it does."""
        self._neighbours.connected(peer)
        self._neighbours.asked(peer, now_ms)
        return [AskNeighbour(peer, self.neighbour_packet())]

    def on_peer_disconnected(self, peer: str) -> None:
        """A peer left: forget everything kept for it."""
        self._neighbours.disconnected(peer)
        if self._catch_up_from == peer:
            self._catch_up_from = None

    def note_neighbour(self, peer: str, packet: Neighbour) -> bool:
        """`peer` says where its voter stands (in its request); False if it names an impossible
        round."""
        if packet.round > MAX_ROUND:
            return False
        self._neighbours.note(peer, packet.set_id, packet.round)
        return True

    def on_neighbour(
        self, peer: str, packet: Neighbour, now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """`peer` answered where its voter stands: ask it for a catch-up if it is ahead."""
        if not self.note_neighbour(peer, packet):
            return Verdict.REJECT, []
        return Verdict.ACCEPT, self._maybe_catch_up(now_ms)

    def on_request_failed(self, peer: str, kind: str, now_ms: int) -> None:
        """A catch-up or neighbour request to `peer` failed or timed out."""
        if kind == "catchup":
            if self._catch_up_from == peer:
                self._catch_up_from = None
            self._neighbours.catch_up_failed(peer, now_ms)

    # Catch-up

    def catch_up_for(self, set_id: int, round_: int) -> CatchUp | None:
        """A completed round at or after `round_` of set `set_id`, for a peer that is behind."""
        if set_id != self.set.set_id:
            return None
        current = self.current
        if current.completable and current.number >= round_:
            return self._catch_up_of(current)
        done = self._completed
        if done is not None and done.set_id == set_id and done.round >= round_:
            return done
        return None

    def on_catch_up(
        self, peer: str, catch_up: CatchUp, now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """A peer's completed round: check it, then finalize what it proves and join after it."""
        if self._catch_up_from == peer:
            self._catch_up_from = None
        c = catch_up
        if c.set_id != self.set.set_id or c.round < self.current.number:
            self._neighbours.catch_up_failed(peer, now_ms)
            return Verdict.IGNORE, []
        if c.round > MAX_ROUND or not c.is_well_formed(self.set):
            return Verdict.REJECT, []
        finalized = self.chain.finalized_header
        round_ = Round(
            c.round, (finalized.hash, finalized.number), started_ms=now_ms, last_broadcast_ms=now_ms
        )
        outputs: list[VoterOutput] = []
        for vote in (*c.prevotes, *c.precommits):
            if not vote.signature_is_valid(self._check_signature):
                return Verdict.REJECT, []
            header = self.chain.header(vote.block_hash)
            if header is None:
                if vote.number > finalized.number:
                    outputs.append(FetchBlock(peer, vote.block_hash, vote.number))
                continue
            if header.number != vote.number:
                return Verdict.REJECT, []  # a signed vote naming a block at a false height
            if self._counts_in(round_, (header.hash, header.number)):
                round_.add_vote(vote)
        if outputs:
            # Ask again once the blocks are in: not a failure of the peer.
            self._neighbours.asked_catch_up(peer, now_ms)
            return Verdict.IGNORE, outputs
        decide(round_, self.set, self.chain.header)
        if not round_.completable:
            self._neighbours.catch_up_failed(peer, now_ms)
            return Verdict.IGNORE, []
        self._neighbours.catch_up_succeeded(peer)
        sent, changed = self._finality_of(round_, now_ms)
        outputs.extend(sent)
        if not changed:
            self._completed = c
            self.previous = round_
            outputs.extend(self._enter(c.round + 1, now_ms))
            log.info(
                "caught up to round %d of set %d from %s",
                self.current.number,
                self.set.set_id,
                peer,
            )
        outputs.extend(self._progress(now_ms))
        return Verdict.ACCEPT, outputs

    def _maybe_catch_up(self, now_ms: int) -> list[VoterOutput]:
        """Ask a peer that claims to be ahead for a catch-up, if none is in flight."""
        if self._catch_up_from is not None and now_ms < self._catch_up_until_ms:
            return []
        current = self.current
        stuck = now_ms - current.started_ms >= ROUND_STUCK_MS
        peer = self._neighbours.ahead(self.set.set_id, current.number, now_ms, by=1 if stuck else 2)
        if peer is None:
            return []
        self._neighbours.asked_catch_up(peer, now_ms)
        self._catch_up_from = peer
        self._catch_up_until_ms = now_ms + CATCH_UP_TIMEOUT_MS
        return [RequestCatchUp(peer, self.set.set_id, current.number)]

    def _catch_up_of(self, round_: Round) -> CatchUp:
        return CatchUp(
            self.set.set_id,
            round_.number,
            tuple(round_.all_votes(PREVOTE)),
            tuple(round_.all_votes(PRECOMMIT)),
        )

    # Votes

    def _live_rounds(self) -> list[Round]:
        return [r for r in (self.previous, self.current) if r is not None]

    def _on_vote(
        self,
        peer: str,
        vote: SignedVote,
        now_ms: int,
        outputs: list[VoterOutput],
        *,
        checked: bool = False,
    ) -> Verdict:
        if vote.set_id != self.set.set_id:
            return Verdict.IGNORE
        if vote.round > MAX_ROUND or self.set.weight_of(vote.voter) == 0:
            return Verdict.REJECT
        current = self.current
        if vote.round > current.number:
            if not self._ahead.is_new(vote, current.number):
                return Verdict.IGNORE
            if not checked and not vote.signature_is_valid(self._check_signature):
                return Verdict.REJECT
            kept = self._ahead.keep(vote, current.number)
            self._ask_where_peers_are_if_left_behind(now_ms, outputs)
            return Verdict.ACCEPT if kept else Verdict.IGNORE
        round_ = next((r for r in self._live_rounds() if r.number == vote.round), None)
        if round_ is None:
            return Verdict.IGNORE
        known = round_.votes_of(vote.phase, vote.voter)
        if vote in known or len(known) >= 2:
            return Verdict.IGNORE
        if not checked and not vote.signature_is_valid(self._check_signature):
            return Verdict.REJECT
        header = self.chain.header(vote.block_hash)
        if header is None or header.number != vote.number:
            if header is not None:
                return Verdict.REJECT
            if vote.number > self.chain.best_header.number + MAX_VOTE_AHEAD:
                return Verdict.REJECT
            if vote.number <= self._finalized_number():
                return Verdict.IGNORE  # a fork that finality abandoned: late, not malicious
            round_.pending.setdefault((vote.phase, vote.voter), []).append(vote)
            self._check_equivocation(round_, vote, outputs)
            if peer:
                outputs.append(FetchBlock(peer, vote.block_hash, vote.number))
            return Verdict.ACCEPT
        if not self._counts_in(round_, (header.hash, header.number)):
            return Verdict.IGNORE
        round_.add_vote(vote)
        self._check_equivocation(round_, vote, outputs)
        return Verdict.ACCEPT

    def _counts_in(self, round_: Round, target: Target) -> bool:
        """Whether a vote for `target` (a stored block, by its true number) counts in `round_`:
        it descends from the round's base."""
        return contains(self.chain, target, round_.base)

    def _ask_where_peers_are_if_left_behind(self, now_ms: int, outputs: list[VoterOutput]) -> None:
        """Once more than 1/3 of the weight is seen voting in later rounds, this round cannot
        complete without them: find out where the peers are."""
        ahead = sum(self.set.weight_of(v) for v in self._ahead.voters_past(self.current.number))
        if 3 * ahead > self.set.total_weight:
            packet = self.neighbour_packet()
            for peer in self._neighbours.to_refresh(now_ms, every_ms=LATER_REFRESH_MS):
                outputs.append(AskNeighbour(peer, packet))

    def _check_equivocation(
        self, round_: Round, vote: SignedVote, outputs: list[VoterOutput]
    ) -> None:
        """Report `vote`'s voter if it now has two votes in the vote's phase of `round_`."""
        votes = round_.votes_of(vote.phase, vote.voter)
        if len(votes) != 2:
            return
        key = (vote.voter, vote.round, vote.phase)
        if key in self._equivocations:
            return
        proof = VoteEquivocation(votes[0], votes[1])
        self._equivocations[key] = proof
        log.warning("authority 0x%s equivocated in round %d", vote.voter.hex()[:16], vote.round)
        outputs.append(ReportEquivocation(proof))

    def _finalized_number(self) -> int:
        return self.chain.finalized_header.number

    def _descends_from_finalized(self, target: Target) -> bool:
        finalized = self.chain.finalized_header
        return contains(self.chain, target, (finalized.hash, finalized.number))

    # Finalizing

    def _finality_of(self, round_: Round, now_ms: int) -> tuple[list[VoterOutput], bool]:
        """Finalize what the round's precommits prove, if it is above the finalized block.

        Returns what to send, and whether the authority set changed with it.
        """
        f = round_.precommit_ghost
        if f is None:
            return [], False
        finalized = self.chain.finalized_header
        if f[1] <= finalized.number:
            return [], False
        header = self.chain.header(f[0])
        if header is None or not self._descends_from_finalized(f):
            return [], False
        justification = build_justification(
            set_id=self.set.set_id,
            round_=round_.number,
            target=header,
            precommits=round_.all_votes(PRECOMMIT),
            header_of=self.chain.header,
        )
        self._finalize(header, justification)
        self._last_commit = justification
        outputs: list[VoterOutput] = []
        if self.is_voter:
            assert self.key is not None
            if announces_commit(self.set, round_.number, self.key.public):
                outputs.append(BroadcastCommit(justification))
            if notes_votes(self.set, finalized.number, header.number, self.key.public):
                outputs.append(NoteVotes(justification))
        return outputs, self._follow_set_change(header, now_ms)

    def _follow_set_change(self, header: Header, now_ms: int) -> bool:
        """After `header` became final: switch to the next authority set if it changes there."""
        new_set = self.chain.authority_set_after(header.hash)
        if new_set.set_id == self.set.set_id:
            return False
        log.info(
            "authority set %d takes over at #%d (%d authorities)",
            new_set.set_id,
            header.number,
            len(new_set.authorities),
        )
        self.set = new_set
        self.previous = None
        self._ahead.clear()
        self._last_commit = None
        self._equivocations.clear()
        self._completed = None
        self._catch_up_from = None
        self.current = self._new_round(1, now_ms)
        self._persist(self._saved_state())
        return True

    # Moving forward

    def _progress(self, now_ms: int) -> list[VoterOutput]:
        """Vote, finalize and move to the next round as far as the votes and waits allow."""
        outputs: list[VoterOutput] = []
        for _ in range(8):
            current = self.current
            if self.previous is not None:
                decide(self.previous, self.set, self.chain.header)
                sent, changed = self._finality_of(self.previous, now_ms)
                outputs.extend(sent)
                if changed:
                    continue
            decide(current, self.set, self.chain.header)
            if self.is_voter and PREVOTE not in current.mine:
                if not self._may_prevote(now_ms):
                    break
                outputs.extend(self._cast(current, PREVOTE, self._prevote_target(), now_ms))
                decide(current, self.set, self.chain.header)
            if self.is_voter and PRECOMMIT not in current.mine and self._may_precommit(now_ms):
                assert current.prevote_ghost is not None
                outputs.extend(self._cast(current, PRECOMMIT, current.prevote_ghost, now_ms))
                decide(current, self.set, self.chain.header)
            sent, changed = self._finality_of(current, now_ms)
            outputs.extend(sent)
            if changed:
                continue
            if not current.completable:
                break
            outputs.extend(self._begin_next(now_ms))
        return outputs

    def _may_prevote(self, now_ms: int) -> bool:
        """Whether the current round's prevote is due (see the module's docstring)."""
        current = self.current
        if current.completable or now_ms >= current.started_ms + PREVOTE_WAIT_MS:
            return True
        if self.chain.best_header.number <= self._finalized_number():
            return False
        return not self._awaits_primary()

    def _awaits_primary(self) -> bool:
        """Whether the current round's primary has a proposal due that has not arrived."""
        is_primary = self.key is not None and self._is_primary(self.key.public)
        return self.current.primary is None and not is_primary and self._due_proposal() is not None

    def _is_primary(self, voter: bytes) -> bool:
        return primary_of(self.set, self.current.number) == voter

    def _due_proposal(self) -> Target | None:
        """What the current round's primary proposes: the last round's estimate, unless final."""
        previous = self.previous
        if previous is None or previous.estimate is None:
            return None
        return previous.estimate if previous.estimate[1] > self._finalized_number() else None

    def _may_precommit(self, now_ms: int) -> bool:
        """Whether the current round's precommit is due (see the module's docstring)."""
        current = self.current
        ghost = current.prevote_ghost
        if ghost is None or not self._contains_previous_estimate(ghost):
            return False
        return (
            current.completable
            or current.voted_weight(PREVOTE, self.set) >= self.set.total_weight
            or now_ms >= current.started_ms + PRECOMMIT_WAIT_MS
        )

    def _begin_next(self, now_ms: int) -> list[VoterOutput]:
        """The current round is completable: start the next one."""
        done = self.current
        self._completed = self._catch_up_of(done)
        self.previous = done
        return self._enter(done.number + 1, now_ms)

    def _enter(self, number: int, now_ms: int) -> list[VoterOutput]:
        """Make round `number` the current one (the previous one is set): drop what belonged to
        earlier rounds, save where the voter is (with the round it completed, which it can prove
        to peers), count the votes kept for the round, and propose as its primary."""
        self.current = self._new_round(number, now_ms)
        waiting, primary = self._ahead.enter(number)
        previous = self.previous.number if self.previous is not None else number
        self._equivocations = {k: p for k, p in self._equivocations.items() if k[1] >= previous}
        self._persist(self._saved_state())
        outputs: list[VoterOutput] = []
        if primary is not None:
            self.current.primary = (primary.block_hash, primary.number)
        for vote in waiting:
            self._on_vote("", vote, now_ms, outputs, checked=True)
        outputs.extend(self._propose_if_primary())
        return outputs

    def _propose_if_primary(self) -> list[VoterOutput]:
        """As the current round's primary, propose the last round's estimate if it is not final."""
        estimate = self._due_proposal()
        if self.key is None or not self._is_primary(self.key.public) or estimate is None:
            return []
        proposal = PrimaryProposal.sign(
            self.key,
            set_id=self.set.set_id,
            round_=self.current.number,
            block_hash=estimate[0],
            number=estimate[1],
        )
        self.current.primary = estimate
        return [BroadcastPrimary(proposal)]

    def _new_round(self, number: int, now_ms: int) -> Round:
        finalized = self.chain.finalized_header
        return Round(
            number,
            (finalized.hash, finalized.number),
            last_broadcast_ms=now_ms,
            started_ms=now_ms,
        )

    def _previous_estimate(self) -> Target:
        previous = self.previous
        if previous is not None and previous.estimate is not None:
            return previous.estimate
        finalized = self.chain.finalized_header
        return finalized.hash, finalized.number

    def _contains_previous_estimate(self, target: Target) -> bool:
        return contains(self.chain, target, self._previous_estimate())

    def _prevote_target(self) -> Target:
        previous = self.previous
        return prevote_target(
            self.chain,
            self.set.set_id,
            estimate=self._previous_estimate(),
            primary=self.current.primary,
            previous_ghost=None if previous is None else previous.prevote_ghost,
        )

    def _cast(self, round_: Round, phase: int, target: Target, now_ms: int) -> list[VoterOutput]:
        key, set_id = self.key, self.set.set_id
        assert key is not None

        def sign(t: Target) -> SignedVote:
            return SignedVote.sign(
                key, phase=phase, set_id=set_id, round_=round_.number, block_hash=t[0], number=t[1]
            )

        vote = sign(target)
        votes = [vote]
        header = self.chain.header(target[0])
        parent = None if header is None or target[1] == 0 else self.chain.header(header.parent_hash)
        if self._equivocate and phase == PREVOTE and parent is not None:
            votes.append(sign((parent.hash, parent.number)))
        round_.mine[phase] = vote
        self._persist(self._saved_state())
        for v in votes:
            round_.add_vote(v)
        round_.last_broadcast_ms = now_ms
        return [BroadcastVotes(tuple(votes))]

    def _mine(self, round_: Round | None) -> list[SignedVote]:
        if round_ is None:
            return []
        return [round_.mine[p] for p in (PREVOTE, PRECOMMIT) if p in round_.mine]

    # Persistence

    def _saved_state(self) -> bytes:
        mine = tuple(self.current.mine.values())
        return VoterState(
            self.set.set_id, self.current.number, mine, self._completed, self._abstains_in_set
        ).encode()

    def _restore(self, saved: bytes, now_ms: int) -> None:
        try:
            state = VoterState.decode(saved)
        except DecodeError as exc:
            log.error(
                "the saved voter state does not decode (%s): this node will not vote in authority"
                " set %d, in case it voted before, and votes again from the next set",
                exc,
                self.set.set_id,
            )
            self._abstains_in_set = self.set.set_id
            return
        if state.set_id != self.set.set_id:
            return
        self._abstains_in_set = state.abstains_in_set
        # The saved votes wait as any unchecked-block votes do, and are counted (through the one
        # path every vote takes) when the node starts and calls `on_block_imported`.
        self.current = self._new_round(max(state.round, 1), now_ms)
        for vote in state.mine:
            self.current.mine[vote.phase] = vote
            self.current.pending[(vote.phase, vote.voter)] = [vote]
        done = state.completed
        if done is not None and done.round < self.current.number:
            self._completed = done
            if done.round == self.current.number - 1:
                previous = self._new_round(done.round, now_ms)
                for vote in (*done.prevotes, *done.precommits):
                    previous.pending.setdefault((vote.phase, vote.voter), []).append(vote)
                self.previous = previous
        log.info("resuming round %d of set %d", self.current.number, state.set_id)
