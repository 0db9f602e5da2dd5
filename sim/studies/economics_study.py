"""The economic-security study written to a directory: the margin at the chain's defaults, the
profit heatmap, and the real audit draw's measured detection (`xpl sim study economics`)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, MarketParams
from sim.studies.detection import DetectionRow, measure_detection
from sim.studies.economics import DefaultsMargin, defaults_margin, terms_from_params
from sim.studies.economics_plots import write_detection_plot, write_heatmap

STUDY_JOBS: Final = 20_000
"""Jobs whose audit the study rolls for the measured detection (about 13,000 audited at q =
0.65: a rate's 99.9% bounds are about ±0.014 wide at its widest)."""

HEATMAP: Final = "economic_security.png"
DETECTION_PLOT: Final = "detection.png"
DETECTION_TABLE: Final = "detection.csv"
SUMMARY: Final = "economics.json"


@dataclass(frozen=True, slots=True)
class EconomicsStudy:
    """What the study found and wrote."""

    margin: DefaultsMargin
    detection: list[DetectionRow]
    files: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The figures, as written to economics.json."""
        return {
            "defaults": self.margin.as_dict(),
            "detection": [row.as_dict() for row in self.detection],
            "files": [path.name for path in self.files],
        }


def run_economics_study(
    out: Path,
    *,
    jobs: int = STUDY_JOBS,
    seed: int = 0,
    market: MarketParams = DEFAULT_MARKET_PARAMS,
    compute: ComputeParams = DEFAULT_COMPUTE_PARAMS,
) -> EconomicsStudy:
    """Compute the margin at `market`/`compute`, measure detection over `jobs` audit rolls of
    the real draw from `seed`, and write the heatmap, the detection plot and table, and
    economics.json under `out` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    margin = defaults_margin(market, compute)
    rows = measure_detection(jobs=jobs, audit_ppm=compute.audit_ppm, seed=seed)
    files = [
        write_heatmap(out / HEATMAP, terms_from_params(market, compute)),
        write_detection_plot(out / DETECTION_PLOT, rows),
        _write_table(out / DETECTION_TABLE, rows),
    ]
    study = EconomicsStudy(margin=margin, detection=rows, files=files)
    summary = out / SUMMARY
    summary.write_text(json.dumps(study.as_dict(), indent=2) + "\n")
    files.append(summary)
    return study


def _write_table(path: Path, rows: list[DetectionRow]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].as_dict()) if rows else [])
        writer.writeheader()
        for row in rows:
            writer.writerow(row.as_dict())
    return path


__all__ = ["EconomicsStudy", "run_economics_study"]
