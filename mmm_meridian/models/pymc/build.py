"""Build a PyMC-Marketing MMM from the features stage's model inputs and feature spec (the same business knowledge
Meridian gets).

The model is ``pymc_marketing.mmm.multidimensional.MMM`` (``dims=("geo",)`` for a geo model): revenue (scaled by its
maximum, per geo) = intercept + media + controls + Normal noise, with

- media: PyMC-Marketing's ``GeometricAdstock`` (``BinomialAdstock`` when the spec's decay function is binomial),
  normalised, over ``l_max = max_lag + 1`` weeks (lags 0..max_lag, as Meridian), then ``MichaelisMentenSaturation``
  ``alpha x / (lam + x)``, which is Meridian's Hill curve with its default slope of 1 (``hill_before_adstock``
  swaps the order). Media is each channel's ``<channel>__media`` column scaled by its maximum per geo. The geometric
  kernel is Meridian's; PyMC-Marketing's binomial kernel ``(1 - l / (l_max + 1))^(1/alpha - 1)`` has a slightly
  longer tail than Meridian's ``(1 - l / l_max)^(1/alpha - 1)``.
- carryover prior: ``adstock_alpha ~ Beta(decay_alpha, decay_beta)`` per channel (shared by every geo).
- half-saturation prior: the spec's ``ec`` is LogNormal(ec_mu, ec_sigma) in multiples of the channel's median non-zero
  weekly media; on PyMC-Marketing's max-scaled media that is ``saturation_lam ~ LogNormal(ec_mu + ln r, ec_sigma)``
  with ``r`` = median non-zero weekly media / maximum weekly media of the channel (the median over geos of each
  geo's ratio in a geo model, where every geo's media is scaled by its own maximum).
- controls: every control column of the spec (Fourier terms, holidays, events, promotions, data controls, a linear
  trend), standardised (mean 0, sd 1), with ``gamma_control ~ Normal(0, 1)`` on the max-scaled revenue; in a geo
  model ``gamma_control[geo, control] ~ Normal(gamma_control_mu[control], geo_variation.controls)``, with
  ``gamma_control_mu ~ Normal(0, 1)``. PyMC-Marketing's own ``yearly_seasonality`` is NOT added: the features stage's Fourier and holiday
  columns already are controls.
- trend: the spec's ``knots`` become Meridian's piecewise-linear intercept as controls: with k >= 2 knots, k - 1
  "hat" columns (linear interpolation weights of knots 1..k-1; knot 0 is the intercept) of kind ``trend``. Knots sit
  on the FITTED weeks only (a temporal holdout gets none), so a forecast continues the last knot's level flat, as
  Meridian's does. One knot (or None in a national model) is a constant intercept; the features stage then adds a
  linear ``trend`` control. None in a geo model (Meridian's per-week knots) becomes one knot every 8 weeks.
- geo models: intercept, noise scale and control effects per geo; media effects per geo around the channel's effect,
  ``saturation_alpha[geo, ch] ∝ exp(media_geo_effect[geo, ch])`` with ``media_geo_effect ~ Normal(0,
  geo_variation.media)``; adstock and saturation shape are shared by all geos. The geo spreads (``geo_variation``,
  Meridian's HalfNormal scales of ``eta_m`` and ``xi_c``) are used as FIXED spreads here, not as scales of learned
  ones: with a handful of geos a learned spread is not identified and its funnel wrecked sampling (2 geos x 60 weeks,
  tuning 500: 26 divergences and 650 leapfrog steps per draw with a HalfNormal spread on the controls, 180
  divergences centred; 0 divergences and 124 steps with the spread fixed). None takes 1.0 (little pooling).

ROI prior (``model.priors.roi_bounds`` / ``default_roi``, handed over as each channel's LogNormal(roi_mu, roi_sigma)
on ROI): PyMC-Marketing 0.19.2 has no ROI (ROAS) prior, so the model is reparameterised the way Meridian does it
(``media_prior_type="roi"``): each channel gets a free parameter ``roi ~ LogNormal(roi_mu, roi_sigma)`` and its
coefficient is DERIVED from it: ``saturation_alpha = roi x spend / K``, where ``spend`` is the channel's total spend
over the data and ``K`` the revenue the channel would bring with a coefficient of 1, i.e. the sum over weeks and
geos of the adstocked, saturated historical media (at that draw's ``adstock_alpha`` and ``saturation_lam``, geo
weights included) times the revenue scale. ``K`` uses the historical media as a constant, so the coefficient does not
move when a spend plan changes the media. Incremental revenue / spend over the data is then exactly ``roi`` on every
draw, prior and posterior: the prior of each channel's ROI IS the LogNormal of the spec, whatever the adstock and
saturation priors.

Holdout: the last ``holdout_weeks`` weeks, a geo holdout (weeks from ``start`` in some geos) and the spec's
excluded weeks (placeholder KPI) are left out of the likelihood by observing only the kept (week, geo) cells; every
week is still predicted. Which cells were a forecast holdout and which were excluded is stored with the model
(:mod:`.model`), so it survives save and load.

Experiments (``spec.experiments``, lift tests): each is a likelihood term, ``Normal(model ROI over the test's weeks and
geo, roi_se)`` observed at its measured ROI (:mod:`.experiments`, which says why PyMC-Marketing's own
``add_lift_test_measurements`` does not fit this quantity); the ROI prior of a tested channel is then the one it would
have had without experiments, so the test is not counted twice. ``default_priors`` (bare PyMC-Marketing, for
benchmarks) takes no experiments, as bare Meridian takes none.

Meridian-only inputs (reach-and-frequency channels, organic media, non-media treatments, a conversions KPI) are
refused with a ConfigError: the config check at start-up refuses them first, this guards a hand-built spec.

The reparameterisation, the masked likelihood and the experiments' term exist only in the graph that is sampled: the saved model config is
PyMC-Marketing's standard one (``saturation_alpha`` and ``saturation_lam`` LogNormal, Normal likelihood), which
``MMM.load`` rebuilds and whose parameters the posterior holds (``saturation_alpha`` as the derived coefficient).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.feature_spec import FeatureSpec, media_column, spend_column
from mmm_meridian.models.base import GeoHoldout

log = logging.getLogger(__name__)

DATE = "date"  # PyMC-Marketing's date column (its core dim is called "date" whatever the column's name)
GEO = "geo"
TARGET = "revenue"
RESERVED = {DATE, GEO, TARGET, "y", "channel", "control", "fourier_mode"}
KNOT_PREFIX = "trend_knot_"
GEO_KNOT_EVERY_WEEKS = 8  # a geo model left on Meridian's per-week knots gets one knot every 8 weeks instead
# Geo spreads when the spec leaves them to the engine (None): wide enough to let geos differ freely.
DEFAULT_MEDIA_SPREAD = 1.0
DEFAULT_CONTROL_SPREAD = 1.0
CONTROL_SIGMA = 1.0  # Normal(0, 1) effect of a standardised control on the max-scaled revenue


@dataclass
class Record:
    """This engine's record of the data beside PyMC-Marketing's (stored with the model, see :mod:`.model`).

    Arrays are (week, geo[, channel]); a national model has one geo. ``holdout`` marks the forecast cells to score,
    ``excluded`` the placeholder-KPI cells; both are left out of the likelihood.
    """

    channels: list[str]
    controls: list[str]  # the model's control columns, knot columns included
    control_kinds: dict[str, str]  # kinds of the columns the engine added (trend knots)
    geos: list[str]
    times: list[str]
    geo_model: bool
    spend: np.ndarray
    holdout: np.ndarray
    excluded: np.ndarray
    adstock: str
    l_max: int
    adstock_first: bool
    knots: list[int] = field(default_factory=list)
    roi_prior: dict[str, list[float]] = field(default_factory=dict)
    default_priors: bool = False


def refuse_meridian_only(spec: FeatureSpec) -> None:
    """ConfigError naming the first input of the spec that only the Meridian engine models (see the module docstring).
    """
    unsupported = [(what, key) for what, key, used in (
        ("reach-and-frequency channel(s) " + str([c.channel for c in spec.rf_channels]), "data.reach_map",
         bool(spec.rf_channels)),
        ("organic media " + str(spec.organic_names), "data.organic_map", bool(spec.organic)),
        ("non-media treatment(s) " + str(spec.treatment_names), "data.non_media_treatments", bool(spec.treatments)),
        ("a conversions KPI", "data.kpi_type=conversions", spec.kpi_type == "conversions")) if used]
    if unsupported:
        what, key = unsupported[0]
        raise ConfigError(f"the feature spec has {what} ({key}), which the Meridian engine supports and the PyMC "
                          "engine does not", where="features/feature_spec.json, model.backend=pymc",
                          fix=f"use model.backend=meridian, or leave {key.split('=')[0]} unset and re-run "
                              "`mmm features`")


def _iso(values: Any) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m-%d") for v in values]


def _check_columns(inputs: pd.DataFrame, spec: FeatureSpec) -> None:
    needed = [cols.TIME, cols.GEO, cols.REVENUE]
    needed += [f(c) for c in spec.channel_names for f in (media_column, spend_column)] + spec.control_names
    missing = [c for c in needed if c not in inputs.columns]
    if missing:
        raise DataError(f"model inputs lack column(s) {missing}", where="features/model_inputs.parquet",
                        fix="re-run `mmm features` (the feature spec and the model inputs are out of step)")
    names = spec.channel_names + spec.control_names
    clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & RESERVED))
    if clash:
        raise DataError(f"channel / control name(s) {clash} clash with each other or with the PyMC engine's own "
                        f"columns {sorted(RESERVED)}", where="features/feature_spec.json",
                        fix="rename the channels or controls (data.channels / data.controls) and re-run the pipeline")


def _cube(inputs: pd.DataFrame, columns: Sequence[str], times: list[pd.Timestamp], geos: list[str]) -> np.ndarray:
    """(week, geo, column) array of ``columns``; DataError when a (week, geo) row is missing or a value is NaN."""
    frame = inputs.set_index([cols.TIME, cols.GEO])[list(columns)]
    index = pd.MultiIndex.from_product([times, geos], names=[cols.TIME, cols.GEO])
    if frame.index.has_duplicates:
        raise DataError("model inputs have more than one row for some (week, geo)",
                        where="features/model_inputs.parquet", fix="re-run `mmm features`")
    cube = frame.reindex(index)
    if cube.isna().to_numpy().any():
        bad = cube.columns[cube.isna().any()].tolist()
        raise DataError(f"model inputs have missing (week, geo) rows or NaN values in {bad}",
                        where="features/model_inputs.parquet",
                        fix="every geo needs every week with finite values: re-run `mmm features`")
    return cube.to_numpy(np.float64).reshape(len(times), len(geos), len(columns))


def knot_positions(knots: int | Sequence[int] | None, n_fit: int, geo_model: bool) -> list[int]:
    """Week indices of the trend knots on the fitted weeks ``0..n_fit-1`` (empty: a constant intercept).

    Meridian's ``knots=k`` spreads k knots evenly over the weeks; a list gives the indices. Knots are kept on fitted
    weeks (see the module docstring); None is one knot (national) or one every 8 weeks (geo).
    """
    if n_fit < 2:
        return []
    if knots is None:
        if not geo_model:
            return []
        knots = max(1, math.ceil((n_fit - 1) / GEO_KNOT_EVERY_WEEKS) + 1)
    if isinstance(knots, int | np.integer):
        if knots <= 1:
            return []
        return sorted({int(k) for k in np.linspace(0, n_fit - 1, min(int(knots), n_fit)).round().astype(int)})
    positions = sorted({int(k) for k in knots if 0 <= int(k) < n_fit} | {n_fit - 1})
    return positions if len(positions) >= 2 else []


def knot_columns(positions: list[int], n_weeks: int) -> np.ndarray:
    """(week, knot 1..k-1) linear-interpolation weights of a piecewise-linear trend through ``positions``; flat
    before the first knot and after the last one. Knot 0's weight is left out: the intercept carries it."""
    weeks = np.arange(n_weeks, dtype=np.float64)
    eye = np.eye(len(positions))
    return np.stack([np.interp(weeks, positions, eye[k]) for k in range(1, len(positions))], axis=1)


def masks(spec: FeatureSpec, times: list[str], geos: list[str], holdout_weeks: int,
          geo_holdout: GeoHoldout | None) -> tuple[np.ndarray, np.ndarray]:
    """(forecast holdout, excluded) boolean (week, geo) masks."""
    n_t, n_g = len(times), len(geos)
    holdout = np.zeros((n_t, n_g), dtype=bool)
    if geo_holdout is not None:
        unknown = sorted(set(geo_holdout.geos) - set(geos))
        if unknown:
            raise DataError(f"geo holdout names geo(s) {unknown} the model does not have",
                            where="config key evaluation.geo_holdout", fix=f"choose from {geos}")
        later = np.asarray([t >= pd.Timestamp(geo_holdout.start).strftime("%Y-%m-%d") for t in times])
        for g, geo in enumerate(geos):
            if geo in geo_holdout.geos:
                holdout[later, g] = True
    elif holdout_weeks > 0:
        holdout[n_t - holdout_weeks:, :] = True
    excluded = np.zeros((n_t, n_g), dtype=bool)
    position = {t: i for i, t in enumerate(times)}
    for geo, weeks in spec.excluded_weeks.items():
        if str(geo) not in geos:
            continue
        g = geos.index(str(geo))
        for week in weeks:
            if week in position:
                excluded[position[week], g] = True
    return holdout & ~excluded, excluded


def _standardise(values: np.ndarray, names: list[str]) -> np.ndarray:
    """Controls as z-scores over every (week, geo); a constant column becomes 0 (it carries no information)."""
    flat = values.reshape(-1, values.shape[-1])
    mean, sd = flat.mean(axis=0), flat.std(axis=0)
    constant = [n for n, s in zip(names, sd, strict=True) if not s > 0]
    if constant:
        log.warning("pymc engine: control(s) %s are constant over the data and have no effect", constant)
    return (values - mean) / np.where(sd > 0, sd, 1.0)


def half_saturation_ratio(media: np.ndarray) -> np.ndarray:
    """Per channel: median non-zero weekly media / maximum weekly media (median over geos of each geo's ratio)."""
    ratios = np.full(media.shape[1:], np.nan)
    for g in range(media.shape[1]):
        for c in range(media.shape[2]):
            column = media[:, g, c]
            positive = column[column > 0]
            if positive.size:
                ratios[g, c] = np.median(positive) / positive.max()
    return np.nanmedian(ratios, axis=0)


@dataclass
class Built:
    """What :func:`build` hands the engine: the MMM (model graph built, not sampled), its data and record."""

    mmm: Any
    X: pd.DataFrame
    y: pd.Series
    record: Record


def build(inputs: pd.DataFrame, spec: FeatureSpec, *, holdout_weeks: int = 0, default_priors: bool = False,
          geo_holdout: GeoHoldout | None = None) -> Built:
    """A ready-to-sample PyMC-Marketing MMM of the model inputs (see the module docstring).

    Raises:
        ConfigError: the spec has inputs only the Meridian engine models (:func:`refuse_meridian_only`).
        DataError: the inputs lack columns, rows or spend, PyMC-Marketing refuses them, or an experiment does not
            fit the data (unknown channel or geo, no week or no spend in its window).
    """
    from mmm_meridian.models.pymc import experiments as lift_tests  # imports this module: imported here

    refuse_meridian_only(spec)
    _check_columns(inputs, spec)
    frame = inputs.copy()
    frame[cols.TIME] = pd.to_datetime(frame[cols.TIME])
    frame[cols.GEO] = frame[cols.GEO].astype(str)
    times = sorted(frame[cols.TIME].unique())
    geos = sorted(frame[cols.GEO].unique())  # PyMC-Marketing orders the geo coordinate by name
    if len(times) < 2 or len(set(np.diff(np.asarray(times, dtype="datetime64[ns]")))) != 1:
        raise DataError("the model inputs' weeks are not evenly spaced (or fewer than two)",
                        where="features/model_inputs.parquet",
                        fix="every week from the first to the last is needed: re-run `mmm features`")
    iso = _iso(times)
    channels = spec.channel_names
    media = _cube(frame, [media_column(c) for c in channels], times, geos)
    spend = _cube(frame, [spend_column(c) for c in channels], times, geos)
    revenue = _cube(frame, [cols.REVENUE], times, geos)[..., 0]
    totals = spend.sum(axis=(0, 1))
    empty = [c for c, s, m in zip(channels, totals, media.sum(axis=(0, 1)), strict=True) if not (s > 0 and m > 0)]
    if empty:
        raise DataError(f"channel(s) {empty} have no spend or no media over the data: their ROI is undefined",
                        where="features/model_inputs.parquet",
                        fix="drop the channel from data.channels or use a period in which it ran")
    if (media < 0).any() or (spend < 0).any():
        raise DataError("negative media or spend in the model inputs", where="features/model_inputs.parquet",
                        fix="check the ingest mapping of media and spend columns")
    holdout, excluded = masks(spec, iso, geos, 0 if geo_holdout else holdout_weeks, geo_holdout)
    if (holdout | excluded).all():
        raise DataError("every (week, geo) is held out of the fit", where="config key model.holdout_weeks",
                        fix="hold out fewer weeks")
    geo_model = len(geos) > 1
    n_fit = len(times) - (holdout_weeks if holdout_weeks > 0 and geo_holdout is None else 0)
    positions = [] if default_priors else knot_positions(spec.knots, n_fit, geo_model)
    if positions:
        log.info("pymc engine: piecewise-linear trend with %d knots at weeks %s (of %d; fitted %d)", len(positions),
                 positions, len(times), n_fit)

    control_names = list(spec.control_names)
    control_values = [_cube(frame, control_names, times, geos)] if control_names else []
    kinds: dict[str, str] = {}
    if len(positions) >= 2:
        taken = set(control_names) | set(channels)
        knot_names = []
        for k in range(1, len(positions)):
            name = f"{KNOT_PREFIX}{k}"
            while name in taken:
                name = "_" + name
            knot_names.append(name)
            kinds[name] = "trend"
        basis = knot_columns(positions, len(times))
        control_values.append(np.repeat(basis[:, None, :], len(geos), axis=1))
        control_names += knot_names
    controls = _standardise(np.concatenate(control_values, axis=2), control_names) if control_names else None

    rows = pd.MultiIndex.from_product([times, geos], names=[DATE, GEO]).to_frame(index=False)
    X = rows if geo_model else rows.drop(columns=GEO)
    X = pd.concat([X, pd.DataFrame(media.reshape(-1, len(channels)), columns=channels)], axis=1)
    if controls is not None:
        X = pd.concat([X, pd.DataFrame(controls.reshape(-1, len(control_names)), columns=control_names)], axis=1)
    y = pd.Series(revenue.reshape(-1), name=TARGET)

    decay = "binomial" if spec.decay_function == "binomial" else "geometric"
    record = Record(channels=channels, controls=control_names, control_kinds=kinds, geos=geos, times=iso,
                    geo_model=geo_model, spend=spend, holdout=holdout, excluded=excluded, adstock=decay,
                    l_max=int(spec.max_lag) + 1, adstock_first=not spec.hill_before_adstock, knots=positions,
                    roi_prior={"mu": [lift_tests.base_roi_prior(c.priors)[0] for c in spec.channels],
                               "sigma": [lift_tests.base_roi_prior(c.priors)[1] for c in spec.channels]},
                    default_priors=default_priors)
    try:
        mmm = _make_mmm(record, spec, media)
        _build_graph(mmm, X, y, record, spec)
        if spec.experiments and not default_priors:
            lift_tests.add_likelihood(mmm, record, spec.experiments)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"PyMC-Marketing refused the model inputs: {exc}", where="features/model_inputs.parquet",
                        fix="check the features stage's log and feature_spec.json (constant controls, channels "
                            "without media)") from exc
    coords = mmm.model.coords
    # The record's arrays and the model's coordinates must be in the same order (the optimizer passes some
    # arrays to PyMC-Marketing by position).
    order = {"channel": channels, "control": control_names, **({GEO: geos} if geo_model else {})}
    for dim, labels in order.items():
        if labels and [str(v) for v in coords[dim]] != labels:
            raise RuntimeError(f"PyMC-Marketing ordered the {dim} coordinate {list(coords[dim])}, not {labels}")
    return Built(mmm, X, y, record)


def _standard_priors(record: Record, spec: FeatureSpec, media: np.ndarray) -> dict[str, Any]:
    """The saved (standard PyMC-Marketing) priors: what ``MMM.load`` rebuilds. ``saturation_alpha``'s LogNormal
    is only a description of the derived coefficient's scale; the sampled graph derives it from ``roi``."""
    from pymc_extras.prior import Prior

    geo = (GEO,) if record.geo_model else ()
    if record.default_priors:
        return {}
    p = [c.priors for c in spec.channels]
    ratio = half_saturation_ratio(media)
    return {
        "adstock_alpha": Prior("Beta", alpha=np.array([x.decay_alpha for x in p]),
                               beta=np.array([x.decay_beta for x in p]), dims="channel"),
        "saturation_lam": Prior("LogNormal", mu=np.array([x.ec_mu for x in p]) + np.log(ratio),
                                sigma=np.array([x.ec_sigma for x in p]), dims="channel"),
        "saturation_alpha": Prior("LogNormal", mu=0.0, sigma=1.0, dims=(*geo, "channel")),
    }


def _make_mmm(record: Record, spec: FeatureSpec, media: np.ndarray) -> Any:
    from pymc_extras.prior import Prior
    from pymc_marketing.mmm import BinomialAdstock, GeometricAdstock, MichaelisMentenSaturation
    from pymc_marketing.mmm.multidimensional import MMM
    from pymc_marketing.mmm.scaling import Scaling, VariableScaling

    priors = _standard_priors(record, spec, media)
    adstock_cls = BinomialAdstock if record.adstock == "binomial" else GeometricAdstock
    adstock = adstock_cls(l_max=record.l_max, normalize=True,
                          priors={"alpha": priors["adstock_alpha"]} if "adstock_alpha" in priors else None)
    saturation = MichaelisMentenSaturation(
        priors={k.removeprefix("saturation_"): v for k, v in priors.items() if k.startswith("saturation_")} or None)
    geo = (GEO,) if record.geo_model else ()
    config: dict[str, Any] = {}
    if record.controls:
        if record.geo_model:
            spread = spec.geo_variation.get("controls")
            config["gamma_control"] = Prior(
                "Normal", mu=Prior("Normal", mu=0.0, sigma=CONTROL_SIGMA, dims="control"),
                sigma=float(spread if spread is not None else DEFAULT_CONTROL_SPREAD), dims=(GEO, "control"))
        else:
            config["gamma_control"] = Prior("Normal", mu=0.0, sigma=CONTROL_SIGMA, dims="control")
    # Every geo's revenue and media are scaled by their own maxima (dims=() reduces over the date only).
    scaling = Scaling(target=VariableScaling(method="max", dims=()), channel=VariableScaling(method="max", dims=()))
    return MMM(date_column=DATE, channel_columns=list(record.channels), target_column=TARGET, adstock=adstock,
               saturation=saturation, control_columns=list(record.controls) or None, dims=geo, scaling=scaling,
               model_config=config or None, adstock_first=record.adstock_first)


class _Registry:
    """Creates each shared parameter once, whichever transformation asks for it first (the ROI coefficient needs
    the adstock and saturation parameters, which PyMC-Marketing creates in its own order)."""

    def __init__(self, priors: dict[str, Any]) -> None:
        self.priors = priors
        self.created: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self.created:
            self.created[name] = self.priors[name].create_variable(name, xdist=True)
        return self.created[name]


class _SharedParameter:
    """A parameter slot that returns the registry's variable (PyMC-Marketing's VariableFactory protocol)."""

    def __init__(self, registry: _Registry, name: str) -> None:
        self.registry = registry
        self.name = name
        self.dims = registry.priors[name].dims

    def create_variable(self, name: str, xdist: bool = True) -> Any:
        return self.registry.get(self.name)


class _RoiCoefficient:
    """The channel coefficient ``saturation_alpha`` derived from ``roi`` (see the module docstring)."""

    def __init__(self, registry: _Registry, mmm: Any, record: Record, geo_spread: float | None) -> None:
        self.registry = registry
        self.mmm = mmm
        self.record = record
        self.geo_spread = geo_spread
        self.dims = ((GEO,) if record.geo_model else ()) + ("channel",)

    def create_variable(self, name: str, xdist: bool = True) -> Any:
        import pymc as pm
        import pymc.dims as pmd
        import pytensor.xtensor as ptx
        from pymc_marketing.mmm.transformers import michaelis_menten
        from pytensor.xtensor import as_xtensor

        model = pm.modelcontext(None)
        scale = model["channel_scale"].get_value()
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.nan_to_num(model["channel_data"].get_value() / np.where(scale > 0, scale, 1.0))
        media = as_xtensor(x, dims=model.named_vars_to_dims["channel_data"])
        target_scale = as_xtensor(model["target_scale"].get_value(), dims=model.named_vars_to_dims["target_scale"])
        alpha = self.registry.get("adstock_alpha")
        lam = self.registry.get("saturation_lam")
        if self.record.adstock_first:
            unit = michaelis_menten(self.mmm.adstock.function(media, alpha=alpha, dim=DATE), 1.0, lam)
        else:
            unit = self.mmm.adstock.function(michaelis_menten(media, 1.0, lam), alpha=alpha, dim=DATE)
        channel = ("channel",)
        roi = pmd.LogNormal("roi", mu=as_xtensor(np.asarray(self.record.roi_prior["mu"]), dims=channel),
                            sigma=as_xtensor(np.asarray(self.record.roi_prior["sigma"]), dims=channel), dims=channel)
        revenue = unit.sum(dim=DATE) * target_scale
        spend = as_xtensor(self.record.spend.sum(axis=(0, 1)), dims=channel)
        if self.record.geo_model:
            effect = pmd.Normal("media_geo_effect", 0.0, float(self.geo_spread), dims=(GEO, "channel"))
            weight = ptx.math.exp(effect)
            beta = roi * spend / (revenue * weight).sum(dim=GEO)
            return pmd.Deterministic(name, (beta * weight).transpose(GEO, "channel"))
        return pmd.Deterministic(name, roi * spend / revenue)


class _MaskedLikelihood:
    """PyMC-Marketing's Normal likelihood observed on the kept (week, geo) cells only."""

    def __init__(self, prior: Any, keep: np.ndarray, geo_model: bool) -> None:
        self.prior = prior
        self.keep = keep
        self.order = (DATE, GEO) if geo_model else (DATE,)

    def create_likelihood_variable(self, name: str, mu: Any, observed: Any, xdist: bool = True) -> Any:
        import pymc as pm

        # Same name as the standard likelihood's noise scale (y_sigma), so the posterior fits the saved config.
        sigma = self.prior.parameters["sigma"].create_variable(f"{name}_sigma", xdist=True)
        index = np.flatnonzero(self.keep.reshape(-1))
        mu_flat = mu.transpose(*self.order).values.reshape((-1,))
        sigma_flat = (sigma + mu * 0.0).transpose(*self.order).values.reshape((-1,))
        observed_flat = observed.transpose(*self.order).values.reshape((-1,))
        return pm.Normal(name, mu=mu_flat[index], sigma=sigma_flat[index], observed=observed_flat[index])


def _build_graph(mmm: Any, X: pd.DataFrame, y: pd.Series, record: Record, spec: FeatureSpec) -> None:
    """``mmm.build_model`` with the ROI coefficient and the masked likelihood swapped in for the build only."""
    adstock_priors, saturation_priors = mmm.adstock.function_priors, mmm.saturation.function_priors
    saved = (dict(adstock_priors), dict(saturation_priors), mmm.model_config["likelihood"])
    keep = ~(record.holdout | record.excluded)
    try:
        if not record.default_priors:
            registry = _Registry({"adstock_alpha": saved[0]["alpha"], "saturation_lam": saved[1]["lam"]})
            adstock_priors["alpha"] = _SharedParameter(registry, "adstock_alpha")
            saturation_priors["lam"] = _SharedParameter(registry, "saturation_lam")
            spread = spec.geo_variation.get("media")
            saturation_priors["alpha"] = _RoiCoefficient(registry, mmm, record,
                                                         spread if spread is not None else DEFAULT_MEDIA_SPREAD)
        if not keep.all():
            mmm.model_config["likelihood"] = _MaskedLikelihood(saved[2], keep, record.geo_model)
        with warnings.catch_warnings():
            # pymc_extras notes that the per-channel prior arrays get the prior's dims, which is what is meant
            warnings.filterwarnings("ignore", message="Implicit conversion of array-like parameter")
            mmm.build_model(X, y)
    finally:
        adstock_priors.clear()
        adstock_priors.update(saved[0])
        saturation_priors.clear()
        saturation_priors.update(saved[1])
        mmm.model_config["likelihood"] = saved[2]
