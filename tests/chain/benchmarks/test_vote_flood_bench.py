"""`xpl benchmark vote-flood`: a rogue authority's votes, measured and charged."""

from __future__ import annotations

import pytest

from chain.benchmarks.vote_flood_bench import run_vote_flood_benchmark


def test_an_oversized_vote_message_is_charged_and_the_figures_are_measured():
    f = run_vote_flood_benchmark(votes=40)
    assert f.one_message_ms >= 0 and f.small_messages_ms >= 0
    assert f.one_message_charged >= 100  # more votes than the set of four may send at once
    assert f.messages == 3 and f.small_messages_charged == 0  # within the limits: not charged


def test_a_flood_of_no_votes_is_refused():
    with pytest.raises(ValueError):
        run_vote_flood_benchmark(votes=0)
