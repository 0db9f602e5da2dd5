"""How a followed job's end is read from the market's events."""

from __future__ import annotations

from chain.client.jobs import ENDED_STATES, JobOutcome, outcome_of_event
from chain.client.jobs.following import FINAL_EVENTS


def event(name: str, pallet: str = "market", **data: object) -> dict[str, object]:
    return {"pallet": pallet, "event": name, "data": {"job": 4, **data}}


def test_a_settlement_reports_what_it_paid() -> None:
    settled = event(
        "JobSettled", payment="900", verification_fee="50", protocol_fee="20", refund="30"
    )
    assert outcome_of_event(4, 17, settled) == JobOutcome(
        job_id=4,
        state="settled",
        block=17,
        payment=900,
        verification_fee=50,
        protocol_fee=20,
        refund=30,
    )


def test_every_ending_event_ends_the_job_in_its_state() -> None:
    assert set(FINAL_EVENTS.values()) == set(ENDED_STATES)
    for name, state in FINAL_EVENTS.items():
        outcome = outcome_of_event(4, 3, event(name, slashed="5"))
        assert outcome is not None and (outcome.state, outcome.block) == (state, 3)
        assert outcome.slashed == 5 and outcome.payment is None


def test_other_events_do_not_end_the_job() -> None:
    assert outcome_of_event(4, 3, event("JobMatched")) is None
    assert outcome_of_event(4, 3, event("JobSettled", pallet="compute")) is None
    assert outcome_of_event(4, 3, {"pallet": "market", "event": "", "data": {}}) is None
