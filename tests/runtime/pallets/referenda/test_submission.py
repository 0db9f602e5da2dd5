"""What a proposal may be, on which track, and who can pay for it: each refusal names the
problem and takes nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runtime import dispatch
from runtime.framework import ROOT, BadOrigin, Origin
from runtime.pallets.governance.tracks import Tracks
from runtime.pallets.referenda.errors import (
    BadProposal,
    BadTracks,
    CallNotAllowed,
    CannotPayDeposit,
    SpendAboveLimit,
    UnknownReferendum,
    UnknownTrack,
)
from runtime.pallets.referenda.track_rules import check_tracks, fast_tracks
from runtime.primitives import codec
from tests.runtime.pallets.referenda.conftest import (
    ALICE,
    BOB,
    POOR,
    ROOT_TRACK,
    SMALL,
    TREASURER,
    UNIT,
    GovChain,
    set_params_call,
)


def transfer(amount: int) -> bytes:
    return dispatch.encode_call("balances", "transfer", (BOB, amount))


def refused_without_effect(gov: GovChain, error: type[Exception], *call: object) -> str:
    before = (gov.free(ALICE), gov.held(ALICE), gov.count())
    with pytest.raises(error) as exc:  # type: ignore[call-overload]
        gov.call(*call)  # type: ignore[arg-type]
    assert (gov.free(ALICE), gov.held(ALICE), gov.count()) == before
    return exc.value.reason()  # type: ignore[no-any-return]


def test_an_unknown_track_or_a_call_that_does_not_decode_is_refused(gov: GovChain) -> None:
    gov.next_block()
    assert "track 9" in refused_without_effect(
        gov, UnknownTrack, ALICE, "submit", 9, set_params_call(50), 0
    )
    bogus = codec.encode(["nowhere", "nothing", []])
    assert "unknown call nowhere.nothing" in refused_without_effect(
        gov, BadProposal, ALICE, "submit", ROOT_TRACK, bogus, 0
    )


@pytest.mark.usefixtures("spend_call")
def test_spending_tracks_may_only_propose_spends_within_their_maximum(gov: GovChain) -> None:
    gov.next_block()
    reason = refused_without_effect(
        gov, CallNotAllowed, ALICE, "submit", TREASURER, set_params_call(50), 0
    )
    assert "staking.set_params" in reason
    small_max = gov.track(SMALL).max_spend
    reason = refused_without_effect(
        gov, SpendAboveLimit, ALICE, "submit", SMALL, transfer(small_max + 1), 0
    )
    assert "small_spender" in reason and "10000" in reason.replace(",", "")
    index = gov.submit(ALICE, SMALL, transfer(small_max))
    assert gov.ref(index).track == SMALL
    gov.submit(ALICE, TREASURER, transfer(small_max + 1))
    gov.submit(ALICE, ROOT_TRACK, transfer(10**9 * UNIT))  # Root has no limit


def test_a_signer_who_cannot_pay_the_deposit_is_refused_and_keeps_everything(
    gov: GovChain,
) -> None:
    gov.next_block()
    before = gov.free(POOR)
    with pytest.raises(CannotPayDeposit) as exc:
        gov.call(POOR, "submit", ROOT_TRACK, set_params_call(50), 0)
    assert "submission deposit is 100" in exc.value.reason()
    assert gov.free(POOR) == before and gov.held(POOR) == 0 and gov.count() == 0
    index = gov.submit(ALICE)
    with pytest.raises(CannotPayDeposit):
        gov.call(POOR, "place_decision_deposit", index)
    assert gov.free(POOR) == before


def test_calls_need_the_right_origin_and_a_real_referendum(gov: GovChain) -> None:
    gov.next_block()
    with pytest.raises(BadOrigin):
        gov.call(ROOT, "submit", ROOT_TRACK, set_params_call(50), 0)
    with pytest.raises(UnknownReferendum):
        gov.call(ALICE, "place_decision_deposit", 7)
    with pytest.raises(UnknownReferendum):
        gov.call(ALICE, "nudge", 7)


def test_declared_outflow_is_the_deposit(gov: GovChain) -> None:
    gov.next_block()
    submit = dispatch.calls()[("referenda", "submit")]
    assert submit.outflow(gov.ctx, (ROOT_TRACK, set_params_call(5), 0)) == 100 * UNIT
    index = gov.submit(ALICE)
    place = dispatch.calls()[("referenda", "place_decision_deposit")]
    assert place.outflow(gov.ctx, (index,)) == 100_000 * UNIT


def test_set_tracks_is_root_only_and_keeps_the_rules(gov: GovChain) -> None:
    gov.next_block()
    tracks = fast_tracks()
    longer = (replace(tracks[0], confirm_period=9), *tracks[1:])
    for origin in (ALICE, Origin(track="treasurer")):
        with pytest.raises(BadOrigin):
            gov.call(origin, "set_tracks", longer)
    gov.call(ROOT, "set_tracks", longer)
    assert Tracks.get(gov.state)[0].confirm_period == 9

    cases = {
        "root": tracks[1:],
        "same id": (tracks[0], replace(tracks[1], id=0)),
        "time-out": (replace(tracks[0], timeout=2), *tracks[1:]),
        "falls from a to b": (replace(tracks[0], approval_b=tracks[0].approval_a + 1),),
        "unknown curve kind": (replace(tracks[0], support_kind=1, support_b=0),),
    }
    for words, bad in cases.items():
        with pytest.raises(BadTracks) as exc:
            gov.call(ROOT, "set_tracks", bad)
        assert words in exc.value.reason() or "reciprocal" in exc.value.reason(), words

    index = gov.submit(ALICE, ROOT_TRACK)
    renamed = (replace(tracks[0], name="root"), replace(tracks[1], name="big_spender"), tracks[2])
    gov.call(ROOT, "set_tracks", renamed)  # no referendum on the treasurer track: allowed
    with pytest.raises(BadTracks) as exc:
        gov.call(ROOT, "set_tracks", (replace(tracks[0], id=5), *tracks[1:]))
    assert "ongoing referenda" in exc.value.reason()
    assert gov.ref(index).track == ROOT_TRACK


def test_the_default_and_fast_tracks_keep_the_rules() -> None:
    from runtime.pallets.governance.tracks import DEFAULT_TRACKS

    check_tracks(DEFAULT_TRACKS)
    check_tracks(fast_tracks())
    assert [t.name for t in fast_tracks()] == ["root", "treasurer", "small_spender"]
    assert all(t.decision_period <= 30 for t in fast_tracks())


@pytest.mark.usefixtures("spend_call")
def test_funds_frozen_by_a_vote_cannot_pay_a_deposit(gov: GovChain) -> None:
    from runtime.pallets import balances

    gov.next_block()
    balances.set_freeze(gov.ctx, POOR, "vote", 5 * UNIT)
    with pytest.raises(balances.Frozen):
        gov.call(POOR, "submit", SMALL, transfer(1), 0)
    assert gov.held(POOR) == 0 and gov.count() == 0


def test_a_small_spender_referendum_enacts_a_treasury_spend_within_its_limit(
    gov: GovChain,
) -> None:
    from runtime.accounts import TREASURY
    from runtime.pallets import balances, treasury

    gov.next_block()
    balances.transfer(gov.ctx, ALICE, TREASURY, 50_000 * UNIT, keep_alive=True)
    limit = gov.track(SMALL).max_spend
    over = dispatch.encode_call("treasury", "spend", (limit + 1, BOB, 0))
    with pytest.raises(SpendAboveLimit):
        gov.call(ALICE, "submit", SMALL, over, 0)
    index = gov.submit(ALICE, SMALL, dispatch.encode_call("treasury", "spend", (limit, BOB, 0)))
    gov.call(BOB, "place_decision_deposit", index)
    gov.set_tally(index, ayes=500_000 * UNIT)
    track = gov.track(SMALL)
    seen = gov.run_to(gov.ref(index).submitted + track.prepare_period + track.confirm_period + 1)
    (dispatched,) = [args for e, args in seen if e == "Dispatched"]
    assert dispatched[2:4] == ("treasury.spend", True), dispatched
    spends = [treasury.Spends.get(gov.state, i) for i in treasury.Pending.get(gov.state)]
    assert [(s.amount, s.beneficiary) for s in spends if s is not None] == [(limit, BOB)]
