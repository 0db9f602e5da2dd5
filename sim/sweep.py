"""Sweeps: a parameter grid times seeds, each an independent run, on `dask.distributed`.

`sweep(scenario, grid, seeds, out)` checks the whole grid first (every key a scenario field,
every value and every combination a valid scenario whose chain parameters the genesis accepts:
nothing runs otherwise), then runs each
point and seed once, on a LocalCluster of worker processes or on an existing cluster by its
scheduler address. Each run writes its own directory, `OUT/runs/<run id>/`: the runner's
tables, the run's resolved `scenario.toml`, and `result.json`, the row of that run, written
last. The rows of every run are gathered into one Parquet file, `OUT/runs.parquet`: the run id,
the grid's parameters (one column per key, the value the run's scenario holds), the seed, the
status (`ok`, `failed`, `violation`), the error and the replay command of a run that did not
pass, its wall time, and the summary's headline figures.

A rerun over the same OUT skips every run whose `result.json` is there, so an interrupted sweep
resumes where it stopped; a run that raised or broke an invariant is recorded and the others go
on. On a cluster of several machines OUT must be a directory every worker sees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import re
import shlex
import shutil
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
import tomli_w
from distributed import Client, LocalCluster, as_completed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from runtime.pallets.compute.guard import check_incentives
from sim.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    resolved_toml,
    scenario_key_exists,
    with_overrides,
)

Status = Literal["ok", "failed", "violation"]
Runner = Callable[[Scenario, int, Path], Mapping[str, Any]]
"""Runs one scenario with one seed, writing into a directory; returns the run's summary. A
summary with a `violation` entry (a `sim.invariants.Violation` or its fields as a mapping), or
an exception carrying a `violation` attribute, marks the run as having broken an invariant."""

RESULT_FILE: Final = "result.json"
"""The file in a run's directory that says the run is finished, holding its row."""
SCENARIO_FILE: Final = "scenario.toml"
"""The resolved scenario: of the sweep in OUT, of each run in its directory."""
DATASET_FILE: Final = "runs.parquet"
RUN_ID_MAX: Final = 120
"""The longest readable part of a run's directory name (file systems allow 255 bytes)."""
RESERVED_COLUMNS: Final = ("run", "seed", "status", "error", "replay", "wall_s")
"""Columns the sweep writes itself; a summary figure of the same name is left out."""


class SweepError(ValueError):
    """A sweep refused before anything runs: a grid key or value that is no scenario, or an
    output directory that holds a sweep of another scenario."""


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: a point of the grid and a seed."""

    run_id: str
    params: dict[str, Any]
    """Grid key → the value the run's scenario holds there."""
    overrides: tuple[str, ...]
    """The `key=value` overrides that make the run's scenario from the sweep's."""
    seed: int
    scenario: Scenario
    replay: str
    """The command that repeats the run (a violation adds `--until-ms`)."""


# The grid


def parse_grid(texts: Sequence[str]) -> dict[str, list[str]]:
    """`key=v1,v2,...` arguments as a grid (values split at commas outside brackets and
    quotes); a key given twice, or one with no value, is refused."""
    grid: dict[str, list[str]] = {}
    for text in texts:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"--grid {text!r}: expected key=value1,value2,...")
        if key in grid:
            raise SweepError(f"--grid {key}: the key is given twice")
        parts = [v.strip() for v in _split_values(values)]
        if not parts or any(not v for v in parts):
            raise SweepError(f"--grid {text!r}: an empty value")
        grid[key] = parts
    return grid


def _split_values(text: str) -> list[str]:
    """Split at commas that are not inside brackets, braces or quotes."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def override_text(value: Any) -> str:
    """A grid value as the text of a `--set key=value` override."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def value_at(scenario: Scenario, key: str) -> Any:
    """The value at a key path (`a.b[2].c`) of a scenario; raises LookupError if none."""
    node: Any = scenario
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            node = node[int(part[1:-1])]
        elif isinstance(node, Mapping):
            node = node[part]
        elif hasattr(node, part):
            node = getattr(node, part)
        else:
            raise LookupError(key)
    return node


def _column_value(scenario: Scenario, key: str, given: Any) -> Any:
    """What a parameter column holds for a run: the scenario's value where it is a scalar (the
    parsed number rather than the text of the command line), else the value given."""
    try:
        value = value_at(scenario, key)
    except (LookupError, IndexError, TypeError):
        return given
    return value if isinstance(value, str | int | float | bool) else given


def run_id(params: Mapping[str, str], seed: int) -> str:
    """A run's directory name, read off its parameters and seed, unique to them."""
    readable = "__".join([*(f"{k}={v}" for k, v in params.items()), f"seed={seed}"])
    safe = re.sub(r"[^A-Za-z0-9._=+-]", "_", readable)
    if safe == readable and len(safe) <= RUN_ID_MAX:
        return safe
    canonical = json.dumps([list(params.items()), seed]).encode()
    return f"{safe[:RUN_ID_MAX]}-{hashlib.blake2b(canonical, digest_size=5).hexdigest()}"


def replay_command(source: Path | None, overrides: Sequence[str], seed: int, run_dir: Path) -> str:
    """The command that repeats one run: over the sweep's file with the run's overrides, or,
    when the sweep was given no file, over the run's own resolved scenario."""
    if source is None:
        return f"xpl sim run {shlex.quote(str(run_dir / SCENARIO_FILE))} --seed {seed}"
    sets = "".join(f" --set {shlex.quote(o)}" for o in overrides)
    return f"xpl sim run {shlex.quote(str(source))} --seed {seed}{sets}"


def plan(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any]],
    seeds: Sequence[int],
    out: Path,
    *,
    source: Path | None = None,
    base_overrides: Sequence[str] = (),
) -> list[PlannedRun]:
    """Every run of a sweep, in grid order with the seeds innermost; SweepError, naming the key
    and the value, for a key that is no scenario field or a value or combination that makes no
    valid scenario. `source` and `base_overrides` (already applied to `scenario`) are where the
    replay commands start from."""
    if not seeds:
        raise SweepError("a sweep needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise SweepError("a seed is given twice")
    texts: dict[str, list[str]] = {}
    for key, values in grid.items():
        if not scenario_key_exists(key):
            raise SweepError(f"grid key {key!r}: no such scenario field")
        if not values:
            raise SweepError(f"grid key {key!r}: no values")
        texts[key] = [override_text(v) for v in values]
        if len(set(texts[key])) != len(values):
            raise SweepError(f"grid key {key!r}: a value is given twice")
        for value in texts[key]:
            _overridden(scenario, [f"{key}={value}"])
    runs = []
    keys = list(grid)
    for point in itertools.product(*(range(len(grid[k])) for k in keys)):
        overrides = tuple(f"{k}={texts[k][i]}" for k, i in zip(keys, point, strict=True))
        point_scenario = _overridden(scenario, overrides)
        params = {
            k: _column_value(point_scenario, k, grid[k][i])
            for k, i in zip(keys, point, strict=True)
        }
        for seed in seeds:
            rid = run_id({k: texts[k][i] for k, i in zip(keys, point, strict=True)}, seed)
            replay = replay_command(source, (*base_overrides, *overrides), seed, out / "runs" / rid)
            runs.append(PlannedRun(rid, params, overrides, seed, point_scenario, replay))
    return runs


def _overridden(scenario: Scenario, overrides: Sequence[str]) -> Scenario:
    """`scenario` with a grid point's overrides; SweepError unless it is valid and the chain
    would start from its parameters."""
    try:
        point = with_overrides(scenario, overrides)
    except ScenarioError as exc:
        raise SweepError(f"grid {' '.join(overrides)}: {exc}") from exc
    try:
        # The genesis refuses parameters under which faking results pays; the scenario's own
        # checks leave that to it, and a sweep would find out only when every run failed.
        check_incentives(point.chain.market_params(), point.chain.compute_params())
    except ValueError as exc:
        raise SweepError(f"grid {' '.join(overrides)}: the chain refuses it: {exc}") from exc
    return point


# One run, on a worker


def run_scenario(scenario: Scenario, seed: int, out: Path) -> Mapping[str, Any]:
    """The default runner: the simulator's run (`sim.api.run`), its summary and any violation."""
    # Imported where a run needs it: a sweep with its own runner never loads the world.
    from sim import api

    result = api.run(scenario, seed=seed, out=out)
    summary = dict(result.summary)
    if result.violation is not None:
        summary["violation"] = result.violation
    return summary


def execute(run: PlannedRun, run_dir: Path, runner: Runner) -> dict[str, Any]:
    """Run one planned run into a fresh directory and return its row; never raises for what
    the runner does."""
    shutil.rmtree(run_dir, ignore_errors=True)  # what an interrupted attempt left
    run_dir.mkdir(parents=True)
    (run_dir / SCENARIO_FILE).write_text(resolved_toml(run.scenario))
    started = time.perf_counter()
    status: Status = "ok"
    error: str | None = None
    replay: str | None = None
    summary: dict[str, Any] = {}
    try:
        summary = dict(runner(run.scenario, run.seed, run_dir))
        violation = summary.pop("violation", None)
    except Exception as exc:
        violation = getattr(exc, "violation", None)
        if violation is None:
            status, error, replay = "failed", _describe_exception(exc), run.replay
    if violation is not None:
        status, (error, replay) = "violation", _describe_violation(violation, run.replay)
    row: dict[str, Any] = {
        "run": run.run_id,
        **run.params,
        "seed": run.seed,
        "status": status,
        "error": error,
        "replay": replay,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    for name, value in headline_figures(summary).items():
        row.setdefault(name, value)
    return row


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _describe_violation(violation: Any, replay: str) -> tuple[str, str]:
    """A violation's one-line description and the replay command up to its time."""
    fields = (
        dataclasses.asdict(violation)
        if dataclasses.is_dataclass(violation) and not isinstance(violation, type)
        else dict(violation)
        if isinstance(violation, Mapping)
        else {"detail": str(violation)}
    )
    text = str(fields.get("name", "invariant violated"))
    if "node" in fields or "block" in fields:
        text += f" on {fields.get('node', '?')} at #{fields.get('block', '?')}"
    if "t_ms" in fields:
        text += f", {fields['t_ms']} ms"
        replay += f" --until-ms {fields['t_ms']}"
    if fields.get("detail"):
        text += f": {fields['detail']}"
    return text, replay


BREAKDOWN_PREFIXES: Final = ("per_", "by_")
"""A summary's mappings named so (`per_node`, `per_topic`, `by_author`) break a figure down by
node, topic or author: a column each would make the table as wide as the largest network, so
they stay in each run's summary.json."""


def headline_figures(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A summary's scalar figures, nested mappings flattened to `a.b` names; lists and
    breakdowns (BREAKDOWN_PREFIXES) are left out."""
    figures: dict[str, Any] = {}
    for name, value in summary.items():
        if isinstance(value, Mapping):
            if not str(name).startswith(BREAKDOWN_PREFIXES):
                figures.update(headline_figures(value, f"{prefix}{name}."))
            continue
        if hasattr(value, "item") and callable(value.item):  # numpy scalars
            value = value.item()
        if value is None or isinstance(value, str | int | float | bool):
            figures[f"{prefix}{name}"] = value
    return figures


# Many runs, on a cluster


@contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A client of the cluster at `scheduler`, or of a LocalCluster of `workers` processes of
    one thread each (the simulator holds the GIL: threads would not run in parallel)."""
    if scheduler is not None:
        with Client(scheduler) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: several clusters may share a machine
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        # The node cores log every refused message and equivocation: over many runs that
        # buries the progress bar. A cluster of the user's own keeps its own logging.
        client.run(logging.disable, logging.ERROR)
        yield client


def _finished_row(run: PlannedRun, run_dir: Path, retry_failed: bool) -> dict[str, Any] | None:
    """The row of a run already finished in `run_dir`, or None if it has to run."""
    try:
        row = json.loads((run_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict) or row.get("run") != run.run_id or row.get("seed") != run.seed:
        return None
    if retry_failed and row.get("status") == "failed":
        return None
    return row


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class _Tally:
    """The progress bar and the count of each status."""

    def __init__(self, total: int, done: Sequence[Mapping[str, Any]], *, show: bool) -> None:
        self.counts: dict[str, int] = {"ok": 0, "failed": 0, "violation": 0}
        for row in done:
            status = str(row.get("status"))
            self.counts[status] = self.counts.get(status, 0) + 1
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not show,
        )
        self.task = self.progress.add_task("runs", total=total, counts=self._counts())

    def _counts(self) -> str:
        return ", ".join(f"{n} {status}" for status, n in self.counts.items())

    def add(self, row: Mapping[str, Any]) -> None:
        status = str(row.get("status"))
        self.counts[status] = self.counts.get(status, 0) + 1
        self.progress.update(self.task, advance=1, counts=self._counts())
        if status != "ok":
            self.progress.console.print(
                f"{row['run']}: {status}: {row.get('error')}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


def run_all(
    runs: Sequence[PlannedRun],
    out: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    runner: Runner = run_scenario,
    retry_failed: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Run every planned run not already finished in OUT/runs/, gather every row (in plan
    order) and write them to OUT/runs.parquet, also when interrupted. `workers` 0 (and no
    scheduler) runs them one after another in this process, without Dask (for a debugger)."""
    if workers < 0:
        raise SweepError("--workers must not be negative")
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for run in runs:
        row = _finished_row(run, out / "runs" / run.run_id, retry_failed)
        if row is None:
            todo.append(run)
        else:
            rows[run.run_id] = row
    tally = _Tally(len(runs), list(rows.values()), show=progress)
    try:
        with tally.progress:
            tally.progress.update(tally.task, completed=len(rows))
            if todo and workers == 0 and scheduler is None:
                for run in todo:
                    _record(out, run, execute(run, out / "runs" / run.run_id, runner), rows, tally)
            elif todo:
                _submit_all(todo, out, workers, scheduler, runner, rows, tally)
    finally:
        frame = runs_frame([rows[r.run_id] for r in runs if r.run_id in rows])
        frame.to_parquet(out / DATASET_FILE, index=False)
    return frame


def _submit_all(
    todo: Sequence[PlannedRun],
    out: Path,
    workers: int,
    scheduler: str | None,
    runner: Runner,
    rows: dict[str, dict[str, Any]],
    tally: _Tally,
) -> None:
    with dask_client(min(workers, len(todo)), scheduler) as client:
        futures = {
            client.submit(execute, run, out / "runs" / run.run_id, runner, pure=False): run
            for run in todo
        }
        try:
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                run = futures[future]
                try:
                    row = future.result()
                except Exception as exc:  # the worker died or the task was lost
                    row = {
                        "run": run.run_id,
                        **run.params,
                        "seed": run.seed,
                        "status": "failed",
                        "error": _describe_exception(exc),
                        "replay": run.replay,
                    }
                _record(out, run, row, rows, tally)
        finally:
            client.cancel(list(futures))


def _record(
    out: Path, run: PlannedRun, row: dict[str, Any], rows: dict[str, dict[str, Any]], tally: _Tally
) -> None:
    """Keep a finished run's row: in its directory (which marks the run done) and in `rows`."""
    run_dir = out / "runs" / run.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(run_dir / RESULT_FILE, json.dumps(row, indent=1, default=str) + "\n")
    rows[run.run_id] = row
    tally.add(row)


def runs_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows as one table that Parquet can hold: a column whose values are of several
    kinds (text and numbers), or holds an integer beyond int64, is written as text."""
    frame = pd.DataFrame(list(rows))
    for name in frame.columns:
        kinds = {type(v) for v in frame[name] if v is not None and not _is_nan(v)}
        if (len(kinds) > 1 and not kinds <= {int, float, bool}) or _beyond_int64(frame[name]):
            frame[name] = [None if v is None or _is_nan(v) else str(v) for v in frame[name]]
    return frame


def _beyond_int64(values: pd.Series[Any]) -> bool:
    """Whether an integer in `values` does not fit Parquet's int64 (a total in planck can
    exceed it): such a column is written as text, exact."""
    return any(
        isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63 for v in values
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# The sweep


def claim_output(out: Path, scenario: Scenario) -> None:
    """Make OUT the home of runs of `scenario` (its resolved TOML in OUT/scenario.toml);
    SweepError if it holds runs of another scenario, whose results a rerun would mix in."""
    resolved = resolved_toml(scenario)
    previous = out / SCENARIO_FILE
    if previous.exists() and previous.read_text() != resolved:
        raise SweepError(
            f"{out} holds runs of another scenario ({previous} differs): "
            "choose another output directory"
        )
    (out / "runs").mkdir(parents=True, exist_ok=True)
    _write_atomically(previous, resolved)


def sweep(
    scenario: Scenario | Path | str,
    grid: Mapping[str, Sequence[Any]],
    seeds: Sequence[int],
    out: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    runner: Runner = run_scenario,
    retry_failed: bool = False,
    progress: bool = True,
    overrides: Sequence[str] = (),
) -> pd.DataFrame:
    """Run the grid times the seeds (see the module's docstring) and return the table of all
    runs, also written to OUT/runs.parquet. `overrides` (`key=value`, as `--set` takes them)
    apply to the scenario before the grid's. SweepError, before anything runs, for a grid that
    makes no valid scenario or an OUT that holds a sweep of another scenario."""
    source: Path | None = None
    try:
        if isinstance(scenario, Scenario):
            scenario = with_overrides(scenario, overrides) if overrides else scenario
        else:
            source = Path(scenario)
            scenario = load_scenario(source, overrides)
    except ScenarioError as exc:
        raise SweepError(str(exc)) from exc
    out = Path(out)
    runs = plan(scenario, grid, seeds, out, source=source, base_overrides=overrides)
    claim_output(out, scenario)
    return run_all(
        runs,
        out,
        workers=workers,
        scheduler=scheduler,
        runner=runner,
        retry_failed=retry_failed,
        progress=progress,
    )


__all__ = [
    "DATASET_FILE",
    "RESULT_FILE",
    "PlannedRun",
    "Runner",
    "SweepError",
    "claim_output",
    "execute",
    "headline_figures",
    "parse_grid",
    "plan",
    "replay_command",
    "run_all",
    "run_scenario",
    "runs_frame",
    "sweep",
]
