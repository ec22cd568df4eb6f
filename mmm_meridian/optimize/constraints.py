"""Budget-share constraints: from ``optimization.platform_constraints`` to Meridian's spend constraints, exactly.

The user states bounds as shares of the TOTAL budget B per channel: ``lo_i * B <= spend_i <= hi_i * B``. Meridian's
``BudgetOptimizer.optimize`` states them relative to a centre allocation ``c`` (``pct_of_spend``, default the
historical mix): ``(1 - lower_i) * B * c_i <= spend_i <= (1 + upper_i) * B * c_i`` with ``lower_i`` in [0, 1] and
``upper_i >= 0``. Hence, for a centre with ``lo_i <= c_i <= hi_i``::

    lower_i = 1 - lo_i / c_i        upper_i = hi_i / c_i - 1

which gives exactly the user's bounds. The centre is the historical mix when it already respects every bound;
otherwise it is the closest mix inside the bounds (the historical shares shifted by one common amount and clipped,
found by bisection), since Meridian cannot express a lower bound above its centre. A channel without historical
spend cannot receive any (Meridian scales the channel's historical media), so its centre and bounds are 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mmm_meridian.config._checks import check_known_channels
from mmm_meridian.config.decisions import ChannelSpendBounds, PlatformConstraintsConfig
from mmm_meridian.errors import ConfigError

KEY = "optimization.platform_constraints"


@dataclass(frozen=True)
class ShareBounds:
    """Per-channel [low, high] shares of the total budget, in channel order."""

    channels: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray

    def as_dict(self) -> dict[str, list[float]]:
        return {c: [float(lo), float(hi)] for c, lo, hi in zip(self.channels, self.low, self.high, strict=True)}


@dataclass(frozen=True)
class MeridianConstraints:
    """Arguments for ``BudgetOptimizer.optimize``: ``pct_of_spend`` and the relative spend constraints."""

    pct_of_spend: np.ndarray
    spend_constraint_lower: np.ndarray
    spend_constraint_upper: np.ndarray
    centre_is_historical: bool


def _pick(override: ChannelSpendBounds | None, name: str, default: float | None) -> float | None:
    value = None if override is None else getattr(override, name)
    return default if value is None else value


def share_bounds(constraints: PlatformConstraintsConfig, channels: Sequence[str], min_pct: float | None = None,
                 max_pct: float | None = None, current_share: Sequence[float] | None = None) -> ShareBounds:
    """Each channel's bounds as shares of the plan's budget: the global min/max (replaced by a scenario's
    ``min_pct`` / ``max_pct`` when given), then the channel's own overrides, tightened by the ratio bounds
    (``min_spend_ratio`` / ``max_spend_ratio`` x the channel's ``current_share`` of spend) when set.

    Raises:
        ConfigError: an override names a channel the model does not have, ratio bounds without ``current_share``,
            or a channel's low exceeds its high.
    """
    check_known_channels(f"{KEY}.channel_overrides", constraints.channel_overrides, channels)
    base_lo = constraints.min_spend_pct if min_pct is None else min_pct
    base_hi = constraints.max_spend_pct if max_pct is None else max_pct
    shares = None if current_share is None else np.asarray(current_share, dtype=float)
    low, high = [], []
    for i, channel in enumerate(channels):
        override = constraints.channel_overrides.get(channel)
        lo = float(_pick(override, "min_spend_pct", base_lo))  # type: ignore[arg-type]
        hi = float(_pick(override, "max_spend_pct", base_hi))  # type: ignore[arg-type]
        ratio_lo = _pick(override, "min_spend_ratio", constraints.min_spend_ratio)
        ratio_hi = _pick(override, "max_spend_ratio", constraints.max_spend_ratio)
        if (ratio_lo is not None or ratio_hi is not None) and shares is None:
            raise ConfigError("ratio bounds need the channels' current spend", where=f"config key {KEY}",
                              fix="pass current_share (a bug if you see this from the CLI)")
        if ratio_lo is not None:
            lo = max(lo, float(ratio_lo) * shares[i])  # type: ignore[index]
        if ratio_hi is not None:
            hi = min(hi, float(ratio_hi) * shares[i])  # type: ignore[index]
        if lo > hi + 1e-12:
            raise ConfigError(f"channel {channel} gets a minimum share of {lo:.2%} above its maximum {hi:.2%} "
                              f"(share bounds [{_pick(override, 'min_spend_pct', base_lo)}, "
                              f"{_pick(override, 'max_spend_pct', base_hi)}], ratio bounds [{ratio_lo}, {ratio_hi}] x "
                              f"its current share {0.0 if shares is None else shares[i]:.2%})",
                              where=f"config key {KEY}", fix="make every channel's minimum <= its maximum")
        low.append(lo)
        high.append(max(hi, lo))
    return ShareBounds(tuple(channels), np.array(low), np.array(high))


@dataclass(frozen=True)
class MixBreach:
    """A channel whose current share of spend lies outside its bounds."""

    channel: str
    current_share: float
    low: float
    high: float

    @property
    def side(self) -> str:
        return "above" if self.current_share > self.high else "below"

    def describe(self) -> str:
        limit = self.high if self.side == "above" else self.low
        return (f"{self.channel} holds {_share(self.current_share)} of spend, {self.side} its "
                f"{'maximum' if self.side == 'above' else 'minimum'} {_share(limit)} "
                f"({_scale(limit / self.current_share)} its spend)")


def _share(value: float) -> str:
    return f"{value:.1%}" if value >= 0.01 else f"{value:.2%}"


def _scale(value: float) -> str:
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2g}x"


def current_mix_breaches(bounds: ShareBounds, historical_spend: Sequence[float]) -> list[MixBreach]:
    """The channels whose historical share of spend lies outside ``bounds`` (empty when the current mix fits)."""
    spend = np.asarray(historical_spend, dtype=float)
    share = spend / spend.sum()
    tolerance = 1e-9
    return [MixBreach(c, float(s), float(lo), float(hi))
            for c, s, lo, hi in zip(bounds.channels, share, bounds.low, bounds.high, strict=True)
            if s > 0 and (s < lo - tolerance or s > hi + tolerance)]


def check_current_mix(bounds: ShareBounds, historical_spend: Sequence[float], policy: str,
                      where: str = f"config key {KEY}") -> list[MixBreach]:
    """Refuse (``policy`` fail) or return the channels whose current share breaks the bounds.

    Raises:
        ConfigError: the current mix lies outside the bounds and ``on_current_mix_outside`` is ``fail``.
    """
    breaches = current_mix_breaches(bounds, historical_spend)
    if breaches and policy == "fail":
        raise ConfigError(
            f"the current spend mix breaks the budget bounds, so every plan inside them must move budget the data "
            f"may never have seen: {'; '.join(b.describe() for b in breaches)}", where=where,
            fix=f"state bounds relative to each channel's current spend ({KEY}.min_spend_pct=0 "
                f"{KEY}.max_spend_pct=1 {KEY}.min_spend_ratio=0.5 {KEY}.max_spend_ratio=1.5), widen the share "
                f"bounds or set per-channel overrides, or keep them and set {KEY}.on_current_mix_outside=warn (the "
                "deck then states what the constraints cost)")
    return breaches


@dataclass(frozen=True)
class BoundsReach:
    """How far a channel's bounds move its spend: the scale factors over its current spend they allow."""

    channel: str
    min_scale: float
    max_scale: float
    observed_max_scale: float  # largest observed week / mean live week: beyond it the response is extrapolated

    @property
    def forces_extrapolation(self) -> bool:
        return self.min_scale > self.observed_max_scale * (1 + 1e-9)

    def describe(self) -> str:
        return (f"{self.channel}: the bounds force at least {_scale(self.min_scale)} its current spend, while its "
                f"largest week was {_scale(self.observed_max_scale)} its average week")


def bounds_reach(bounds: ShareBounds, historical_spend: Sequence[float],
                 weekly_max_over_mean: Sequence[float]) -> list[BoundsReach]:
    """Per live channel, the spend scale factors [low, high] x budget / current spend allow at the current budget."""
    spend = np.asarray(historical_spend, dtype=float)
    share = spend / spend.sum()
    out = []
    for c, s, lo, hi, seen in zip(bounds.channels, share, bounds.low, bounds.high, weekly_max_over_mean, strict=True):
        if s > 0:
            out.append(BoundsReach(c, float(lo / s), float(hi / s), float(seen)))
    return out


def check_feasible(bounds: ShareBounds, historical_spend: Sequence[float], where: str = f"config key {KEY}") -> None:
    """Refuse bounds no allocation of the whole budget can meet, before any optimisation runs.

    Raises:
        ConfigError: minimums summing over 100 %, maximums summing under 100 % of the budget, or a minimum share
            for a channel with no historical spend (Meridian cannot allocate to it).
    """
    live = np.asarray(historical_spend, dtype=float) > 0
    dead_with_min = [c for c, alive, lo in zip(bounds.channels, live, bounds.low, strict=True) if not alive and lo > 0]
    if dead_with_min:
        raise ConfigError(f"channel(s) {dead_with_min} have no historical spend, so Meridian cannot allocate them "
                          "budget, but their min_spend_pct is above 0", where=where,
                          fix=f"set {KEY}.channel_overrides.<channel>.min_spend_pct=0 for them")
    total_low, total_high = float(bounds.low[live].sum()), float(bounds.high[live].sum())
    if total_low > 1 + 1e-9:
        raise ConfigError(f"the minimum shares add up to {total_low:.1%} of the budget (over 100 %): "
                          f"{_listing(bounds.channels, bounds.low)}", where=where,
                          fix=f"lower {KEY}.min_spend_pct or the channel overrides so they sum to 100 % or less")
    if total_high < 1 - 1e-9:
        raise ConfigError(f"the maximum shares add up to {total_high:.1%} of the budget (under 100 %, so the budget "
                          f"cannot be spent): {_listing(bounds.channels, bounds.high)}", where=where,
                          fix=f"raise {KEY}.max_spend_pct (at least 1 / number of channels = "
                              f"{1 / max(int(live.sum()), 1):.1%}) or the channel overrides")


def check_share_totals(constraints: PlatformConstraintsConfig, channels: Sequence[str]) -> None:
    """Share bounds no plan over the mapped channels can meet, refused before any data is read.

    Raises:
        ConfigError: the maximum shares add up to less than the budget, or the minimum shares to more.
    """
    low = np.array([float(_pick(constraints.channel_overrides.get(c), "min_spend_pct", constraints.min_spend_pct))
                    for c in channels])
    high = np.array([float(_pick(constraints.channel_overrides.get(c), "max_spend_pct", constraints.max_spend_pct))
                     for c in channels])
    n = len(channels)
    if high.sum() < 1 - 1e-9:
        raise ConfigError(f"the maximum budget shares of the {n} mapped channels add up to {high.sum():.0%}, so no "
                          "plan can spend the whole budget", where=f"config key {KEY}",
                          fix=f"raise {KEY}.max_spend_pct to at least {1 / n:.2f} (1 / number of channels) or raise "
                              "the channel overrides")
    if low.sum() > 1 + 1e-9:
        raise ConfigError(f"the minimum budget shares of the {n} mapped channels add up to {low.sum():.0%}, more "
                          "than the whole budget", where=f"config key {KEY}",
                          fix=f"lower {KEY}.min_spend_pct (at most {1 / n:.2f}) or the channel overrides")


def _listing(channels: Sequence[str], values: np.ndarray) -> str:
    return ", ".join(f"{c} {v:.1%}" for c, v in zip(channels, values, strict=True))


def feasible_centre(historical_share: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The mix ``clip(share + t, low, high)`` (``t`` found by bisection) that sums to 1, for live channels.

    Equals the historical mix when that already lies within the bounds. Assumes :func:`check_feasible` passed.
    """
    live = historical_share > 0
    centre = np.zeros_like(historical_share, dtype=float)
    if np.all((historical_share[live] >= low[live]) & (historical_share[live] <= high[live])):
        centre[live] = historical_share[live]
        return centre / centre.sum()
    lo_t, hi_t = -1.0 - float(historical_share.max()), 1.0 + float(high.max())
    for _ in range(200):  # the sum is continuous and non-decreasing in t
        mid = 0.5 * (lo_t + hi_t)
        if np.clip(historical_share[live] + mid, low[live], high[live]).sum() < 1.0:
            lo_t = mid
        else:
            hi_t = mid
    centre[live] = np.clip(historical_share[live] + hi_t, low[live], high[live])
    return centre / centre.sum()


def to_meridian(bounds: ShareBounds, historical_spend: Sequence[float]) -> MeridianConstraints:
    """Meridian's ``pct_of_spend`` and relative constraints giving exactly ``bounds`` x budget per channel."""
    spend = np.asarray(historical_spend, dtype=float)
    share = spend / spend.sum()
    centre = feasible_centre(share, bounds.low, bounds.high)
    live = centre > 0
    lower = np.zeros_like(centre)
    upper = np.zeros_like(centre)
    lower[live] = np.clip(1.0 - bounds.low[live] / centre[live], 0.0, 1.0)
    upper[live] = np.maximum(bounds.high[live] / centre[live] - 1.0, 0.0)
    return MeridianConstraints(centre, lower, upper, bool(np.allclose(centre, share)))


def spend_limits(bounds: ShareBounds, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """Absolute [min, max] spend per channel for a total ``budget``."""
    return bounds.low * budget, bounds.high * budget


def violations(plan: Mapping[str, float], bounds: ShareBounds, budget: float) -> dict[str, float]:
    """Per channel, how far the plan's spend lies outside its [min, max] (0 inside)."""
    low, high = spend_limits(bounds, budget)
    out = {}
    for channel, lo, hi in zip(bounds.channels, low, high, strict=True):
        spend = float(plan[channel])
        out[channel] = max(lo - spend, spend - hi, 0.0)
    return out
