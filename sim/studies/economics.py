"""The economic-security model: a cheating worker's expected profit under the chain's rules.

A worker is paid R for a job that costs it C (the ratio ρ = C/R in [0, 1]: a job costing more
than it pays is declined). It may fake a share f of the job's leaves (f = 1: lazy, it commits
without computing). What the runtime does with it (`runtime.pallets.compute`,
`runtime.pallets.market`):

- Saving: faking a share f saves s(f) = min(1, D·f) of the cost, D the dependency factor
  (`compute.guard.DEPENDENCY_FACTOR`, 3/2: a zeroed sgd_fxp step makes the next one half as
  costly).
- Audit: DRAW_DELAY + j blocks after the commitment the chain randomness rolls an audit with
  probability q = audit_ppm / 10^6 (`drawing.rolls_audit`); an audit recomputes k = audit_leaves
  distinct leaves (`drawing.draw_leaves`), which name a faked one with probability
  d(f) = 1 − C(n − f·n, k) / C(n, k) ≥ 1 − (1 − f)^k (drawing without replacement; every leaf when
  n ≤ k).
- Committee: c members drawn by stake convict when a strict majority of them is honest, with
  probability P_conv when one party holds the share α = collusion_ppm of the stake
  (`guard.conviction_probability`). One draw convicts with x(f) = q·P_conv·d(f).
- Forfeits: a cheater that authors the block completing its draw (F = min(1, 2α) of the time)
  forfeits it when it would be convicted, and is then caught only if the next draw convicts too:
  caught_audit(f) = (1 − F)·x + F·x².
- Disputes: a requester that checks the whole result (Freivalds) disputes a wrong leaf; with
  probability δ per job, convicting with P_conv: caught(f) = caught_audit + (1 − caught_audit)·δ·
  P_conv. The guard counts δ = 0 (requesters need not check).
- Conviction (`market.settlement.settle_failure`): the worker is not paid (R) and loses its slash
  S = max(min_slash, m·R), m = slash_ppm / 10^6, bonded at the match; of it a dispute's
  challenger, which may be the cheater itself, takes back σ = challenger_share_ppm / 10^6, so
  the slash counted is m_eff = m·(1 − σ) (min_slash only raises it), and −10 reputation
  (not counted: it only stops future matches).

So, per unit of payment, a cheater's expected profit is

    profit(f, ρ) = 1 − ρ·(1 − s(f)) − caught(f)·(1 + m_eff),

an honest worker's is 1 − ρ, and cheating gains

    gain(f, ρ) = ρ·s(f) − caught(f)·(1 + m_eff)

over honest work. It loses money for every f in (0, 1] and every ρ in [0, 1] exactly when the
least over f of the loss ratio caught(f)·(1 + m_eff) / s(f) exceeds 1 (ρ = 1 is the worst case);
the runtime's guard (`compute.guard.check_incentives`) requires it to be at least 1 + margin
(margin_ppm) and computes an exact lower bound of it. The figures here are floats, for study and
plots; the guard's are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from math import comb
from typing import Final

from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams
from runtime.pallets.compute.guard import (
    DEPENDENCY_FACTOR,
    conviction_probability,
    deterrence,
    forfeit_share,
    least_audit_ppm,
)
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM, MarketParams

F_GRID: Final = 20_000
"""Shares f = i / F_GRID at which `least_loss_ratio` scans the loss ratio (with f = 1/D)."""

MAX_SLASH_PPM: Final = 100 * PPM
"""The largest slash_ppm the market accepts (`MarketParams.slash_ppm`'s bound)."""


@dataclass(frozen=True, slots=True)
class Terms:
    """What a cheater's expected profit depends on, as fractions of one."""

    q: float
    """Audit probability (audit_ppm / 10^6)."""
    m: float
    """Slash multiple of the payment (slash_ppm / 10^6)."""
    k: int
    """Leaves an audit recomputes (audit_leaves)."""
    p_conv: float = 1.0
    """P_conv: that a drawn committee has an honest majority."""
    forfeit: float = 0.0
    """F: the chance the cheater decides its own draw by forfeiting the slot completing it."""
    challenger_share: float = 0.0
    """σ: the share of its slash a convicted cheater takes back as its own challenger."""
    dependency: float = 1.0
    """D: faking a share f saves min(1, D·f) of the work."""
    dispute: float = 0.0
    """δ: the chance a requester checks the whole result and disputes a wrong leaf."""
    margin: float = 0.0
    """How far the expected loss must exceed the saving (margin_ppm / 10^6)."""

    @property
    def m_eff(self) -> float:
        """The slash counted: m·(1 − σ)."""
        return self.m * (1 - self.challenger_share)

    def at(self, q: float, m: float) -> Terms:
        """The same terms at audit probability q and slash multiple m."""
        return replace(self, q=q, m=m)


def terms_from_params(
    market: MarketParams = DEFAULT_MARKET_PARAMS,
    compute: ComputeParams = DEFAULT_COMPUTE_PARAMS,
    *,
    dispute: float = 0.0,
) -> Terms:
    """The terms the runtime's rules and its guard's assumptions give these parameters."""
    return Terms(
        q=compute.audit_ppm / PPM,
        m=market.slash_ppm / PPM,
        k=compute.audit_leaves,
        p_conv=float(conviction_probability(compute.committee_size, compute.collusion_ppm)),
        forfeit=float(forfeit_share(compute.collusion_ppm)),
        challenger_share=compute.challenger_share_ppm / PPM,
        dependency=float(DEPENDENCY_FACTOR),
        dispute=dispute,
        margin=compute.margin_ppm / PPM,
    )


def naive_terms(q: float, m: float, k: int) -> Terms:
    """An honest committee, no forfeits, no challenger share, faking a leaf saves one leaf: then
    the least loss ratio is q·(1 + m), at f = 1."""
    return Terms(q=q, m=m, k=k)


def saved_share(f: float, dependency: float) -> float:
    """s(f) = min(1, D·f): the share of the job's cost a worker faking a share f saves."""
    return min(1.0, dependency * f)


def drawn_probability(f: float, k: int) -> float:
    """1 − (1 − f)^k: that k leaves drawn independently name at least one of a share f."""
    return 1.0 - (1.0 - f) ** k


def drawn_probability_exact(faked: int, leaves: int, k: int) -> float:
    """1 − C(n − b, k) / C(n, k): that `draw_leaves` (k distinct of n leaves, all when k ≥ n)
    names at least one of b faked leaves."""
    if faked <= 0:
        return 0.0
    if k >= leaves:
        return 1.0
    return 1.0 - comb(leaves - faked, k) / comb(leaves, k)


def convicting_draw(f: float, t: Terms) -> float:
    """x(f) = q·P_conv·(1 − (1 − f)^k): that one audit draw convicts a worker faking f."""
    return t.q * t.p_conv * drawn_probability(f, t.k)


def caught_probability(f: float, t: Terms) -> float:
    """caught(f) = c_a + (1 − c_a)·δ·P_conv, with c_a = (1 − F)·x + F·x² the audit's share."""
    x = convicting_draw(f, t)
    audit = (1 - t.forfeit) * x + t.forfeit * x * x
    return audit + (1 - audit) * t.dispute * t.p_conv


def cheat_gain(f: float, cost_ratio: float, t: Terms) -> float:
    """gain(f, ρ) = ρ·s(f) − caught(f)·(1 + m_eff): a cheater's expected profit over an honest
    worker's, per unit of payment, faking a share f of a job costing ρ = C/R of its payment."""
    return cost_ratio * saved_share(f, t.dependency) - caught_probability(f, t) * (1 + t.m_eff)


def cheat_profit(f: float, cost_ratio: float, t: Terms) -> float:
    """profit(f, ρ) = 1 − ρ·(1 − s(f)) − caught(f)·(1 + m_eff): a cheater's expected profit per
    unit of payment (an honest worker's is 1 − ρ)."""
    return 1.0 - cost_ratio + cheat_gain(f, cost_ratio, t)


def loss_ratio(f: float, t: Terms) -> float:
    """caught(f)·(1 + m_eff) / s(f): a cheater's expected loss per unit it saves when C = R."""
    return caught_probability(f, t) * (1 + t.m_eff) / saved_share(f, t.dependency)


def break_even_slash(q: float, f: float, cost_ratio: float, t: Terms) -> float:
    """The slash multiple m at which faking f of a job costing ρ = C/R breaks even at audit
    probability q: caught(f)·(1 + m·(1 − σ)) = ρ·s(f), so m = (ρ·s / caught − 1) / (1 − σ);
    infinite where nothing is caught."""
    caught = caught_probability(f, t.at(q, t.m))
    if caught <= 0:
        return float("inf")
    return (cost_ratio * saved_share(f, t.dependency) / caught - 1) / (1 - t.challenger_share)


def _shares(dependency: float, grid: int) -> list[float]:
    knee = min(1.0, 1.0 / dependency)
    return sorted({i / grid for i in range(1, grid + 1)} | {knee})


def least_loss_ratio(t: Terms, grid: int = F_GRID) -> tuple[float, float]:
    """(the least loss ratio over f in (0, 1], the f where it lies), scanning f = i / grid and
    f = 1/D: at most the true least by the grid's step (the guard's bound is from below)."""
    return min((loss_ratio(f, t), f) for f in _shares(t.dependency, grid))


def guard_slash_bound(t: Terms, grid: int = 400) -> float:
    """The least slash multiple with which the guard's condition holds at t.q: the least over f
    of caught(f)·(1 + m_eff) / s(f) is 1 + margin (infinite if nothing is caught)."""
    least = min(
        caught_probability(f, t) / saved_share(f, t.dependency) for f in _shares(t.dependency, grid)
    )
    if least <= 0:
        return float("inf")
    return ((1 + t.margin) / least - 1) / (1 - t.challenger_share)


@dataclass(frozen=True, slots=True)
class DefaultsMargin:
    """Where the chain's default parameters lie against the region where cheating loses."""

    audit_ppm: int
    slash_ppm: int
    audit_leaves: int
    naive_product: float
    """q·(1 + m): the least loss ratio with an honest committee and nothing else counted."""
    least_ratio: float
    """The least over f of a cheater's expected loss per unit saved at C = R (a scan)."""
    worst_f: float
    """The share of faked leaves where that least lies."""
    guard_bound: Fraction
    """The guard's exact lower bound of the least ratio (`compute.guard.deterrence`)."""
    required: Fraction
    """1 + margin_ppm / 10^6: what the guard requires of it."""
    least_audit_ppm: int
    """The least audit_ppm the guard accepts with every other parameter as it is."""
    least_slash_ppm: int
    """The least slash_ppm the guard accepts with every other parameter as it is."""

    @property
    def inside(self) -> bool:
        """Whether every cheat loses with the margin (the guard's bound reaches the requirement,
        and exceeds 1)."""
        return self.guard_bound >= self.required and self.guard_bound > 1

    def as_dict(self) -> dict[str, float | int | bool]:
        """The figures, for the study's JSON."""
        return {
            "audit_ppm": self.audit_ppm,
            "slash_ppm": self.slash_ppm,
            "audit_leaves": self.audit_leaves,
            "naive_q_times_1_plus_m": self.naive_product,
            "least_loss_ratio": self.least_ratio,
            "worst_f": self.worst_f,
            "guard_bound": float(self.guard_bound),
            "required": float(self.required),
            "least_audit_ppm": self.least_audit_ppm,
            "least_slash_ppm": self.least_slash_ppm,
            "inside": self.inside,
        }


def least_slash_ppm(market: MarketParams, compute: ComputeParams) -> int:
    """The least slash_ppm the guard accepts with the other parameters as they are
    (MAX_SLASH_PPM + 1 if none does): the deterrence grows with the slash, so a bisection."""
    needed = 1 + Fraction(compute.margin_ppm, PPM)

    def enough(slash_ppm: int) -> bool:
        value = deterrence(replace(market, slash_ppm=slash_ppm), compute)
        return value >= needed and value > 1

    low, high = 0, MAX_SLASH_PPM + 1
    while low < high:
        mid = (low + high) // 2
        if mid <= MAX_SLASH_PPM and enough(mid):
            high = mid
        else:
            low = mid + 1
    return low


def defaults_margin(
    market: MarketParams = DEFAULT_MARKET_PARAMS, compute: ComputeParams = DEFAULT_COMPUTE_PARAMS
) -> DefaultsMargin:
    """How far `market` and `compute` (the chain's defaults unless given) lie inside the region
    where every cheat loses: the least loss ratio by scan and by the guard's exact bound, what
    the guard requires, and the least q and m it would accept."""
    t = terms_from_params(market, compute)
    least, worst_f = least_loss_ratio(t)
    return DefaultsMargin(
        audit_ppm=compute.audit_ppm,
        slash_ppm=market.slash_ppm,
        audit_leaves=compute.audit_leaves,
        naive_product=t.q * (1 + t.m),
        least_ratio=least,
        worst_f=worst_f,
        guard_bound=deterrence(market, compute),
        required=1 + Fraction(compute.margin_ppm, PPM),
        least_audit_ppm=least_audit_ppm(market, compute),
        least_slash_ppm=least_slash_ppm(market, compute),
    )


__all__ = [
    "DefaultsMargin",
    "Terms",
    "break_even_slash",
    "caught_probability",
    "cheat_gain",
    "cheat_profit",
    "convicting_draw",
    "defaults_margin",
    "drawn_probability",
    "drawn_probability_exact",
    "guard_slash_bound",
    "least_loss_ratio",
    "least_slash_ppm",
    "loss_ratio",
    "naive_terms",
    "saved_share",
    "terms_from_params",
]
