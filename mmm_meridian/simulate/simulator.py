"""Seeded generator of daily eCommerce + paid-media data with an exactly known causal truth.

The data are generated at the weekly grain (the grain Meridian models) and only then split into days, so the
weekly model is well specified: weekly revenue = baseline + sum over channels of
``beta * hill(geometric_adstock(weekly impressions))`` with Meridian's normalised adstock weights and Hill curve
(plus, when the spec asks for them, the effects of reach-and-frequency channels, organic media and non-media
treatments, each in Meridian's form: see :mod:`mmm_meridian.simulate.vocabulary`).
``beta`` is solved per series and channel so that the channel's incremental revenue over the whole period divided
by its spend equals the channel's true ROI exactly. Money is generated in integer cents and split into days with
the largest-remainder method, so daily rows sum back exactly to the weekly totals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from mmm_meridian.simulate.dataset import SimulatedDataset, media_effect
from mmm_meridian.simulate.spec import SimulationSpec
from mmm_meridian.simulate.vocabulary import (
    Cause,
    experiment_truths,
    organic_causes,
    rf_causes,
    rf_weekly_frame,
    stream,
    treatment_causes,
    vocabulary_truth,
)

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


def _season_shape(spec: SimulationSpec, weeks: pd.DatetimeIndex) -> np.ndarray:
    """The annual season's shape per week (mean about 0, peak at ``seasonality_peak_week``)."""
    phase = 2 * np.pi * (weeks.dayofyear.to_numpy() / 7 - spec.seasonality_peak_week) / WEEKS_PER_YEAR
    return 0.8 * np.cos(phase) + 0.2 * np.cos(2 * phase)


def _weekly_media(spec: SimulationSpec, rng: np.random.Generator, weeks: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Weekly spend (cents), impressions and clicks per (series, channel, week): channels drawn independently unless
    the spec flights some together or makes spend follow the season."""
    n_s, n_c, n_t = len(spec.series), len(spec.channels), spec.n_weeks
    shape = (n_s, n_c, n_t)

    def col(attr: str) -> np.ndarray:
        return np.array([getattr(c, attr) for c in spec.channels])[None, :, None]

    scale = np.array(spec.series_scale)[:, None, None]
    live = rng.random(shape) >= col("flighting")
    for group in spec.flighting_groups:  # no extra draws: a spec without groups gets the same data as ever
        lead = spec.channel_names.index(group[0])
        for name in group[1:]:
            live[:, spec.channel_names.index(name)] = live[:, lead]
    # Dividing by the live share keeps mean_weekly_spend the mean over all weeks, dark ones included.
    spend = col("mean_weekly_spend") * scale / (1 - col("flighting"))
    spend = spend * _lognormal_unit_mean(rng, col("spend_volatility"), shape) * live
    if spec.spend_seasonality:
        season = np.clip(1 + spec.spend_seasonality * _season_shape(spec, weeks), 0.0, None)
        spend = spend * (season / season.mean())[None, None, :]
    spend_cents = np.round(spend * 100).astype(np.int64)
    impressions = np.round(spend_cents / 100 / col("cpm") * 1000 * _lognormal_unit_mean(rng, 0.05, shape))
    clicks = np.round(impressions * col("ctr") * _lognormal_unit_mean(rng, 0.05, shape))
    return {"spend_cents": spend_cents, "impressions": impressions.astype(np.int64), "clicks": clicks.astype(np.int64)}


def _solve_media_truth(spec: SimulationSpec, media: dict[str, np.ndarray],
                       value_per_kpi: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Absolute half-saturation points and betas that make each series' channel ROI equal the true ROI (times the
    series' factor when ``geo_roi_spread`` is on).

    ``value_per_kpi`` (series, week): money per KPI unit of a conversions KPI (betas and contributions are then in
    conversions, the ROI in money); None for a revenue KPI.
    """
    impressions = media["impressions"].astype(np.float64)
    ones = np.ones(impressions.shape[:2])
    adstocked = media_effect(impressions, spec.channels, ec_abs=ones, beta=ones, saturate=False)
    live = adstocked > 0
    # A channel dark for the whole period gets ec on the unit scale; its beta is 0 anyway.
    mean_live = np.divide((adstocked * live).sum(-1), live.sum(-1), out=np.ones(ones.shape), where=live.any(-1))
    ec_abs = np.array([c.ec for c in spec.channels])[None, :] * mean_live
    unit = media_effect(impressions, spec.channels, ec_abs=ec_abs, beta=ones)
    response = unit.sum(axis=-1) if value_per_kpi is None else (unit * value_per_kpi[:, None, :]).sum(axis=-1)
    total_spend = media["spend_cents"].sum(axis=-1) / 100
    roi = np.array([c.roi for c in spec.channels])[None, :] * _geo_roi_factors(spec, total_spend)
    beta = np.divide(roi * total_spend, response, out=np.zeros(ones.shape), where=response > 0)
    contributions = media_effect(impressions, spec.channels, ec_abs=ec_abs, beta=beta)
    return {"ec_abs": ec_abs, "beta": beta, "contributions": contributions, "total_spend": total_spend}


def _geo_roi_factors(spec: SimulationSpec, total_spend: np.ndarray) -> np.ndarray | float:
    """Per (series, channel) ROI multipliers (``geo_roi_spread``), spend-weighted mean 1 per channel; 1.0 when off.
    Drawn from a stream of their own so the rest of the data is the same with or without them."""
    if not spec.geo_roi_spread:
        return 1.0
    rng = stream(spec, "geo_roi", 0)
    factors = _lognormal_unit_mean(rng, spec.geo_roi_spread, total_spend.shape)
    channel_spend = total_spend.sum(axis=0)
    weighted = (factors * total_spend).sum(axis=0) / np.where(channel_spend > 0, channel_spend, 1.0)
    return factors / np.where(weighted > 0, weighted, 1.0)[None, :]


def _weekly_baseline(spec: SimulationSpec, rng: np.random.Generator, weeks: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Non-media revenue per (series, week) with trend, annual Fourier seasonality, promos and a price effect."""
    n_s, n_t = len(spec.series), spec.n_weeks
    t = np.arange(n_t)
    season = 1 + spec.seasonality_amplitude * _season_shape(spec, weeks)
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
                 days: pd.DatetimeIndex, causes: Sequence[Cause] = ()) -> pd.DataFrame:
    """Splits the weekly arrays into days: integer units exactly, revenue with a weekday pattern.

    A conversions KPI (``weekly["rpc_cents"]``) splits conversions, each day's revenue being its conversions times
    the week's revenue per conversion. Organic volumes and treatments are appended (:func:`_vocabulary_columns`);
    reach-and-frequency channels are weekly only.
    """
    n_s, n_c, n_t = weekly["spend_cents"].shape
    w_rev = _dirichlet(rng, REVENUE_DOW / REVENUE_DOW.sum() * 400, (n_s, n_t))
    w_media = _dirichlet(rng, np.full(DAYS, 300.0), (n_s, n_c, n_t))
    orders = apportion(weekly["orders"], w_rev)
    if "rpc_cents" in weekly:
        rev = orders * weekly["rpc_cents"][..., None]
    else:
        rev = apportion(weekly["revenue_cents"], w_rev)
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
    if "rpc_cents" in weekly:
        columns["conversions"] = flat(orders)
        columns["revenue_per_conversion"] = flat(per_day(weekly["rpc_cents"])) / 100
    columns.update(_vocabulary_columns(spec, causes, flat, per_day))
    return pd.DataFrame(columns)


def _vocabulary_columns(spec: SimulationSpec, causes: Sequence[Cause], flat: Callable, per_day: Callable
                        ) -> dict[str, np.ndarray]:
    """Daily columns of organic media (volumes split into days that sum back exactly, from a stream of their own)
    and treatments (a week's intensity on each of its days)."""
    columns: dict[str, np.ndarray] = {}
    organic = [c for c in causes if c.kind == "organic"]
    for index, cause in enumerate(organic):
        (name, weekly), = cause.columns.items()
        weights = _dirichlet(stream(spec, "daily", index), np.full(DAYS, 300.0), weekly.shape)
        columns[name] = flat(apportion(weekly, weights))
    for cause in (c for c in causes if c.kind == "treatment"):
        (name, weekly), = cause.columns.items()
        columns[name] = flat(per_day(weekly))
    return columns


def simulate(spec: SimulationSpec | None = None) -> SimulatedDataset:
    """Generates a dataset and its exact causal truth.

    Args:
        spec: what to simulate; the default spec when None.

    Returns:
        The daily data (Conjura eCommerce schema), its weekly aggregate and the truth. ``truth`` keys: ``spec``;
        ``channels`` (ChannelTruth fields per channel); ``series`` (per series: ids, currency, scale, base_price,
        total_revenue, total_baseline and per channel beta, ec_abs (Hill ec in adstocked weekly impressions),
        total_spend, incremental_revenue, roi); ``totals`` (per channel over all series: spend,
        incremental_revenue, roi); ``weekly_contributions`` and ``weekly_baseline`` (column lists). A spec using
        Meridian's wider vocabulary adds the keys of :func:`mmm_meridian.simulate.vocabulary.vocabulary_truth`
        (and its reach-and-frequency channels' weekly data as :attr:`SimulatedDataset.rf_weekly`).

    Raises:
        ConfigError: when the spec is invalid.
    """
    spec = spec or SimulationSpec()
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    weeks = pd.date_range(spec.start, periods=spec.n_weeks, freq="7D")
    days = pd.date_range(spec.start, periods=spec.n_weeks * DAYS, freq="D")
    media = _weekly_media(spec, rng, weeks)
    base = _weekly_baseline(spec, rng, weeks)  # drawn before solving (which draws nothing): same draws as ever
    conversions = spec.kpi_type == "conversions"
    # A conversion is worth the week's order value (price x basket), in cents so that revenue is exact.
    rpc_cents = np.round(base["price"] * spec.basket_size * 100).astype(np.int64) if conversions else None
    value = rpc_cents / 100 if conversions else np.ones((len(spec.series), spec.n_weeks))
    truth = _solve_media_truth(spec, media, value if conversions else None)
    causes = [*rf_causes(spec, value), *organic_causes(spec, value), *treatment_causes(spec, value)]
    effect = truth["contributions"].sum(axis=1)  # KPI units
    if causes:
        effect = effect + np.sum([cause.contributions for cause in causes], axis=0)
    revenue_cents, orders, contributions, money_effect = _kpi(spec, base, truth["contributions"], effect, rpc_cents)
    # The baseline absorbs the cent (or conversion) rounding so that revenue == baseline + contributions holds.
    baseline = revenue_cents / 100 - money_effect
    # Platform revenue: bias x true incremental revenue in total, attributed to the weeks the ads ran (platforms
    # credit served ads, not carryover), with weekly attribution noise on top.
    bias = np.array([c.platform_roas_bias for c in spec.channels])[None, :, None]
    noisy = media["spend_cents"] * _lognormal_unit_mean(rng, 0.15, contributions.shape)
    noisy *= np.divide(contributions.sum(-1, keepdims=True), noisy.sum(-1, keepdims=True),
                       out=np.zeros(noisy.shape[:2] + (1,)), where=noisy.sum(-1, keepdims=True) > 0)
    weekly = {**media, "revenue_cents": revenue_cents, "orders": orders, "promo": base["promo"],
              "price": base["price"], "platform_cents": np.round(bias * noisy * 100).astype(np.int64)}
    if conversions:
        weekly["rpc_cents"] = rpc_cents
    daily = _daily_frame(spec, rng, weekly, days, causes)
    truth_dict = _truth_dict(spec, weeks, {**truth, "contributions": contributions}, baseline, base["base_price"],
                             revenue_cents)
    if not spec.uses_vocabulary:
        return SimulatedDataset(daily=daily, truth=truth_dict)
    experiments = experiment_truths(spec, weeks, _paid_responses(spec, media, truth, causes),
                                    _paid_spend(spec, media, causes), value)
    _add_vocabulary(truth_dict, vocabulary_truth(spec, causes, value, experiments), spec, weeks, causes, value)
    return SimulatedDataset(daily=daily, truth=truth_dict, rf_weekly=rf_weekly_frame(spec, weeks, causes))


def _kpi(spec: SimulationSpec, base: dict[str, np.ndarray], media_contributions: np.ndarray, effect: np.ndarray,
         rpc_cents: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weekly revenue (cents) and orders per (series, week) from the baseline (money) and every cause's effect (KPI
    units), with the paid channels' contributions and the total effect in money.

    A revenue KPI adds the effects to the baseline revenue and derives orders from the order value; a conversions
    KPI (``rpc_cents``: money per conversion) counts whole conversions, which are the orders, and each week's
    revenue is its conversions times its revenue per conversion.
    """
    if rpc_cents is None:
        revenue_cents = np.round((base["baseline"] + effect) * 100).astype(np.int64)
        orders = np.maximum(np.round(revenue_cents / 100 / (base["price"] * spec.basket_size)), 0).astype(np.int64)
        return revenue_cents, orders, media_contributions, effect
    value = rpc_cents / 100
    conversions = np.maximum(np.round(base["baseline"] / value + effect), 0).astype(np.int64)
    return conversions * rpc_cents, conversions, media_contributions * value[:, None, :], effect * value


def _paid_responses(spec: SimulationSpec, media: dict[str, np.ndarray], truth: dict[str, np.ndarray],
                    causes: Sequence[Cause]) -> dict[str, Callable[[np.ndarray | None], np.ndarray]]:
    """Per paid channel: its KPI contribution per (series, week) with its media zeroed where a mask is True."""
    impressions = media["impressions"].astype(np.float64)

    def media_response(j: int) -> Callable[[np.ndarray | None], np.ndarray]:
        def response(mask: np.ndarray | None) -> np.ndarray:
            own = impressions[:, j : j + 1] if mask is None else np.where(mask, 0.0, impressions[:, j])[:, None]
            return media_effect(own, spec.channels[j : j + 1], ec_abs=truth["ec_abs"][:, j : j + 1],
                                beta=truth["beta"][:, j : j + 1])[:, 0]
        return response

    responses = {name: media_response(j) for j, name in enumerate(spec.channel_names)}
    responses.update({c.name: c.response for c in causes if c.kind == "rf"})
    return responses


def _paid_spend(spec: SimulationSpec, media: dict[str, np.ndarray], causes: Sequence[Cause]) -> dict[str, np.ndarray]:
    """Per paid channel: weekly spend per (series, week)."""
    spend = {name: media["spend_cents"][:, j] / 100 for j, name in enumerate(spec.channel_names)}
    spend.update({c.name: c.columns[f"{c.name}_spend"] for c in causes if c.kind == "rf"})
    return spend


def _add_vocabulary(truth: dict, extra: dict, spec: SimulationSpec, weeks: pd.DatetimeIndex,
                    causes: Sequence[Cause], value: np.ndarray) -> None:
    """Merges the vocabulary's truth into ``truth``: its top-level keys, per-series entries, the R&F channels'
    totals, and every cause's weekly contribution (money) after the paid channels'."""
    for key, section in extra.pop("series").items():
        for sid, entry in section.items():
            truth["series"][sid][key] = entry
    truth["totals"].update(extra.pop("totals"))
    truth.update(extra)
    if not causes:
        return
    n_s, n_t = len(spec.series), spec.n_weeks
    money = np.stack([cause.contributions * value for cause in causes], axis=1)  # (series, cause, week)
    names = [cause.name for cause in causes]
    rows = truth["weekly_contributions"]
    week_str = [d.strftime("%Y-%m-%d") for d in weeks]
    rows["series"] += np.repeat(spec.series_ids, len(names) * n_t).tolist()
    rows["week_start"] += week_str * (n_s * len(names))
    rows["channel"] += np.tile(np.repeat(names, n_t), n_s).tolist()
    rows["contribution"] += money.reshape(-1).tolist()


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
