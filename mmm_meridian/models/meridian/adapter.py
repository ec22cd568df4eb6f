"""The one module that imports Meridian: InputData, priors, ModelSpec, sampling, serialization and Analyzer helpers.

Import it only after :func:`mmm_meridian.models.meridian.runtime.apply` (or accept Meridian's defaults: JAX, float64), since
Meridian fixes its backend on first import. Other stages use :func:`load_model`, :func:`analyzer`,
:func:`roi_table` and :func:`expected_vs_actual` rather than importing Meridian themselves.

Priors are built from float64/float32 numpy arrays of the backend's dtype: priors built from plain Python floats
fail on JAX (dtype mismatch).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.errors import DataError, MissingArtifactError, UserError
from mmm_meridian.feature_spec import (
    REVENUE_PER_KPI,
    ChannelInput,
    FeatureSpec,
    frequency_column,
    media_column,
    organic_column,
    reach_column,
    spend_column,
)
from mmm_meridian.tables.experiments import covered_weeks

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # TF backend deprecation notice: logged by the stage instead
    from meridian import backend
    from meridian.analysis import analyzer as meridian_analyzer
    from meridian.analysis import tensors as meridian_tensors
    from meridian.data import data_frame_input_data_builder as builder
    from meridian.data import time_coordinates
    from meridian.model import model as meridian_model
    from meridian.model import prior_distribution as priors
    from meridian.model import spec as meridian_spec
    from meridian.schema.serde import meridian_serde

log = logging.getLogger(__name__)
Meridian = meridian_model.Meridian
Analyzer = meridian_analyzer.Analyzer


def parse_each_date_once() -> None:
    """Make Meridian parse each date string once per process instead of once per use.

    Meridian's analyses rebuild their input tensors for every point they evaluate and parse every week label again
    each time: the demo's optimizer grid called ``strptime`` about 650,000 times for 156 dates, a third of the
    optimize stage (benchmarks/RESULTS.md, "Dates parsed once"). The two functions that do it
    (``time_coordinates.normalize_date``, ``tensors.normalize_date_str``) are pure and return immutable values, so
    their answers for strings are remembered; every other input goes to Meridian's own function, and a bad string
    still raises Meridian's error (errors are not remembered). Meridian's functions stay at ``.meridians``.
    """
    if hasattr(time_coordinates.normalize_date, "meridians"):
        return
    parse_date, date_label = time_coordinates.normalize_date, meridian_tensors.normalize_date_str
    parsed, labelled = functools.lru_cache(maxsize=1 << 16)(parse_date), functools.lru_cache(maxsize=1 << 16)(date_label)

    def normalize_date(date: Any) -> Any:
        return parsed(date) if isinstance(date, str) else parse_date(date)

    def normalize_date_str(time_val: Any) -> str:
        return labelled(time_val) if isinstance(time_val, str) else date_label(time_val)

    normalize_date.meridians, normalize_date_str.meridians = parse_date, date_label  # type: ignore[attr-defined]
    normalize_date.cache_info, normalize_date_str.cache_info = parsed.cache_info, labelled.cache_info  # type: ignore
    time_coordinates.normalize_date, meridian_tensors.normalize_date_str = normalize_date, normalize_date_str


parse_each_date_once()


def _float(values: Sequence[float] | float) -> np.ndarray:
    return np.asarray(values, dtype=backend.np_float_dtype)


def meridian_kpi_type(spec: FeatureSpec) -> str:
    """Meridian's ``kpi_type`` for the spec's KPI: ``revenue``, or ``non_revenue`` for conversions (whose money value
    Meridian then takes from ``revenue_per_kpi``, so that ROI and incremental revenue stay in money)."""
    return "non_revenue" if spec.kpi_type == "conversions" else "revenue"


def build_input_data(inputs: pd.DataFrame, spec: FeatureSpec) -> Any:
    """Meridian ``InputData`` from the features stage's model inputs.

    The KPI (revenue, or conversions with their ``revenue_per_kpi``), population, paid media channels (media and
    spend), reach-and-frequency channels (reach, frequency and spend), organic media, non-media treatments and
    controls: each block only when the spec has it, so a spec without R&F, organic media, treatments or conversions
    builds exactly the data it always did.

    Raises:
        DataError: a column the spec names is missing from the model inputs.
    """
    _check_columns(inputs, spec)
    frame = inputs.copy()
    frame[cols.TIME] = pd.to_datetime(frame[cols.TIME]).dt.strftime("%Y-%m-%d")
    where = {"time_col": cols.TIME, "geo_col": cols.GEO}
    data = (builder.DataFrameInputDataBuilder(kpi_type=meridian_kpi_type(spec))
            .with_kpi(frame, kpi_col=cols.REVENUE, **where)
            .with_population(frame, population_col=cols.POPULATION, geo_col=cols.GEO))
    if spec.kpi_type == "conversions":
        data = data.with_revenue_per_kpi(frame, revenue_per_kpi_col=REVENUE_PER_KPI, **where)
    media = [c.channel for c in spec.media_channels]
    if media:
        data = data.with_media(frame, media_cols=[media_column(c) for c in media],
                               media_spend_cols=[spend_column(c) for c in media], media_channels=media, **where)
    rf = [c.channel for c in spec.rf_channels]
    if rf:
        data = data.with_reach(frame, reach_cols=[reach_column(c) for c in rf],
                               frequency_cols=[frequency_column(c) for c in rf],
                               rf_spend_cols=[spend_column(c) for c in rf], rf_channels=rf, **where)
    if spec.organic:
        data = data.with_organic_media(frame, organic_media_cols=[organic_column(n) for n in spec.organic_names],
                                       organic_media_channels=spec.organic_names, media_time_col=cols.TIME,
                                       geo_col=cols.GEO)
    if spec.treatments:
        data = data.with_non_media_treatments(frame, non_media_treatment_cols=spec.treatment_names, **where)
    if spec.controls:
        data = data.with_controls(frame, control_cols=spec.control_names, **where)
    return data.build()


def _check_columns(inputs: pd.DataFrame, spec: FeatureSpec) -> None:
    """Every column the spec names is in the model inputs (else Meridian fails with a bare KeyError)."""
    wanted = [cols.TIME, cols.GEO, cols.REVENUE, cols.POPULATION]
    wanted += [REVENUE_PER_KPI] if spec.kpi_type == "conversions" else []
    for channel in spec.channels:
        wanted += ([reach_column(channel.channel), frequency_column(channel.channel)] if channel.is_rf
                   else [media_column(channel.channel)]) + [spend_column(channel.channel)]
    wanted += [organic_column(n) for n in spec.organic_names] + spec.treatment_names + spec.control_names
    missing = [c for c in wanted if c not in inputs.columns]
    if missing:
        raise DataError(f"the model inputs lack column(s) {missing} that feature_spec.json names",
                        where="features/model_inputs.parquet",
                        fix="re-run `mmm features` so that the model inputs and the spec are written together")


def _channel_priors(channels: list[ChannelInput], suffix: str) -> dict[str, Any]:
    """ROI (LogNormal), decay (Beta) and ec (LogNormal) priors of ``channels`` under Meridian's names ``roi_<suffix>``,
    ``alpha_<suffix>``, ``ec_<suffix>`` (``m``: media channels, ``rf``: reach-and-frequency channels); none without
    channels of the kind."""
    if not channels:
        return {}
    p = [c.priors for c in channels]
    return {
        f"roi_{suffix}": backend.tfd.LogNormal(_float([x.roi_mu for x in p]), _float([x.roi_sigma for x in p]),
                                               name=f"roi_{suffix}"),
        f"alpha_{suffix}": backend.tfd.Beta(_float([x.decay_alpha for x in p]), _float([x.decay_beta for x in p]),
                                            name=f"alpha_{suffix}"),
        f"ec_{suffix}": backend.tfd.LogNormal(_float([x.ec_mu for x in p]), _float([x.ec_sigma for x in p]),
                                              name=f"ec_{suffix}")}


def build_prior(spec: FeatureSpec, default_priors: bool = False) -> Any:
    """Meridian's ``PriorDistribution`` with per-channel ROI (LogNormal), decay (Beta) and ec (LogNormal) priors for
    media channels (``roi_m``...) and reach-and-frequency channels (``roi_rf``...), and for geo models the HalfNormal
    scales of the geo-spread priors (``eta_m``, ``eta_rf``, ``xi_c``) from the spec. Organic media and non-media
    treatments keep Meridian's default priors (no business prior exists for them)."""
    if default_priors:
        return priors.PriorDistribution()
    spread: dict[str, Any] = {}
    if spec.is_geo:
        names = [("media", "eta_m"), ("controls", "xi_c")] + ([("media", "eta_rf")] if spec.rf_channels else [])
        for key, name in names:
            if spec.geo_variation.get(key) is not None:
                spread[name] = backend.tfd.HalfNormal(_float(spec.geo_variation[key]), name=name)
    return priors.PriorDistribution(**spread, **_channel_priors(spec.media_channels, "m"),
                                    **_channel_priors(spec.rf_channels, "rf"))


def lognormal_from_range(low: float, high: float, mass: float) -> tuple[float, float]:
    """(mu, sigma) of Meridian's ``lognormal_dist_from_range`` (used to check the features stage's numbers)."""
    dist = priors.lognormal_dist_from_range(low, high, mass_percent=mass)
    return float(np.asarray(dist.loc)), float(np.asarray(dist.scale))


def week_runs(weeks: Sequence[str], times: Sequence[str]) -> list[tuple[str, str]]:
    """(first, last) of each run of ``weeks`` that are consecutive in ``times`` (weeks outside ``times`` ignored)."""
    position = {t: i for i, t in enumerate(times)}
    index = sorted(position[w] for w in set(weeks) if w in position)
    runs: list[tuple[str, str]] = []
    for i in index:
        if runs and position[runs[-1][1]] == i - 1:
            runs[-1] = (runs[-1][0], times[i])
        else:
            runs.append((times[i], times[i]))
    return runs


def build_holdout(spec: FeatureSpec, holdout_start: str | None, times: Sequence[str] | None = None) -> Any:
    """Meridian ``HoldoutSpec`` for a forecast holdout from ``holdout_start`` plus the spec's excluded weeks.

    Both kinds are observations Meridian leaves out of the likelihood, but only the first is a forecast to score. They
    are told apart by their shape, which survives saving the model: the forecast holdout is an OPEN date range
    (``DateRange(start_date=...)``, to the end of the data, as evaluate's geo holdout also writes), excluded weeks are
    CLOSED ranges (start and end dates). :func:`mmm_meridian.models.meridian.evaluation.holdout_mask` reads this back.
    Excluded weeks shared by every geo become global date ranges; otherwise each geo gets its own ranges.

    Args:
        spec: the feature spec (``excluded_weeks``: geo -> ISO weeks whose KPI is a placeholder).
        holdout_start: first week of the forecast holdout (ISO date), or None.
        times: the model's weeks (ISO dates); excluded weeks outside them (e.g. outside a rolling window) are dropped.
            None: every week of the spec's period is assumed present.

    Returns:
        The ``HoldoutSpec``, or None when nothing is held out.
    """
    if times is None:
        times = pd.date_range(spec.time_start, spec.time_end, freq="7D").strftime("%Y-%m-%d").tolist()
    times = list(times)
    forecast = [meridian_spec.DateRange(start_date=holdout_start)] if holdout_start is not None else []
    runs = {geo: week_runs(weeks, times) for geo, weeks in spec.excluded_weeks.items()}
    runs = {geo: r for geo, r in runs.items() if r}
    if not runs:
        return meridian_spec.HoldoutSpec(spec=forecast) if forecast else None
    for geo, geo_runs in runs.items():
        log.info("train: geo %s: KPI of %d week(s) held out of the likelihood (placeholder for a long gap, "
                 "kpi_long_gaps=exclude): %s", geo, sum(times.index(b) - times.index(a) + 1 for a, b in geo_runs),
                 ", ".join(a if a == b else f"{a}..{b}" for a, b in geo_runs))

    def closed(geo_runs: list[tuple[str, str]]) -> list[Any]:
        return [meridian_spec.DateRange(start_date=a, end_date=b) for a, b in geo_runs]

    shared = next(iter(runs.values()))
    if not spec.is_geo or (set(runs) == set(spec.geos) and all(r == shared for r in runs.values())):
        return meridian_spec.HoldoutSpec(spec=forecast + closed(shared))
    return meridian_spec.HoldoutSpec(spec=[
        meridian_spec.GeoHoldoutSpec(geos=[geo], date_ranges=forecast + closed(runs.get(geo, [])))
        for geo in spec.geos if forecast or geo in runs])


def window_weeks(window: Sequence[Sequence[str]], times: Sequence[str]) -> list[str]:
    """The model's weeks (ISO week starts, in ``times``) that overlap any inclusive ``[start, end]`` range of
    ``window``: the experiments file's week rule (:func:`mmm_meridian.tables.experiments.covered_weeks`)."""
    covered = {week.strftime("%Y-%m-%d") for first, last in window for week in covered_weeks(first, last, times)}
    return [t for t in times if t in covered]


def build_calibration(channels: Sequence[ChannelInput], times: Sequence[str]) -> Any:
    """Meridian ``CalibrationSpec`` restricting each channel's ROI prior to the weeks of its ``priors.roi_window``
    (its experiments' weeks), or None when no channel has a window (the prior is about the whole period).

    Meridian then reads the channel's ROI prior as the ROI of the spend in those weeks: the revenue caused by media
    run in the window (its carryover after the window included) over the spend in the window.

    Raises:
        DataError: a window covers none of the model's weeks.
    """
    entries = []
    for channel in channels:
        window = channel.priors.roi_window
        if not window:
            continue
        runs = week_runs(window_weeks(window, times), list(times))
        if not runs:
            raise DataError(f"channel {channel.channel}'s ROI prior is about weeks {window}, none of which the model "
                            f"covers ({times[0]}..{times[-1]})", where="features/feature_spec.json",
                            fix="re-run `mmm features` on the same data as train, or drop the experiment")
        log.info("train: %s: ROI prior calibrated on the spend of %s (experiment row(s) %s)", channel.channel,
                 ", ".join(a if a == b else f"{a}..{b}" for a, b in runs), channel.priors.roi_experiments or "-")
        entries.append(meridian_spec.ChannelCalibrationSpec(
            channels=[channel.channel], date_ranges=[meridian_spec.DateRange(a, b) for a, b in runs]))
    return meridian_spec.CalibrationSpec(spec=entries) if entries else None


def priors_for_weeks(spec: FeatureSpec, times: Sequence[str]) -> FeatureSpec:
    """The spec with each experiment-calibrated ROI prior fitted to the model's weeks ``times``.

    A fit of fewer weeks than the spec's period (a rolling split, a windowed refit) may miss a lift test's weeks: a
    window partly outside keeps the weeks inside (the test's ROI stands for the spend of those weeks); a window wholly
    outside cannot calibrate anything, so the channel gets back the ROI prior it had without the experiment
    (``uncalibrated_roi``). Both are logged; a fit of the whole period keeps the spec as it is.
    """
    full = pd.date_range(spec.time_start, spec.time_end, freq="7D").strftime("%Y-%m-%d").tolist()
    channels = []
    for channel in spec.channels:
        prior = channel.priors
        if prior.roi_window:
            inside = window_weeks(prior.roi_window, times)
            if not inside:
                mu, sigma = prior.uncalibrated_roi or (prior.roi_mu, prior.roi_sigma)
                log.info("%s: experiment weeks %s are outside this fit's weeks (%s..%s): its ROI prior without the "
                         "experiment, LogNormal(%.3g, %.3g)", channel.channel, prior.roi_window, times[0], times[-1],
                         mu, sigma)
                prior = dataclasses.replace(prior, roi_mu=float(mu), roi_sigma=float(sigma), roi_window=None)
            elif len(inside) < len(window_weeks(prior.roi_window, full)):
                kept = [[a, b] for a, b in week_runs(inside, list(times))]
                log.info("%s: experiment weeks %s partly outside this fit's weeks: calibrated on %s", channel.channel,
                         prior.roi_window, kept)
                prior = dataclasses.replace(prior, roi_window=kept)
        channels.append(channel if prior is channel.priors else dataclasses.replace(channel, priors=prior))
    return dataclasses.replace(spec, channels=channels)


def build_model_spec(spec: FeatureSpec, holdout_start: str | None = None, default_priors: bool = False,
                     times: Sequence[str] | None = None) -> Any:
    """Meridian ``ModelSpec``: priors, knots, adstock function and lag, the holdout (:func:`build_holdout`: the last
    weeks from ``holdout_start`` plus the spec's excluded weeks, restricted to ``times``) and the ROI calibration
    windows of media and R&F channels (:func:`build_calibration`, on the weeks of ``times``: :func:`priors_for_weeks`;
    not with Meridian's default priors, which no experiment informed)."""
    if times is None:
        times = pd.date_range(spec.time_start, spec.time_end, freq="7D").strftime("%Y-%m-%d").tolist()
    holdout = build_holdout(spec, holdout_start, times)
    kwargs: dict[str, Any] = {}
    if not default_priors:
        spec = priors_for_weeks(spec, times)
        kwargs = {"knots": spec.knots, "max_lag": spec.max_lag, "adstock_decay_spec": spec.decay_function,
                  "hill_before_adstock": spec.hill_before_adstock}
        calibration = {"roi_calibration": build_calibration(spec.media_channels, times),
                       "rf_roi_calibration": build_calibration(spec.rf_channels, times)}
        kwargs.update({k: v for k, v in calibration.items() if v is not None})
    return meridian_spec.ModelSpec(prior=build_prior(spec, default_priors), media_prior_type="roi",
                                   holdout=holdout, **kwargs)


def fitted_knots(knots: Any, n_weeks: int, holdout_weeks: int, is_national: bool) -> Any:
    """Trend knots for a forecast refit: the same number of knots as the model's, spread over the FITTED weeks only.

    Meridian spreads ``knots=k`` evenly over every week, held-out ones included, so a fit with held-out final weeks
    (train's ``model.holdout_weeks``, evaluate's temporal refit) gets a knot on
    its last held-out week whose value only a few fitted weeks inform: the trend's slope over those weeks is then
    extrapolated through the whole holdout (on the demo: the forecast's mean 20k below the actuals, 80 % interval
    covering 6 of 13 weeks; benchmarks/RESULTS.md). With the knots on fitted weeks, Meridian holds the trend flat
    after the last one, as a forecast from the fitted data alone should. ``None`` is Meridian's default (one knot
    for a national model, one per week for a geo model).
    """
    n_fit = n_weeks - holdout_weeks
    if holdout_weeks <= 0 or n_fit < 2:
        return knots
    if knots is None:
        return None if is_national else list(range(n_fit))
    if isinstance(knots, int):
        if knots <= 1:
            return knots
        return sorted({int(k) for k in np.linspace(0, n_fit - 1, min(knots, n_fit)).astype(int)})
    return sorted({int(k) for k in knots if int(k) < n_fit} | {n_fit - 1})


def build_model(inputs: pd.DataFrame, spec: FeatureSpec, holdout_weeks: int = 0,
                default_priors: bool = False) -> Any:
    """A ready-to-sample ``Meridian`` model; the last ``holdout_weeks`` weeks' revenue is held out of the fit, and so
    is the revenue of the spec's excluded weeks (placeholders for long KPI gaps, see :func:`build_holdout`).

    Args:
        inputs: the model inputs table (see :mod:`mmm_meridian.feature_spec`).
        spec: the feature spec.
        holdout_weeks: weeks at the end whose KPI Meridian ignores when fitting (predictions still cover them).
        default_priors: bare Meridian (its default priors, knots and adstock) for benchmarks.

    Raises:
        DataError: Meridian refuses the data (its message is passed on).
    """
    weeks = sorted(pd.to_datetime(inputs[cols.TIME]).unique())
    holdout_start = pd.Timestamp(weeks[-holdout_weeks]).strftime("%Y-%m-%d") if holdout_weeks > 0 else None
    times = [pd.Timestamp(w).strftime("%Y-%m-%d") for w in weeks]
    knots = fitted_knots(spec.knots, len(weeks), holdout_weeks, len(spec.geos) == 1)
    if knots != spec.knots:  # no trend knot inside the forecast weeks
        log.info("trend knots on the fitted weeks only: %s (the model's: %s over every week)", knots, spec.knots)
        spec = dataclasses.replace(spec, knots=knots)
    try:
        data = build_input_data(inputs, spec)
        return Meridian(input_data=data, model_spec=build_model_spec(spec, holdout_start, default_priors, times))
    except (ValueError, KeyError) as exc:
        raise DataError(f"Meridian refused the model inputs: {exc}", where="features/model_inputs.parquet",
                        fix="check the features stage's log and feature_spec.json (constant or collinear controls, "
                            "channels without media)") from exc


def sample(mmm: Any, *, n_chains: int, n_adapt: int, n_burnin: int, n_keep: int, seed: int, n_prior_draws: int,
           max_tree_depth: int = 10, chain_batch_size: int | None = None,
           reconstruction_batch_size: int | None = None) -> dict[str, float]:
    """Draw the prior (none when ``n_prior_draws`` is 0), then the posterior with NUTS; returns the seconds each took.

    Raises:
        DataError: Meridian's EDA guardrail refused to fit (critical data issues).
        UserError: the device ran out of memory.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if n_prior_draws > 0:
        mmm.sample_prior(n_prior_draws, seed=seed)
    timings["prior_seconds"] = time.perf_counter() - started
    chains: int | list[int] = n_chains
    if chain_batch_size is not None and chain_batch_size < n_chains:
        full, rest = divmod(n_chains, chain_batch_size)
        chains = [chain_batch_size] * full + ([rest] if rest else [])
    started = time.perf_counter()
    try:
        # reconstruction_batch_size bounds the memory of Meridian's posterior reconstruction on large models.
        extra = {} if reconstruction_batch_size is None else {"reconstruction_batch_size": reconstruction_batch_size}
        mmm.sample_posterior(n_chains=chains, n_adapt=n_adapt, n_burnin=n_burnin, n_keep=n_keep, seed=seed,
                             max_tree_depth=max_tree_depth, **extra)
    except Exception as exc:  # Meridian raises its own error types; translate the ones users can act on
        name = type(exc).__name__
        if name == "ModelFittingError":
            raise DataError(f"Meridian's pre-fit checks refused the data: {exc}", where="train",
                            fix="fix the data issues listed (e.g. drop collinear controls, features.seasonality."
                                "knot_every_weeks) and re-run `mmm features`") from exc
        if name == "MCMCOOMError":
            raise UserError(f"out of memory while sampling: {exc}", where="train",
                            fix="set runtime.chain_batch_size (e.g. 2) or lower training.sampler.n_keep") from exc
        raise
    timings["sampling_seconds"] = time.perf_counter() - started
    return timings


def save_model(mmm: Any, path: str | Path) -> Path:
    """Save the fitted model (data, spec, prior and posterior draws) as Meridian's ``.binpb`` protobuf."""
    path = Path(path)
    meridian_serde.save_meridian(mmm, str(path))
    return path


def load_model(path: str | Path) -> Any:
    """Load a model saved by :func:`save_model` (posterior included: no refitting).

    Raises:
        MissingArtifactError: the file does not exist or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingArtifactError(f"no saved model at {path}", where=str(path), fix="run `mmm train` first")
    try:
        return meridian_serde.load_meridian(str(path))
    except Exception as exc:  # protobuf / schema errors
        raise MissingArtifactError(f"the saved model cannot be read ({type(exc).__name__}: {exc})", where=str(path),
                                   fix="re-run `mmm train` with this version of google-meridian") from exc


def thin_posterior(mmm: Any, max_draws: int | None, key: str = "optimization") -> tuple[int, int]:
    """Keep every k-th posterior draw of every chain so that at most ``max_draws`` remain (in place).

    Meridian's optimiser and analyzer work on ``mmm.inference_data.posterior``; thinning it is the only way to bound
    the cost of the post-fit analyses (optimize, report), which re-evaluate the model on every draw. Meridian offers
    no setter, so the private attribute is replaced (google-meridian is pinned; a test checks the thinned model is
    what the analyzer sees). ``key`` names the config section in errors. Returns (draws used, draws in the fit).
    """
    posterior = mmm.inference_data.posterior
    n_chain, n_draw = int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    total = n_chain * n_draw
    if max_draws is None or total <= max_draws:
        return total, total
    step = -(-total // max_draws)  # ceil: the smallest stride that brings the count under the limit
    if step > n_draw:
        raise UserError(f"max_posterior_draws={max_draws} is below the number of chains ({n_chain})",
                        where=f"{key}.max_posterior_draws", fix=f"set it to at least {n_chain}, or null")
    mmm._inference_data = _every_kth_draw(mmm.inference_data, step)
    return n_chain * len(range(0, n_draw, step)), total


def _every_kth_draw(idata: Any, step: int) -> Any:
    """A copy of ``idata`` whose posterior keeps every ``step``-th draw of each chain (other groups as they are)."""
    groups = {name: (idata[name].isel(draw=slice(None, None, step)) if name == "posterior" else idata[name])
              for name in idata.groups()}
    return type(idata)(**groups)


def analyzer(mmm: Any) -> Any:
    """Meridian's ``Analyzer`` for a fitted model."""
    return Analyzer(mmm)


def channel_names(mmm: Any) -> list[str]:
    """Every paid channel in Meridian's order: media channels, then reach-and-frequency channels."""
    return [str(c) for c in mmm.input_data.get_all_paid_channels()]


def rf_channel_names(mmm: Any) -> list[str]:
    """The reach-and-frequency channels (the last ones of :func:`channel_names`)."""
    rf = mmm.input_data.rf_channel
    return [] if rf is None else [str(c) for c in rf.values]


def paid_spend(mmm: Any) -> np.ndarray:
    """Spend of every paid channel as the data holds it: (geo, time, channel), or (channel,) when the data has
    totals only (media channels, then R&F channels)."""
    return np.asarray(mmm.input_data.get_total_spend(), dtype=np.float64)


def historical_spend(mmm: Any) -> np.ndarray:
    """Total spend per paid channel over the whole modelled period (all geos)."""
    spend = paid_spend(mmm)
    return spend.reshape(-1, spend.shape[-1]).sum(axis=0)


def revenue_per_kpi(mmm: Any) -> np.ndarray:
    """Money per KPI unit per (geo, time): the data's revenue per conversion, or ones for a revenue KPI (which
    Meridian fills in itself)."""
    per_kpi = mmm.input_data.revenue_per_kpi
    if per_kpi is None:
        return np.ones((len(mmm.input_data.geo), len(mmm.input_data.time)))
    return np.asarray(per_kpi, dtype=np.float64)


def actual_revenue(mmm: Any) -> np.ndarray:
    """The KPI in money per (geo, time): revenue, or conversions x revenue per conversion (Meridian's ``use_kpi=False``
    actual)."""
    return np.asarray(mmm.input_data.kpi, dtype=np.float64) * revenue_per_kpi(mmm)


def roi_table(mmm: Any) -> pd.DataFrame:
    """Per paid channel: spend, incremental revenue (posterior mean), ROI mean / median / 90 % interval (in money for
    a conversions KPI too: Meridian's ``use_kpi=False``)."""
    tool = analyzer(mmm)
    channels = channel_names(mmm)
    roi = np.asarray(tool.roi(), dtype=np.float64).reshape(-1, len(channels))
    incremental = np.asarray(tool.incremental_outcome(include_non_paid_channels=False), dtype=np.float64)
    incremental = incremental.reshape(-1, roi.shape[1])
    return pd.DataFrame({
        "channel": channels, "spend": historical_spend(mmm), "incremental_revenue": incremental.mean(axis=0),
        "roi_mean": roi.mean(axis=0), "roi_median": np.median(roi, axis=0),
        "roi_lo_90": np.quantile(roi, 0.05, axis=0), "roi_hi_90": np.quantile(roi, 0.95, axis=0)})


def expected_vs_actual(mmm: Any, times: Sequence[str] | None = None) -> pd.DataFrame:
    """Posterior expected revenue per (geo, week) with its 90 % interval, next to the actual revenue (money for a
    conversions KPI too: Meridian's expected outcome with ``use_kpi=False`` next to KPI x revenue per KPI)."""
    tool = analyzer(mmm)
    draws = np.asarray(tool.expected_outcome(aggregate_geos=False, aggregate_times=False), dtype=np.float64)
    draws = draws.reshape(-1, *draws.shape[-2:])  # (chain*draw, geo, time)
    geos = [str(g) for g in mmm.input_data.geo.values]
    all_times = [str(t) for t in mmm.input_data.time.values]
    actual = actual_revenue(mmm)
    frame = pd.DataFrame({
        cols.GEO: np.repeat(geos, len(all_times)), cols.TIME: np.tile(all_times, len(geos)),
        "actual": actual.reshape(-1), "predicted_mean": draws.mean(axis=0).reshape(-1),
        "predicted_median": np.median(draws, axis=0).reshape(-1),
        "predicted_lo_90": np.quantile(draws, 0.05, axis=0).reshape(-1),
        "predicted_hi_90": np.quantile(draws, 0.95, axis=0).reshape(-1)})
    if times is not None:
        frame = frame[frame[cols.TIME].isin(list(times))]
    return frame.reset_index(drop=True)


def inference_data(mmm: Any) -> Any:
    """The ArviZ ``InferenceData`` holding the prior and posterior draws."""
    return mmm.inference_data


def backend_name() -> str:
    from meridian.backend import config as backend_config

    return str(backend_config.get_backend().value)


def revenue_figures(mmm: Any, max_draws: int = 1000) -> dict[str, float]:
    """Total revenue over the fit and the posterior probability of a negative baseline (for the plausibility gate).

    The baseline probability re-evaluates the model on every posterior draw with media at zero; it is computed on
    at most ``max_draws`` evenly thinned draws of a copy of the posterior (the model itself is left untouched), which
    estimates a probability to about +-0.016 at worst.
    """
    total = float(actual_revenue(mmm).sum())
    idata = mmm.inference_data
    posterior = idata.posterior
    n_chain, n_draw = int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    step = max(1, -(-n_chain * n_draw // max_draws))
    if 1 < step <= n_draw:
        mmm._inference_data = _every_kth_draw(idata, step)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            negative = float(analyzer(mmm).negative_baseline_probability())
    finally:
        mmm._inference_data = idata
    return {"total_revenue": total, "negative_baseline_prob": negative}
