"""The simulated network's cheaper steps change no run: its delay draws are randint's numbers
from the same stream, the voter's state packed without the codec's type walk is the codec's
encoding, and the garbage collector's settings are given back when a run stops."""

from __future__ import annotations

import gc
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.voter_messages import CatchUp
from chain.core.voter_state import VoterState
from chain.spec import local_spec
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote
from runtime.primitives import codec
from runtime.primitives.keys import keypair_from_suri
from sim.network import RUN_GC_THRESHOLDS, SimNetwork


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32),
    st.lists(st.tuples(st.integers(-50, 40_000), st.integers(0, 2**40)), min_size=1, max_size=20),
)
def test_the_networks_delay_draws_are_randints_from_the_same_stream(
    seed: int, ranges: list[tuple[int, int]]
) -> None:
    net = SimNetwork.__new__(SimNetwork)  # only its generator is used
    net.rng = random.Random(seed)
    plain = random.Random(seed)
    for lo, span in ranges:
        for hi in (lo, lo + 1, lo + span):
            assert net._randint(lo, hi) == plain.randint(lo, hi)
    assert net.rng.getstate() == plain.getstate()


def test_an_empty_range_is_refused_as_randint_refuses_it() -> None:
    net = SimNetwork.__new__(SimNetwork)
    net.rng = random.Random(0)
    with pytest.raises(ValueError):
        net._randint(5, 4)


votes = st.builds(
    SignedVote,
    st.sampled_from((PREVOTE, PRECOMMIT)),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**32 - 1),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=64, max_size=64),
)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.lists(votes, max_size=2),
    st.none() | st.tuples(st.integers(0, 2**32 - 1), st.lists(votes), st.lists(votes)),
    st.none() | st.integers(0, 2**64 - 1),
)
def test_the_voter_state_packed_directly_is_the_codecs_encoding(
    set_id: int,
    round_: int,
    mine: list[SignedVote],
    completed: tuple[int, list[SignedVote], list[SignedVote]] | None,
    abstains: int | None,
) -> None:
    done = None if completed is None else CatchUp(set_id, completed[0], *map(tuple, completed[1:]))
    state = VoterState(set_id, round_, tuple(mine), done, abstains)
    raw = state.encode()
    assert raw == codec.encode(state.to_value())  # the codec's checked packing
    assert VoterState.decode(raw) == state


def test_a_run_gives_the_collectors_thresholds_back() -> None:
    spec = local_spec(validators=1)
    net = SimNetwork(spec, seed=0)
    net.add_node("Alice", keypair_from_suri("//Alice"))
    seen: list[tuple[int, ...]] = []
    net.schedule(0, lambda: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    net.run_for(spec.genesis.slot_duration_ms)
    assert seen == [RUN_GC_THRESHOLDS]
    assert gc.get_threshold() == before
