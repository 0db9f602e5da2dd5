"""`xpl benchmark import --referenda N --votes M`: the same transfers imported on a plain genesis
and on one full of governance, side by side; checked at tiny sizes for its figures' shape (not
their timing), and its governance genesis for what the pallets wrote into it."""

from __future__ import annotations

import json

import pytest

from chain.benchmarks.governance_state import bench_tracks, populate_governance
from chain.benchmarks.import_bench import (
    ENDOWMENT,
    _accounts,
    run_governance_import_benchmark,
)
from chain.cli.main import main
from runtime.framework import BlockContext
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.pallets import balances, conviction_voting
from runtime.pallets.referenda import ReferendumInfo
from runtime.pallets.referenda.invariants import broken_invariants
from runtime.pallets.staking import DEFAULT_STAKING_PARAMS, GenesisValidator
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import StateOverlay


def test_the_governance_genesis_holds_what_the_pallets_wrote() -> None:
    keys = [k.public for k in _accounts(40)]
    config = GenesisConfig(
        validators=(GenesisValidator(keys[0], DEFAULT_STAKING_PARAMS.min_validator_bond),),
        slot_duration_ms=1_000,
        balances=tuple((k, ENDOWMENT) for k in keys),
        tracks=bench_tracks(),
    )
    plain = build_genesis_state(config)
    state, setup = populate_governance(plain, keys, referenda=200, votes=600)
    assert (setup.referenda, setup.votes, setup.delegations) == (200, 600, 2 * 3)
    assert setup.states.keys() >= {"deciding", "queued", "submitted"}
    assert sum(setup.states.values()) == 200
    assert 0 < setup.due <= 20
    ctx = BlockContext(StateOverlay(state.get), 0, ZERO_HASH, 0, ZERO_HASH, ZERO_HASH)
    assert all((r := ReferendumInfo.get(ctx.state, i)) and r.ongoing for i in range(200))
    assert sum(ReferendumInfo.get(ctx.state, i).support > 0 for i in range(200)) > 150  # type: ignore[union-attr]
    assert balances.frozen(ctx, keys[0]) > 0  # a voter's conviction lock
    assert conviction_voting.VotingFor.get(ctx.state, (keys[19], 0)) is not None  # a delegator
    sorted_state = sorted(state.items())
    assert (
        broken_invariants(
            state.get, lambda p: iter([(k, v) for k, v in sorted_state if k.startswith(p)])
        )
        == []
    )
    with pytest.raises(ValueError, match="cannot cast"):
        populate_governance(plain, keys[:2], referenda=3, votes=10)


def test_both_chains_import_the_same_transfers_and_report_their_hook_work() -> None:
    f = run_governance_import_benchmark(txs=60, accounts=20, referenda=12, votes=120, rounds=2)
    assert (f.txs, f.accounts, f.referenda, f.votes, f.rounds) == (60, 20, 12, 120, 2)
    assert f.plain.blocks == f.governance.blocks >= 1
    for chain in (f.plain, f.governance):
        assert chain.transfers_per_s > 0 and chain.import_seconds > 0
        assert chain.mean_mandatory_us > 0 and chain.max_referenda_reads > 0
    assert f.plain.alarms_serviced == 0
    assert f.governance.alarms_serviced >= 1  # the first block's due alarm
    assert f.governance.max_alarms_per_block <= 64
    assert f.ratio == pytest.approx(f.governance.transfers_per_s / f.plain.transfers_per_s, 0.01)
    assert f.cpu_ratio > 0 and f.plain.cpu_seconds > 0


def test_the_command_prints_both_rates_and_refuses_impossible_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["benchmark", "import", "--txs", "40", "--accounts", "10", "--referenda", "5"]
    args += ["--rounds", "1"]
    assert main([*args, "--votes", "40", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["referenda"] == 5 and figures["votes"] == 40
    assert {"plain", "governance", "ratio", "referenda_states"} <= figures.keys()
    assert main([*args, "--votes", "30"]) == 0
    out = capsys.readouterr().out
    assert "plain:" in out and "governance:" in out and "ratio:" in out
    assert "alarms" in out and "mandatory weight" in out
    assert main([*args, "--votes", "10000"]) == 2
    assert "cannot cast" in capsys.readouterr().err
