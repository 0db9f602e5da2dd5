"""GRANDPA-style finality: rounds of prevotes and precommits over chains, without I/O.

The authorities of one set (`runtime.pallets.session`) vote in numbered rounds. In round r, with
E the estimate of round r − 1 (the last finalized block for the first round of a set):

    prevote     for the best chain if it contains E, else for E itself; never past the block
                that changes the authority set (the last block this set may finalize).
    precommit   once prevotes of more than 2/3 of the weight support one block: for the highest
                such block g (the prevote-GHOST), if it contains E.
    finalize    the highest block that precommits of more than 2/3 of the weight support; the
                signed precommits are its justification.
    complete    once precommits of more than 2/3 arrived and the round's estimate is known: the
                highest ancestor of g that could still get more than 2/3 of the precommits.
    next round  starts when the round is complete and there is a new block above the finalized
                one (or other voters moved on): no empty rounds while the chain is idle.

A vote for a block supports every ancestor of that block. A voter that votes twice in one phase
of one round equivocates: both votes count for it (as GRANDPA counts them), and the two signed
votes are the proof that the node reports on chain. The voter persists its own votes before it
sends them, so a restarted node never votes twice in a round. A voter that falls behind asks a
peer for its last completed round (catch-up) or follows a commit (a justification) gossiped for a
later round. Full nodes that are not authorities run the same state machine as observers: they
finalize from the votes they see.

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
from chain.core.rounds import Round, Target, decide
from chain.core.voter_messages import (
    BroadcastCommit,
    BroadcastVotes,
    CatchUp,
    FetchBlock,
    NoteVotes,
    ReportEquivocation,
    RequestCatchUp,
    Verdict,
    VoterOutput,
)
from runtime.block import Header
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote, VoteEquivocation
from runtime.pallets.session import MAX_AUTHORITIES
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.keys import Keypair

log = logging.getLogger("xpl.grandpa")

REBROADCAST_MS: Final = 1_500
"""A round that has not completed by then has its votes sent again (gossip can lose them)."""
MAX_PENDING_VOTES: Final = 4 * MAX_AUTHORITIES
"""Votes for blocks not imported yet, kept per round until the block arrives."""
MAX_VOTE_AHEAD: Final = 256
"""Votes for blocks further above the best block than this are refused as implausible."""
NOTE_VOTES_EVERY: Final = 4
"""Rounds between the rounds whose precommits are noted on chain (see `_notes_votes`)."""


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
    ) -> None:
        self.chain = chain
        self.key = key
        self._finalize = finalize
        self._persist = persist
        self._equivocate = equivocate
        """Test-only: vote twice in each prevote phase, to exercise equivocation handling."""
        self._future: dict[int, list[SignedVote]] = {}
        self._ahead: list[str] = []
        """Peers that sent votes for the round after ours: they can answer a catch-up."""
        self._last_commit: Justification | None = None
        self._equivocations: dict[tuple[bytes, int, int], VoteEquivocation] = {}
        self._catch_up_asked: dict[str, int] = {}
        self.set = chain.authority_set_after(chain.finalized_header.hash)
        self.previous: Round | None = None
        self.current = self._new_round(1, now_ms)
        if saved is not None:
            self._restore(saved, now_ms)

    # Reading

    @property
    def is_voter(self) -> bool:
        return self.key is not None and self.set.weight_of(self.key.public) > 0

    @property
    def round_number(self) -> int:
        return self.current.number

    def round_state(self) -> dict[str, object]:
        """The current round as `grandpa_roundState` shows it."""

        def phase(round_: Round, phase_: int) -> dict[str, object]:
            return {
                "currentWeight": str(round_.voted_weight(phase_, self.set)),
                "missing": [k.hex() for k in self.set.keys if k not in round_.votes[phase_]],
            }

        r = self.current
        return {
            "setId": self.set.set_id,
            "round": r.number,
            "totalWeight": str(self.set.total_weight),
            "thresholdWeight": str(self.set.total_weight * 2 // 3 + 1),
            "prevotes": phase(r, PREVOTE),
            "precommits": phase(r, PRECOMMIT),
            "prevoteGhost": None if r.prevote_ghost is None else r.prevote_ghost[1],
            "estimate": None if r.estimate is None else r.estimate[1],
            "completable": r.completable,
        }

    # Inputs

    def on_votes(
        self, peer: str, votes: list[SignedVote], now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """Votes gossiped by `peer` (a batch; each is checked on its own)."""
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

    def on_commit(
        self, peer: str, justification: Justification, now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """A justification gossiped for a round of this set: finalize, and catch up with it."""
        j = justification
        if j.set_id != self.set.set_id:
            return Verdict.IGNORE, []
        finalized = self.chain.finalized_header
        if j.number <= finalized.number:
            if j.round >= self.current.number and self.chain.header(j.block_hash) is not None:
                return Verdict.IGNORE, self._fast_forward(j.round, now_ms)
            return Verdict.IGNORE, []
        header = self.chain.header(j.block_hash)
        if header is None:
            return Verdict.IGNORE, [FetchBlock(peer, j.block_hash, j.number)]
        if not self._descends_from_finalized((header.hash, header.number)):
            return Verdict.REJECT, []
        try:
            verify_justification(j, self.set, block_hash=header.hash, number=header.number)
        except InvalidJustification as exc:
            log.debug("commit from %s refused: %s", peer, exc)
            return Verdict.REJECT, []
        self._finalize(header, j)
        self._last_commit = j
        if self._follow_set_change(header, now_ms):
            return Verdict.ACCEPT, self._progress(now_ms)
        outputs: list[VoterOutput] = []
        if j.round >= self.current.number:
            outputs.extend(self._fast_forward(j.round, now_ms))
        return Verdict.ACCEPT, outputs

    def on_block_imported(self, now_ms: int) -> list[VoterOutput]:
        """A block was imported: votes waiting for it can count, and a new round may start."""
        outputs: list[VoterOutput] = []
        for round_ in self._live_rounds():
            waiting, round_.pending = round_.pending, []
            for vote in waiting:
                self._on_vote("", vote, now_ms, outputs, checked=True)
        outputs.extend(self._progress(now_ms))
        return outputs

    def on_finalized(self, header: Header, now_ms: int) -> list[VoterOutput]:
        """A block became final by a justification from elsewhere (sync)."""
        self._follow_set_change(header, now_ms)
        return self._progress(now_ms)

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
        self._future.clear()
        self._ahead.clear()
        self._last_commit = None
        self._equivocations.clear()
        self.current = self._new_round(1, now_ms)
        return True

    def on_timer(self, now_ms: int) -> list[VoterOutput]:
        """Send this voter's recent votes again if its round is stuck."""
        outputs = self._progress(now_ms)
        current = self.current
        if now_ms >= current.last_broadcast_ms + REBROADCAST_MS and not current.completable:
            current.last_broadcast_ms = now_ms
            votes = [*self._mine(self.previous), *self._mine(current)]
            if votes:
                outputs.append(BroadcastVotes(tuple(votes)))
            # A peer that missed the last round's result can fast-forward with it.
            if self._last_commit is not None and self.is_voter:
                outputs.append(BroadcastCommit(self._last_commit))
            # Others are a round ahead while this one is stuck: ask one of them how it ended.
            if self._future.get(current.number + 1) and self._ahead:
                peer = self._ahead.pop(0)
                self._ahead.append(peer)
                outputs.append(RequestCatchUp(peer, self.set.set_id, current.number))
        return outputs

    # Catch-up

    def catch_up_for(self, set_id: int, round_: int) -> CatchUp | None:
        """The last completed round, for a peer that is at round `round_` of set `set_id`."""
        done = self.current if self.current.completable else self.previous
        if set_id != self.set.set_id or done is None or not done.completable:
            return None
        if done.number < round_:
            return None
        return CatchUp(
            self.set.set_id,
            done.number,
            tuple(done.all_votes(PREVOTE)),
            tuple(done.all_votes(PRECOMMIT)),
        )

    def on_catch_up(
        self, peer: str, catch_up: CatchUp, now_ms: int
    ) -> tuple[Verdict, list[VoterOutput]]:
        """A peer's completed round: check it, then finalize what it proves and join after it."""
        if catch_up.set_id != self.set.set_id or catch_up.round < self.current.number:
            return Verdict.IGNORE, []
        finalized = self.chain.finalized_header
        round_ = Round(catch_up.round, (finalized.hash, finalized.number), last_broadcast_ms=now_ms)
        outputs: list[VoterOutput] = []
        for vote in (*catch_up.prevotes, *catch_up.precommits):
            if vote.set_id != self.set.set_id or vote.round != catch_up.round:
                return Verdict.REJECT, []
            if self.set.weight_of(vote.voter) == 0 or not vote.signature_is_valid():
                return Verdict.REJECT, []
            if vote.number > finalized.number and self.chain.header(vote.block_hash) is None:
                outputs.append(FetchBlock(peer, vote.block_hash, vote.number))
                continue
            round_.add_vote(vote)
        if outputs:
            return Verdict.IGNORE, outputs
        decide(round_, self.set, self.chain.header)
        if not round_.completable:
            return Verdict.IGNORE, []
        sent, changed = self._finality_of(round_, now_ms)
        outputs.extend(sent)
        if not changed:
            self.previous = round_
            self.current = self._new_round(round_.number + 1, now_ms)
            log.info(
                "caught up to round %d of set %d from %s",
                self.current.number,
                self.set.set_id,
                peer,
            )
        outputs.extend(self._progress(now_ms))
        return Verdict.ACCEPT, outputs

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
        if self.set.weight_of(vote.voter) == 0:
            return Verdict.REJECT
        current = self.current
        if vote.round > current.number + 1:
            last = self._catch_up_asked.get(peer, 0)
            if peer and now_ms - last > REBROADCAST_MS:
                self._catch_up_asked[peer] = now_ms
                outputs.append(RequestCatchUp(peer, self.set.set_id, current.number))
            return Verdict.IGNORE if checked or vote.signature_is_valid() else Verdict.REJECT
        if vote.round == current.number + 1:
            future = self._future.setdefault(vote.round, [])
            if any(v == vote for v in future):
                return Verdict.IGNORE
            if not checked and not vote.signature_is_valid():
                return Verdict.REJECT
            if len(future) < 2 * MAX_PENDING_VOTES:
                future.append(vote)
            if peer and peer not in self._ahead:
                self._ahead.append(peer)
            return Verdict.ACCEPT
        round_ = next((r for r in self._live_rounds() if r.number == vote.round), None)
        if round_ is None:
            return Verdict.IGNORE
        known = round_.votes[vote.phase].get(vote.voter, [])
        if vote in known or vote in round_.pending:
            return Verdict.IGNORE
        if len(known) >= 2:
            return Verdict.IGNORE
        if not checked and not vote.signature_is_valid():
            return Verdict.REJECT
        header = self.chain.header(vote.block_hash)
        if header is None or header.number != vote.number:
            if header is not None:
                return Verdict.REJECT
            if vote.number > self.chain.best_header.number + MAX_VOTE_AHEAD:
                return Verdict.REJECT
            if vote.number <= self.chain.finalized_header.number:
                return Verdict.IGNORE  # a fork that finality abandoned: late, not malicious
            if len(round_.pending) < MAX_PENDING_VOTES:
                round_.pending.append(vote)
                if peer:
                    outputs.append(FetchBlock(peer, vote.block_hash, vote.number))
            return Verdict.ACCEPT
        if not self._descends_from_finalized((header.hash, header.number)):
            return Verdict.IGNORE
        round_.add_vote(vote)
        if len(round_.votes[vote.phase][vote.voter]) == 2:
            first, second = round_.votes[vote.phase][vote.voter]
            key = (vote.voter, vote.round, vote.phase)
            if key not in self._equivocations:
                proof = VoteEquivocation(first, second)
                self._equivocations[key] = proof
                log.warning(
                    "authority 0x%s equivocated in round %d", vote.voter.hex()[:16], vote.round
                )
                outputs.append(ReportEquivocation(proof))
        return Verdict.ACCEPT

    def _descends_from_finalized(self, target: Target) -> bool:
        finalized = self.chain.finalized_header
        return self._ancestor_at(target, finalized.number) == finalized.hash

    def _ancestor_at(self, target: Target, number: int) -> bytes | None:
        """The hash of `target`'s ancestor (or itself) at height `number`, if known."""
        block_hash, height = target
        if height < number:
            return None
        while height > number:
            header = self.chain.header(block_hash)
            if header is None:
                return None
            block_hash, height = header.parent_hash, height - 1
        return block_hash

    # Finalizing

    def _finality_of(self, round_: Round, now_ms: int) -> tuple[list[VoterOutput], bool]:
        """Finalize what the round's precommits prove, if it is above the finalized block.

        Returns what to send, and whether the authority set changed with it.
        """
        f = round_.precommit_ghost
        finalized = self.chain.finalized_header
        if f is None or f[1] <= finalized.number:
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
        if self._announces_commit(round_.number):
            outputs.append(BroadcastCommit(justification))
        if self._notes_votes(round_.number):
            outputs.append(NoteVotes(justification))
        return outputs, self._follow_set_change(header, now_ms)

    def _notes_votes(self, round_number: int) -> bool:
        """Every NOTE_VOTES_EVERY-th round's precommits are noted on chain, by the authorities in
        turn: a sample of who votes, for era points, at the cost of one transaction per rounds.
        A sole authority has nothing to share its points with and notes nothing."""
        if not self.is_voter or len(self.set.authorities) < 2:
            return False
        if round_number % NOTE_VOTES_EVERY:
            return False
        assert self.key is not None
        keys = self.set.keys
        return keys[(round_number // NOTE_VOTES_EVERY) % len(keys)] == self.key.public

    def _announces_commit(self, round_number: int) -> bool:
        """One authority per round gossips the commit, so nodes that missed votes still learn."""
        if not self.is_voter:
            return False
        assert self.key is not None
        keys = self.set.keys
        return keys[round_number % len(keys)] == self.key.public

    # Moving forward

    def _progress(self, now_ms: int) -> list[VoterOutput]:
        """Vote, finalize and move to the next round as far as the votes allow."""
        outputs: list[VoterOutput] = []
        for _ in range(8):
            current = self.current
            if self.previous is not None:
                decide(self.previous, self.set, self.chain.header)
                sent, changed = self._finality_of(self.previous, now_ms)
                outputs.extend(sent)
                if changed:
                    continue
            if self.is_voter and PREVOTE not in current.mine:
                if not self._should_start(current):
                    break
                outputs.extend(self._cast(current, PREVOTE, self._prevote_target(), now_ms))
            decide(current, self.set, self.chain.header)
            if (
                self.is_voter
                and PRECOMMIT not in current.mine
                and current.prevote_ghost is not None
                and self._contains_previous_estimate(current.prevote_ghost)
            ):
                outputs.extend(self._cast(current, PRECOMMIT, current.prevote_ghost, now_ms))
                decide(current, self.set, self.chain.header)
            sent, changed = self._finality_of(current, now_ms)
            outputs.extend(sent)
            if changed:
                continue
            if not current.completable or not self._should_start_next():
                break
            self._begin_next(now_ms)
        return outputs

    def _should_start(self, round_: Round) -> bool:
        """Whether to prevote in `round_`: there is something new to finalize, or others vote."""
        if self.chain.best_header.number > self.chain.finalized_header.number:
            return True
        return bool(round_.votes[PREVOTE])

    def _should_start_next(self) -> bool:
        if self.chain.best_header.number > self.chain.finalized_header.number:
            return True
        return bool(self._future.get(self.current.number + 1))

    def _begin_next(self, now_ms: int) -> None:
        self._ahead.clear()
        self.previous = self.current
        self.current = self._new_round(self.previous.number + 1, now_ms)
        waiting = self._future.pop(self.current.number, [])
        for number in [n for n in self._future if n <= self.current.number]:
            del self._future[number]
        scratch: list[VoterOutput] = []
        for vote in waiting:
            self._on_vote("", vote, now_ms, scratch, checked=True)

    def _fast_forward(self, round_number: int, now_ms: int) -> list[VoterOutput]:
        """Another round already completed with a commit: join the one after it."""
        if round_number < self.current.number:
            return []
        self._ahead.clear()
        self.previous = None
        self.current = self._new_round(round_number + 1, now_ms)
        for number in [n for n in self._future if n < self.current.number]:
            del self._future[number]
        waiting = self._future.pop(self.current.number, [])
        scratch: list[VoterOutput] = []
        for vote in waiting:
            self._on_vote("", vote, now_ms, scratch, checked=True)
        return self._progress(now_ms)

    def _new_round(self, number: int, now_ms: int) -> Round:
        finalized = self.chain.finalized_header
        return Round(number, (finalized.hash, finalized.number), last_broadcast_ms=now_ms)

    def _previous_estimate(self) -> Target:
        previous = self.previous
        if previous is not None and previous.estimate is not None:
            return previous.estimate
        finalized = self.chain.finalized_header
        return finalized.hash, finalized.number

    def _contains_previous_estimate(self, target: Target) -> bool:
        estimate = self._previous_estimate()
        return self._ancestor_at(target, estimate[1]) == estimate[0]

    def _prevote_target(self) -> Target:
        """The best chain if it contains the previous estimate, capped at a set change."""
        estimate = self._previous_estimate()
        best = self.chain.best_header
        target: Target = (best.hash, best.number)
        if self._ancestor_at(target, estimate[1]) != estimate[0]:
            target = estimate
        return self._cap_at_set_change(target)

    def _cap_at_set_change(self, target: Target) -> Target:
        """The lowest block on the way to `target` after which the authority set changes."""
        finalized = self.chain.finalized_header
        chain: list[Target] = []
        block_hash, number = target
        while number > finalized.number:
            chain.append((block_hash, number))
            header = self.chain.header(block_hash)
            if header is None:
                return target
            block_hash, number = header.parent_hash, number - 1
        for candidate in reversed(chain):
            if self.chain.authority_set_after(candidate[0]).set_id != self.set.set_id:
                return candidate
        return target

    def _cast(self, round_: Round, phase: int, target: Target, now_ms: int) -> list[VoterOutput]:
        assert self.key is not None
        vote = SignedVote.sign(
            self.key,
            phase=phase,
            set_id=self.set.set_id,
            round_=round_.number,
            block_hash=target[0],
            number=target[1],
        )
        votes = [vote]
        if self._equivocate and phase == PREVOTE:
            other = self._equivocation_target(target)
            if other is not None:
                votes.append(
                    SignedVote.sign(
                        self.key,
                        phase=phase,
                        set_id=self.set.set_id,
                        round_=round_.number,
                        block_hash=other[0],
                        number=other[1],
                    )
                )
        round_.mine[phase] = vote
        self._persist(self._saved_state())
        for v in votes:
            round_.add_vote(v)
        round_.last_broadcast_ms = now_ms
        return [BroadcastVotes(tuple(votes))]

    def _equivocation_target(self, target: Target) -> Target | None:
        header = self.chain.header(target[0])
        if header is None or target[1] == 0:
            return None
        parent = self.chain.header(header.parent_hash)
        return None if parent is None else (parent.hash, parent.number)

    def _mine(self, round_: Round | None) -> list[SignedVote]:
        if round_ is None:
            return []
        return [round_.mine[p] for p in (PREVOTE, PRECOMMIT) if p in round_.mine]

    # Persistence

    def _saved_state(self) -> bytes:
        current = self.current
        return codec.encode(
            [
                self.set.set_id,
                current.number,
                [v.to_value() for v in current.mine.values()],
            ]
        )

    def _restore(self, saved: bytes, now_ms: int) -> None:
        try:
            f = codec.expect_list(codec.decode_raw(saved), 3, "voter state")
            set_id = codec.expect_u64(f[0], "voter.set_id")
            number = codec.expect_u64(f[1], "voter.round")
            mine = [SignedVote.from_value(v) for v in codec.expect_array(f[2], 2, "voter.votes")]
        except DecodeError as exc:
            log.warning("the saved voter state does not decode (%s); starting afresh", exc)
            return
        if set_id != self.set.set_id:
            return
        self.current = self._new_round(max(number, 1), now_ms)
        for vote in mine:
            self.current.mine[vote.phase] = vote
            if self.chain.header(vote.block_hash) is not None:
                self.current.add_vote(vote)
        log.info("resuming round %d of set %d", self.current.number, set_id)
