"""Identifiability checks (``validation.identifiability``): can the model tell the channels apart?

Computed on the weekly table, pooled over series and weeks. Correlation, variance inflation (VIF from a regression
with intercept, as Meridian's EDA computes it) and the constant-variable test mirror Meridian's own EDA checks; they
are re-implemented here in numpy because importing Meridian costs ~10 s and validation must stay instant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.validate.checks import Check, Status

GROUP = "identifiability"
PARAMS_PER_CHANNEL = 4  # ROI, adstock decay, half-saturation point, Hill slope
_CONSTANT_CV = 1e-4


def _spend(weekly: pd.DataFrame, cfg: MMMConfig) -> pd.DataFrame:
    return weekly[[F.spend(ch) for ch in cfg.data.channel_map]].rename(columns=lambda c: c[: -len("_spend")])


def _varying(spend: pd.DataFrame) -> pd.DataFrame:
    """Channels whose spend varies, on the weeks where every channel is known (gaps are transform's business)."""
    spend = spend.replace([np.inf, -np.inf], np.nan).dropna()  # non-finite values are value_sanity's finding
    mean = spend.mean().abs()
    return spend.loc[:, (spend.std() > _CONSTANT_CV * mean) & (mean > 0)]


def correlation(weekly: pd.DataFrame, cfg: MMMConfig) -> Check:
    limit = cfg.validation.identifiability.max_channel_correlation
    spend = _varying(_spend(weekly, cfg))
    if spend.shape[1] < 2:
        return Check("channel_correlation", GROUP, Status.passed, None, limit, "fewer than two channels vary: "
                     "no pair to compare")
    corr = spend.corr()
    pairs = [(a, b, float(corr.loc[a, b])) for i, a in enumerate(corr) for b in corr.columns[i + 1:]]
    pairs.sort(key=lambda p: -abs(p[2]))
    a, b, worst = pairs[0]
    high = [{"pair": [x, y], "correlation": round(r, 4)} for x, y, r in pairs if abs(r) > limit]
    message = (f"highest weekly spend correlation is {a} / {b} at {worst:.2f}" if not high else
               f"{len(high)} channel pair(s) move together above {limit:g}: " +
               ", ".join(f"{h['pair'][0]} / {h['pair'][1]} ({h['correlation']:.2f})" for h in high[:4]) +
               ": the model cannot split their effects; vary their budgets independently or merge them")
    return Check("channel_correlation", GROUP, Status.fail if high else Status.passed, round(abs(worst), 4), limit,
                 message, {"max_pair": [a, b], "pairs_above_threshold": high})


def vif(weekly: pd.DataFrame, cfg: MMMConfig) -> Check:
    limit = cfg.validation.identifiability.max_vif
    spend = _varying(_spend(weekly, cfg))
    if spend.shape[1] < 2:
        return Check("vif", GROUP, Status.passed, None, limit, "fewer than two channels vary: nothing to inflate")
    inverse = np.linalg.pinv(np.corrcoef(spend.to_numpy(dtype=float), rowvar=False))
    values = {ch: round(float(v), 3) for ch, v in zip(spend.columns, np.diag(inverse), strict=True)}
    worst = max(values, key=values.get)
    high = {ch: v for ch, v in values.items() if v > limit}
    message = (f"largest variance inflation factor is {values[worst]:.1f} ({worst})" if not high else
               f"spend of {sorted(high)} is largely explained by the other channels (VIF up to "
               f"{values[worst]:.1f}): their ROIs will be uncertain")
    return Check("vif", GROUP, Status.warn if high else Status.passed, values[worst], limit, message,
                 {"vif": values})


def variation(weekly: pd.DataFrame, cfg: MMMConfig) -> list[Check]:
    ident = cfg.validation.identifiability
    spend = _spend(weekly, cfg)
    zero_pct = {ch: round(100.0 * float((spend[ch] == 0).mean()), 2) for ch in spend}
    always_on = {ch: p for ch, p in zero_pct.items() if p < ident.min_zero_spend_weeks_pct}
    flat = sorted(set(spend.columns) - set(_varying(spend).columns))
    revenue = weekly[F.REVENUE].replace([np.inf, -np.inf], np.nan)
    kpi_flat = not (revenue.std() > _CONSTANT_CV * abs(revenue.mean()))
    lowest = min(zero_pct.values()) if zero_pct else None
    return [
        Check("zero_spend_weeks", GROUP, Status.warn if always_on else Status.passed, lowest,
              ident.min_zero_spend_weeks_pct,
              "every channel has enough weeks without spend" if not always_on else
              f"{len(always_on)} channel(s) almost never pause ({', '.join(f'{c} {p:g}%' for c, p in always_on.items())}"
              " zero-spend weeks): without on/off contrast the model leans on its priors; plan test-and-learn "
              "pauses", {"zero_spend_weeks_pct": zero_pct}),
        Check("spend_variation", GROUP, Status.fail if flat else Status.passed, len(flat), 0,
              "every channel's spend varies over time" if not flat else
              f"spend of {flat} never changes (or is always zero): its effect cannot be estimated; drop the channel "
              "or supply its real spend", {"constant_channels": flat}),
        Check("kpi_variation", GROUP, Status.fail if kpi_flat else Status.passed,
              round(float(revenue.std()), 6), 0, "the KPI varies over time" if not kpi_flat else
              "the KPI (revenue) is constant: there is nothing for media to explain; check data.revenue_col"),
    ]


def parameters(weekly: pd.DataFrame, cfg: MMMConfig) -> Check:
    per = cfg.validation.identifiability.min_weeks_per_parameter
    # organic media have the paid channels' curve parameters; a non-media treatment one coefficient, as a control
    n_params = PARAMS_PER_CHANNEL * (len(cfg.data.channel_map) + len(cfg.data.organic_map)) \
        + len(cfg.data.controls) + len(cfg.data.non_media_treatments) + 1 + int(F.PROMO in weekly.columns)
    observations = int(weekly[F.TIME].nunique())  # per series: geos add data but also geo-level parameters
    ratio = round(observations / n_params, 2)
    ok = ratio >= per
    return Check("parameters_vs_data", GROUP, Status.passed if ok else Status.warn, ratio, per,
                 f"{observations} weeks for about {n_params} parameters ({ratio:g} weeks each)"
                 + ("" if ok else ": estimates will lean on the priors; use fewer channels (merge small ones) or "
                    "more weeks"), {"parameters": n_params, "weeks": observations})
