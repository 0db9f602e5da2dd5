"""A run's result: its scenario, seed, digest, final state root, summary and tables as DataFrames,
from a run just finished or loaded back from its directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import pyarrow as pa

from sim.summary import SUMMARY_FILE, read_summary
from sim.tables import TABLES, empty_frame, read_table

if TYPE_CHECKING:
    from sim.invariants import Violation
    from sim.scenario import Scenario

SCENARIO_FILE: Final = "scenario.toml"
"""The resolved scenario a run directory holds, every field written out."""


class ResultError(ValueError):
    """A run directory that cannot be loaded: the message names the directory and what is
    missing."""


@dataclass
class SimResult:
    """One run: what ran (scenario, seed), what it gave (digest, state root, summary, tables) and
    the invariant violation that stopped it, if one did.

    `summary["violation"]`, where present, is the violation as a dict of its fields."""

    scenario: Scenario
    seed: int
    digest: str
    state_root: str
    summary: dict[str, Any]
    out: Path | None
    violation: Violation | None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """The table `name` (empty, with its columns, if the run did not keep it)."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r} (known: {', '.join(TABLES)})")
        frame = self.frames.get(name)
        return empty_frame(name) if frame is None else frame

    @property
    def blocks(self) -> pd.DataFrame:
        return self.table("blocks")

    @property
    def finality(self) -> pd.DataFrame:
        return self.table("finality")

    @property
    def messages(self) -> pd.DataFrame:
        return self.table("messages")

    @property
    def jobs(self) -> pd.DataFrame:
        return self.table("jobs")

    @property
    def workers(self) -> pd.DataFrame:
        return self.table("workers")

    @property
    def economics(self) -> pd.DataFrame:
        return self.table("economics")

    @classmethod
    def load(cls, out: Path) -> SimResult:
        """A run from its directory: summary.json, scenario.toml and the tables' Parquet files
        (a table without a file is empty)."""
        out = Path(out)
        for name in (SUMMARY_FILE, SCENARIO_FILE):
            if not (out / name).is_file():
                raise ResultError(f"{out}: no {name}: not a finished run directory")
        try:
            summary = read_summary(out)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ResultError(f"{out / SUMMARY_FILE}: not JSON: {exc}") from None
        if not isinstance(summary, dict):
            raise ResultError(f"{out / SUMMARY_FILE}: not a JSON object")
        for key in ("seed", "digest", "state_root"):
            if key not in summary:
                raise ResultError(f"{out / SUMMARY_FILE}: no {key!r}")
        violation = None
        if isinstance(summary.get("violation"), dict):
            from sim.invariants import Violation

            try:
                violation = Violation(**summary["violation"])
            except TypeError as exc:
                raise ResultError(f"{out / SUMMARY_FILE}: violation: {exc}") from None
        from sim.scenario import load_scenario

        return cls(
            scenario=load_scenario(out / SCENARIO_FILE),
            seed=int(summary["seed"]),
            digest=str(summary["digest"]),
            state_root=str(summary["state_root"]),
            summary=summary,
            out=out,
            violation=violation,
            frames={name: _read(out, name) for name in TABLES},
        )


def _read(out: Path, table: str) -> pd.DataFrame:
    """A run's table, or ResultError naming its file where it is damaged (a run killed while
    writing it) or of another schema."""
    path = out / f"{table}.parquet"
    try:
        return read_table(path, table)
    except (pa.ArrowException, OSError) as exc:
        raise ResultError(f"{path}: cannot be read as the {table!r} table: {exc}") from None
