"""A distribution a scenario draws a quantity from (a stake, a device's throughput), seeded."""

from __future__ import annotations

import math
import random
from typing import Any, Literal

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
    value: float | None = None
    low: float | None = None
    high: float | None = None
    mean: float | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, ge=0)
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
        """`n` draws from `rng` (the same values for the same seeded stream)."""
        if self.kind == "fixed":
            return [float(self.value or 0.0)] * n
        if self.kind == "uniform":
            low, high = float(self.low or 0.0), float(self.high or 0.0)
            return [rng.uniform(low, high) for _ in range(n)]
        if self.kind == "lognormal":
            sigma = float(self.sigma or 0.0)
            mu = math.log(float(self.mean or 1.0)) - sigma * sigma / 2
            return [self._clip(rng.lognormvariate(mu, sigma)) for _ in range(n)]
        scale, alpha = float(self.low or 1.0), float(self.alpha or 1.0)
        return [self._clip(scale * rng.paretovariate(alpha)) for _ in range(n)]

    def _clip(self, x: float) -> float:
        if self.low is not None and x < self.low:
            return self.low
        if self.high is not None and x > self.high:
            return self.high
        return x


def fixed(value: float) -> Distribution:
    """The distribution that always draws `value`."""
    return Distribution(kind="fixed", value=value)


__all__ = ["KINDS", "MODEL_CONFIG", "Distribution", "fixed", "printable", "problem"]
