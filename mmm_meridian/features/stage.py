"""FEATURES stage: turn ``transform/clean.parquet`` and business knowledge into Meridian's inputs and priors.

Writes ``features/model_inputs.parquet`` (the table the train stage feeds to Meridian's ``InputData``) and
``features/feature_spec.json`` (per channel the media used and the priors with their source; controls; seasonality
terms; knots; population). See :mod:`mmm_meridian.features.priors` for the exact prior mappings.

Choices made for the user, each logged and recorded in the spec:

- media = impressions where mapped and non-zero (``model.media_source=impressions``), spend otherwise;
- population = the data's population column when present; otherwise 1.0 for a national model and, for a geo
  model, a size proxy (``model.population_proxy``: mean weekly revenue or spend relative to the largest geo), since
  Meridian divides media and revenue by population to make geos comparable;
- knots: see :func:`mmm_meridian.features.seasonality.choose_knots`;
- holidays: each geo's calendar from its series' country (:func:`mmm_meridian.features.seasonality.resolve_calendars`),
  logged and recorded in ``holiday_calendars``;
- constant controls are dropped (they carry no information and fail Meridian's EDA checks);
- weeks whose KPI transform left as a placeholder for a long gap (``kpi_long_gaps=exclude``, listed in
  ``transform/cleaning_log.json``) are recorded in ``excluded_weeks`` for the train stage to hold out of the fit.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.config.modeling import ModelBackend
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import (
    INPUTS_FILE,
    REACH_FREQUENCY,
    REVENUE_PER_KPI,
    SPEC_FILE,
    ChannelInput,
    ChannelPriors,
    ControlInput,
    ExperimentInput,
    FeatureSpec,
    OrganicInput,
    frequency_column,
    media_column,
    organic_column,
    reach_column,
    spend_column,
)
from mmm_meridian.features.calibration import calibrate_priors, resolve_experiments
from mmm_meridian.features.priors import all_channel_priors
from mmm_meridian.features.seasonality import resolve_calendars, time_features
from mmm_meridian.tables import experiments as experiments_table

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`).
READS: tuple[str, ...] = ("features", "model")

log = logging.getLogger(__name__)


def _require(clean: pd.DataFrame, columns: list[str], why: str) -> None:
    missing = [c for c in columns if c not in clean.columns]
    if missing:
        raise DataError(f"the clean table lacks column(s) {missing} needed for {why}",
                        where="transform/clean.parquet",
                        fix="check data.channel_map / data.controls and re-run `mmm transform`")


def _check_panel(clean: pd.DataFrame, needed: list[str]) -> None:
    """One row per (geo, week), every geo on the same weeks, no missing values in the columns the model reads."""
    if clean.duplicated([cols.GEO, cols.TIME]).any():
        raise DataError("the clean table has duplicate (geo, time) rows", where="transform/clean.parquet",
                        fix="re-run `mmm transform`, which resolves duplicates")
    weeks_per_geo = clean.groupby(cols.GEO)[cols.TIME].nunique()
    if weeks_per_geo.nunique() > 1 or len(clean) != weeks_per_geo.iloc[0] * len(weeks_per_geo):
        raise DataError(f"geos cover different weeks ({weeks_per_geo.to_dict()})", where="transform/clean.parquet",
                        fix="keep only weeks every geo has, or model the geos separately")
    nans = clean[needed].isna().sum()
    if nans.any():
        raise DataError(f"missing values in {nans[nans > 0].to_dict()}", where="transform/clean.parquet",
                        fix="impute them in the transform stage (enhanced_cleaning.missing_data)")


def _population(clean: pd.DataFrame, geos: list[str], cfg: MMMConfig, channels: list[str]) -> tuple[pd.Series, str]:
    if cols.POPULATION in clean.columns and clean[cols.POPULATION].notna().all():
        return clean.groupby(cols.GEO)[cols.POPULATION].mean().reindex(geos), "data column population"
    if len(geos) == 1:
        return pd.Series(1.0, index=geos), "1.0 (national model)"
    proxy = cfg.model.population_proxy.value
    if proxy == "ones":
        return pd.Series(1.0, index=geos), "1.0 per geo (model.population_proxy=ones)"
    source = [cols.REVENUE] if proxy == "revenue" else [cols.spend(c) for c in channels]
    size = clean.assign(_size=clean[source].sum(axis=1)).groupby(cols.GEO)["_size"].mean().reindex(geos)
    if (size <= 0).any():
        raise DataError(f"geo(s) {list(size[size <= 0].index)} have no {proxy}, so no population proxy",
                        where="transform/clean.parquet", fix="add a population column or set model.population_proxy")
    log.info("features: no population column; geo sizes from mean weekly %s (model.population_proxy)", proxy)
    return size / size.max(), f"mean weekly {proxy} relative to the largest geo (model.population_proxy={proxy})"


def _channel_media(clean: pd.DataFrame, channel: str, cfg: MMMConfig) -> tuple[str, str]:
    impressions = cols.impressions(channel)
    if cfg.model.media_source.value == "impressions" and impressions in clean.columns:
        if clean[impressions].fillna(0).sum() > 0:
            return "impressions", impressions
        log.warning("features: %s has no impressions in the data; its spend is used as media", channel)
    return "spend", cols.spend(channel)


def _vocabulary(clean: pd.DataFrame, inputs: pd.DataFrame, cfg: MMMConfig) -> tuple[list[OrganicInput],
                                                                                    list[ControlInput]]:
    """Organic media and non-media treatments (Meridian's vocabulary) into ``inputs``; constant ones are refused:
    unlike a constant control, a cause the user named that never varies has no effect to estimate."""
    organic, treatments = [], []
    for name, column in cfg.data.organic_map.items():
        values = clean[cols.organic(name)].astype(float)
        _refuse_constant(values, f"organic medium {name}", f"data.organic_map.{name}")
        inputs[organic_column(name)] = values
        organic.append(OrganicInput(name, column))
    for name in cfg.data.non_media_treatments:
        values = clean[name].astype(float)
        _refuse_constant(values, f"non-media treatment {name}", "data.non_media_treatments")
        inputs[name] = values
        treatments.append(ControlInput(name, "non_media_treatment", {"source": name}))
    if organic or treatments:
        log.info("features: organic media %s, non-media treatments %s (each with its own incremental revenue)",
                 [o.name for o in organic], [t.name for t in treatments])
    return organic, treatments


def _calibrate(priors: list[ChannelPriors], experiments: pd.DataFrame, clean: pd.DataFrame,
               cfg: MMMConfig) -> tuple[list[ChannelPriors], list[ExperimentInput]]:
    """The tested channels' ROI priors from their lift tests (each keeps the prior it replaced: ``uncalibrated_roi``)."""
    resolved = resolve_experiments(experiments, clean, cfg)
    return calibrate_priors(priors, resolved), resolved


def _roi_prior_source(prior: ChannelPriors) -> str:
    if prior.roi_source == "experiment":
        return f"from experiment row(s) {prior.roi_experiments} over {prior.roi_window}"
    return f"from roi_bounds {prior.roi_bounds}" if prior.roi_bounds else "default"


def _refuse_constant(values: pd.Series, what: str, key: str) -> None:
    if values.nunique(dropna=True) <= 1:
        raise DataError(f"the {what} is constant ({values.iloc[0]:g}) over the modelled weeks: its effect cannot be "
                        "estimated", where=f"config key {key}", fix="remove it from the data config, or supply the "
                        "weeks where it varies")


def _data_controls(clean: pd.DataFrame, cfg: MMMConfig) -> list[ControlInput]:
    controls: list[ControlInput] = []
    if cfg.features.baseline.controls:
        _require(clean, list(cfg.data.controls), "the control variables (data.controls)")
        controls += [ControlInput(name, "data_control") for name in cfg.data.controls]
    if cfg.features.baseline.promotions and cfg.data.promo_col and cols.PROMO in clean.columns:
        controls.append(ControlInput(cols.PROMO, "promo", {"source": cfg.data.promo_col}))
    kept = []
    for control in controls:
        if clean[control.name].nunique(dropna=True) <= 1:
            log.warning("features: control %s is constant in the data and is dropped", control.name)
        else:
            kept.append(control)
    return kept


def _excluded(excluded_weeks: dict[str, list[str]] | None, geos: list[str], weeks: pd.DatetimeIndex,
              cfg: MMMConfig) -> dict[str, list[str]]:
    """The placeholder-KPI weeks per geo, checked against the table and against what is left to fit."""
    if not excluded_weeks:
        return {}
    known = set(weeks.strftime("%Y-%m-%d"))
    out: dict[str, list[str]] = {}
    for geo, listed in sorted(excluded_weeks.items()):
        stray = sorted(set(listed) - known)
        if geo not in geos or stray:
            raise DataError(f"the cleaning log excludes week(s) not in the clean table: geo {geo!r} "
                            f"{stray[:3] if geo in geos else listed[:3]}", where="transform/cleaning_log.json",
                            fix="re-run `mmm transform` (the clean table and its log come from different runs)")
        out[geo] = sorted(set(listed))
        left = len(weeks) - len(out[geo]) - cfg.model.holdout_weeks
        needed = cfg.validation.coverage_frequency.min_weeks_required
        if left < needed:
            raise DataError(f"geo {geo}: {len(out[geo])} week(s) without KPI are kept out of the fit "
                            f"(kpi_long_gaps=exclude) and {cfg.model.holdout_weeks} held out, leaving {left} weeks to "
                            f"fit, fewer than the {needed} the model needs", where="transform/cleaning_log.json",
                            fix="supply the missing KPI, or use a longer history (validation.coverage_frequency."
                                "min_weeks_required sets the minimum)")
        log.warning("features: geo %s: %d week(s) with a placeholder KPI will be held out of the fit: %s .. %s",
                    geo, len(out[geo]), out[geo][0], out[geo][-1])
    return out


def build_features(clean: pd.DataFrame, cfg: MMMConfig, excluded_weeks: dict[str, list[str]] | None = None,
                   experiments: pd.DataFrame | None = None) -> tuple[pd.DataFrame, FeatureSpec]:
    """The model inputs table and feature spec for a clean weekly table (the stage's pure core).

    Args:
        clean: the canonical weekly table (see :mod:`mmm_meridian.frame`).
        cfg: the typed config (``features``, ``model`` and ``data.controls`` / ``data.promo_col`` are read).
        excluded_weeks: geo -> weeks (ISO dates) whose KPI is a placeholder to hold out of the fit (the cleaning log's
            ``kpi_excluded_weeks``).
        experiments: the lift tests ingest read (``calibration.experiments``), one row per test; their ROI becomes
            the tested channels' ROI prior over the tests' weeks (:mod:`mmm_meridian.features.calibration`).

    Raises:
        DataError: missing columns, an unbalanced panel, missing values, a channel without spend, or excluded weeks
            that are not in the table or leave too few weeks to fit.
        ConfigError: a holiday calendar cannot be resolved.
    """
    channels = cfg.channels
    _require(clean, [cols.TIME, cols.GEO, cols.REVENUE] + [cols.spend(c) for c in channels], "the model")
    clean = clean.assign(**{cols.TIME: pd.to_datetime(clean[cols.TIME])}).sort_values([cols.GEO, cols.TIME])
    clean = clean.reset_index(drop=True)
    geos = sorted(clean[cols.GEO].astype(str).unique().tolist())
    weeks = pd.DatetimeIndex(sorted(clean[cols.TIME].unique()))
    if len(weeks) < 2:
        raise DataError(f"only {len(weeks)} week(s) of data", where="transform/clean.parquet",
                        fix="provide at least a year of weekly data")

    # Meridian's order of paid channels: media channels, then reach-and-frequency channels.
    rf = frozenset(cfg.data.reach_map)
    channels = [c for c in channels if c not in rf] + [c for c in channels if c in rf]
    priors = all_channel_priors(channels, cfg.features, cfg.model, rf_channels=rf)
    if experiments is not None and not experiments.empty:
        priors, spec_experiments = _calibrate(priors, experiments, clean, cfg)
    else:
        spec_experiments = []
    inputs = pd.DataFrame({cols.TIME: clean[cols.TIME], cols.GEO: clean[cols.GEO].astype(str),
                           cols.REVENUE: clean[cols.REVENUE].astype(float)})
    if cfg.data.kpi_type.value == "conversions":
        _require(clean, [cols.REVENUE_PER_KPI], "a conversions KPI (data.revenue_per_kpi_col)")
        inputs[REVENUE_PER_KPI] = clean[cols.REVENUE_PER_KPI].astype(float)
    channel_inputs: list[ChannelInput] = []
    for channel, prior in zip(channels, priors, strict=True):
        spend = clean[cols.spend(channel)].astype(float)
        if not spend.sum() > 0:
            raise DataError(f"channel {channel} has no spend in the modelled period", where=cols.spend(channel),
                            fix=f"remove {channel} from data.channel_map or extend the period")
        if channel in rf:
            source, column = REACH_FREQUENCY, cfg.data.reach_map[channel]
            _require(clean, [cols.reach(channel), cols.frequency(channel)], f"reach and frequency of {channel}")
            inputs[reach_column(channel)] = clean[cols.reach(channel)].astype(float)
            inputs[frequency_column(channel)] = clean[cols.frequency(channel)].astype(float)
        else:
            source, column = _channel_media(clean, channel, cfg)
            inputs[media_column(channel)] = clean[column].astype(float)
        inputs[spend_column(channel)] = spend
        channel_inputs.append(ChannelInput(channel, source, column, float(spend.sum()), prior))
        log.info("features: %s: media=%s, ROI prior %s, decay %.2f (%s%s), k %.2f (%s)", channel, source,
                 _roi_prior_source(prior), prior.decay, prior.decay_source, ", fixed" if prior.decay_fixed else "",
                 prior.k, prior.k_source)

    organic, treatments = _vocabulary(clean, inputs, cfg)
    controls = _data_controls(clean, cfg)
    for control in controls:
        inputs[control.name] = clean[control.name].astype(float)
    _check_panel(inputs, list(inputs.columns))

    holidays = cfg.features.seasonality.holidays
    calendars = resolve_calendars(geos, holidays, cfg.data) if holidays.enabled else {}
    timed = time_features(weeks, len(geos), cfg.features.seasonality, cfg.features.baseline.trend,
                          calendars={geo: c["country"] for geo, c in calendars.items()} if calendars else None)
    generated = [*timed.frame.columns, *timed.geo_frame.columns]
    clash = sorted(set(generated) & set(inputs.columns))
    if clash:
        raise DataError(f"data columns {clash} clash with generated seasonality controls",
                        where="data.controls", fix="rename those controls in the data mapping")
    if not timed.frame.empty:
        inputs = inputs.join(timed.frame, on=cols.TIME)
    if not timed.geo_frame.empty:  # holidays of geos with different calendars: one value per (geo, week)
        inputs = inputs.join(timed.geo_frame, on=[cols.GEO, cols.TIME])
    for name in generated:
        controls.append(ControlInput(name, timed.terms.get(name, {}).get("kind", "seasonality"),
                                     timed.terms.get(name, {})))
    if timed.knots_reason:
        log.info("features: knots: %s", timed.knots_reason)
    geo_variation, geo_variation_reason = {}, ""
    if len(geos) > 1:
        geo_variation, geo_variation_reason = cfg.model.priors.geo_variation.resolve(
            len(geos), learned=cfg.model.backend is ModelBackend.meridian)
        log.info("features: geo spread priors (HalfNormal scale; null: Meridian's default): media %s, controls %s: %s",
                 geo_variation["media"], geo_variation["controls"], geo_variation_reason)
    log.info("features: baseline trend: %s", timed.trend.get("how", "none"))

    population, population_source = _population(clean, geos, cfg, channels)
    inputs[cols.POPULATION] = inputs[cols.GEO].map(population).astype(float)
    spec = FeatureSpec(
        channels=channel_inputs, controls=controls, geos=geos,
        time_start=weeks[0].strftime("%Y-%m-%d"), time_end=weeks[-1].strftime("%Y-%m-%d"), n_weeks=len(weeks),
        population_source=population_source, knots=timed.knots, knots_reason=timed.knots_reason,
        decay_function=cfg.features.adstock.decay_function.value, max_lag=cfg.features.adstock.max_lag,
        hill_before_adstock=cfg.model.hill_before_adstock, holdout_weeks=cfg.model.holdout_weeks,
        seasonality_terms=timed.terms, holiday_calendars=calendars, trend=timed.trend,
        excluded_weeks=_excluded(excluded_weeks, geos, weeks, cfg),
        geo_variation=geo_variation, geo_variation_reason=geo_variation_reason,
        organic=organic, treatments=treatments, experiments=spec_experiments, kpi_type=cfg.data.kpi_type.value)
    if spec.holdout_weeks >= len(weeks) - 1:
        raise DataError(f"model.holdout_weeks={spec.holdout_weeks} leaves no weeks to fit ({len(weeks)} weeks)",
                        where="config key model.holdout_weeks", fix="hold out fewer weeks")
    return inputs, spec


def run(ctx: Any) -> dict[str, Any]:
    """Stage entry point: read the clean table, write the model inputs and the feature spec."""
    clean = pd.read_parquet(ctx.input_path("transform", "clean.parquet"))
    cleaning_log = json.loads(ctx.input_path("transform", "cleaning_log.json").read_text(encoding="utf-8"))
    # ingest writes the lift tests only when calibration.experiments is set (and is keyed on it)
    tests_path = ctx.input_path("ingest", experiments_table.ARTIFACT)
    tests = experiments_table.read_artifact(tests_path)[0] if tests_path.is_file() else None
    inputs, spec = build_features(clean, ctx.cfg, cleaning_log.get("kpi_excluded_weeks") or {}, tests)
    ctx.out.write_parquet(INPUTS_FILE, inputs)
    ctx.out.write_json(SPEC_FILE, spec.to_dict())
    ctx.log.info("features: %d channel(s), %d control(s), %s model with %d geo(s) x %d weeks", len(spec.channels),
                 len(spec.controls), "geo" if spec.is_geo else "national", len(spec.geos), spec.n_weeks)
    return {"channels": spec.channel_names, "controls": spec.control_names, "model": spec.to_dict()["model"],
            "n_geos": len(spec.geos), "n_weeks": spec.n_weeks, "knots": spec.knots,
            "media": {c.channel: c.media_source for c in spec.channels}, "rows": int(np.int64(len(inputs))),
            "holiday_calendars": {geo: c["country"] for geo, c in spec.holiday_calendars.items()},
            "excluded_weeks": sum(len(w) for w in spec.excluded_weeks.values()),
            "calibrated_channels": [c.channel for c in spec.channels if c.priors.roi_source == "experiment"],
            "rf_channels": [c.channel for c in spec.rf_channels], "organic": spec.organic_names,
            "non_media_treatments": spec.treatment_names, "kpi_type": spec.kpi_type}
