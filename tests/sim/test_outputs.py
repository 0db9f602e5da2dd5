"""The simulator's outputs: table schemas, the Parquet recorder and its bounded memory, the run
digest, files left complete by Ctrl-C, the summary's figures, the plots and loading a run back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.plots import PLOTS, write_plots
from sim.results import ResultError, SimResult
from sim.summary import summarize, write_summary
from sim.tables import TABLES, Recorder, RecorderClosed, TableError, read_table

ROOT = Path(__file__).resolve().parents[2]
XPL = 10**12
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def finality_row(i: int, node: str = "A") -> dict[str, Any]:
    return {"t_ms": i, "node": node, "best": i + 1, "finalized": i, "lag_blocks": 1}


def job_row(job: int, step: str, t_ms: int, **extra: Any) -> dict[str, Any]:
    return {"t_ms": t_ms, "job": job, "step": step, "block": t_ms // 1000, **extra}


def worker_row(t_ms: int, worker: str, strategy: str, **extra: Any) -> dict[str, Any]:
    row = {
        "t_ms": t_ms,
        "worker": worker,
        "group": strategy + "s",
        "strategy": strategy,
        "stake": 1000 * XPL,
        "earnings": 0,
        "slashed": 0,
        "reputation": 100,
        "active": False,
        "online": True,
    }
    return row | extra


# ---- Schemas: a row that does not fit its table is refused, naming the table and the column


def test_every_table_starts_with_simulated_time() -> None:
    assert set(TABLES) == {"blocks", "finality", "messages", "jobs", "workers", "economics"}
    for schema in TABLES.values():
        assert schema.names[0] == "t_ms"


@pytest.mark.parametrize(
    ("table", "columns", "message"),
    [
        ("finality", finality_row(1) | {"lagg": 1}, "table 'finality': unknown column 'lagg'"),
        ("finality", finality_row(1) | {"best": "7"}, "column 'best' expects an integer"),
        ("finality", finality_row(1) | {"best": 7.0}, "column 'best' expects an integer"),
        ("finality", finality_row(1) | {"best": True}, "column 'best' expects an integer"),
        (
            "finality",
            finality_row(1) | {"best": 2**63},
            "column 'best' expects an integer in int64's range",
        ),
        (
            "finality",
            finality_row(1) | {"node": None},
            "column 'node' expects a string, got NoneType",
        ),
        ("finality", {"t_ms": 1, "node": "A", "best": 1, "finalized": 1}, "missing column"),
        ("workers", worker_row(1, "w", "honest", online=1), "column 'online' expects a bool"),
        ("workers", worker_row(1, "w", "honest", stake=10**38), "an amount below 10^38"),
        (
            "jobs",
            job_row(1, "settled", 1, amount=1.5),
            "column 'amount' expects an amount (integer units), got float",
        ),
        ("job", job_row(1, "settled", 1), "unknown table 'job'"),
    ],
)
def test_a_row_that_does_not_fit_its_table_is_refused(
    table: str, columns: dict[str, Any], message: str
) -> None:
    recorder = Recorder(None)
    with pytest.raises(TableError, match=re.escape(message)):
        recorder.row(table, **columns)
    assert recorder.digest() == Recorder(None).digest()  # a refused row is not digested


def test_nullable_columns_may_be_left_out_and_amounts_are_exact() -> None:
    recorder = Recorder(None)
    recorder.row("jobs", **job_row(7, "submitted", 1000))
    recorder.row("jobs", **job_row(7, "slashed", 2000, worker="w1", amount=3 * 10**30))
    jobs = recorder.frames()["jobs"]
    assert jobs["worker"].isna().tolist() == [True, False]
    assert jobs["amount"].tolist() == [None, 3 * 10**30]  # beyond int64, exact
    assert str(jobs["job"].dtype) == "Int64"


def test_a_recorder_refuses_an_unknown_table_to_keep_and_rows_after_close() -> None:
    with pytest.raises(TableError, match="unknown table 'jobz'"):
        Recorder(None, tables=["jobz"])
    recorder = Recorder(None)
    recorder.close()
    with pytest.raises(RecorderClosed):
        recorder.row("finality", **finality_row(1))


# ---- Bounded memory: rows leave memory as row groups while the run goes


def test_rows_are_written_as_row_groups_while_the_run_goes(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, flush_rows=7)
    path = tmp_path / "finality.parquet"
    sizes = []
    for i in range(100):
        recorder.row("finality", **finality_row(i))
        assert recorder.buffered("finality") < 7
        if i % 7 == 6:  # a flush just happened: the file on disk grew
            sizes.append(path.stat().st_size)
    assert recorder.row_groups("finality") == 14
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    recorder.close()
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 15  # 14 full, then the 2 rows close wrote
    assert parquet.metadata.num_rows == 100
    assert recorder.frames()["finality"]["t_ms"].tolist() == list(range(100))


def test_only_the_kept_tables_are_written_but_every_row_is_digested(tmp_path: Path) -> None:
    some = Recorder(tmp_path, tables=["finality"])
    every = Recorder(None)
    for recorder in (some, every):
        recorder.row("finality", **finality_row(1))
        recorder.row("jobs", **job_row(1, "submitted", 5))
    some.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["finality.parquet"]
    assert set(some.frames()) == {"finality"}
    assert some.digest() == every.digest()


def test_close_writes_a_readable_file_for_every_empty_table(tmp_path: Path) -> None:
    Recorder(tmp_path).close()
    for name, schema in TABLES.items():
        table = pq.read_table(tmp_path / f"{name}.parquet")
        assert table.num_rows == 0
        assert table.schema.equals(schema)


# ---- The digest


def recorded_digest(rows: list[tuple[str, dict[str, Any]]]) -> str:
    recorder = Recorder(None)
    for table, columns in rows:
        recorder.row(table, **columns)
    return recorder.digest()


RUN = [
    ("finality", finality_row(1)),
    ("jobs", job_row(3, "settled", 900, worker="w", amount=5 * 10**25, verdict="passed")),
    ("workers", worker_row(1000, "w", "honest", earnings=12)),
]


def test_the_digest_is_equal_for_equal_rows_and_differs_for_a_changed_row() -> None:
    digest = recorded_digest(RUN)
    assert len(digest) == 64
    assert recorded_digest(list(RUN)) == digest
    changed = [*RUN[:1], ("jobs", RUN[1][1] | {"amount": 5 * 10**25 + 1}), *RUN[2:]]
    assert recorded_digest(changed) != digest
    assert recorded_digest([RUN[1], RUN[0], RUN[2]]) != digest  # the order counts
    # A value left out and the same value given as null are the same row.
    assert recorded_digest([("jobs", job_row(1, "submitted", 1))]) == recorded_digest(
        [("jobs", job_row(1, "submitted", 1, worker=None))]
    )
    # A numpy integer is the plain integer it stands for.
    numpy = pytest.importorskip("numpy")
    assert recorded_digest([("finality", finality_row(1) | {"best": numpy.int64(2)})]) == (
        recorded_digest([("finality", finality_row(1))])
    )


# ---- Parquet round trip

JOB_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "t_ms": st.integers(0, 10**9),
            "job": st.integers(0, 2**63 - 1),
            "step": st.sampled_from(["submitted", "matched", "settled", "slashed"]),
        },
        optional={
            "block": st.none() | st.integers(0, 2**32),
            "worker": st.none() | st.text(max_size=8),
            "price": st.none() | st.integers(-(2**63), 2**63 - 1),
            "verdict": st.none() | st.sampled_from(["passed", "failed"]),
            "amount": st.none() | st.integers(-(10**38) + 1, 10**38 - 1),
        },
    ),
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=JOB_ROWS)
def test_rows_come_back_from_parquet_as_they_were_recorded(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]
) -> None:
    out = tmp_path_factory.mktemp("run")
    on_disk, in_memory = Recorder(out, flush_rows=5), Recorder(None, flush_rows=5)
    for recorder in (on_disk, in_memory):
        for row in rows:
            recorder.row("jobs", **row)
    assert on_disk.digest() == in_memory.digest()
    read_back, kept = on_disk.frames()["jobs"], in_memory.frames()["jobs"]
    pd.testing.assert_frame_equal(read_back, kept)
    assert len(read_back) == len(rows)
    for row, back in zip(rows, read_back.to_dict("records"), strict=True):
        for column, value in row.items():
            assert pd.isna(back[column]) if value is None else back[column] == value, column


# ---- Ctrl-C: what was recorded before it is all in complete files


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler (KeyboardInterrupt) for the test, whatever an earlier test in
    this worker process left installed, and for the processes it starts (which inherit an
    ignored SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("default_sigint")
def test_a_keyboard_interrupt_mid_run_leaves_every_row_recorded_before_it(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, flush_rows=10)
    recorded = 0
    try:
        for i in range(1000):
            if i == 53:
                signal.raise_signal(signal.SIGINT)  # Python's handler raises KeyboardInterrupt
            recorder.row("finality", **finality_row(i))
            recorded += 1
    except KeyboardInterrupt:
        recorder.close()
    assert recorded == 53
    assert pq.read_table(tmp_path / "finality.parquet").column("t_ms").to_pylist() == list(
        range(53)
    )
    assert pq.read_table(tmp_path / "jobs.parquet").num_rows == 0


CHILD = """
import itertools, sys
from pathlib import Path
from sim.tables import Recorder
recorder = Recorder(Path(sys.argv[1]), flush_rows=50)
i = 0
try:
    for i in itertools.count():
        recorder.row("finality", t_ms=i, node="A", best=i, finalized=i, lag_blocks=0)
        if i == 500:
            print("running", flush=True)
except KeyboardInterrupt:
    recorder.close()
    print(i, flush=True)
"""


@pytest.fixture
def child_run(tmp_path: Path, default_sigint: None) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        yield process, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_ctrl_c_in_a_running_process_leaves_complete_parquet_files(
    child_run: tuple[subprocess.Popen[str], Path],
) -> None:
    process, out = child_run
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "running"
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    last = int(stdout.strip())  # rows 0..last-1 were recorded, and maybe row `last` too
    times = pq.read_table(out / "finality.parquet").column("t_ms").to_pylist()
    assert times == list(range(len(times)))
    assert len(times) in (last, last + 1)
    assert len(times) > 500
    for name in TABLES:
        pq.read_table(out / f"{name}.parquet")  # every file complete


# ---- The summary's figures, on a hand-made run


def hand_made_run() -> dict[str, pd.DataFrame]:
    recorder = Recorder(None)
    for n, author in enumerate(["alice", "bob", "alice"], start=1):
        recorder.row(
            "blocks",
            t_ms=n * 1000,
            number=n,
            hash=f"{n:064x}",
            parent=f"{n - 1:064x}",
            author=author,
            slot=n,
            size_bytes=200,
            extrinsics=n,
        )
    for t, node, best, final in [
        (1000, "A", 1, 0),
        (2000, "A", 2, 0),
        (3000, "A", 3, 1),
        (4000, "A", 3, 3),
        (1000, "B", 1, 0),
        (2000, "B", 2, 1),
    ]:
        recorder.row(
            "finality", t_ms=t, node=node, best=best, finalized=final, lag_blocks=best - final
        )
    for row in [
        job_row(1, "submitted", 1000, workload="matmul", requester="r"),
        job_row(1, "matched", 2000, worker="w1", price=100),
        job_row(1, "settled", 5000, worker="w1", amount=500),
        job_row(2, "submitted", 2000),
        job_row(2, "matched", 3000, worker="w2", price=300),
        job_row(2, "settled", 12000, worker="w2", amount=900),
        job_row(3, "submitted", 3000),
        job_row(3, "expired", 20000),
        job_row(4, "submitted", 4000),
        job_row(4, "matched", 5000, worker="w3", price=200),
        job_row(4, "committed", 6000, worker="w3"),
        job_row(4, "slashed", 9000, worker="w3", amount=7 * 10**20),
        job_row(4, "failed", 9000, worker="w3", verdict="wrong leaf"),
    ]:
        recorder.row("jobs", **row)
    for row in [
        worker_row(5000, "w1", "honest", active=True),
        worker_row(5000, "w2", "honest", active=True),
        worker_row(5000, "w3", "cheat"),
        worker_row(10000, "w1", "honest", earnings=10 * XPL, cost=4 * XPL),
        worker_row(10000, "w2", "honest", active=True, earnings=20 * XPL, cost=5 * XPL),
        worker_row(10000, "w3", "cheat", online=False, earnings=XPL, slashed=7 * 10**20),
    ]:
        recorder.row("workers", **row)
    for t, issuance, treasury, fees, minted in [
        (0, 10**21, 0, 1, 0),
        (10000, 10**21 + 5, 42, 2, 5),
    ]:
        recorder.row(
            "economics",
            t_ms=t,
            block=t // 1000,
            issuance=issuance,
            fees=fees,
            treasury=treasury,
            rewards=minted,
            minted=minted,
            burned=0,
        )
    for t, topic, messages, size, lost in [
        (1000, "blocks", 10, 1000, 1),
        (1000, "votes", 20, 500, 0),
        (2000, "blocks", 4, 400, 0),
    ]:
        recorder.row("messages", t_ms=t, topic=topic, messages=messages, bytes=size, lost=lost)
    return recorder.frames()


def hand_made_summary() -> dict[str, Any]:
    return summarize(
        hand_made_run(),
        scenario=types.SimpleNamespace(name="tiny"),
        seed=7,
        digest="ab" * 32,
        state_root="cd" * 32,
        wall_s=2.0,
    )


def test_the_summary_computes_the_headline_figures() -> None:
    summary = hand_made_summary()
    assert summary["scenario"] == "tiny" and summary["seed"] == 7
    assert summary["simulated_s"] == 20.0 and summary["speedup"] == 10.0
    assert summary["blocks"] == {"authored": 3, "height": 3, "by_author": {"alice": 2, "bob": 1}}
    finality = summary["finality"]
    assert finality["finalized_height"] == 3
    assert finality["lag_blocks"] == {"p50": 1.0, "p95": 2.0, "max": 2.0}  # of 0,1,1,1,2,2
    assert finality["per_node"]["A"] == {
        "finalized": 3,
        "best": 3,
        "lag_blocks": {"p50": 1.5, "p95": 2.0, "max": 2.0},  # of 1,2,2,0
    }
    assert finality["per_node"]["B"]["lag_blocks"] == {"p50": 1.0, "p95": 1.0, "max": 1.0}
    jobs = summary["jobs"]
    assert (jobs["submitted"], jobs["settled"], jobs["failed"], jobs["expired"]) == (4, 2, 1, 1)
    assert jobs["latency_s"] == {"p50": 7.0, "p95": pytest.approx(9.7)}  # of 4 s and 10 s
    assert jobs["mean_price"] == 200.0
    assert jobs["utilisation"] == 0.6  # 3 busy of 5 online samples
    assert jobs["slashes"] == {"count": 1, "total": 7 * 10**20}
    assert summary["strategies"] == {
        "cheat": {
            "workers": 1,
            "earnings": XPL,
            "slashed": 7 * 10**20,
            "cost": 0,
            "profit": XPL - 7 * 10**20,
            "profit_per_worker": pytest.approx(XPL - 7 * 10**20),
        },
        "honest": {
            "workers": 2,
            "earnings": 30 * XPL,
            "slashed": 0,
            "cost": 9 * XPL,
            "profit": 21 * XPL,
            "profit_per_worker": 10.5 * XPL,
        },
    }
    assert summary["economics"] == {
        "issuance_start": 10**21,
        "issuance_end": 10**21 + 5,
        "issuance_change": 5,
        "treasury": 42,
        "fees": 3,
        "rewards": 5,
        "minted": 5,
        "burned": 0,
    }
    assert summary["messages"]["messages"] == 34 and summary["messages"]["lost"] == 1
    assert summary["messages"]["per_topic"]["blocks"] == {"messages": 14, "bytes": 1400, "lost": 1}


def test_the_summary_of_an_empty_run_has_nulls_not_errors(tmp_path: Path) -> None:
    summary = summarize(
        {}, scenario=types.SimpleNamespace(name="empty"), seed=0, digest="", state_root="", wall_s=0
    )
    assert summary["jobs"]["latency_s"] == {"p50": None, "p95": None}
    assert summary["jobs"]["utilisation"] is None and summary["speedup"] is None
    assert summary["finality"]["finalized_height"] == 0 and summary["strategies"] == {}
    write_summary(tmp_path, summary)  # null, never NaN


def test_summary_json_is_deterministic_with_numbers_as_numbers(tmp_path: Path) -> None:
    write_summary(tmp_path / "one", hand_made_summary())
    write_summary(tmp_path / "two", hand_made_summary())
    text = (tmp_path / "one" / "summary.json").read_bytes()
    assert text == (tmp_path / "two" / "summary.json").read_bytes()
    loaded = json.loads(text)
    assert list(loaded) == sorted(loaded)
    assert loaded["jobs"]["slashes"]["total"] == 7 * 10**20  # a number, exact
    assert loaded["jobs"]["mean_price"] == 200.0


# ---- Plots


@pytest.mark.parametrize("frames", [hand_made_run, dict], ids=["typical", "empty"])
def test_every_plot_is_written_for_typical_and_empty_runs(tmp_path: Path, frames: Any) -> None:
    paths = write_plots(tmp_path, frames())
    assert [p.name for p in paths] == list(PLOTS)
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_plots_of_tables_with_columns_but_no_rows(tmp_path: Path) -> None:
    paths = write_plots(tmp_path, Recorder(None).frames())
    assert all(p.stat().st_size > 0 for p in paths)


# ---- Loading a run back from its directory


@pytest.fixture
def stand_in_scenario_loader(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """`sim.scenario.load_scenario` replaced by one that records the path it reads."""
    read: list[Path] = []

    def load_scenario(path: Path, overrides: Any = ()) -> Any:
        read.append(path)
        return types.SimpleNamespace(name=path.read_text().strip())

    monkeypatch.setitem(
        sys.modules, "sim.scenario", types.SimpleNamespace(load_scenario=load_scenario)
    )
    return read


def test_a_run_loads_back_from_its_directory(
    tmp_path: Path, stand_in_scenario_loader: list[Path]
) -> None:
    recorder = Recorder(tmp_path, flush_rows=4)
    run = hand_made_run()
    for name, frame in run.items():
        for row in frame.to_dict("records"):
            recorder.row(
                name, **{k: (None if v is None or pd.isna(v) else v) for k, v in row.items()}
            )
    recorder.close()
    summary = hand_made_summary()
    write_summary(tmp_path, summary)
    (tmp_path / "scenario.toml").write_text("tiny\n")

    result = SimResult.load(tmp_path)
    assert stand_in_scenario_loader == [tmp_path / "scenario.toml"]
    assert result.scenario.name == "tiny"
    assert (result.seed, result.digest, result.state_root) == (7, "ab" * 32, "cd" * 32)
    assert result.digest == summary["digest"] and result.violation is None
    assert result.summary == json.loads((tmp_path / "summary.json").read_text())
    pd.testing.assert_frame_equal(result.jobs, run["jobs"])
    pd.testing.assert_frame_equal(result.workers, run["workers"])
    assert len(result.blocks) == 3 and len(result.economics) == 2
    assert result.out == tmp_path


def test_loading_a_directory_that_is_not_a_run_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ResultError, match=r"no summary\.json"):
        SimResult.load(tmp_path)


def test_a_result_without_a_table_gives_it_empty_with_its_columns() -> None:
    result = SimResult(
        scenario=None, seed=1, digest="", state_root="", summary={}, out=None, violation=None
    )
    assert list(result.messages.columns) == TABLES["messages"].names
    assert result.messages.empty


def test_a_run_stopped_by_a_violation_loads_back_with_it(
    tmp_path: Path, stand_in_scenario_loader: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    violation = {"name": "finality_backwards", "node": "A", "block": 9, "t_ms": 9000}
    monkeypatch.setitem(
        sys.modules, "sim.invariants", types.SimpleNamespace(Violation=types.SimpleNamespace)
    )
    Recorder(tmp_path).close()
    write_summary(tmp_path, hand_made_summary() | {"violation": violation})
    (tmp_path / "scenario.toml").write_text("tiny\n")
    result = SimResult.load(tmp_path)
    assert vars(result.violation) == violation
    assert result.jobs.empty and list(result.jobs.columns) == TABLES["jobs"].names


def test_numpy_bools_are_taken_as_plain_bools_like_numpy_integers() -> None:
    """An agent's `active = bool-ish numpy value` records as a bool, digested as one."""
    import numpy as np

    plain, numpy = Recorder(None), Recorder(None)
    row = {
        "t_ms": 0,
        "worker": "w",
        "group": "g",
        "strategy": "honest",
        "stake": 1,
        "earnings": 0,
        "slashed": 0,
        "reputation": 0,
    }
    plain.row("workers", **row, active=True, online=False)
    numpy.row("workers", **row, active=np.bool_(True), online=np.array([0])[0] > 0)
    assert plain.digest() == numpy.digest()
    assert numpy.frames()["workers"]["active"].tolist() == [True]
    with pytest.raises(TableError, match="'active' expects a bool"):
        numpy.row("workers", **row, active=np.int64(1), online=False)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\xff"])
def test_a_damaged_summary_is_a_result_error_naming_the_file(tmp_path: Path, text: str) -> None:
    (tmp_path / "summary.json").write_text(text)
    (tmp_path / "scenario.toml").write_text("")
    with pytest.raises(ResultError, match=re.escape(str(tmp_path / "summary.json"))):
        SimResult.load(tmp_path)


def test_text_utf8_cannot_carry_is_refused_before_it_is_digested() -> None:
    recorder = Recorder(None)
    before = recorder.digest()
    with pytest.raises(TableError, match="'node' expects text UTF-8 can carry"):
        recorder.row("finality", **{**finality_row(0), "node": "A\ud800"})
    assert recorder.digest() == before
    recorder.row("finality", **{**finality_row(0), "node": "Ålice"})  # any other text is fine
    assert recorder.frames()["finality"]["node"].tolist() == ["Ålice"]


def test_a_run_into_a_used_directory_leaves_no_table_of_the_run_before(tmp_path: Path) -> None:
    with Recorder(tmp_path) as first:
        first.row("jobs", **job_row(1, "submitted", 0))
    with Recorder(tmp_path, tables=("blocks",)) as second:
        second.row("jobs", **job_row(2, "submitted", 5))  # digested, not kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocks.parquet"]
    assert read_table(tmp_path / "jobs.parquet", "jobs").empty  # what loading the run reads


def test_message_totals_are_exact_past_int64() -> None:
    """Rows within int64 whose total is not: summed as Python ints, never wrapped around."""
    recorder = Recorder(None)
    for t in range(3):
        recorder.row("messages", t_ms=t, topic="blocks", messages=1, bytes=2**62, lost=0)
    summary = summarize(
        recorder.frames(),
        scenario=types.SimpleNamespace(name="big"),
        seed=0,
        digest="",
        state_root="",
        wall_s=1.0,
    )
    assert summary["messages"]["bytes"] == 3 * 2**62
    assert summary["messages"]["per_topic"]["blocks"]["bytes"] == 3 * 2**62


def test_an_interrupt_while_a_batch_is_built_loses_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands in a flush, before its rows are written: `close` still writes them all."""
    import sim.tables

    build = sim.tables._arrow
    calls = 0

    def interrupted(table: str, rows: list[list[Any]]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return build(table, rows)

    monkeypatch.setattr(sim.tables, "_arrow", interrupted)
    recorder = Recorder(tmp_path, flush_rows=10)
    recorded = 0
    try:
        for i in range(100):
            recorder.row("finality", **finality_row(i))
            recorded += 1
    except KeyboardInterrupt:
        recorder.close()
    assert recorded == 19  # the 20th row's flush was interrupted, after it was digested
    times = pq.read_table(tmp_path / "finality.parquet").column("t_ms").to_pylist()
    assert times == list(range(20))


def test_a_step_seen_again_in_a_competing_fork_counts_once() -> None:
    """Under a partition both forks carry a job's events: one slash, one price per job."""
    recorder = Recorder(None)
    for t in (1_000, 1_400):  # the same job matched and slashed in two forks' blocks
        recorder.row("jobs", **job_row(7, "matched", t, price=100))
        recorder.row("jobs", **job_row(7, "slashed", t + 50, amount=5 * XPL))
    recorder.row("jobs", **job_row(8, "matched", 2_000, price=300))
    summary = summarize(
        recorder.frames(),
        scenario=types.SimpleNamespace(name="forks"),
        seed=0,
        digest="",
        state_root="",
        wall_s=1.0,
    )
    assert summary["jobs"]["slashes"] == {"count": 1, "total": 5 * XPL}
    assert summary["jobs"]["mean_price"] == 200.0


def test_a_job_matched_again_counts_each_worker_s_match_and_slash() -> None:
    """A job declined by one worker and failed by the next: two matches, two slashes."""
    recorder = Recorder(None)
    recorder.row("jobs", **job_row(7, "matched", 1_000, worker="w1", price=100))
    recorder.row("jobs", **job_row(7, "slashed", 2_000, worker="w1", amount=XPL))
    recorder.row("jobs", **job_row(7, "matched", 3_000, worker="w2", price=300))
    recorder.row("jobs", **job_row(7, "slashed", 9_000, worker="w2", amount=5 * XPL))
    summary = summarize(
        recorder.frames(),
        scenario=types.SimpleNamespace(name="rematched"),
        seed=0,
        digest="",
        state_root="",
        wall_s=1.0,
    )
    assert summary["jobs"]["slashes"] == {"count": 2, "total": 6 * XPL}
    assert summary["jobs"]["mean_price"] == 200.0


def test_a_damaged_table_file_is_a_result_error_naming_it(
    tmp_path: Path, stand_in_scenario_loader: list[Path]
) -> None:
    with Recorder(tmp_path) as recorder:
        recorder.row("finality", **finality_row(0))
    write_summary(tmp_path, hand_made_summary())
    (tmp_path / "scenario.toml").write_text("tiny\n")
    damaged = tmp_path / "finality.parquet"
    damaged.write_bytes(damaged.read_bytes()[:40])  # a run killed while writing it
    with pytest.raises(ResultError, match=re.escape(str(damaged))):
        SimResult.load(tmp_path)
