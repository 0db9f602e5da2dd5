"""What a peer can make the GRANDPA voter do and keep: vote buffers bounded per authority, no
signature checked twice for a voter's surplus votes, equivocations among votes that wait for
their blocks reported, oversized messages refused, per-peer state dropped on disconnect, a saved
completed round served after a restart, and the round timers."""

from __future__ import annotations

import itertools

import pytest

from chain.core.finality import Justification
from chain.core.grandpa import (
    PREVOTE_WAIT_MS,
    GrandpaVoter,
)
from chain.core.messages import decode_finality, encode_finality
from chain.core.round_duties import primary_of
from chain.core.voter_messages import (
    AskNeighbour,
    BroadcastPrimary,
    BroadcastVotes,
    CatchUp,
    Neighbour,
    PrimaryProposal,
    ReportEquivocation,
    RequestCatchUp,
    Verdict,
    VoterOutput,
    votes_from_value,
)
from chain.core.votes_ahead import ROUNDS_AHEAD
from runtime.block import Header
from runtime.consensus import PRECOMMIT, PREVOTE, SignatureCheck, SignedVote
from runtime.pallets.session import AuthoritySet
from runtime.primitives.keys import Keypair, verify
from tests.chain.core.test_grandpa import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    KEYS,
    NOW,
    FakeChain,
    make_header,
    sent_votes,
    vote,
    voter,
)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the vote signatures the voter checks (the real check still runs)."""
    calls = {"n": 0}
    real = SignedVote.signature_is_valid

    def counting(self: SignedVote, check: SignatureCheck = verify) -> bool:
        calls["n"] += 1
        return real(self, check)

    monkeypatch.setattr(SignedVote, "signature_is_valid", counting)
    return calls


def test_a_message_with_more_votes_than_the_set_can_send_is_refused_unchecked(counted):
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    flood = [vote(BOB, PREVOTE, blocks[3], round_=r) for r in range(1, 4 * len(KEYS) + 2)]
    verdict, _ = v.on_votes("bob", flood, NOW)
    assert verdict is Verdict.REJECT
    assert counted["n"] == 0


def test_at_most_two_votes_per_voter_phase_and_round_are_checked_and_kept(counted):
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    forks = [chain.add(make_header(blocks[2], 3, salt=bytes([i]))) for i in range(12)]
    votes = [vote(BOB, PREVOTE, f, round_=2) for f in forks]
    v.on_votes("bob", votes, NOW)
    assert counted["n"] == 2
    assert sum(len(x) for x in v._ahead.rounds[2].values()) == 2
    # Rounds past the kept window: one check per voter and round it climbs to, nothing kept.
    far = [vote(BOB, PREVOTE, blocks[3], round_=ROUNDS_AHEAD + 2) for _ in range(3)]
    v.on_votes("bob", far, NOW)
    assert counted["n"] == 3
    assert ROUNDS_AHEAD + 2 not in v._ahead.rounds


def test_an_equivocation_among_votes_that_wait_for_their_blocks_is_reported():
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    unknown = [make_header(blocks[3], 4, salt=bytes([i])) for i in range(2)]
    outputs = v.on_votes("bob", [vote(BOB, PREVOTE, u) for u in unknown], NOW)[1]
    reports = [o for o in outputs if isinstance(o, ReportEquivocation)]
    assert len(reports) == 1
    proof = reports[0].proof
    assert {proof.first.block_hash, proof.second.block_hash} == {u.hash for u in unknown}


def test_per_peer_state_is_dropped_when_peers_leave_and_strangers_leave_none():
    chain, _ = FakeChain.linear(3)
    v = voter(chain)
    for i in range(1000):
        v.on_peer_connected(f"peer{i}", NOW)
        v.on_neighbour(f"peer{i}", Neighbour(0, 3, 3), NOW)
    assert len(v._neighbours) == 1000
    for i in range(1000):
        v.on_peer_disconnected(f"peer{i}")
    assert len(v._neighbours) == 0
    assert v.note_neighbour("stranger", Neighbour(0, 9, 9))
    assert len(v._neighbours) == 0


def test_a_claim_not_backed_by_a_catch_up_is_forgotten_and_the_peer_asked_later_and_later():
    chain, _ = FakeChain.linear(3)
    v = voter(chain)
    v.on_peer_connected("liar", NOW)
    asked = []
    now = NOW
    for _ in range(200):
        now += 500
        out = v.on_neighbour("liar", Neighbour(0, 10**9, 10**6), now)[1] + v.on_timer(now)
        if any(isinstance(o, RequestCatchUp) for o in out):
            asked.append(now)
            v.on_request_failed("liar", "catchup", now)
    assert v.round_number < 10
    gaps = [b - a for a, b in itertools.pairwise(asked)]
    assert gaps == sorted(gaps) and gaps[-1] >= 16_000
    assert len(asked) <= 10


def test_a_restarted_voter_still_answers_catch_ups_for_the_round_it_completed():
    chain, blocks = FakeChain.linear(3)
    saved: list[bytes] = []
    v = voter(chain, persist=saved.append)
    v.on_block_imported(NOW)
    votes = [vote(k, p, blocks[3]) for k in (BOB, CHARLIE, DAVE) for p in (PREVOTE, PRECOMMIT)]
    v.on_votes("peer", votes, NOW)
    assert v.round_number == 2
    restarted = voter(chain, saved=saved[-1])
    assert restarted.round_number == 2
    answer = restarted.catch_up_for(0, 1)
    assert answer is not None and answer.round == 1
    assert {x.voter for x in answer.precommits} == {k.public for k in KEYS}
    # A voter behind takes it and joins round 2.
    behind_chain, _ = FakeChain.linear(3)
    behind = voter(behind_chain, key=BOB)
    verdict, _ = behind.on_catch_up("alice", CatchUp.decode(answer.encode()), NOW)
    assert verdict is Verdict.ACCEPT and behind.round_number == 2


def test_a_voter_prevotes_at_once_on_a_new_block_and_after_2t_when_there_is_none():
    chain, blocks = FakeChain.linear(2)
    chain.final = blocks[2]
    v = voter(chain)
    assert sent_votes(v.on_block_imported(NOW)) == []
    assert sent_votes(v.on_timer(NOW + PREVOTE_WAIT_MS - 1)) == []
    (prevote,) = sent_votes(v.on_timer(NOW + PREVOTE_WAIT_MS))
    assert (prevote.phase, prevote.number) == (PREVOTE, 2)


def primary_of_round_2() -> Keypair:
    chain, _ = FakeChain.linear(1)
    owner = primary_of(voter(chain).set, 2)
    return next(k for k in KEYS if k.public == owner)


def round_1_with_an_estimate_above_finality(
    k: Keypair, four: Keypair, three: Keypair
) -> tuple[GrandpaVoter, FakeChain, list[Header], list[VoterOutput]]:
    """`k`'s voter after round 1: all prevoted #4; precommits for #4 by `k` and `four` and for
    #3 by `three` finalize #3 and leave the estimate at #4 (the fourth precommit could still make
    #4 final). Returns the voter, its chain, the blocks and the last step's outputs."""
    chain, blocks = FakeChain.linear(4)
    v = voter(chain, key=k)
    v.on_block_imported(NOW)
    for o in KEYS:
        if o is not k:
            v.on_votes("p", [vote(o, PREVOTE, blocks[4])], NOW)
    v.on_votes("p", [vote(four, PRECOMMIT, blocks[4])], NOW)
    outputs = v.on_votes("p", [vote(three, PRECOMMIT, blocks[3])], NOW)[1]
    assert chain.finalized_header.number == 3 and v.round_number == 2
    return v, chain, blocks, outputs


def test_the_primary_of_a_round_proposes_the_last_estimate_when_it_is_not_final():
    primary = primary_of_round_2()
    others = [o for o in KEYS if o is not primary]
    _, _, _, outputs = round_1_with_an_estimate_above_finality(primary, others[0], others[1])
    proposals = [o.proposal for o in outputs if isinstance(o, BroadcastPrimary)]
    assert [(p.round, p.number, p.voter) for p in proposals] == [(2, 4, primary.public)]
    assert proposals[0].signature_is_valid()


def test_a_prevoter_waits_for_the_primary_then_builds_on_its_proposal():
    primary = primary_of_round_2()
    k, other, third = (o for o in KEYS if o is not primary)
    v, chain, blocks, _ = round_1_with_an_estimate_above_finality(k, other, third)
    chain.add(make_header(blocks[4], 5))
    # A new block, but the primary's proposal is due: no prevote yet.
    assert sent_votes(v.on_block_imported(NOW + 1)) == []
    forged = PrimaryProposal.sign(other, set_id=0, round_=2, block_hash=blocks[4].hash, number=4)
    assert v.on_primary("p", forged, NOW + 2)[0] is Verdict.REJECT
    proposal = PrimaryProposal.sign(
        primary, set_id=0, round_=2, block_hash=blocks[4].hash, number=4
    )
    verdict, outputs = v.on_primary("p", proposal, NOW + 3)
    assert verdict is Verdict.ACCEPT and v.current.primary == (blocks[4].hash, 4)
    assert [(x.phase, x.number) for x in sent_votes(outputs)] == [(PREVOTE, 5)]


def test_a_new_peer_is_asked_where_it_stands():
    chain, _ = FakeChain.linear(1)
    v = voter(chain)
    assert v.on_peer_connected("p", NOW) == [AskNeighbour("p", Neighbour(0, 1, 0))]


def test_a_catch_up_with_surplus_votes_is_refused_before_any_signature_is_checked(counted):
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    triple = tuple(vote(BOB, PREVOTE, blocks[i], round_=4) for i in (1, 2, 3))
    forged = CatchUp(0, 4, triple, ())
    assert v.on_catch_up("p", forged, NOW)[0] is Verdict.REJECT
    assert counted["n"] == 0


def test_a_catch_up_vote_naming_a_block_at_a_false_height_is_refused():
    chain, blocks = FakeChain.linear(5)
    v = voter(chain)
    honest = (ALICE, BOB, CHARLIE)
    lie = SignedVote.sign(
        DAVE, phase=PREVOTE, set_id=0, round_=4, block_hash=blocks[3].hash, number=200
    )
    c = CatchUp(
        0,
        4,
        (*(vote(k, PREVOTE, blocks[3], round_=4) for k in honest), lie),
        tuple(vote(k, PRECOMMIT, blocks[3], round_=4) for k in honest),
    )
    assert v.on_catch_up("dave", c, NOW)[0] is Verdict.REJECT
    assert v.round_number == 1 and chain.finalized_log == []


def test_a_voter_whose_saved_state_is_lost_votes_in_no_round_of_its_set_again():
    chain, blocks = FakeChain.linear(5)
    saved: list[bytes] = []
    v = voter(chain, persist=saved.append)
    v.on_block_imported(NOW)
    assert v.current.mine  # it voted in round 1
    restarted = voter(chain, saved=saved[-1][:-1], persist=saved.append)
    assert not restarted.is_voter
    c = CatchUp(
        0,
        4,
        tuple(vote(k, PREVOTE, blocks[3], round_=4) for k in KEYS),
        tuple(vote(k, PRECOMMIT, blocks[3], round_=4) for k in KEYS),
    )
    outputs = restarted.on_catch_up("bob", c, NOW)[1] + restarted.on_timer(NOW + 10_000)
    assert restarted.round_number == 5 and sent_votes(outputs) == []
    # It still follows, and its abstention survives another restart.
    assert [n for n, _ in chain.finalized_log] == [3]
    assert not voter(chain, saved=saved[-1]).is_voter


def test_a_sole_authority_votes_even_after_losing_its_saved_state():
    chain, blocks = FakeChain.linear(2)
    chain.sets[blocks[0].hash] = AuthoritySet(0, ((ALICE.public, 1),))
    solo = voter(chain, saved=b"\xc1")
    assert solo.is_voter
    assert [(x.phase, x.number) for x in sent_votes(solo.on_block_imported(NOW))] == [
        (PREVOTE, 2),
        (PRECOMMIT, 2),
    ]


def test_a_forged_commit_for_an_unknown_block_is_refused_and_fetches_nothing():
    chain, blocks = FakeChain.linear(3)
    v = voter(chain)
    unknown = make_header(blocks[3], 4)
    forged = Justification(0, 9, unknown.hash, 4, ())
    verdict, outputs = v.on_commit("mallory", forged, NOW)
    assert verdict is Verdict.REJECT and outputs == []


def test_votes_sent_again_are_a_new_message_each_time():
    chain, _ = FakeChain.linear(3)
    v = voter(chain)
    v.on_block_imported(NOW)
    glue_messages = []
    for t in (NOW + 2_000, NOW + 4_000):
        for out in v.on_timer(t):
            if isinstance(out, BroadcastVotes):
                assert out.resent_at_ms == t
                glue_messages.append(
                    encode_finality("votes", [x.to_value() for x in out.votes], out.resent_at_ms)
                )
    assert len(glue_messages) == 2 and glue_messages[0] != glue_messages[1]
    kind, payload = decode_finality(glue_messages[0])
    assert kind == "votes" and votes_from_value(payload) == [v.current.mine[PREVOTE]]


def test_a_step_with_many_votes_goes_out_in_messages_peers_of_a_sole_authority_accept():
    from chain.core.actions import Gossip
    from chain.core.sync import Sync
    from chain.core.voting import VoterGlue

    chain, blocks = FakeChain.linear(3)
    chain.sets[blocks[0].hash] = AuthoritySet(0, ((ALICE.public, 1),))
    votes = tuple(vote(ALICE, p, blocks[3], round_=r) for r in range(1, 6) for p in (0, 1))
    glue = VoterGlue(None, None, Sync())  # type: ignore[arg-type]
    messages = [a for a in glue.actions([BroadcastVotes(votes)], NOW) if isinstance(a, Gossip)]
    assert len(messages) == 3
    peer = voter(chain, key=None)
    for m in messages:
        _, payload = decode_finality(m.data)
        assert peer.on_votes("alice", votes_from_value(payload), NOW)[0] is not Verdict.REJECT
