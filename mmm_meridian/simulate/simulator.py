"""Seeded generator of daily eCommerce + paid-media data with an exactly known causal truth.

The data are generated at the weekly grain (the grain Meridian models) and only then split into days, so the
weekly model is well specified: weekly revenue = baseline + sum over channels of
``beta * hill(geometric_adstock(weekly impressions))`` with Meridian's normalised adstock weights and Hill curve.
``beta`` is solved per series and channel so that the channel's incremental revenue over the whole period divided
by its spend equals the channel's true ROI exactly. Money is generated in integer cents and split into days with
the largest-remainder method, so daily rows sum back exactly to the weekly totals.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from mmm_meridian.simulate.dataset import SimulatedDataset, media_effect
from mmm_meridian.simulate.spec import SimulationSpec

DAYS = 7
# Relative revenue by weekday (Mon..Sun): eCommerce peaks late week and on Sunday evening.
REVENUE_DOW = np.array([0.96, 0.93, 0.95, 1.0, 1.04, 1.06, 1.06])
WEEKS_PER_YEAR = 365.25 / 7


def apportion(totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Splits integer totals into integer parts proportional to weights that sum exactly to the totals.

    Args:
        totals: non-negative integers, any shape ``(...)``.
        weights: non-negative weights of shape ``(..., k)`` whose last axis sums to 1.

    Returns:
        int64 array of shape ``(..., k)`` with ``parts.sum(-1) == totals``.
    """
    raw = totals[..., None].astype(np.float64) * weights
    parts = np.floor(raw).astype(np.int64)
    shortfall = totals - parts.sum(axis=-1)
    # Largest remainder: the k parts with the biggest fractional loss get one more unit each.
    rank = np.argsort(np.argsort(-(raw - parts), axis=-1, kind="stable"), axis=-1, kind="stable")
    return parts + (rank < shortfall[..., None])


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Dirichlet draws of shape ``shape + alpha.shape`` (numpy's dirichlet only takes one alpha vector)."""
    gammas = rng.standard_gamma(np.broadcast_to(alpha, shape + alpha.shape))
    return gammas / gammas.sum(axis=-1, keepdims=True)


def _lognormal_unit_mean(rng: np.random.Generator, sigma: np.ndarray | float, shape: tuple[int, ...]) -> np.ndarray:
    sigma = np.asarray(sigma, dtype=np.float64)
    return np.exp(sigma * rng.standard_normal(shape) - sigma**2 / 2)


def _weekly_media(spec: SimulationSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Weekly spend (cents), impressions and clicks per (series, channel, week), channels drawn independently."""
    n_s, n_c, n_t = len(spec.series), len(spec.channels), spec.n_weeks
    shape = (n_s, n_c, n_t)

    def col(attr: str) -> np.ndarray:
        return np.array([getattr(c, attr) for c in spec.channels])[None, :, None]

    scale = np.array(spec.series_scale)[:, None, None]
    live = rng.random(shape) >= col("flighting")
    # Dividing by the live share keeps mean_weekly_spend the mean over all weeks, dark ones included.
    spend = col("mean_weekly_spend") * scale / (1 - col("flighting"))
    spend = spend * _lognormal_unit_mean(rng, col("spend_volatility"), shape) * live
    spend_cents = np.round(spend * 100).astype(np.int64)
    impressions = np.round(spend_cents / 100 / col("cpm") * 1000 * _lognormal_unit_mean(rng, 0.05, shape))
    clicks = np.round(impressions * col("ctr") * _lognormal_unit_mean(rng, 0.05, shape))
    return {"spend_cents": spend_cents, "impressions": impressions.astype(np.int64), "clicks": clicks.astype(np.int64)}


def _solve_media_truth(spec: SimulationSpec, media: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Absolute half-saturation points and betas that make each series' channel ROI equal the true ROI."""
    impressions = media["impressions"].astype(np.float64)
    ones = np.ones(impressions.shape[:2])
    adstocked = media_effect(impressions, spec.channels, ec_abs=ones, beta=ones, saturate=False)
    live = adstocked > 0
    # A channel dark for the whole period gets ec on the unit scale; its beta is 0 anyway.
    mean_live = np.divide((adstocked * live).sum(-1), live.sum(-1), out=np.ones(ones.shape), where=live.any(-1))
    ec_abs = np.array([c.ec for c in spec.channels])[None, :] * mean_live
    response = media_effect(impressions, spec.channels, ec_abs=ec_abs, beta=ones).sum(axis=-1)
    total_spend = media["spend_cents"].sum(axis=-1) / 100
    roi = np.array([c.roi for c in spec.channels])[None, :]
    beta = np.divide(roi * total_spend, response, out=np.zeros(ones.shape), where=response > 0)
    contributions = media_effect(impressions, spec.channels, ec_abs=ec_abs, beta=beta)
    return {"ec_abs": ec_abs, "beta": beta, "contributions": contributions, "total_spend": total_spend}


def _weekly_baseline(spec: SimulationSpec, rng: np.random.Generator, weeks: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Non-media revenue per (series, week) with trend, annual Fourier seasonality, promos and a price effect."""
    n_s, n_t = len(spec.series), spec.n_weeks
    t = np.arange(n_t)
    phase = 2 * np.pi * (weeks.dayofyear.to_numpy() / 7 - spec.seasonality_peak_week) / WEEKS_PER_YEAR
    season = 1 + spec.seasonality_amplitude * (0.8 * np.cos(phase) + 0.2 * np.cos(2 * phase))
    trend = 1 + spec.trend_per_year * t / WEEKS_PER_YEAR
    # Promo calendars are set per brand, so territories of one brand share promo weeks.
    orgs = sorted({org for org, _ in spec.series})
    org_promo = rng.random((len(orgs), n_t)) < spec.promo_probability
    promo = org_promo[[orgs.index(org) for org, _ in spec.series]].astype(np.int64)
    base_price = np.round(rng.uniform(30, 60, size=n_s), 2)
    innovations = rng.standard_normal((n_s, n_t)) * spec.price_volatility * np.sqrt(1 - 0.7**2)
    price = np.round(base_price[:, None] * (1 + lfilter([1.0], [1.0, -0.7], innovations, axis=-1)), 2)
    scale = np.array(spec.series_scale)[:, None]
    baseline = (spec.baseline_weekly_revenue * scale * trend * season * (1 + spec.promo_uplift * promo)
                * (price / base_price[:, None]) ** -spec.price_elasticity
                * _lognormal_unit_mean(rng, spec.noise_cv, (n_s, n_t)))
    return {"baseline": baseline, "promo": promo, "price": price, "base_price": base_price}


def _daily_frame(spec: SimulationSpec, rng: np.random.Generator, weekly: dict[str, np.ndarray],
                 days: pd.DatetimeIndex) -> pd.DataFrame:
    """Splits the weekly arrays into days: integer units exactly, revenue with a weekday pattern."""
    n_s, n_c, n_t = weekly["spend_cents"].shape
    w_rev = _dirichlet(rng, REVENUE_DOW / REVENUE_DOW.sum() * 400, (n_s, n_t))
    w_media = _dirichlet(rng, np.full(DAYS, 300.0), (n_s, n_c, n_t))
    rev = apportion(weekly["revenue_cents"], w_rev)
    orders = apportion(weekly["orders"], w_rev)
    first = rng.binomial(orders, spec.new_customer_share)
    first_share = np.divide(first, orders, out=np.zeros(orders.shape), where=orders > 0)
    first_rev = np.round(rev * first_share * rng.uniform(0.85, 1.0, rev.shape)).astype(np.int64)

    def flat(a: np.ndarray) -> np.ndarray:  # (series, week, day) -> row order
        return a.reshape(n_s * n_t * DAYS)

    def per_day(a: np.ndarray) -> np.ndarray:
        return np.repeat(a[..., None], DAYS, axis=-1)

    columns: dict[str, np.ndarray] = {
        "mmm_timeseries_id": np.repeat(spec.series_ids, n_t * DAYS),
        "organisation_id": np.repeat([org for org, _ in spec.series], n_t * DAYS),
        "territory_name": np.repeat([terr for _, terr in spec.series], n_t * DAYS),
        "currency_code": np.repeat([spec.currency_of(terr) for _, terr in spec.series], n_t * DAYS),
        "date_day": np.tile(days.to_numpy(), n_s),
        "all_purchases": flat(orders),
        "all_purchases_original_price": flat(rev) / 100,
        "first_purchases": flat(first),
        "first_purchases_original_price": flat(first_rev) / 100,
    }
    for j, name in enumerate(spec.channel_names):
        w = w_media[:, j]
        columns[f"{name}_spend"] = flat(apportion(weekly["spend_cents"][:, j], w)) / 100
        columns[f"{name}_impressions"] = flat(apportion(weekly["impressions"][:, j], w))
        columns[f"{name}_clicks"] = flat(apportion(weekly["clicks"][:, j], w))
        columns[f"{name}_platform_revenue"] = flat(apportion(weekly["platform_cents"][:, j], w)) / 100
    columns["promo_flag"] = flat(per_day(weekly["promo"]))
    columns["avg_price"] = flat(per_day(weekly["price"]))
    return pd.DataFrame(columns)


def simulate(spec: SimulationSpec | None = None) -> SimulatedDataset:
    """Generates a dataset and its exact causal truth.

    Args:
        spec: what to simulate; the default spec when None.

    Returns:
        The daily data (Conjura eCommerce schema), its weekly aggregate and the truth. ``truth`` keys: ``spec``;
        ``channels`` (ChannelTruth fields per channel); ``series`` (per series: ids, currency, scale, base_price,
        total_revenue, total_baseline and per channel beta, ec_abs (Hill ec in adstocked weekly impressions),
        total_spend, incremental_revenue, roi); ``totals`` (per channel over all series: spend,
        incremental_revenue, roi); ``weekly_contributions`` and ``weekly_baseline`` (column lists).

    Raises:
        ConfigError: when the spec is invalid.
    """
    spec = spec or SimulationSpec()
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    weeks = pd.date_range(spec.start, periods=spec.n_weeks, freq="7D")
    days = pd.date_range(spec.start, periods=spec.n_weeks * DAYS, freq="D")
    media = _weekly_media(spec, rng)
    truth = _solve_media_truth(spec, media)
    base = _weekly_baseline(spec, rng, weeks)
    contributions = truth["contributions"]
    revenue_cents = np.round((base["baseline"] + contributions.sum(axis=1)) * 100).astype(np.int64)
    # The baseline absorbs the cent rounding so that revenue == baseline + contributions holds exactly.
    baseline = revenue_cents / 100 - contributions.sum(axis=1)
    orders = np.maximum(np.round(revenue_cents / 100 / (base["price"] * spec.basket_size)), 0).astype(np.int64)
    # Platform revenue: bias x true incremental revenue in total, attributed to the weeks the ads ran (platforms
    # credit served ads, not carryover), with weekly attribution noise on top.
    bias = np.array([c.platform_roas_bias for c in spec.channels])[None, :, None]
    noisy = media["spend_cents"] * _lognormal_unit_mean(rng, 0.15, contributions.shape)
    noisy *= np.divide(contributions.sum(-1, keepdims=True), noisy.sum(-1, keepdims=True),
                       out=np.zeros(noisy.shape[:2] + (1,)), where=noisy.sum(-1, keepdims=True) > 0)
    weekly = {**media, "revenue_cents": revenue_cents, "orders": orders, "promo": base["promo"],
              "price": base["price"], "platform_cents": np.round(bias * noisy * 100).astype(np.int64)}
    daily = _daily_frame(spec, rng, weekly, days)
    truth_dict = _truth_dict(spec, weeks, truth, baseline, base["base_price"], revenue_cents)
    return SimulatedDataset(daily=daily, truth=truth_dict)


def _truth_dict(spec: SimulationSpec, weeks: pd.DatetimeIndex, truth: dict[str, np.ndarray], baseline: np.ndarray,
                base_price: np.ndarray, revenue_cents: np.ndarray) -> dict:
    """The JSON-able truth: per-channel parameters, per-series betas/totals and weekly decompositions."""
    n_s, n_c, n_t = truth["contributions"].shape
    incremental = truth["contributions"].sum(axis=-1)
    series: dict[str, dict] = {}
    for i, sid in enumerate(spec.series_ids):
        org, territory = spec.series[i]
        series[sid] = {
            "organisation_id": org, "territory_name": territory, "currency_code": spec.currency_of(territory),
            "scale": spec.series_scale[i], "base_price": float(base_price[i]),
            "total_revenue": float(revenue_cents[i].sum() / 100), "total_baseline": float(baseline[i].sum()),
            "channels": {name: {
                "beta": float(truth["beta"][i, j]), "ec_abs": float(truth["ec_abs"][i, j]),
                "total_spend": float(truth["total_spend"][i, j]),
                "incremental_revenue": float(incremental[i, j]),
                "roi": float(incremental[i, j] / truth["total_spend"][i, j]) if truth["total_spend"][i, j] else None,
            } for j, name in enumerate(spec.channel_names)},
        }
    spend_all, incr_all = truth["total_spend"].sum(axis=0), incremental.sum(axis=0)
    week_str = [d.strftime("%Y-%m-%d") for d in weeks]
    return {
        "spec": spec.to_dict(),
        "channels": {c.name: dataclasses.asdict(c) for c in spec.channels},
        "series": series,
        "totals": {name: {"spend": float(spend_all[j]), "incremental_revenue": float(incr_all[j]),
                          "roi": float(incr_all[j] / spend_all[j])} for j, name in enumerate(spec.channel_names)},
        "weekly_contributions": {
            "series": np.repeat(spec.series_ids, n_c * n_t).tolist(),
            "week_start": week_str * (n_s * n_c),
            "channel": np.tile(np.repeat(spec.channel_names, n_t), n_s).tolist(),
            "contribution": truth["contributions"].reshape(-1).tolist(),
        },
        "weekly_baseline": {
            "series": np.repeat(spec.series_ids, n_t).tolist(),
            "week_start": week_str * n_s,
            "baseline": baseline.reshape(-1).tolist(),
        },
    }
