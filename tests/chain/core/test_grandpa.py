"""The GRANDPA voter on its own, over a small chain it reads through `ChainView`: how votes decide
the prevote-GHOST, precommits, finality and the estimate; what it refuses; equivocations; its
saved state across a restart; catch-up and commits; the cap at an authority set change."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chain.core.finality import Justification, verify_justification
from chain.core.grandpa import PRECOMMIT_WAIT_MS, GrandpaVoter
from chain.core.messages import decode_finality, encode_finality
from chain.core.voter_messages import (
    AskNeighbour,
    BroadcastCommit,
    BroadcastVotes,
    CatchUp,
    FetchBlock,
    Neighbour,
    ReportEquivocation,
    RequestCatchUp,
    Verdict,
    votes_from_value,
)
from runtime.block import Digest, Header
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote
from runtime.pallets.session import AuthoritySet
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, dev_keypair

ALICE, BOB, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave"))
KEYS = (ALICE, BOB, CHARLIE, DAVE)
SET0 = AuthoritySet(0, tuple((k.public, 1) for k in KEYS))
NOW = 1_000_000


def make_header(parent: Header | None, number: int, salt: bytes = b"") -> Header:
    return Header(
        parent_hash=blake2b_256(b"genesis") if parent is None else parent.hash,
        number=number,
        state_root=blake2b_256(salt + number.to_bytes(4, "big")),
        extrinsics_root=bytes(32),
        timestamp=number,
        digest=Digest(slot=number, author=bytes(32), seal=b""),
    )


@dataclass
class FakeChain:
    """Headers, a best and a finalized block, and the authority set after each block."""

    headers: dict[bytes, Header] = field(default_factory=dict)
    best: Header | None = None
    final: Header | None = None
    sets: dict[bytes, AuthoritySet] = field(default_factory=dict)
    finalized_log: list[tuple[int, Justification]] = field(default_factory=list)

    @classmethod
    def linear(cls, length: int) -> tuple[FakeChain, list[Header]]:
        genesis = make_header(None, 0)
        chain = cls()
        chain.add(genesis)
        chain.final = genesis
        blocks = [genesis]
        for n in range(1, length + 1):
            blocks.append(chain.add(make_header(blocks[-1], n)))
        return chain, blocks

    def add(self, header: Header) -> Header:
        self.headers[header.hash] = header
        if self.best is None or header.number > self.best.number:
            self.best = header
        return header

    def header(self, block_hash: bytes) -> Header | None:
        return self.headers.get(block_hash)

    @property
    def best_header(self) -> Header:
        assert self.best is not None
        return self.best

    @property
    def finalized_header(self) -> Header:
        assert self.final is not None
        return self.final

    def authority_set_after(self, block_hash: bytes) -> AuthoritySet:
        header = self.headers[block_hash]
        while header.hash not in self.sets:
            parent = self.headers.get(header.parent_hash)
            if parent is None:
                return SET0
            header = parent
        return self.sets[header.hash]

    def finalize(self, header: Header, justification: Justification) -> None:
        self.final = header
        self.finalized_log.append((header.number, justification))


def voter(chain: FakeChain, key: Keypair | None = ALICE, **kwargs) -> GrandpaVoter:
    return GrandpaVoter(chain, key=key, now_ms=NOW, finalize=chain.finalize, **kwargs)


def vote(k: Keypair, phase: int, target: Header, *, round_: int = 1, set_id: int = 0):
    return SignedVote.sign(
        k, phase=phase, set_id=set_id, round_=round_, block_hash=target.hash, number=target.number
    )


def sent_votes(outputs) -> list[SignedVote]:
    return [v for o in outputs if isinstance(o, BroadcastVotes) for v in o.votes]


def test_votes_encode_and_decode():
    _, blocks = FakeChain.linear(3)
    votes = [vote(k, PREVOTE, blocks[3]) for k in KEYS]
    kind, payload = decode_finality(encode_finality("votes", [v.to_value() for v in votes]))
    assert kind == "votes"
    assert votes_from_value(payload) == votes


def test_a_voter_prevotes_its_best_block_and_precommits_the_ghost_of_two_thirds():
    chain, blocks = FakeChain.linear(5)
    v = voter(chain)
    mine = sent_votes(v.on_block_imported(NOW))
    assert [(x.phase, x.number) for x in mine] == [(PREVOTE, 5)]
    # Bob and Charlie prevoted shorter chains: the GHOST of the three is the highest block all
    # three contain (#3), which Alice then precommits.
    verdict, outputs = v.on_votes(
        "peer", [vote(BOB, PREVOTE, blocks[4]), vote(CHARLIE, PREVOTE, blocks[3])], NOW
    )
    assert verdict is Verdict.ACCEPT
    # Dave has not prevoted: Alice waits for him until 4T into the round, then precommits.
    assert sent_votes(outputs) == []
    assert sent_votes(v.on_timer(NOW + PRECOMMIT_WAIT_MS - 1)) == []
    outputs = v.on_timer(NOW + PRECOMMIT_WAIT_MS)
    assert [(x.phase, x.number) for x in sent_votes(outputs)] == [(PRECOMMIT, 3)]
    assert v.current.prevote_ghost == (blocks[3].hash, 3)
    assert chain.finalized_log == []
    # Two more precommits for #3 or above make #3 final; the justification checks out.
    v.on_votes("peer", [vote(BOB, PRECOMMIT, blocks[4]), vote(CHARLIE, PRECOMMIT, blocks[3])], NOW)
    ((number, justification),) = chain.finalized_log
    assert number == 3
    verify_justification(justification, SET0, block_hash=blocks[3].hash, number=3)
    assert v.current.completable or v.round_number == 2


def test_two_votes_of_four_finalize_nothing():
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    v.on_block_imported(NOW)
    v.on_votes("peer", [vote(BOB, PREVOTE, blocks[3]), vote(BOB, PRECOMMIT, blocks[3])], NOW)
    assert chain.finalized_log == []
    assert v.current.prevote_ghost is None and not v.current.completable


def test_an_observer_finalizes_from_the_votes_it_sees_without_voting():
    chain, blocks = FakeChain.linear(4)
    v = voter(chain, key=None)
    assert not v.is_voter
    votes = [vote(k, p, blocks[4]) for k in KEYS[:3] for p in (PREVOTE, PRECOMMIT)]
    verdict, outputs = v.on_votes("peer", votes, NOW)
    assert verdict is Verdict.ACCEPT and sent_votes(outputs) == []
    assert [n for n, _ in chain.finalized_log] == [4]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda b: vote(dev_keypair("Eve"), PREVOTE, b[2]), Verdict.REJECT, id="non-authority"
        ),
        pytest.param(
            lambda b: SignedVote(
                PREVOTE, 0, 1, b[2].hash, 2, BOB.public, vote(CHARLIE, PREVOTE, b[2]).signature
            ),
            Verdict.REJECT,
            id="bad-signature",
        ),
        pytest.param(
            lambda b: SignedVote.sign(
                BOB, phase=PREVOTE, set_id=0, round_=1, block_hash=b[2].hash, number=3
            ),
            Verdict.REJECT,
            id="wrong-number",
        ),
        pytest.param(
            lambda b: vote(BOB, PREVOTE, make_header(b[3], 10_000)),
            Verdict.REJECT,
            id="implausibly-far-ahead",
        ),
        pytest.param(lambda b: vote(BOB, PREVOTE, b[2], set_id=7), Verdict.IGNORE, id="other-set"),
    ],
)
def test_bad_votes_are_refused(make, expected):
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    verdict, _ = v.on_votes("peer", [make(blocks)], NOW)
    assert verdict is expected
    assert all(BOB.public not in r.votes[PREVOTE] for r in v._live_rounds())


def test_a_vote_for_an_unknown_block_waits_for_it_and_asks_for_it():
    chain, blocks = FakeChain.linear(2)
    v = voter(chain)
    v.on_block_imported(NOW)
    later = make_header(blocks[2], 3)
    verdict, outputs = v.on_votes("peer", [vote(BOB, PREVOTE, later)], NOW)
    assert verdict is Verdict.ACCEPT
    assert FetchBlock("peer", later.hash, 3) in outputs
    assert BOB.public not in v.current.votes[PREVOTE]
    chain.add(later)
    v.on_block_imported(NOW)
    assert v.current.votes[PREVOTE][BOB.public][0].number == 3


def test_two_different_votes_in_one_round_are_an_equivocation_and_both_count():
    chain, blocks = FakeChain.linear(4)
    fork = chain.add(make_header(blocks[2], 3, salt=b"fork"))
    v = voter(chain)
    v.on_block_imported(NOW)
    first, second = vote(BOB, PREVOTE, blocks[4]), vote(BOB, PREVOTE, fork)
    _, outputs = v.on_votes("peer", [first, second], NOW)
    (report,) = [o for o in outputs if isinstance(o, ReportEquivocation)]
    assert report.proof.check() == BOB.public
    assert {x.block_hash for x in v.current.votes[PREVOTE][BOB.public]} == {
        blocks[4].hash,
        fork.hash,
    }
    # A third vote is not kept, and the offence is reported once.
    _, again = v.on_votes("peer", [vote(BOB, PREVOTE, blocks[3])], NOW)
    assert not any(isinstance(o, ReportEquivocation) for o in again)
    assert len(v.current.votes[PREVOTE][BOB.public]) == 2


def test_a_restarted_voter_does_not_vote_twice_in_a_round():
    chain, blocks = FakeChain.linear(3)
    saved: list[bytes] = []
    first = voter(chain, persist=saved.append)
    (prevote,) = sent_votes(first.on_block_imported(NOW))
    assert saved  # persisted before it was handed out
    chain.add(make_header(blocks[3], 4))  # a longer chain appears while the node is down
    second = voter(chain, saved=saved[-1])
    assert second.round_number == 1
    assert sent_votes(second.on_block_imported(NOW)) == []
    assert second.current.mine[PREVOTE] == prevote


def test_votes_a_round_ahead_are_kept_until_this_voter_gets_there():
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    v.on_block_imported(NOW)
    ahead = [vote(k, PREVOTE, blocks[3], round_=2) for k in (BOB, CHARLIE)]
    verdict, _ = v.on_votes("bob", ahead, NOW)
    assert verdict is Verdict.ACCEPT and v.round_number == 1
    for k in (BOB, CHARLIE, DAVE):
        v.on_votes("peer", [vote(k, PREVOTE, blocks[3]), vote(k, PRECOMMIT, blocks[3])], NOW)
    assert [n for n, _ in chain.finalized_log] == [3]
    chain.add(make_header(blocks[3], 4))
    v.on_block_imported(NOW)
    assert v.round_number == 2
    assert set(v.current.votes[PREVOTE]) == {ALICE.public, BOB.public, CHARLIE.public}


def test_a_peer_whose_neighbour_packet_is_ahead_is_asked_for_a_catch_up_that_brings_the_voter():
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    v.on_block_imported(NOW)
    assert v.on_peer_connected("bob", NOW) == [AskNeighbour("bob", Neighbour(0, 1, 0))]
    _, outputs = v.on_neighbour("bob", Neighbour(0, 5, 3), NOW)
    assert outputs == [RequestCatchUp("bob", 0, 1)]
    # One catch-up at a time.
    assert v.on_neighbour("bob", Neighbour(0, 5, 3), NOW + 1)[1] == []
    # Bob's answer: round 4 completed with all four voters for #3.
    catch_up = CatchUp(
        0,
        4,
        tuple(vote(k, PREVOTE, blocks[3], round_=4) for k in KEYS),
        tuple(vote(k, PRECOMMIT, blocks[3], round_=4) for k in KEYS),
    )
    verdict, _ = v.on_catch_up("bob", CatchUp.decode(catch_up.encode()), NOW)
    assert verdict is Verdict.ACCEPT
    assert [n for n, _ in chain.finalized_log] == [3]
    assert v.round_number == 5


def test_a_forged_catch_up_is_refused():
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    forged = CatchUp(
        0,
        4,
        tuple(vote(k, PREVOTE, blocks[3], round_=4) for k in KEYS),
        (
            *(vote(k, PRECOMMIT, blocks[3], round_=4) for k in KEYS[:2]),
            vote(DAVE, PRECOMMIT, blocks[3], round_=3),
        ),
    )
    verdict, _ = v.on_catch_up("bob", forged, NOW)
    assert verdict is Verdict.REJECT
    assert chain.finalized_log == [] and v.round_number == 1


def test_a_commit_finalizes_its_block_but_moves_no_round():
    chain, _ = FakeChain.linear(4)
    v = voter(chain)
    v.on_block_imported(NOW)
    donor_voters = [voter(FakeChain.linear(4)[0], key=k) for k in KEYS]
    # Three voters complete round 6 among themselves; Alice hears only their commit.
    for dv in donor_voters:
        dv.current.number = 6
    votes: list[SignedVote] = []
    for dv in donor_voters[1:]:
        votes.extend(sent_votes(dv.on_block_imported(NOW)))
    commit = None
    for _ in range(3):
        for dv in donor_voters[1:]:
            outputs = dv.on_votes("x", votes, NOW + PRECOMMIT_WAIT_MS)[1]
            votes.extend(sent_votes(outputs))
            commit = commit or next(
                (o.justification for o in outputs if isinstance(o, BroadcastCommit)), None
            )
    assert commit is not None and commit.round == 6
    verdict, _ = v.on_commit("bob", Justification.decode(commit.encode()), NOW)
    assert verdict is Verdict.ACCEPT
    assert chain.finalized_header.number == 4
    # It proves the block final, not the round's estimate: the voter stays in its round.
    assert v.round_number == 1
    # The same commit again is nothing new.
    assert v.on_commit("bob", commit, NOW)[0] is Verdict.IGNORE


def test_votes_stop_at_the_block_that_changes_the_authority_set():
    chain, blocks = FakeChain.linear(6)
    new_set = AuthoritySet(1, tuple((k.public, 1) for k in KEYS))
    chain.sets[blocks[4].hash] = new_set  # the set changes after #4
    v = voter(chain)
    (prevote,) = sent_votes(v.on_block_imported(NOW))
    assert prevote.number == 4
    sent: list[SignedVote] = []
    for k in (BOB, CHARLIE):
        outputs = v.on_votes(
            "peer",
            [vote(k, PREVOTE, blocks[6]), vote(k, PRECOMMIT, blocks[6])],
            NOW + PRECOMMIT_WAIT_MS,
        )[1]
        sent.extend(sent_votes(outputs))
    # The old set finalizes #4 exactly, then the new set votes from round 1 of set 1.
    assert [n for n, _ in chain.finalized_log] == [4]
    assert v.set.set_id == 1 and v.round_number == 1
    assert [(x.set_id, x.round, x.phase, x.number) for x in sent] == [
        (0, 1, PRECOMMIT, 4),
        (1, 1, PREVOTE, 6),
    ]
