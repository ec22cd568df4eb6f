"""Generation of the simulator's optional truths: reach-and-frequency channels, organic media, non-media treatments,
a conversions KPI and lift tests (see :mod:`mmm_meridian.simulate.causes`).

Every new truth draws from a random stream of its own, seeded by the spec's seed, the kind of truth and its position:
asking for one changes no draw of the default data, so a spec without them simulates byte-identical data, and adding
one leaves the paid channels' media exactly as they were.

All effects are generated in KPI units (revenue, or conversions for a conversions KPI) and stated in money: a week's
money effect is its KPI effect times that week's revenue per KPI unit (1 for a revenue KPI).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmm_meridian.errors import ConfigError
from mmm_meridian.simulate.causes import RfChannelTruth
from mmm_meridian.simulate.dataset import geometric_adstock, organic_effect, rf_effect, treatment_effect
from mmm_meridian.simulate.spec import SimulationSpec

# One random stream per kind of truth (the numbers are arbitrary but fixed: changing one changes that truth's data).
_STREAMS = {"rf": 101, "organic": 102, "treatment": 103, "daily": 104, "experiment": 105, "geo_roi": 106}
# Rounding of stored values: what the data hold is exactly what the response was computed from.
FREQUENCY_DECIMALS = 4
INTENSITY_DECIMALS = 2
ROI_DECIMALS = 4


def stream(spec: SimulationSpec, kind: str, index: int) -> np.random.Generator:
    """The random generator of the ``index``-th truth of one kind."""
    return np.random.default_rng([spec.seed, _STREAMS[kind], index])


def _lognormal_unit_mean(rng: np.random.Generator, sigma: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(shape) - sigma**2 / 2)


def solve_scale(unit_response: np.ndarray, value_per_kpi: np.ndarray, target_money: np.ndarray) -> np.ndarray:
    """Per series, the factor ``b`` with ``sum_t b * unit_response * value_per_kpi == target_money`` (0 where the
    unit response is nil: a cause that never acts has no effect to scale)."""
    money = (unit_response * value_per_kpi).sum(axis=-1)
    return np.divide(target_money, money, out=np.zeros(money.shape), where=money > 0)


@dataclass
class Cause:
    """One generated cause beside the paid media channels.

    Attributes:
        name: its name (channel, medium or treatment).
        kind: ``rf``, ``organic`` or ``treatment``.
        columns: weekly data per (series, week), by column name of the weekly table.
        params: solved parameters per series (``beta`` / ``gamma``, ``ec_abs``), JSON-able scalars besides.
        response: the cause's KPI contribution per (series, week) with the cause switched off where a boolean
            (series, week) mask is True (media zero; a treatment at its baseline value).
    """

    name: str
    kind: str
    columns: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    response: Callable[[np.ndarray | None], np.ndarray]
    constants: dict[str, float] = field(default_factory=dict)

    @property
    def contributions(self) -> np.ndarray:
        """KPI contribution per (series, week) as simulated."""
        return self.response(None)


def _off(values: np.ndarray, mask: np.ndarray | None, baseline: float = 0.0) -> np.ndarray:
    """``values`` with the masked cells set to ``baseline``."""
    return values if mask is None else np.where(mask, baseline, values)


def rf_causes(spec: SimulationSpec, value_per_kpi: np.ndarray) -> list[Cause]:
    """Weekly reach, frequency and spend of each R&F channel, and its response scaled to its true ROI."""
    scale = np.array(spec.series_scale)[:, None]
    shape = (len(spec.series), spec.n_weeks)
    causes = []
    for index, truth in enumerate(spec.rf_channels):
        rng = stream(spec, "rf", index)
        live = rng.random(shape) >= truth.flighting
        reach = np.round(truth.mean_weekly_reach * scale * _lognormal_unit_mean(rng, truth.reach_volatility, shape))
        reach = (reach * live).astype(np.int64)
        extra = (truth.mean_frequency - 1) * _lognormal_unit_mean(rng, truth.frequency_volatility, shape)
        # Nobody reached, no frequency: Meridian's own data hold 0 for both in a dark week.
        frequency = np.where(reach > 0, np.round(1 + extra, FREQUENCY_DECIMALS), 0.0)
        spend_cents = np.round(truth.cost_per_exposure * reach * frequency * 100).astype(np.int64)

        def unit(mask: np.ndarray | None, truth=truth, reach=reach, frequency=frequency) -> np.ndarray:
            return rf_effect(_off(reach, mask), _off(frequency, mask), truth.decay, truth.max_lag, truth.ec,
                             truth.slope, np.ones(len(reach)))

        beta = solve_scale(unit(None), value_per_kpi, truth.roi * spend_cents.sum(-1) / 100)
        causes.append(Cause(
            truth.name, "rf",
            {f"{truth.name}_reach": reach, f"{truth.name}_frequency": frequency,
             f"{truth.name}_spend": spend_cents / 100},
            {"beta": beta, "total_spend": spend_cents.sum(-1) / 100},
            lambda mask, unit=unit, beta=beta: beta[:, None] * unit(mask)))
    return causes


def organic_causes(spec: SimulationSpec, value_per_kpi: np.ndarray) -> list[Cause]:
    """Weekly volume of each organic medium, and its response scaled to its true incremental revenue."""
    scale = np.array(spec.series_scale)[:, None]
    shape = (len(spec.series), spec.n_weeks)
    causes = []
    for index, truth in enumerate(spec.organic):
        rng = stream(spec, "organic", index)
        live = rng.random(shape) >= truth.flighting
        volume = np.round(truth.mean_weekly_volume * scale * _lognormal_unit_mean(rng, truth.volatility, shape))
        volume = (volume * live).astype(np.int64)
        adstocked = geometric_adstock(volume.astype(np.float64), truth.decay, truth.max_lag)
        nonzero = adstocked > 0
        mean_live = np.divide((adstocked * nonzero).sum(-1), nonzero.sum(-1), out=np.ones(len(volume)),
                              where=nonzero.any(-1))
        ec_abs = truth.ec * mean_live

        def unit(mask: np.ndarray | None, truth=truth, volume=volume, ec_abs=ec_abs) -> np.ndarray:
            return organic_effect(_off(volume, mask), truth.decay, truth.max_lag, ec_abs, truth.slope,
                                  np.ones(len(volume)))

        target = truth.mean_weekly_revenue * scale[:, 0] * spec.n_weeks
        beta = solve_scale(unit(None), value_per_kpi, target)
        causes.append(Cause(truth.name, "organic", {f"{truth.name}_volume": volume},
                            {"beta": beta, "ec_abs": ec_abs},
                            lambda mask, unit=unit, beta=beta: beta[:, None] * unit(mask)))
    return causes


def treatment_causes(spec: SimulationSpec, value_per_kpi: np.ndarray) -> list[Cause]:
    """Weekly intensity of each non-media treatment, and its linear effect relative to its baseline value."""
    scale = np.array(spec.series_scale)[:, None]
    shape = (len(spec.series), spec.n_weeks)
    causes = []
    for index, truth in enumerate(spec.treatments):
        rng = stream(spec, "treatment", index)
        on = rng.random(shape) < truth.probability
        drawn = np.round(rng.uniform(truth.min_intensity, truth.max_intensity, shape), INTENSITY_DECIMALS)
        intensity = np.where(on, drawn, 0.0)
        baseline_value = float(intensity.min())  # Meridian's default baseline: the minimum over geos and weeks

        def unit(mask: np.ndarray | None, intensity=intensity, baseline_value=baseline_value) -> np.ndarray:
            return treatment_effect(_off(intensity, mask, baseline_value), baseline_value, np.ones(len(intensity)))

        target = truth.uplift * scale[:, 0] * (intensity - baseline_value).sum(-1)
        gamma = solve_scale(unit(None), value_per_kpi, target)
        causes.append(Cause(truth.name, "treatment", {truth.name: intensity}, {"gamma": gamma},
                            lambda mask, unit=unit, gamma=gamma: gamma[:, None] * unit(mask),
                            {"baseline_value": baseline_value}))
    return causes


def experiment_truths(spec: SimulationSpec, weeks: pd.DatetimeIndex, responses: dict[str, Callable],
                      spend: dict[str, np.ndarray], value_per_kpi: np.ndarray) -> list[dict]:
    """The true and measured result of each lift test of the spec.

    Args:
        weeks: week starts of the simulation.
        responses: paid channel -> its KPI contribution per (series, week) given a mask of cells switched off.
        spend: paid channel -> its weekly spend per (series, week).
        value_per_kpi: money per KPI unit per (series, week).

    Returns:
        One dict per test, in spec order: ``row`` (1-based, the CSV's row), ``channel``, ``start``, ``end``, ``geo``
        (territory or None), ``weeks`` (number of weeks), ``spend`` (the channel's spend in the window and geo),
        ``true_incremental_revenue`` (revenue lost over the whole period, carryover included, when that spend is
        zeroed), ``true_roi`` (the two divided), ``measure``, and the measurement: ``roi``, ``roi_se``,
        ``incremental_revenue``, ``incremental_revenue_se`` (the pair not measured is None).

    Raises:
        ConfigError: a test whose window holds no spend of its channel (its ROI is undefined).
    """
    territories = np.array([territory for _, territory in spec.series])
    out = []
    for index, test in enumerate(spec.experiments):
        in_series = np.ones(len(territories), bool) if test.geo is None else territories == test.geo
        mask = in_series[:, None] & test.in_window(weeks)[None, :]
        window_spend = float(spend[test.channel][mask].sum())
        if window_spend <= 0:
            raise ConfigError(f"experiment {index + 1} ({test.channel}, {test.start}..{test.end}, geo {test.geo}) "
                              "covers weeks without spend on the channel: its ROI is undefined",
                              where="SimulationSpec.experiments", fix="move the window to weeks with spend")
        lost = (responses[test.channel](None) - responses[test.channel](mask)) * value_per_kpi
        incremental = float(lost[in_series].sum())
        true_roi = incremental / window_spend
        noise = test.roi_se * stream(spec, "experiment", index).standard_normal()
        measured_roi = round(true_roi + noise, ROI_DECIMALS)
        by_roi = test.measure == "roi"
        out.append({
            "row": index + 1, "channel": test.channel, "start": test.start, "end": test.end, "geo": test.geo,
            "weeks": int(test.in_window(weeks).sum()), "spend": window_spend,
            "true_incremental_revenue": incremental, "true_roi": true_roi, "measure": test.measure,
            "roi": measured_roi if by_roi else None, "roi_se": test.roi_se if by_roi else None,
            "incremental_revenue": None if by_roi else round((true_roi + noise) * window_spend, 2),
            "incremental_revenue_se": None if by_roi else round(test.roi_se * window_spend, 2),
        })
    return out


def rf_roi_at_frequency(cause: Cause, truth: RfChannelTruth, value_per_kpi: np.ndarray, frequency: float) -> float:
    """The channel's ROI over the period (all series) had every week kept its exposures (so its spend) with the
    given frequency: reach = exposures / frequency, as in Meridian's ``optimal_freq``."""
    reach = cause.columns[f"{cause.name}_reach"].astype(np.float64)
    exposures = reach * cause.columns[f"{cause.name}_frequency"]
    live = exposures > 0
    new_reach = np.where(live, exposures / frequency, 0.0)
    new_frequency = np.where(live, frequency, 0.0)
    effect = rf_effect(new_reach, new_frequency, truth.decay, truth.max_lag, truth.ec, truth.slope,
                       cause.params["beta"])
    return float((effect * value_per_kpi).sum() / cause.params["total_spend"].sum())


def vocabulary_truth(spec: SimulationSpec, causes: list[Cause], value_per_kpi: np.ndarray,
                     experiments: list[dict]) -> dict:
    """The truth of the optional vocabulary, each key present only when the spec asks for it.

    Returns:
        ``kpi_type`` (``conversions``; absent for revenue: every money figure is then revenue, and per-series
        ``beta`` / ``gamma`` are in conversions per unit of their input);
        ``rf_channels``: per R&F channel, its :class:`RfChannelTruth` fields (``roi`` the true ROI) plus ``spend``
        and ``incremental_revenue`` over all series (their ratio is ``roi``), ``optimal_frequency`` (see
        :attr:`RfChannelTruth.optimal_frequency`; None when not an interior optimum) and
        ``roi_at_optimal_frequency`` (the ROI had every week run at that frequency with its spend unchanged; None
        with it);
        ``organic``: per medium, its :class:`OrganicTruth` fields plus ``incremental_revenue`` over all series
        (revenue lost had its volume been 0 every week);
        ``treatments``: per treatment, its :class:`TreatmentTruth` fields plus ``baseline_value`` (the minimum
        intensity over every series and week: Meridian's default baseline) and ``incremental_revenue`` over all
        series relative to it (revenue lost had every week been at the baseline value);
        ``experiments``: the list of :func:`experiment_truths`;
        ``series``: per kind (``rf_channels``, ``organic``, ``treatments``) per series id per name: ``beta`` (R&F,
        organic; ``gamma`` for a treatment: KPI units per unit of intensity), ``ec_abs`` (organic: the Hill ec in
        adstocked volume), ``total_spend`` and ``roi`` (R&F), ``incremental_revenue``;
        ``totals``: the R&F channels' ``spend``, ``incremental_revenue``, ``roi``, beside the paid channels'.
    """
    out: dict = {"series": {}, "totals": {}}
    if spec.kpi_type != "revenue":
        out["kpi_type"] = spec.kpi_type
    truths = {t.name: t for t in (*spec.rf_channels, *spec.organic, *spec.treatments)}
    sections = {"rf": "rf_channels", "organic": "organic", "treatment": "treatments"}
    for cause in causes:
        truth, key = truths[cause.name], sections[cause.kind]
        money = (cause.contributions * value_per_kpi).sum(-1)  # per series
        entry = {**dataclasses.asdict(truth), **cause.constants, "incremental_revenue": float(money.sum())}
        per_series = {name: values for name, values in cause.params.items()}
        if cause.kind == "rf":
            spend = float(cause.params["total_spend"].sum())
            totals = {"spend": spend, "incremental_revenue": float(money.sum()), "roi": float(money.sum()) / spend}
            best = truth.optimal_frequency
            # ``roi`` stays the field (the truth asked for); the totals hold the realised ratio, equal to it.
            entry.update(spend=spend, optimal_frequency=best,
                         roi_at_optimal_frequency=None if best is None else
                         rf_roi_at_frequency(cause, truth, value_per_kpi, best))
            out["totals"][cause.name] = totals
            per_series["roi"] = np.divide(money, cause.params["total_spend"], out=np.full(money.shape, np.nan),
                                          where=cause.params["total_spend"] > 0)
        out.setdefault(key, {})[cause.name] = entry
        for i, sid in enumerate(spec.series_ids):
            row = {name: _scalar(values[i]) for name, values in per_series.items()}
            out["series"].setdefault(key, {}).setdefault(sid, {})[cause.name] = {
                **row, "incremental_revenue": float(money[i])}
    if experiments:
        out["experiments"] = experiments
    return out


def _scalar(value: float) -> float | None:
    """A JSON-able float: NaN (an undefined ratio) becomes None."""
    return None if np.isnan(value) else float(value)


def rf_weekly_frame(spec: SimulationSpec, weeks: pd.DatetimeIndex, causes: list[Cause]) -> pd.DataFrame | None:
    """The R&F channels' weekly columns (``<name>_spend``, ``<name>_reach``, ``<name>_frequency``) per
    (``mmm_timeseries_id``, ``week_start``); None without R&F channels."""
    rf = [cause for cause in causes if cause.kind == "rf"]
    if not rf:
        return None
    n_t = spec.n_weeks
    frame = pd.DataFrame({"mmm_timeseries_id": np.repeat(spec.series_ids, n_t),
                          "week_start": np.tile(weeks.to_numpy(), len(spec.series))})
    for cause in rf:
        for suffix in ("spend", "reach", "frequency"):
            frame[f"{cause.name}_{suffix}"] = cause.columns[f"{cause.name}_{suffix}"].reshape(-1)
    return frame
