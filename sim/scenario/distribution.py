"""A distribution a scenario draws a quantity from (a stake, a device's throughput), seeded."""

from __future__ import annotations

import math
import random
import sys
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

KINDS: tuple[str, ...] = ("fixed", "uniform", "lognormal", "pareto")
_NEEDS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "lognormal": ("mean", "sigma"),
    "pareto": ("low", "alpha"),
}
"""The parameters each kind requires."""
_ALLOWS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "lognormal": ("mean", "sigma", "low", "high"),
    "pareto": ("low", "alpha", "high"),
}
"""The parameters each kind accepts (for lognormal, low and high clip the draws; for pareto,
low is the scale and high clips)."""

MAX_QUANTITY: Final = 1e24
"""The largest value, bound and mean a distribution takes, and the cap on its draws where `high`
is not given (10^24 XPL of stake or cost units per second is beyond any scenario; draws stay
finite and convert to exact integers)."""
MAX_SIGMA: Final = 10.0
"""The largest sigma of a lognormal's logarithm (e^±10σ already spans 10^±43)."""
DRAW_DIGITS: Final = 12
"""Significant digits a lognormal or Pareto draw keeps: they go through the C library's exp, log
and pow, which may differ in the last bit between platforms; rounded to 12 digits, a stake in
planck or a throughput is the same on every machine (but for a draw within 10^-16 of a rounding
boundary)."""
_LOG_FLOAT_MAX: Final = math.log(sys.float_info.max)

MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
"""Every scenario model: unknown keys refused, immutable, no type coercion, finite numbers."""


def problem(key: str, message: str) -> PydanticCustomError:
    """A validation error at `key` (a path below the model that raises it), in plain words."""
    return PydanticCustomError(
        "scenario", "{message}", {"message": printable(message), "key": printable(key)}
    )


def printable(text: str) -> str:
    """`text` with what UTF-8 cannot carry (a lone surrogate from a dict built in Python)
    escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Distribution(BaseModel):
    """A quantity drawn per agent: fixed, uniform [low, high], lognormal (its arithmetic mean and
    the sigma of its logarithm, clipped to [low, high] where given) or pareto (scale low, shape
    alpha, clipped to high where given). A bare number in a file is a fixed distribution."""

    model_config = MODEL_CONFIG

    kind: Literal["fixed", "uniform", "lognormal", "pareto"] = "fixed"
    value: float | None = Field(default=None, le=MAX_QUANTITY)
    low: float | None = Field(default=None, le=MAX_QUANTITY)
    high: float | None = Field(default=None, le=MAX_QUANTITY)
    mean: float | None = Field(default=None, gt=0, le=MAX_QUANTITY)
    sigma: float | None = Field(default=None, ge=0, le=MAX_SIGMA)
    alpha: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _bare_number(cls, data: Any) -> Any:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"kind": "fixed", "value": float(data)}
        return data

    @model_validator(mode="after")
    def _parameters_fit_kind(self) -> Distribution:
        for name in _NEEDS[self.kind]:
            if getattr(self, name) is None:
                raise problem(name, f"a {self.kind} distribution needs {name}")
        for name in ("value", "low", "high", "mean", "sigma", "alpha"):
            if getattr(self, name) is not None and name not in _ALLOWS[self.kind]:
                allowed = ", ".join(_ALLOWS[self.kind])
                raise problem(name, f"does not apply to a {self.kind} distribution ({allowed} do)")
        for name in ("value", "low", "high"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise problem(name, f"must not be negative, got {v}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise problem("high", f"must be at least low ({self.low}), got {self.high}")
        if self.kind == "pareto" and self.low == 0:
            raise problem("low", "a pareto distribution's scale must be above 0")
        return self

    def lowest(self) -> float:
        """The least value a draw can take."""
        if self.kind == "fixed":
            return self.value or 0.0
        return self.low or 0.0

    def highest(self) -> float | None:
        """The most a draw can take; None where the distribution is unbounded."""
        return self.value if self.kind == "fixed" else self.high

    def draw(self, rng: random.Random, n: int) -> list[float]:
        """`n` draws from `rng` (the same values for the same seeded stream), each finite and
        within [lowest(), high or MAX_QUANTITY]; lognormal and Pareto draws to DRAW_DIGITS
        significant digits."""
        if self.kind == "fixed":
            return [float(self.value or 0.0)] * n
        if self.kind == "uniform":
            low, high = float(self.low or 0.0), float(self.high or 0.0)
            return [rng.uniform(low, high) for _ in range(n)]
        if self.kind == "lognormal":
            # rng.lognormvariate's own steps, with exp kept from overflowing
            sigma = float(self.sigma or 0.0)
            mu = math.log(float(self.mean or 1.0)) - sigma * sigma / 2
            return [self._clip(_exp(rng.normalvariate(mu, sigma))) for _ in range(n)]
        # rng.paretovariate's own steps, with the power kept from overflowing
        scale, alpha = float(self.low or 1.0), float(self.alpha or 1.0)
        return [self._clip(scale * _power(1.0 - rng.random(), -1.0 / alpha)) for _ in range(n)]

    def _clip(self, x: float) -> float:
        """`x` to DRAW_DIGITS significant digits, within [low, high or MAX_QUANTITY]."""
        if math.isfinite(x):
            x = float(f"{x:.{DRAW_DIGITS}g}")  # correctly rounded, the same everywhere
        if self.low is not None and x < self.low:
            return self.low
        high = MAX_QUANTITY if self.high is None else self.high
        return high if x > high else x


def _power(base: float, exponent: float) -> float:
    """base ** exponent, infinite rather than OverflowError where it is beyond a float."""
    try:
        return float(base**exponent)
    except OverflowError:
        return math.inf


def _exp(x: float) -> float:
    """e^x, infinite rather than OverflowError where it is beyond a float."""
    return math.exp(x) if x < _LOG_FLOAT_MAX else math.inf


def fixed(value: float) -> Distribution:
    """The distribution that always draws `value`."""
    return Distribution(kind="fixed", value=value)


__all__ = [
    "DRAW_DIGITS",
    "KINDS",
    "MAX_QUANTITY",
    "MAX_SIGMA",
    "MODEL_CONFIG",
    "Distribution",
    "fixed",
    "printable",
    "problem",
]
