"""How often the runtime's real audit draw catches a worker faking a share f of a job's leaves.

Each simulated job gets its own chain randomness (BLAKE2b-256 of the study's seed and the job's
number: the beacon's output is a hash, uniform to anyone who cannot grind it), which the real
runtime functions turn into the audit's seed (`drawing.audit_seed`), its roll at probability q
(`drawing.rolls_audit`) and its k leaves (`drawing.draw_leaves`). The cheater fakes a set of
round(f·n) leaves of its own choosing (its own stream, drawn after the roll: the draw
does not see it). An audited job is
detected when the drawn leaves name a faked one; the rate among audited jobs is compared with
1 − (1 − f)^k (the guard's bound) and the exact 1 − C(n − b, k)/C(n, k) of drawing without
replacement, with Wilson score bounds. The committee is not drawn: conviction given detection is
P_conv, analytic (`compute.guard.conviction_probability`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from math import sqrt
from typing import Final

from runtime.framework import BlockContext
from runtime.pallets.compute.drawing import audit_seed, draw_leaves, rolls_audit
from runtime.pallets.randomness import ChainRandomness
from runtime.primitives.hashing import blake2b_256
from runtime.state import StateOverlay
from sim.studies.economics import drawn_probability, drawn_probability_exact

Z_999: Final = 3.2905
"""The standard normal quantile of a two-sided 99.9% interval: the detection test's bounds."""

STUDY_FRACTIONS: Final = (0.01, 0.05, 0.1, 0.25, 0.5)
"""Shares of faked leaves the study measures."""
STUDY_AUDIT_LEAVES: Final = (1, 4, 16, 32)
"""Audit sizes k the study measures (16 is the default)."""
STUDY_LEAVES: Final = 1_000
"""Leaves of a study job (n)."""


def wilson_interval(successes: int, trials: int, z: float = Z_999) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion at the normal quantile z."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class DetectionRow:
    """The measured detection of one (f, k): jobs, audits, detections and what theory says."""

    fraction: float
    audit_leaves: int
    leaves: int
    faked: int
    jobs: int
    audited: int
    detected: int
    rate: float
    """Detected among audited jobs."""
    low: float
    high: float
    """Wilson bounds of `rate`."""
    expected: float
    """1 − (1 − f)^k."""
    exact: float
    """1 − C(n − b, k) / C(n, k): drawing k distinct of n leaves."""
    audit_rate: float
    """Audited among all jobs (q)."""
    audit_low: float
    audit_high: float
    """Wilson bounds of `audit_rate`."""

    def as_dict(self) -> dict[str, float | int]:
        """The row's fields by name."""
        return asdict(self)


def _randomness(seed: int, job: int) -> bytes:
    return blake2b_256(f"xpl-sim-econ-randomness:{seed}:{job}".encode())


def measure_detection(
    fractions: Sequence[float] = STUDY_FRACTIONS,
    audit_leaves: Sequence[int] = STUDY_AUDIT_LEAVES,
    *,
    jobs: int,
    audit_ppm: int,
    leaves: int = STUDY_LEAVES,
    seed: int = 0,
    z: float = Z_999,
) -> list[DetectionRow]:
    """Roll `jobs` audits through the runtime's draw and count, for every f and k, the audited
    jobs whose drawn leaves name a faked one (one row per (f, k), f first)."""
    state = StateOverlay(lambda key: None)
    ctx = BlockContext(
        state=state,
        number=1,
        parent_hash=bytes(32),
        timestamp=0,
        author=bytes(32),
        genesis_hash=bytes(32),
    )
    cheater = random.Random(f"xpl-sim-econ-cheater:{seed}")
    sizes = [max(1, round(f * leaves)) for f in fractions]
    audited = 0
    detected = {(i, k): 0 for i in range(len(fractions)) for k in audit_leaves}
    for job in range(jobs):
        ChainRandomness.put(state, _randomness(seed, job))
        draw = audit_seed(ctx, job)
        if not rolls_audit(draw, audit_ppm):
            continue
        audited += 1
        faked = [frozenset(cheater.sample(range(leaves), size)) for size in sizes]
        for k in audit_leaves:
            drawn = draw_leaves(draw, k, leaves)
            for i, fake in enumerate(faked):
                if not fake.isdisjoint(drawn):
                    detected[i, k] += 1
    audit_low, audit_high = wilson_interval(audited, jobs, z)
    rows = []
    for i, f in enumerate(fractions):
        for k in audit_leaves:
            hits = detected[i, k]
            low, high = wilson_interval(hits, audited, z)
            rows.append(
                DetectionRow(
                    fraction=f,
                    audit_leaves=k,
                    leaves=leaves,
                    faked=sizes[i],
                    jobs=jobs,
                    audited=audited,
                    detected=hits,
                    rate=hits / audited if audited else 0.0,
                    low=low,
                    high=high,
                    expected=drawn_probability(f, k),
                    exact=drawn_probability_exact(sizes[i], leaves, k),
                    audit_rate=audited / jobs if jobs else 0.0,
                    audit_low=audit_low,
                    audit_high=audit_high,
                )
            )
    return rows


__all__ = [
    "STUDY_AUDIT_LEAVES",
    "STUDY_FRACTIONS",
    "STUDY_LEAVES",
    "Z_999",
    "DetectionRow",
    "measure_detection",
    "wilson_interval",
]
